//! pkictl: a private certificate authority for mutual TLS.
//!
//! The binary is a thin layer over this library: `cli` describes the arguments, `commands`
//! runs them, `engine` signs, `ledger` records, `home` lays out files, `keys` handles keys,
//! `server` is the HTTP(S) front-end of `pkictl serve` (over the `OnlineCa` trait).

pub mod cli;
pub mod commands;
pub mod duration;
pub mod engine;
pub mod error;
pub mod home;
pub mod keys;
pub mod ledger;
pub mod names;
pub mod passphrase;
pub mod server;
pub mod signature;
pub mod tls;
pub mod verify;
pub mod x509;
