//! The workload side: keep one certificate renewed (`pkictl agent`).

pub mod renewal;
mod rotate;
