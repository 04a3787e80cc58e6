//! The workload side: talking to `pkictl serve` for enrolment and renewal.

pub mod client;
mod enroll;

pub use enroll::{EnrollRequest, Enrolled, csr_without_names, enroll};
