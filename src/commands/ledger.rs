//! `pkictl ledger migrate --to URL`: the home's ledger moved to PostgreSQL.

use serde_json::json;

use super::{Context, Outcome, print_json};
use crate::authority::migrate_ledger;
use crate::error::Result;
use crate::ledger::PgLocation;

pub fn migrate(ctx: &Context, to: &str) -> Result<Outcome> {
    let at = PgLocation::parse(to)?;
    let moved = migrate_ledger(&ctx.home, &at)?;
    let count = |table: &str| moved.copy.tables.iter().find(|(t, _)| t == table).map_or(0, |(_, n)| *n);
    if ctx.json {
        let tables: serde_json::Map<String, serde_json::Value> =
            moved.copy.tables.iter().map(|(t, n)| (t.clone(), json!(n))).collect();
        print_json(&json!({
            "ledger": moved.url,
            "rows": tables,
            "audit_events": moved.copy.events,
            "audit_head": moved.copy.head,
            "sqlite_backup": moved.backup,
        }));
        return Ok(Outcome::Success);
    }
    outln!("Moved the ledger of {} to {}", ctx.home.display(), moved.url);
    outln!(
        "  copied        {} CAs, {} certificates, {} CRLs, {} tokens, {} audit events (row counts checked)",
        count("authorities"),
        count("certificates"),
        count("crls"),
        count("tokens"),
        count("events")
    );
    outln!("  audit chain   replays unbroken on PostgreSQL, ending where the SQLite ledger's did");
    outln!("  SQLite backup {} (read-only)", moved.backup.display());
    Ok(Outcome::Success)
}
