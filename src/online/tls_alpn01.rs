//! tls-alpn-01 validation (RFC 8737; RFC 8738 §6 for IP addresses): a TLS handshake offering
//! only ALPN `acme-tls/1`, whose self-signed certificate must name exactly the identifier and
//! carry the key authorization's digest in a critical id-pe-acmeIdentifier extension.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Encode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::http01::Failure;
use crate::acme::{AcmeIdentifier, IdentifierType};

/// The ALPN protocol of the challenge (RFC 8737 §6.2).
const ACME_TLS_1: &[u8] = b"acme-tls/1";
/// id-pe-acmeIdentifier (RFC 8737 §6.1).
const ID_PE_ACME_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.31");
/// Connecting and the handshake must finish within this.
const TIMEOUT: Duration = Duration::from_secs(10);

fn failure(kind: &'static str, detail: String) -> Failure {
    Failure { kind, detail }
}

/// Handshakes with `address` as the client of `identifier` and checks the certificate it
/// presents against `key_authorization`.
pub async fn validate(
    identifier: &AcmeIdentifier,
    address: SocketAddr,
    key_authorization: &str,
) -> Result<Value, Failure> {
    let sni = server_name(identifier);
    let where_ = format!("{address} (SNI {sni})");
    let chain = match tokio::time::timeout(TIMEOUT, handshake(&sni, address, &where_)).await {
        Ok(chain) => chain?,
        Err(_) => return Err(failure("connection", format!("The TLS handshake with {where_} timed out."))),
    };
    check_certificate(&chain, identifier, key_authorization, &where_)?;
    Ok(json!({
        "hostname": identifier.value,
        "port": address.port().to_string(),
        "addressUsed": address.ip().to_string(),
        "serverName": sni,
    }))
}

