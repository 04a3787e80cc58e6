//! `bench/verify.sh`'s in-process measurement: the same verification as
//! `pkictl verify LEAF --chain CHAIN --trust ROOT --crl CRL… --purpose server --host HOST`,
//! as a library call in a loop, so that process start-up is left out.
//!
//!     verify_loop RUNS LEAF CHAIN ROOT HOST CRL…
//!
//! Prints the mean time per verification; exits 1 if the chain is refused.

use std::time::Instant;

use pkictl::verifying::{Purpose, certificates, crls, verify_with_anchors};

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [runs, leaf, chain, root, host, crl_files @ ..] = args.as_slice() else {
        eprintln!("usage: verify_loop RUNS LEAF CHAIN ROOT HOST CRL…");
        std::process::exit(2);
    };
    let runs: u32 = runs.parse().expect("RUNS is a number");
    let (leaf, chain, root) = (read(leaf), read(chain), read(root));
    let crl_bytes: Vec<Vec<u8>> = crl_files.iter().map(|f| read(f)).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let started = Instant::now();
    for _ in 0..runs {
        // Parsing the inputs is part of the work, as it is for the command.
        let presented = certificates(&leaf).expect("the leaf");
        let sent = certificates(&chain).expect("the chain");
        let anchors = certificates(&root).expect("the root");
        let given = crl_bytes.iter().flat_map(|c| crls(c).expect("a CRL")).collect();
        let accepted =
            verify_with_anchors(presented, sent, anchors, given, Some(Purpose::Server), Some(host), now);
        if !accepted {
            eprintln!("verify_loop: the chain was refused");
            std::process::exit(1);
        }
    }
    let each = started.elapsed() / runs.max(1);
    println!(
        "pkictl library call: {} µs per verification (mean of {runs}, in one process)",
        each.as_micros()
    );
}
