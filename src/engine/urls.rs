//! The pointers a CA writes into what it signs: where its CRL is (cRLDistributionPoints), where
//! to ask OCSP and where its own certificate is (authorityInfoAccess).

use der::Encode;
use der::asn1::{Ia5String, ObjectIdentifier};
use der::oid::AssociatedOid;
use rcgen::{CertificateParams, CrlDistributionPoint, CustomExtension};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

use super::EngineError;
use crate::x509::{DER_NULL, ID_AD_CA_ISSUERS, ID_AD_OCSP, ID_PKIX_OCSP_NOCHECK};

/// The URLs a CA puts into the certificates it signs. Empty lists: no such pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerUrls {
    /// Places of the same CRL, in order (one distribution point with several names, RFC 5280
    /// 4.2.1.13: "each name describes a different mechanism to obtain the same CRL").
    pub crl: Vec<String>,
    /// OCSP responders (AIA id-ad-ocsp).
    pub ocsp: Vec<String>,
    /// Where the issuer's certificate is (AIA id-ad-caIssuers).
    pub ca_issuers: Vec<String>,
}

impl IssuerUrls {
    /// A CA's pointers: its own CRL URL first (kept as configured), then the online CA's at
    /// `public_url` (`<URL>/crl/<slug>.crl`, `<URL>/ocsp`, `<URL>/ca/<slug>.crt`).
    pub fn of(slug: &str, crl_url: Option<&str>, public_url: Option<&str>) -> IssuerUrls {
        let mut urls =
            IssuerUrls { crl: crl_url.map(str::to_string).into_iter().collect(), ..Default::default() };
        if let Some(base) = public_url {
            let base = base.trim_end_matches('/');
            let served_crl = format!("{base}/crl/{slug}.crl");
            if !urls.crl.contains(&served_crl) {
                urls.crl.push(served_crl);
            }
            urls.ocsp.push(format!("{base}/ocsp"));
            urls.ca_issuers.push(format!("{base}/ca/{slug}.crt"));
        }
        urls
    }

    /// Writes the pointers into certificate parameters.
    pub(crate) fn apply(&self, params: &mut CertificateParams) -> Result<(), EngineError> {
        params.crl_distribution_points = if self.crl.is_empty() {
            Vec::new()
        } else {
            vec![CrlDistributionPoint { uris: self.crl.clone() }]
        };
        if let Some(aia) = self.authority_info_access()? {
            params.custom_extensions.push(aia);
        }
        Ok(())
    }

    /// authorityInfoAccess (non-critical): OCSP first, then caIssuers; None when both are empty.
    fn authority_info_access(&self) -> Result<Option<CustomExtension>, EngineError> {
        let described = |method: ObjectIdentifier, urls: &[String]| {
            urls.iter()
                .map(move |url| {
                    let location = Ia5String::new(url).map_err(|e| {
                        EngineError::BadRequest(format!("URL \"{url}\" is not IA5 text: {e}"))
                    })?;
                    Ok(AccessDescription {
                        access_method: method,
                        access_location: GeneralName::UniformResourceIdentifier(location),
                    })
                })
                .collect::<Result<Vec<_>, EngineError>>()
        };
        let mut descriptions = described(ID_AD_OCSP, &self.ocsp)?;
        descriptions.extend(described(ID_AD_CA_ISSUERS, &self.ca_issuers)?);
        if descriptions.is_empty() {
            return Ok(None);
        }
        let der = AuthorityInfoAccessSyntax(descriptions)
            .to_der()
            .map_err(|e| EngineError::Sign(format!("encoding authorityInfoAccess: {e}")))?;
        Ok(Some(CustomExtension::from_oid_content(&arcs(&AuthorityInfoAccessSyntax::OID), der)))
    }
}

/// id-pkix-ocsp-nocheck with its NULL value, non-critical (RFC 6960 4.2.2.2.1).
pub(crate) fn ocsp_nocheck() -> CustomExtension {
    CustomExtension::from_oid_content(&arcs(&ID_PKIX_OCSP_NOCHECK), DER_NULL.to_vec())
}

fn arcs(oid: &ObjectIdentifier) -> Vec<u64> {
    oid.arcs().map(u64::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explicit_crl_url_comes_first_and_the_served_one_is_not_repeated() {
        let both = IssuerUrls::of("ca", Some("http://files/ca.crl"), Some("http://serve:8080/"));
        assert_eq!(both.crl, ["http://files/ca.crl", "http://serve:8080/crl/ca.crl"]);
        assert_eq!(both.ocsp, ["http://serve:8080/ocsp"]);
        assert_eq!(both.ca_issuers, ["http://serve:8080/ca/ca.crt"]);
        let same = IssuerUrls::of("ca", Some("http://serve/crl/ca.crl"), Some("http://serve"));
        assert_eq!(same.crl, ["http://serve/crl/ca.crl"]);
        assert_eq!(IssuerUrls::of("ca", None, None), IssuerUrls::default());
    }
}
