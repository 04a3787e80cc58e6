//! The workload side: talking to `pkictl serve` for enrolment and renewal.

pub mod client;
