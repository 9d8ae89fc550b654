//! Diagnostics beside the measurement: what decoding one answer costs the
//! client on each side (a single thread, no contention), to tell the
//! server's cost from the client's in the end-to-end figures.

use std::hint::black_box;
use std::time::Instant;

use anyhow::{anyhow, Result};
use serde_json::Value;

use crate::ops::{Op, Rng};
use crate::pgval::decode_row;
use crate::target::{CallError, PostgresTarget, StockdTarget, Target};

#[derive(Debug, Clone, serde::Serialize)]
pub struct DecodeCost {
    pub op: Op,
    pub stockd_answer_bytes: usize,
    /// serde_json::from_slice into a Value, µs per answer.
    pub stockd_parse_us: f64,
    pub postgres_rows: usize,
    /// Every column of every row decoded into owned values, µs per answer.
    pub postgres_decode_us: f64,
}

pub async fn decode_costs(
    sd: &StockdTarget,
    pg: &PostgresTarget,
    ops: &[Op],
) -> Result<Vec<DecodeCost>> {
    let mut sc = sd.client().await?;
    let mut pc = pg.client().await?;
    let mut out = Vec::new();
    for &op in ops {
        let req = op.next(&mut Rng::for_client(7, op, 0), &sd.universe);
        let iters = (2_000 / op.expected_rows().unwrap_or(50).max(1)) as u32;
        let raw = sc.fetch_raw(req).await?;
        let t = Instant::now();
        for _ in 0..iters {
            let v: Value = serde_json::from_slice(black_box(&raw))?;
            black_box(v);
        }
        let stockd_parse_us = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
        let rows = pc.rows(req).await.map_err(|e| match e {
            CallError::Answer(s) => anyhow!(s),
            CallError::Transport(e) => e,
        })?;
        let mut vals = Vec::new();
        let t = Instant::now();
        for _ in 0..iters {
            vals.clear();
            for r in black_box(&rows) {
                decode_row(r, &mut vals)?;
            }
            black_box(&vals);
        }
        let postgres_decode_us = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
        out.push(DecodeCost {
            op,
            stockd_answer_bytes: raw.len(),
            stockd_parse_us,
            postgres_rows: rows.len(),
            postgres_decode_us,
        });
    }
    Ok(out)
}
