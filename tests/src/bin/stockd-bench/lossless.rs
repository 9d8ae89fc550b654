//! Issue #13's check of sampled rows against PostgreSQL, at every scale:
//! rows drawn at random from the window, each read from PostgreSQL through
//! the losslessness oracle (`stockd_tests::compare`) and from the daemon by
//! `stock.get`, every column compared exactly (doubles and reals bit for
//! bit, numeric digit for digit, NULL as null).

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use stockd_tests::compare::{self, RowReader};

use crate::ops::{Op, Rng};
use crate::prepare::{DataSet, Universe};
use crate::rpc::HttpConn;

/// Rows compared per scale.
pub const SAMPLED_ROWS: usize = 2_000;
/// Differences kept for the report.
const KEPT: usize = 10;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Lossless {
    pub rows: usize,
    pub columns: usize,
    /// Rows with at least one difference.
    pub differing_rows: usize,
    /// The first differences, `(code, date): column …: what`.
    pub first_differences: Vec<String>,
}

impl Lossless {
    pub fn summary(&self) -> String {
        format!(
            "sampled rows: {}/{} rows equal to PostgreSQL's in all {} columns{}",
            self.rows - self.differing_rows,
            self.rows,
            self.columns,
            if self.first_differences.is_empty() {
                String::new()
            } else {
                format!(" — differing: {}", self.first_differences.join("; "))
            }
        )
    }
}

/// Compares [`SAMPLED_ROWS`] random rows of the window.
pub async fn sampled_rows(
    socket: &Path,
    pg: &tokio_postgres::Client,
    ds: &DataSet,
    u: &Universe,
) -> Result<Lossless> {
    let cols = compare::discover(pg, &ds.quoted).await?;
    let reader = RowReader::prepare(pg, &ds.quoted, &cols, "stock_code", "date").await?;
    let mut conn = HttpConn::connect(socket).await?;
    let mut rng = Rng::for_client(7, Op::StockGet, 1);
    let mut out = Lossless {
        rows: 0,
        columns: reader.cols.len(),
        differing_rows: 0,
        first_differences: Vec::new(),
    };
    let mut body = Vec::new();
    for _ in 0..SAMPLED_ROWS.min(u.pairs.len()) {
        let (ci, di) = u.pairs[rng.below(u.pairs.len())];
        let code = &u.codes[ci as usize];
        let date = &u.dates[di as usize].text;
        let expected = reader
            .read(pg, code, date)
            .await?
            .with_context(|| format!("no PostgreSQL row for ({code}, {date})"))?;
        let request = serde_json::to_vec(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "stock.get",
            "params": {"code": code, "date": date}
        }))?;
        body.clear();
        conn.post(&request, &mut body).await?;
        let text = std::str::from_utf8(&body).context("stock.get answer is not UTF-8")?;
        let diffs = match compare::raw_row(text) {
            Ok(row) => compare::compare_values(
                &reader.cols,
                &expected,
                &row.values,
                &["stock_code", "date"],
            ),
            Err(e) => vec![format!("{e:#}")],
        };
        out.rows += 1;
        if !diffs.is_empty() {
            out.differing_rows += 1;
            for d in diffs {
                if out.first_differences.len() < KEPT {
                    out.first_differences.push(format!("({code}, {date}): {d}"));
                }
            }
        }
    }
    Ok(out)
}