/// The SNI of the handshake: the DNS name, or an address's reverse-mapping name.
fn server_name(identifier: &AcmeIdentifier) -> String {
    match (identifier.kind, identifier.value.parse::<IpAddr>()) {
        (IdentifierType::Ip, Ok(IpAddr::V4(ip))) => {
            let [a, b, c, d] = ip.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        (IdentifierType::Ip, Ok(IpAddr::V6(ip))) => {
            let nibbles: Vec<String> =
                ip.octets().iter().rev().flat_map(|b| [b & 0xf, b >> 4]).map(|n| format!("{n:x}")).collect();
            format!("{}.ip6.arpa", nibbles.join("."))
        }
        _ => identifier.value.clone(),
    }
}

/// The certificates the server presented, once it negotiated `acme-tls/1`.
async fn handshake(sni: &str, address: SocketAddr, where_: &str) -> Result<Vec<Vec<u8>>, Failure> {
    let name = ServerName::try_from(sni.to_string())
        .map_err(|_| failure("malformed", format!("{sni} cannot be sent as a TLS server name.")))?;
    let tcp = TcpStream::connect(address)
        .await
        .map_err(|e| failure("connection", format!("Connecting to {address} failed: {e}.")))?;
    let mut tls = TlsConnector::from(client_config()?)
        .connect(name, tcp)
        .await
        .map_err(|e| failure("tls", format!("The TLS handshake with {where_} failed: {e}.")))?;
    let (_, connection) = tls.get_ref();
    if connection.alpn_protocol() != Some(ACME_TLS_1) {
        return Err(failure("incorrectResponse", format!("{where_} did not negotiate ALPN acme-tls/1.")));
    }
    let chain = connection.peer_certificates().unwrap_or_default().iter().map(|c| c.to_vec()).collect();
    // The answer is in hand; a peer that does not close cleanly changes nothing.
    let _ = tls.shutdown().await;
    Ok(chain)
}

fn client_config() -> Result<Arc<rustls::ClientConfig>, Failure> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| failure("serverInternal", format!("TLS could not be set up: {e}.")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SelfSigned(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS_1.to_vec()];
    Ok(Arc::new(config))
}

/// The challenge certificate is self-signed by design: any chain is accepted here and judged
/// by [`check_certificate`] afterwards; the handshake signature is still verified, so the
/// server holds the certificate's key. (Not with webpki: it refuses the critical
/// acmeIdentifier extension it does not know.)
#[derive(Debug)]
struct SelfSigned(Arc<CryptoProvider>);

impl ServerCertVerifier for SelfSigned {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        signed_by_key_of(cert, message, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        signed_by_key_of(cert, message, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies a handshake signature with the certificate's public key, by the algorithm of the
/// signature scheme that fits the key's type.
fn signed_by_key_of(
    cert: &CertificateDer<'_>,
    message: &[u8],
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let undecodable = || rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let cert = Certificate::from_der(cert).map_err(|_| undecodable())?;
    let spki = cert.tbs_certificate().subject_public_key_info();
    let algorithm = spki.algorithm.to_der().map_err(|_| undecodable())?;
    // pki-types names an AlgorithmIdentifier by the contents of its SEQUENCE.
    let algorithm = AnyRef::from_der(&algorithm).map_err(|_| undecodable())?.value().to_vec();
    let verifier = algorithms
        .mapping
        .iter()
        .filter(|(scheme, _)| *scheme == dss.scheme)
        .flat_map(|(_, candidates)| candidates.iter())
        .find(|candidate| candidate.public_key_alg_id().as_ref() == algorithm.as_slice())
        .ok_or(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
    verifier
        .verify_signature(spki.subject_public_key.raw_bytes(), message, dss.signature())
        .map(|()| HandshakeSignatureValid::assertion())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature))
}

/// RFC 8737 §3: one certificate, whose SAN is exactly the identifier, with a critical
/// id-pe-acmeIdentifier holding the DER OCTET STRING of SHA-256(key authorization).
fn check_certificate(
    chain: &[Vec<u8>],
    identifier: &AcmeIdentifier,
    key_authorization: &str,
    where_: &str,
) -> Result<(), Failure> {
    let incorrect = |what: &str| failure("incorrectResponse", format!("{where_} presented {what}."));
    let [der] = chain else {
        return Err(incorrect(&format!("{} certificates, not exactly one", chain.len())));
    };
    let cert = Certificate::from_der(der).map_err(|_| incorrect("a certificate that does not parse"))?;
    let tbs = cert.tbs_certificate();
    let san = tbs.get_extension::<SubjectAltName>().map_err(|_| incorrect("a malformed subjectAltName"))?;
    let names = san.map(|(_, san)| san.0).unwrap_or_default();
    if !matches!(names.as_slice(), [only] if names_identifier(only, identifier)) {
        return Err(incorrect(&format!(
            "a certificate whose subjectAltName is not exactly {}",
            identifier.value
        )));
    }
    let mut acme = tbs.extensions().into_iter().flatten().filter(|e| e.extn_id == ID_PE_ACME_IDENTIFIER);
    let (Some(extension), None) = (acme.next(), acme.next()) else {
        return Err(incorrect("a certificate without exactly one acmeIdentifier extension"));
    };
    if !extension.critical {
        return Err(incorrect("a certificate whose acmeIdentifier extension is not critical"));
    }
    let expected = [&[0x04, 0x20][..], &Sha256::digest(key_authorization.as_bytes())].concat();
    if extension.extn_value.as_bytes() != expected.as_slice() {
        return Err(incorrect("an acmeIdentifier that is not the key authorization's digest"));
    }
    Ok(())
}

fn names_identifier(name: &GeneralName, identifier: &AcmeIdentifier) -> bool {
    match (name, identifier.kind) {
        (GeneralName::DnsName(dns), IdentifierType::Dns) => {
            dns.as_str().eq_ignore_ascii_case(&identifier.value)
        }
        (GeneralName::IpAddress(octets), IdentifierType::Ip) => {
            let wanted = match identifier.value.parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => ip.octets().to_vec(),
                Ok(IpAddr::V6(ip)) => ip.octets().to_vec(),
                Err(_) => return false,
            };
            octets.as_bytes() == wanted.as_slice()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_identifiers_are_sent_as_their_reverse_mapping_names() {
        let ip = |value: &str| AcmeIdentifier { kind: IdentifierType::Ip, value: value.to_string() };
        assert_eq!(server_name(&ip("127.0.0.1")), "1.0.0.127.in-addr.arpa");
        assert_eq!(
            server_name(&ip("2001:db8::1")),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(server_name(&AcmeIdentifier::dns("app.example.com")), "app.example.com");
    }
}
