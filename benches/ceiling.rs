//! The raw ceiling of batch issuance: what the p256 crate alone does per certificate (one key
//! generation and one ECDSA signature over a certificate-sized message), on one thread and on
//! every core. `bench/compare.sh` prints it next to `pkictl issue --batch`.
//!
//! Run: `cargo bench --bench ceiling` (prints "ceiling_1_thread=… ceiling_all_threads=…").

use std::time::Instant;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate;

/// A typical leaf TBSCertificate is 350-450 bytes.
const MESSAGE: [u8; 400] = [0x5a; 400];

fn keygen_and_sign(n: usize) {
    for _ in 0..n {
        let Ok(key) = SigningKey::try_generate_from_rng(&mut getrandom::SysRng) else {
            panic!("the OS random number generator failed");
        };
        let signature: Signature = key.sign(&MESSAGE);
        std::hint::black_box(signature.to_der());
    }
}

fn rate(threads: usize, per_thread: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| keygen_and_sign(per_thread));
        }
    });
    (threads * per_thread) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let n = std::env::var("CEILING_N").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    keygen_and_sign(200); // warm-up
    let one = rate(1, n);
    let all = rate(cores, n / cores);
    println!("ceiling_1_thread={one:.0} ceiling_all_threads={all:.0} cores={cores}");
}
