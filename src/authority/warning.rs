//! Things an operation did that its caller should hear about, though it succeeded.

use std::fmt;

use crate::engine::format_time;
use crate::engine::profile::Profile;
use crate::names::San;

/// A warning that came with a successful outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The CSR asked for an extension the profile decides instead.
    CsrExtensionIgnored {
        /// What it asked for.
        what: String,
        /// The profile that was applied.
        profile: Profile,
    },
    /// The CSR asked for a SAN kind pkictl does not issue.
    CsrSanUnsupported {
        /// The SAN as text.
        san: String,
    },
    /// The CSR asked for a SAN this profile does not carry.
    CsrSanNotInProfile {
        /// The SAN.
        san: San,
        /// The profile.
        profile: Profile,
    },
    /// A CRL's nextUpdate was cut to the CA certificate's expiry.
    NextUpdateShortened {
        /// The new nextUpdate, Unix seconds.
        until: i64,
        /// The CA.
        ca: String,
    },
    /// The online CA's public URL is https: RFC 5280/6960 clients fetch CRLs and OCSP over
    /// http, and nginx's OCSP client and OpenSSL's CRL download speak nothing else.
    PublicUrlIsHttps {
        /// The URL.
        url: String,
    },
    /// An expired certificate was revoked: it is recorded, but no CRL lists it.
    RevokedExpired {
        /// Its serial, hex.
        serial: String,
        /// Its notAfter, Unix seconds.
        not_after: i64,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::CsrExtensionIgnored { what, profile } => {
                write!(
                    f,
                    "the CSR asked for {}; ignored, the certificate follows the {profile} profile",
                    crate::error::excerpt(what)
                )
            }
            Warning::CsrSanUnsupported { san } => {
                write!(
                    f,
                    "the CSR asked for SAN {}; pkictl does not issue that kind, ignored",
                    crate::error::excerpt(san)
                )
            }
            Warning::CsrSanNotInProfile { san, profile } => {
                write!(f, "the CSR asked for SAN {san}; a {profile} certificate does not carry it, ignored")
            }
            Warning::NextUpdateShortened { until, ca } => {
                write!(f, "nextUpdate shortened to {}, when {ca}'s certificate expires", format_time(*until))
            }
            Warning::RevokedExpired { serial, not_after } => write!(
                f,
                "{serial} expired {}; it is recorded as revoked, but CRLs only list certificates that have not expired",
                format_time(*not_after)
            ),
            Warning::PublicUrlIsHttps { url } => write!(
                f,
                "{url} is https: CRL, OCSP and CA-certificate fetchers (nginx ssl_ocsp, openssl -crl_download) expect http; responses are signed, so http is safe"
            ),
        }
    }
}
