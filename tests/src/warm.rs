//! Warm-restart helpers shared by the snapshot tests: a daemon on a test
//! database with its snapshots in a given directory, and a few values to
//! compare across restarts.

use crate::{Daemon, PgTestDb};
use anyhow::Result;
use serde_json::{json, Value};
use std::path::Path;

/// A daemon loading `db`'s table, writing and reading snapshots in `dir`.
pub async fn start(db: &PgTestDb, dir: &Path) -> Result<Daemon> {
    Daemon::builder()
        .database_url(db.url())
        .env("STOCKD_SNAPSHOT_DIR", &dir.display().to_string())
        .start()
        .await
}

/// A few values (three stocks' close, pct_chg, pe and name) to compare
/// across restarts.
pub async fn probe(d: &Daemon) -> Result<Value> {
    let rows = d
        .call(
            "stock.many",
            json!({"codes": ["600000", "600007", "600013"], "fields": ["close", "pct_chg", "pe", "stock_name"]}),
        )
        .await?;
    Ok(rows["rows"].clone())
}
