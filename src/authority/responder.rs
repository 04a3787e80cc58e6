//! Delegated OCSP responder certificates (RFC 6960 4.2.2.2): the online CA signs OCSP
//! responses with a short-lived key of its own per CA, never with the CA key. The key lives
//! only in the memory of the process that asked for it; the certificate is in the ledger.

use std::sync::Arc;

use time::Duration;

use super::{Authority, check_ca_usable};
use crate::engine::leaf::LeafRequest;
use crate::engine::profile::Profile;
use crate::engine::serial::Serial;
use crate::engine::{self, Signed};
use crate::error::{CaAction, Error, Result};
use crate::keys::{CaSigner, KeyPair};
use crate::ledger::{CaRecord, CertFilter, CertificateRecord, KeyOrigin, StatusFilter};

/// A lifetime for responder certificates: short, since nothing can revoke them (nocheck),
/// long enough to outlast a weekend without renewal.
pub const DEFAULT_OCSP_RESPONDER_VALIDITY: Duration = Duration::days(7);
/// X.520 upper bound for a commonName.
const MAX_CN_LEN: usize = 64;
const CN_SUFFIX: &str = " OCSP Responder";

/// A responder certificate, recorded in the ledger, and its key (in memory only).
pub struct OcspResponder {
    /// The CA it answers for (and that signed it).
    pub ca: CaRecord,
    /// The certificate and what it says.
    pub certificate: Signed,
    /// Its private key: sign responses with `MemorySigner::new(key)`. Not stored anywhere.
    pub key: KeyPair,
}

impl OcspResponder {
    /// The certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.certificate.der
    }

    /// Its serial number.
    pub fn serial(&self) -> &Serial {
        &self.certificate.info.serial
    }

    /// notAfter, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.certificate.info.not_after
    }
}

impl Authority {
    /// Issues a responder certificate for `ca` from a fresh key of the CA's key type,
    /// unlocking the CA key as every other operation does. See
    /// [`Authority::issue_ocsp_responder_with`].
    pub fn issue_ocsp_responder(&mut self, ca: &CaRecord, validity: Duration) -> Result<OcspResponder> {
        let signer = self.keys.unlock(&ca.name, &ca.key_file, self.unlock.as_ref())?.signer;
        self.issue_ocsp_responder_with(ca, signer, validity)
    }

    /// Issues a responder certificate for `ca`, signed with `signer` (the CA's key, already
    /// unlocked, e.g. once at the start of `serve`): CA:FALSE, keyUsage digitalSignature,
    /// extKeyUsage OCSPSigning, id-pkix-ocsp-nocheck, no SAN, no CRL or AIA pointers. The
    /// lifetime is `validity`, cut to the CA's own. Recorded in the ledger (profile
    /// `ocsp-responder`) with an audit event before it is returned.
    pub fn issue_ocsp_responder_with(
        &mut self,
        ca: &CaRecord,
        signer: Arc<dyn CaSigner>,
        validity: Duration,
    ) -> Result<OcspResponder> {
        let now = engine::now();
        check_ca_usable(ca, now.unix_timestamp(), CaAction::Issue)?;
        if !validity.is_positive() {
            return Err(Error::invalid("an OCSP responder certificate needs a positive lifetime"));
        }
        let validity = validity.min(Duration::seconds(ca.not_after - now.unix_timestamp()));
        let signing_ca = self.signing_ca_with(ca, signer)?;
        let key = KeyPair::generate(ca.key_type)
            .map_err(|source| Error::Key { what: format!("the OCSP responder of {}", ca.name), source })?;
        let public_key = key.public_key();
        let common_name = responder_name(&ca.name);
        let request = LeafRequest {
            profile: Profile::OcspResponder,
            common_name: &common_name,
            sans: &[],
            public_key: &public_key,
            validity,
            now,
            verify_signature: true,
        };
        let certificate =
            self.sign_and_record(&request, &signing_ca, ca, KeyOrigin::Generated, None, None)?;
        Ok(OcspResponder { ca: ca.clone(), certificate, key })
    }

    /// The responder certificate of `ca` that lasts longest among those neither revoked nor
    /// expired at `now` (Unix seconds), if any. Its key is not kept: a process that did not
    /// issue it cannot sign with it.
    pub fn latest_ocsp_responder(&self, ca: &CaRecord, now: i64) -> Result<Option<CertificateRecord>> {
        let valid = self.ledger.list_certificates(&CertFilter {
            status: StatusFilter::Valid,
            expiring_before: None,
            issuer_id: Some(ca.id),
            profile: Some(Profile::OcspResponder),
            now,
        })?;
        Ok(valid.into_iter().max_by_key(|c| (c.not_after, c.id)))
    }
}

/// "<CA name> OCSP Responder", the CA's name shortened to fit a commonName.
fn responder_name(ca_name: &str) -> String {
    let room = MAX_CN_LEN - CN_SUFFIX.len();
    let shortened: String = ca_name.chars().take(room).collect();
    format!("{}{CN_SUFFIX}", shortened.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_responder_name_fits_a_common_name() {
        assert_eq!(responder_name("Acme Issuing CA"), "Acme Issuing CA OCSP Responder");
        let long = responder_name(&"é".repeat(64));
        assert_eq!(long.chars().count(), MAX_CN_LEN);
        assert!(long.ends_with(CN_SUFFIX));
    }
}
