//! ACME (RFC 8555) for `pkictl serve`. So far: the JOSE layer that every ACME request goes
//! through first, replay protection (nonces, url check), and (re-exported from the ledger) the typed records and state machines of
//! provisioners, accounts, orders, authorizations and challenges.

mod jws;
mod nonce;
mod strict_json;

pub use jws::{
    Alg, ExternalAccountBinding, JoseObject, Jwk, JwkType, Jws, JwsError, KeyRef, MAX_JWS_BYTES,
    MAX_RSA_BITS, MIN_RSA_BITS, MacAlg, ProtectedHeader, dns01_txt_value, key_authorization, parse_flattened,
    parse_key_change_inner,
};

pub use nonce::{MAX_NONCES, NONCE_LIFETIME, NonceStore, RequestError};

pub use crate::ledger::acme::*;
