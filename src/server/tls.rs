//! TLS for the HTTPS listener: a swappable server certificate and an optional, recorded
//! (not verified) client certificate.

use std::sync::{Arc, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio_rustls::TlsAcceptor;

/// The TLS set-up could not be made (a bad key or certificate, an empty chain).
#[derive(Debug, thiserror::Error)]
#[error("TLS set-up failed: {0}")]
pub struct TlsSetupError(String);

/// The HTTPS server certificate, read at every handshake: [`CertSlot::replace_der`] takes effect
/// for the next connection, without a restart.
pub struct CertSlot {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertSlot {
    /// A slot holding this chain (leaf first, DER) and its PKCS#8 DER private key.
    pub fn from_der(chain: Vec<Vec<u8>>, key_pkcs8: Vec<u8>) -> Result<Self, TlsSetupError> {
        Ok(CertSlot { current: RwLock::new(Arc::new(certified_key(chain, key_pkcs8)?)) })
    }

    /// Replaces the certificate and key; handshakes already under way keep the old one.
    pub fn replace_der(&self, chain: Vec<Vec<u8>>, key_pkcs8: Vec<u8>) -> Result<(), TlsSetupError> {
        let key = Arc::new(certified_key(chain, key_pkcs8)?);
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = key;
        Ok(())
    }

    /// The certificate and key served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl std::fmt::Debug for CertSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertSlot").field("chain_len", &self.current().cert.len()).finish()
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The client certificate chain (leaf first, DER) a TLS peer presented; empty when it
/// presented none, and always empty on plain HTTP. Attached to every HTTPS request as an
/// extension (`axum::Extension<ClientChain>`).
///
/// UNVERIFIED: the handshake proved that the peer holds the leaf's private key, nothing more.
/// A handler must check the chain against its CA (validity, revocation) before trusting it.
#[derive(Clone, Debug, Default)]
pub struct ClientChain {
    /// The certificates as sent, leaf first.
    pub certificates: Arc<Vec<Vec<u8>>>,
}

impl ClientChain {
    /// The leaf certificate, if the peer sent one.
    pub fn leaf(&self) -> Option<&[u8]> {
        self.certificates.first().map(Vec::as_slice)
    }

    /// The chain of an established TLS connection.
    pub(super) fn of(conn: &rustls::ServerConnection) -> Self {
        let certs = conn.peer_certificates().unwrap_or_default();
        ClientChain { certificates: Arc::new(certs.iter().map(|c| c.to_vec()).collect()) }
    }
}

/// The acceptor of the HTTPS listener: TLS 1.2 and 1.3, HTTP/1.1, optional client certificate.
pub(super) fn acceptor(slot: Arc<CertSlot>) -> Result<TlsAcceptor, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyClientCert { provider: provider.clone() });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(slot);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn certified_key(chain: Vec<Vec<u8>>, key_pkcs8: Vec<u8>) -> Result<CertifiedKey, TlsSetupError> {
    if chain.is_empty() {
        return Err(TlsSetupError("the certificate chain is empty".into()));
    }
    let chain = chain.into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8));
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|e| TlsSetupError(e.to_string()))
}

/// Asks for a client certificate, lets clients without one in, and accepts any chain a client
/// sends: only the handshake signature (possession of the leaf's key) is checked here; the
/// chain itself is left to the handler through [`ClientChain`].
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
