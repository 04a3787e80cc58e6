//! The workload side: enrolment and renewal against `pkictl serve` (the HTTPS client), and
//! the agent that keeps one certificate renewed (`pkictl agent`).

pub mod client;
mod enroll;
pub mod renewal;
mod rotate;

pub use enroll::{EnrollRequest, Enrolled, csr_without_names, enroll};
