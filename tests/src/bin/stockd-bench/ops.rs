//! The operations measured. Each `Op` draws its requests from the
//! [`Universe`] with a seeded PRNG, so every target sees the same sequence;
//! each target turns a [`Request`] into its own protocol (JSON-RPC body,
//! prepared statement, Redis commands later).
//!
//! Adding an operation (issue 6: `stock.get` with 8 columns, `stock.many`,
//! `stock.history`, `hotspots.ranking`, `industry.detail`) = a variant here,
//! its request generator, and its encoding in each target.

use std::fmt;
use std::str::FromStr;

use crate::prepare::Universe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Op {
    /// `stock.get` of a random (code, date) row of the window, all columns.
    #[serde(rename = "stock.get")]
    StockGet,
    /// `stock.top` n=20 by pct_chg desc on a random date, all columns.
    #[serde(rename = "stock.top")]
    StockTop,
}

/// The ranking column and size of `stock.top`.
pub const TOP_BY: &str = "pct_chg";
pub const TOP_N: usize = 20;

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::StockGet => "stock.get",
            Op::StockTop => "stock.top",
        }
    }

    /// What one request does, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Op::StockGet => "one row by (code, date), all columns",
            Op::StockTop => "top 20 by pct_chg desc on one date, all columns",
        }
    }

    /// The next request of this operation.
    pub fn next(self, rng: &mut Rng, u: &Universe) -> Request {
        match self {
            Op::StockGet => {
                let (code, date) = u.pairs[rng.below(u.pairs.len())];
                Request::Get { code, date }
            }
            Op::StockTop => Request::Top {
                date: rng.below(u.dates.len()) as u32,
            },
        }
    }

    /// The equivalent SQL (a prepared statement; `$n` parameters as the
    /// request supplies them).
    pub fn sql(self, quoted_table: &str) -> String {
        match self {
            Op::StockGet => {
                format!("SELECT * FROM {quoted_table} WHERE stock_code = $1 AND \"date\" = $2")
            }
            Op::StockTop => format!(
                "SELECT * FROM {quoted_table} WHERE \"date\" = $1 AND {TOP_BY} IS NOT NULL \
                 ORDER BY {TOP_BY} DESC, stock_code LIMIT {TOP_N}"
            ),
        }
    }

    /// Rows a correct answer has (checked on every response).
    pub fn expected_rows(self) -> usize {
        match self {
            Op::StockGet => 1,
            Op::StockTop => TOP_N,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Op {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Op> {
        match s {
            "stock.get" | "get" => Ok(Op::StockGet),
            "stock.top" | "top" => Ok(Op::StockTop),
            _ => anyhow::bail!("unknown operation '{s}' (stock.get, stock.top)"),
        }
    }
}

/// One request, as indices into the [`Universe`] (no allocation per request).
#[derive(Debug, Clone, Copy)]
pub enum Request {
    Get { code: u32, date: u32 },
    Top { date: u32 },
}

impl Request {
    pub fn op(&self) -> Op {
        match self {
            Request::Get { .. } => Op::StockGet,
            Request::Top { .. } => Op::StockTop,
        }
    }
}

/// SplitMix64: deterministic request sequences.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The stream of client `client` for a run seeded with `seed`: the same
    /// for every target.
    pub fn for_client(seed: u64, op: Op, client: usize) -> Rng {
        let mut r = Rng(seed ^ 0x5eed_0000_0000_0000 ^ ((op as u64) << 32) ^ client as u64);
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}
