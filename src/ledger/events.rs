//! The audit trail.

use rusqlite::params;

use super::{LedgerResult, Tx};

impl Tx<'_> {
    /// Records one change; `detail` is a JSON object with whatever explains it.
    pub fn record_event(
        &self,
        at: i64,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> LedgerResult<()> {
        self.tx
            .execute(
                "INSERT INTO events (at, action, target, detail) VALUES (?1, ?2, ?3, ?4)",
                params![at, action, target, detail.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
