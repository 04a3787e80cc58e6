//! `pkictl sign CSR --profile P`: certify a CSR's key (its signature checked first).

use super::Context;
use super::Outcome;
use super::issue::{self, NameFlags};
use crate::authority::{KeySource, read_csr};
use crate::cli::{LeafProfile, SignArgs};
use crate::engine::profile::Profile;
use crate::error::Result;

pub fn run(ctx: &Context, args: &SignArgs) -> Result<Outcome> {
    let csr = read_csr(&args.csr)?;
    let profile = match args.profile {
        LeafProfile::Server => Profile::Server,
        LeafProfile::Client => Profile::Client,
        LeafProfile::Peer => Profile::Peer,
    };
    let flags = NameFlags { dns: &args.dns, ip: &args.ip, email: &args.email, uri: &args.uri };
    let request = issue::leaf_request(
        profile,
        args.name.as_deref(),
        &flags,
        KeySource::Csr(Box::new(csr)),
        &args.validity,
        args.ca.clone(),
        &args.out,
        args.force,
    )?;
    issue::issue(ctx, request)
}
