//! The http-01 fetch (RFC 8555 §8.3): one bounded HTTP/1.1 GET over a TCP stream, no
//! redirects, no proxy.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The whole exchange must finish within this.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest body read (a key authorization is about 87 bytes).
const MAX_BODY: usize = 8 * 1024;
/// The longest status line and headers read.
const MAX_HEAD: usize = 8 * 1024;

/// Why validation failed: an ACME problem type (last word) and a sentence.
#[derive(Debug)]
pub struct Failure {
    /// `connection`, `dns`, `tls` or `incorrectResponse`.
    pub kind: &'static str,
    /// For the client.
    pub detail: String,
}

fn failure(kind: &'static str, detail: String) -> Failure {
    Failure { kind, detail }
}

/// The body of `http://HOST:PORT/.well-known/acme-challenge/TOKEN` fetched from `address`.
pub async fn fetch(host: &str, address: SocketAddr, token: &str) -> Result<String, Failure> {
    let url = format!("http://{}/.well-known/acme-challenge/{token}", host_port(host, address.port()));
    match tokio::time::timeout(TIMEOUT, exchange(host, address, token, &url)).await {
        Ok(result) => result,
        Err(_) => Err(failure("connection", format!("Fetching {url} from {address} timed out."))),
    }
}

fn host_port(host: &str, port: u16) -> String {
    let host =
        if host.parse::<std::net::Ipv6Addr>().is_ok() { format!("[{host}]") } else { host.to_string() };
    if port == 80 { host } else { format!("{host}:{port}") }
}

async fn exchange(host: &str, address: SocketAddr, token: &str, url: &str) -> Result<String, Failure> {
    let unreachable =
        |e: std::io::Error| failure("connection", format!("Fetching {url} from {address} failed: {e}."));
    let mut stream = TcpStream::connect(address).await.map_err(unreachable)?;
    let request = format!(
        "GET /.well-known/acme-challenge/{token} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pkictl-acme\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        host_port(host, address.port())
    );
    stream.write_all(request.as_bytes()).await.map_err(unreachable)?;
    let mut reply = Vec::new();
    stream.take((MAX_HEAD + MAX_BODY + 1) as u64).read_to_end(&mut reply).await.map_err(unreachable)?;
    body_of(&reply, url)
}

/// The body of a 200 answer that fits the bounds.
fn body_of(reply: &[u8], url: &str) -> Result<String, Failure> {
    let incorrect = |detail: String| failure("incorrectResponse", detail);
    let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n").filter(|&end| end <= MAX_HEAD) else {
        return Err(incorrect(format!("{url} did not answer with an HTTP response.")));
    };
    let head = String::from_utf8_lossy(&reply[..end]);
    let status = head.lines().next().and_then(|line| line.split_whitespace().nth(1)).unwrap_or("");
    if status != "200" {
        let what = if status.starts_with('3') { " (redirects are not followed)" } else { "" };
        return Err(incorrect(format!(
            "{url} answered HTTP {}{what}; it must answer 200.",
            status.chars().take(3).collect::<String>()
        )));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &reply[end + 4..];
    let body = if chunked { dechunk(body) } else { Some(body.to_vec()) };
    let Some(body) = body.filter(|b| b.len() <= MAX_BODY) else {
        return Err(incorrect(format!("{url} answered a body that is not at most {MAX_BODY} bytes.")));
    };
    String::from_utf8(body).map_err(|_| incorrect(format!("{url} answered a body that is not UTF-8.")))
}

/// A chunked body, decoded; None when it does not parse.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size || out.len() + size > MAX_BODY {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..)?;
    }
}

/// Fetches the token from `address` and checks that the body is the key authorization.
pub async fn validate(
    host: &str,
    address: SocketAddr,
    token: &str,
    key_authorization: &str,
) -> Result<Value, Failure> {
    let body = fetch(host, address, token).await?;
    let url = format!("http://{}/.well-known/acme-challenge/{token}", host_port(host, address.port()));
    if body.trim_end() != key_authorization {
        return Err(failure("incorrectResponse", format!("{url} did not answer the key authorization.")));
    }
    Ok(serde_json::json!({
        "url": url,
        "hostname": host,
        "port": address.port().to_string(),
        "addressUsed": address.ip().to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_200_body_is_returned_and_others_are_refused() {
        let ok = body_of(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", "u");
        assert_eq!(ok.ok().as_deref(), Some("abc"));
        let chunked = body_of(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n",
            "u",
        );
        assert_eq!(chunked.ok().as_deref(), Some("abcd"));
        let moved =
            body_of(b"HTTP/1.1 302 Found\r\nLocation: http://x/\r\n\r\n", "u").err().map(|f| f.detail);
        assert!(moved.is_some_and(|d| d.contains("redirects")));
        assert!(body_of(b"garbage", "u").is_err());
        let big = [b"HTTP/1.1 200 OK\r\n\r\n".as_slice(), &[b'a'; MAX_BODY + 1]].concat();
        assert!(body_of(&big, "u").is_err());
    }
}
