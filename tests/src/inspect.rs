//! Looking at a running daemon: its `admin.status` decoded, one cache's or
//! one method's figures out of it, and the demo universe (codes, dates,
//! industries, numeric columns) discovered through the public methods, so a
//! workload never hard-codes what the data set holds.

use crate::daemon::Daemon;
use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use stockd_api::{AdminStatus, CacheStatus, RequestStatus};

/// `admin.status`, decoded.
pub async fn status(d: &Daemon) -> Result<AdminStatus> {
    let v = d.call("admin.status", Value::Null).await?;
    serde_json::from_value(v).context("decoding admin.status")
}

/// The figures of the cache called `name`.
pub fn cache<'a>(s: &'a AdminStatus, name: &str) -> Result<&'a CacheStatus> {
    s.caches
        .iter()
        .find(|c| c.name == name)
        .with_context(|| format!("admin.status lists no cache '{name}': {:?}", s.caches))
}

/// The figures of `method` (all zero when it was never called: the daemon
/// lists only methods called at least once).
pub fn requests(s: &AdminStatus, method: &str) -> RequestStatus {
    s.requests
        .iter()
        .find(|r| r.method == method)
        .cloned()
        .unwrap_or(RequestStatus {
            method: method.to_string(),
            count: 0,
            errors: 0,
            p50_us: 0,
            p99_us: 0,
        })
}

/// The names of the four caches, as the contract lists them.
pub const CACHES: [&str; 4] = ["hotspots", "industry", "signals", "query"];

/// What a data set holds, as its public methods tell it.
#[derive(Debug, Clone)]
pub struct Universe {
    /// Trading dates, ascending.
    pub dates: Vec<String>,
    /// Codes with a row (and a close) on the latest date, ascending.
    pub codes: Vec<String>,
    /// Industries with members on the latest date.
    pub industries: Vec<String>,
    /// Columns `stock.top` can rank by.
    pub numeric_columns: Vec<String>,
}

impl Universe {
    /// Discovers the universe: `market.dates`, `market.info` columns,
    /// `hotspots.ranking` for the industries and one `stock.top` per
    /// industry for the codes.
    pub async fn discover(d: &Daemon) -> Result<Universe> {
        let dates: Vec<String> = serde_json::from_value(d.call("market.dates", json!({})).await?)?;
        let info = d.call("market.info", json!({})).await?;
        let numeric_columns: Vec<String> = info["columns"]
            .as_array()
            .context("market.info has no columns")?
            .iter()
            .filter(|c| {
                let t = c["type"].as_str().unwrap_or_default();
                ["double", "real", "numeric", "smallint", "integer", "bigint"]
                    .iter()
                    .any(|p| t.starts_with(p))
            })
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect();
        let hot = d
            .call("hotspots.ranking", json!({"n": stockd_api::HOTSPOTS_MAX_N}))
            .await?;
        let industries: Vec<String> = hot["industries"]
            .as_array()
            .context("hotspots.ranking has no industries")?
            .iter()
            .filter_map(|i| i["industry"].as_str().map(str::to_string))
            .collect();
        ensure!(
            industries.len() as u64 == hot["total_industries"].as_u64().unwrap_or(0),
            "hotspots.ranking n=100 did not list every industry: {hot}"
        );
        let mut codes = Vec::new();
        for ind in &industries {
            let top = d
                .call(
                    "stock.top",
                    json!({"by": "close", "n": stockd_api::limits::MAX_TOP_N, "industry": ind, "fields": ["close"]}),
                )
                .await?;
            codes.extend(
                top.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["code"].as_str().map(str::to_string)),
            );
        }
        codes.sort();
        codes.dedup();
        ensure!(
            !dates.is_empty() && !codes.is_empty() && !numeric_columns.is_empty(),
            "empty universe: {} dates, {} codes, {} numeric columns",
            dates.len(),
            codes.len(),
            numeric_columns.len()
        );
        Ok(Universe {
            dates,
            codes,
            industries,
            numeric_columns,
        })
    }

    pub fn latest(&self) -> &str {
        self.dates.last().map(String::as_str).unwrap_or_default()
    }
}
