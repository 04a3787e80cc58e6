//! What monitoring should alert on: certificates about to expire and CRLs due for
//! re-publication. The rule for CRLs is the same for the CLI's `list --expiring-within` and
//! any server-side check.

use crate::ledger::CrlRecord;

/// The time (Unix seconds) from which a CRL needs re-publishing, for a monitoring window of
/// `window` seconds: once it is past half its lifetime, or, when the window is shorter than
/// half its lifetime, once its nextUpdate falls within the window. A CRL that is always
/// "within 30 days" (it lives 7) is therefore not an alert from the moment it is signed, and a
/// short window still warns before the end.
pub fn crl_attention_from(crl: &CrlRecord, window: i64) -> i64 {
    let half_life = (crl.next_update - crl.this_update).max(0) / 2;
    crl.next_update - half_life.min(window.max(0))
}

/// Whether a CRL needs re-publishing at `now` for a monitoring window of `window` seconds
/// (see [`crl_attention_from`]).
pub fn crl_needs_attention(crl: &CrlRecord, now: i64, window: i64) -> bool {
    now >= crl_attention_from(crl, window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crl(this_update: i64, next_update: i64) -> CrlRecord {
        CrlRecord { issuer_id: 1, issuer_name: "CA".into(), number: 1, this_update, next_update, entries: 0 }
    }

    #[test]
    fn a_week_long_crl_needs_attention_after_half_its_life_whatever_the_long_window() {
        let day = 86_400;
        let weekly = crl(0, 7 * day);
        assert!(!crl_needs_attention(&weekly, 0, 30 * day));
        assert!(!crl_needs_attention(&weekly, 3 * day, 30 * day));
        assert!(crl_needs_attention(&weekly, 4 * day, 30 * day));
        // A window shorter than half the lifetime is the rule then.
        assert!(!crl_needs_attention(&weekly, 4 * day, 2 * day));
        assert!(crl_needs_attention(&weekly, 5 * day, 2 * day));
        assert!(crl_needs_attention(&weekly, 8 * day, 2 * day), "an expired CRL");
    }
}
