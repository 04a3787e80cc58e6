//! A small HTTPS client for `POST /v1/enroll` and `POST /v1/renew` (hyper 1, HTTP/1.1, over
//! tokio-rustls with the ring provider). The server is verified by webpki against the given
//! root as the only trust anchor, host name included. Every call is bounded in time and the
//! answer in size; refusals carry the server's problem+json detail.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The longest a whole request (connect, handshake, answer) may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why a request to the online CA failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server URL is not `https://HOST[:PORT][/PATH]`.
    #[error("the server URL \"{}\" is not https://HOST[:PORT]", crate::error::excerpt(.0))]
    BadUrl(String),
    /// The root file could not be read or holds no certificate.
    #[error("{0}")]
    Root(String),
    /// The client certificate or key is unusable.
    #[error("{0}")]
    Identity(String),
    /// The server could not be reached, or TLS failed (including its certificate).
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server refused, with its problem+json answer.
    #[error("the CA refused ({status} {kind}): {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The `urn:pkictl:error:<kind>` suffix (empty when the answer was not problem+json).
        kind: String,
        /// The server's one-sentence detail.
        detail: String,
    },
    /// The answer was not a certificate chain.
    #[error("the CA's answer is not a certificate chain: {0}")]
    BadAnswer(String),
}

/// `POST /v1/enroll` with the token and the CSR (DER): the new leaf, then its chain (DER).
pub fn enroll(
    server_url: &str,
    root_pem_path: &Path,
    token: &str,
    csr_der: &[u8],
) -> Result<Vec<Vec<u8>>, ClientError> {
    let config = tls_config(root_pem_path, None)?;
    let auth = format!("Bearer {token}");
    post(server_url, "/v1/enroll", config, Some(&auth), csr_der)
}

/// `POST /v1/renew` over mTLS with the current certificate chain (PEM, leaf first) and its
/// key (PKCS#8 DER): the new leaf, then its chain (DER).
pub fn renew(
    server_url: &str,
    root_pem: &Path,
    client_cert_chain_pem: &[u8],
    client_key_pkcs8: &[u8],
    csr_der: &[u8],
) -> Result<Vec<Vec<u8>>, ClientError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(client_cert_chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ClientError::Identity(format!("the client certificate is not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(ClientError::Identity("the client certificate file holds no certificate".into()));
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(client_key_pkcs8.to_vec()));
    let config = tls_config(root_pem, Some((chain, key)))?;
    post(server_url, "/v1/renew", config, None, csr_der)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn tls_config(root_pem: &Path, identity: Option<Identity>) -> Result<rustls::ClientConfig, ClientError> {
    let bytes = crate::home::read_input(root_pem, crate::home::limits::CERTIFICATE)
        .map_err(|e| ClientError::Root(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| ClientError::Root(format!("{} is not PEM: {e}", root_pem.display())))?;
        roots.add(cert).map_err(|e| ClientError::Root(format!("{}: {e}", root_pem.display())))?;
    }
    if roots.is_empty() {
        return Err(ClientError::Root(format!("{} holds no certificate", root_pem.display())));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Identity(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((chain, key)) => {
            builder.with_client_auth_cert(chain, key).map_err(|e| ClientError::Identity(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `https://HOST[:PORT][/BASE]` → (host, port, base path without a trailing slash).
fn split_url(url: &str) -> Result<(String, u16, String), ClientError> {
    let bad = || ClientError::BadUrl(url.to_string());
    let rest = url.strip_prefix("https://").ok_or_else(bad)?;
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        (host.to_string(), after.strip_prefix(':').map(str::to_string))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (authority.to_string(), None),
        }
    };
    let port = port.map_or(Ok(443), |p| p.parse::<u16>().map_err(|_| bad()))?;
    if host.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    Ok((host, port, format!("/{}", path.trim_end_matches('/')).trim_end_matches('/').to_string()))
}

fn post(
    url: &str,
    route: &str,
    config: rustls::ClientConfig,
    authorization: Option<&str>,
    csr_der: &[u8],
) -> Result<Vec<Vec<u8>>, ClientError> {
    let (host, port, base) = split_url(url)?;
    let unreachable = |reason: String| ClientError::Unreachable { url: url.to_string(), reason };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unreachable(format!("no async runtime: {e}")))?;
    let request = async {
        let server_name = ServerName::try_from(host.clone()).map_err(|e| unreachable(e.to_string()))?;
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| unreachable(crate::error::io_words(&e)))?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
            .map_err(|e| unreachable(format!("TLS: {e}")))?;
        let (mut sender, conn) =
            http1::handshake(TokioIo::new(tls)).await.map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let host_header = if port == 443 { host.clone() } else { format!("{host}:{port}") };
        let mut builder = Request::post(format!("{base}{route}"))
            .header("host", host_header)
            .header("content-type", crate::online::CSR_MEDIA_TYPE)
            .header("accept", crate::online::CHAIN_MEDIA_TYPE);
        if let Some(auth) = authorization {
            builder = builder.header("authorization", auth);
        }
        let request = builder.body(Body::from(csr_der.to_vec())).map_err(|e| unreachable(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(|e| unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(Body::new(response.into_body()), MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| ClientError::BadAnswer(format!("the answer could not be read whole: {e}")))?;
        Ok::<_, ClientError>((status, body))
    };
    let (status, body) = runtime
        .block_on(async { tokio::time::timeout(TIMEOUT, request).await })
        .map_err(|_| unreachable(format!("no answer within {} s", TIMEOUT.as_secs())))??;
    if status != 200 {
        return Err(refusal(status, &body));
    }
    let chain: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&body)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
    if chain.is_empty() {
        return Err(ClientError::BadAnswer("it holds no certificate".into()));
    }
    Ok(chain)
}

fn refusal(status: u16, body: &[u8]) -> ClientError {
    let problem: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |k: &str| problem.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let kind = text("type").and_then(|t| t.strip_prefix("urn:pkictl:error:").map(str::to_string));
    let detail = text("detail").unwrap_or_else(|| format!("HTTP {status}"));
    ClientError::Refused { status, kind: kind.unwrap_or_default(), detail: crate::error::one_line(&detail) }
}
