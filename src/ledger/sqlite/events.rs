//! The audit trail.

use rusqlite::params;

use super::{Event, LedgerResult, Tx};

impl Tx<'_> {
    /// Records one change.
    pub(super) fn record_event(&self, event: &Event<'_>) -> LedgerResult<()> {
        self.tx
            .execute(
                "INSERT INTO events (at, action, target, detail) VALUES (?1, ?2, ?3, ?4)",
                params![event.at, event.kind.as_str(), event.target, event.detail.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
