//! An in-process mutual-TLS handshake with rustls (ring provider): a strict, independent
//! judge of pkictl's certificates, chains and CRLs. The server requires a client certificate
//! and checks its revocation status (every certificate of the chain, not only the leaf)
//! against the CRLs it is given; the client trusts only the given root.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection};

/// Certificates from a PEM file (a leaf, or a leaf followed by its chain). Panics when the
/// file holds none: that is a broken test setup, not a TLS verdict.
pub fn certs_from_pem(path: &Path) -> Vec<CertificateDer<'static>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("read {}: {e:?}", path.display()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("parse certificates in {}: {e:?}", path.display()));
    assert!(!certs.is_empty(), "no certificate in {}", path.display());
    certs
}

/// A private key (PKCS#8, SEC1 or PKCS#1) from an unencrypted PEM file.
pub fn key_from_pem(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap_or_else(|e| panic!("read the key {}: {e:?}", path.display()))
}

/// A CRL from a PEM or DER file (by content, not by name).
pub fn crl_from_file(path: &Path) -> CertificateRevocationListDer<'static> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    if bytes.starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::from_pem_slice(&bytes)
            .unwrap_or_else(|e| panic!("parse the PEM CRL {}: {e:?}", path.display()))
    } else {
        CertificateRevocationListDer::from(bytes)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A handshake between a rustls server presenting `server_chain` (PEM: leaf first, then its
/// intermediates) with `server_key`, and a rustls client that trusts only `root` and presents
/// `client` (PEM chain, PEM key) when given. The server requires a client certificate chaining
/// to `root` and checks revocation with `crls` (PEM or DER files) for every certificate of the
/// client's chain; an unknown revocation status is an error. TLS 1.3 or 1.2, as negotiated.
///
/// Returns the first error either side reports (the server's, when it rejects the client).
pub fn mtls_handshake(
    server_chain: &Path,
    server_key: &Path,
    client: Option<(&Path, &Path)>,
    root: &Path,
    crls: &[&Path],
    server_name: &str,
) -> Result<(), rustls::Error> {
    mtls_handshake_with_versions(
        server_chain,
        server_key,
        client,
        root,
        crls,
        server_name,
        rustls::DEFAULT_VERSIONS,
    )
}

/// `mtls_handshake` restricted to the given protocol versions (e.g. `&[&rustls::version::TLS12]`).
pub fn mtls_handshake_with_versions(
    server_chain: &Path,
    server_key: &Path,
    client: Option<(&Path, &Path)>,
    root: &Path,
    crls: &[&Path],
    server_name: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<(), rustls::Error> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(root) {
        roots.add(cert).unwrap_or_else(|e| panic!("{} is not a usable trust anchor: {e}", root.display()));
    }
    let roots = Arc::new(roots);

    let client_verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .with_crls(crls.iter().map(|p| crl_from_file(p)))
        .build()
        .unwrap_or_else(|e| panic!("rustls refuses the CRLs {crls:?}: {e}"));
    let server_config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(certs_from_pem(server_chain), key_from_pem(server_key))?;

    let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .expect("server certificate verifier");
    let client_builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_webpki_verifier(server_verifier);
    let client_config = match client {
        Some((chain, key)) => {
            client_builder.with_client_auth_cert(certs_from_pem(chain), key_from_pem(key))?
        }
        None => client_builder.with_no_client_auth(),
    };

    let name = ServerName::try_from(server_name.to_string())
        .unwrap_or_else(|e| panic!("{server_name:?} is not a server name: {e}"));
    let mut client = Connection::from(ClientConnection::new(Arc::new(client_config), name)?);
    let mut server = Connection::from(ServerConnection::new(Arc::new(server_config))?);

    let mut rounds = 0;
    while client.is_handshaking() || server.is_handshaking() {
        rounds += 1;
        assert!(rounds < 50, "the in-memory TLS handshake makes no progress");
        let to_server = transfer(&mut client, &mut server)?;
        let to_client = transfer(&mut server, &mut client)?;
        assert!(
            to_server + to_client > 0 || !(client.is_handshaking() || server.is_handshaking()),
            "the in-memory TLS handshake stalled with nothing to send"
        );
    }

    // Prove the keys agree: one application record each way.
    client.writer().write_all(b"ping").expect("client writes");
    transfer(&mut client, &mut server)?;
    let mut got = [0u8; 4];
    server.reader().read_exact(&mut got).expect("server reads the client's record");
    assert_eq!(&got, b"ping");
    server.writer().write_all(b"pong").expect("server writes");
    transfer(&mut server, &mut client)?;
    client.reader().read_exact(&mut got).expect("client reads the server's record");
    assert_eq!(&got, b"pong");
    Ok(())
}

/// Moves everything `from` has to send into `to` and lets `to` process it. Returns how many
/// bytes moved, or the error `to` reports while processing them.
fn transfer(from: &mut Connection, to: &mut Connection) -> Result<usize, rustls::Error> {
    let mut bytes = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut bytes).expect("write TLS records into memory");
    }
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).expect("read TLS records from memory");
        to.process_new_packets()?;
    }
    Ok(bytes.len())
}
