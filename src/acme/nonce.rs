//! Replay protection (RFC 8555 §6.5): nonces the server hands out in `Replay-Nonce`, each good
//! for one request, and the checks every ACME POST goes through before its signature is looked
//! at: the nonce is one this server issued and nobody used, and the signed `url` is the URL the
//! request was sent to.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64ct::{Base64UrlUnpadded, Encoding};

use super::jws::{Jws, JwsError};

/// How many unused nonces are remembered; past this the oldest are forgotten (a client whose
/// nonce was forgotten gets `badNonce` and retries with the fresh one that comes with it).
pub const MAX_NONCES: usize = 100_000;
/// How long an unused nonce stays good.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(3600);

const PROBLEM_BAD_NONCE: &str = "urn:ietf:params:acme:error:badNonce";

/// Why a request failed the nonce and url checks.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The JWS is malformed, or its `url` is not the request's.
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// The nonce was not issued here, was used already, or expired.
    #[error(
        "the nonce is unknown to this server, used already or expired; retry with the one in Replay-Nonce"
    )]
    StaleNonce,
    /// The system random number generator failed.
    #[error("cannot make a nonce: {0}")]
    Random(String),
}

impl RequestError {
    /// The RFC 8555 problem type to answer with.
    pub fn problem_type(&self) -> &'static str {
        match self {
            RequestError::Jws(e) => e.problem_type(),
            RequestError::StaleNonce => PROBLEM_BAD_NONCE,
            RequestError::Random(_) => "urn:ietf:params:acme:error:serverInternal",
        }
    }
}

/// Issued, unused nonces in memory: single use, bounded in number, expiring.
#[derive(Debug)]
pub struct NonceStore {
    inner: Mutex<Issued>,
    max: usize,
    lifetime: Duration,
}

impl Default for NonceStore {
    fn default() -> NonceStore {
        NonceStore::with_limits(MAX_NONCES, NONCE_LIFETIME)
    }
}

#[derive(Debug, Default)]
struct Issued {
    by_value: HashMap<String, Instant>,
    order: VecDeque<String>,
}

impl NonceStore {
    /// An empty store with the limits [`MAX_NONCES`] and [`NONCE_LIFETIME`].
    pub fn new() -> NonceStore {
        NonceStore::default()
    }

    /// An empty store remembering at most `max` (at least one) unused nonces, each good for
    /// `lifetime`.
    pub fn with_limits(max: usize, lifetime: Duration) -> NonceStore {
        NonceStore { inner: Mutex::new(Issued::default()), max: max.max(1), lifetime }
    }

    /// A fresh nonce: 128 random bits, base64url without padding, remembered until used,
    /// expired or crowded out.
    pub fn issue(&self) -> Result<String, RequestError> {
        let bytes = crate::keys::random_secret::<16>().map_err(|e| RequestError::Random(e.to_string()))?;
        let nonce = Base64UrlUnpadded::encode_string(bytes.as_ref());
        let mut issued = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while issued.order.len() >= self.max {
            if let Some(old) = issued.order.pop_front() {
                issued.by_value.remove(&old);
            }
        }
        issued.order.push_back(nonce.clone());
        issued.by_value.insert(nonce.clone(), Instant::now());
        Ok(nonce)
    }

    /// Uses up `nonce`: true once for a nonce issued here less than its lifetime ago.
    pub fn consume(&self, nonce: &str) -> bool {
        let mut issued = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        issued.by_value.remove(nonce).is_some_and(|at| at.elapsed() < self.lifetime)
    }

    /// Parses an ACME POST body and checks what comes before its signature: its nonce is used
    /// up (whatever else is wrong, so that it cannot be replayed), then its `url` must be
    /// `request_url`.
    pub fn check_request(&self, body: &[u8], request_url: &str) -> Result<Jws, RequestError> {
        let jws = super::jws::parse_flattened(body)?;
        let fresh = jws.header().nonce.as_deref().is_some_and(|nonce| self.consume(nonce));
        if !fresh {
            return Err(RequestError::StaleNonce);
        }
        jws.check_url(request_url)?;
        Ok(jws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_once() {
        let store = NonceStore::new();
        let nonce = store.issue().unwrap();
        assert_eq!(nonce.len(), 22);
        assert!(store.consume(&nonce));
        assert!(!store.consume(&nonce));
        assert!(!store.consume("AAAAAAAAAAAAAAAAAAAAAA"));
    }

    #[test]
    fn nonces_are_distinct() {
        let store = NonceStore::new();
        let a = store.issue().unwrap();
        let b = store.issue().unwrap();
        assert_ne!(a, b);
        assert!(store.consume(&b) && store.consume(&a));
    }

    #[test]
    fn the_oldest_unused_nonces_are_forgotten_first() {
        let store = NonceStore::with_limits(3, NONCE_LIFETIME);
        let issued: Vec<String> = (0..5).map(|_| store.issue().unwrap()).collect();
        assert!(!store.consume(&issued[0]) && !store.consume(&issued[1]));
        assert!(issued[2..].iter().all(|n| store.consume(n)));
    }

    #[test]
    fn an_expired_nonce_is_refused() {
        let store = NonceStore::with_limits(10, Duration::ZERO);
        let nonce = store.issue().unwrap();
        assert!(!store.consume(&nonce));
    }

    #[test]
    fn a_malformed_body_is_malformed_before_its_nonce_is_looked_at() {
        let store = NonceStore::new();
        let body = br#"{"protected":"e30","payload":"","signature":""}"#;
        // Malformed first: the header has no alg.
        assert_eq!(
            store.check_request(body, "https://x/").unwrap_err().problem_type(),
            "urn:ietf:params:acme:error:malformed"
        );
    }
}
