//! `pkictl sign CSR --profile P`: certify a CSR's key (its signature checked first).

use super::Context;
use super::issue::{self, NameFlags};
use crate::cli::{LeafProfile, SignArgs};
use crate::engine::profile::Profile;
use crate::error::Result;
use crate::keys::KeyType;

pub fn run(ctx: &Context, args: &SignArgs) -> Result<i32> {
    let csr = issue::read_csr(&args.csr)?;
    let profile = match args.profile {
        LeafProfile::Server => Profile::Server,
        LeafProfile::Client => Profile::Client,
        LeafProfile::Peer => Profile::Peer,
    };
    let flags = NameFlags { dns: &args.dns, ip: &args.ip, email: &args.email, uri: &args.uri };
    let plan = issue::plan(
        profile,
        args.name.as_deref(),
        &flags,
        Some(csr),
        KeyType::P256,
        &args.validity,
        args.ca.clone(),
        &args.out,
        args.force,
    )?;
    issue::issue(ctx, plan)
}
