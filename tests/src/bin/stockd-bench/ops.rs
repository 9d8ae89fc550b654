//! The operations measured. Each `Op` draws its requests from the
//! [`Universe`] with a seeded PRNG, so every target sees the same sequence;
//! each target turns a [`Request`] into its own protocol (JSON-RPC body,
//! prepared statement, Redis commands).

use std::fmt;
use std::str::FromStr;

use crate::prepare::Universe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Op {
    /// `stock.get` of a random (code, date) row of the window, all columns.
    #[serde(rename = "stock.get")]
    StockGet,
    /// `stock.get` of a random row, the 8 columns of [`GET8_FIELDS`].
    #[serde(rename = "stock.get/8")]
    StockGet8,
    /// `stock.many` of [`MANY_N`] codes on a random date, all columns.
    #[serde(rename = "stock.many")]
    StockMany,
    /// `stock.top` n=20 by pct_chg desc on a random date, all columns.
    #[serde(rename = "stock.top")]
    StockTop,
    /// [`Op::StockMany`] in the `columns` layout (names once, rows as arrays).
    #[serde(rename = "stock.many/columns")]
    StockManyColumns,
    /// [`Op::StockTop`] in the `columns` layout.
    #[serde(rename = "stock.top/columns")]
    StockTopColumns,
    /// `stock.history` of a random stock over the whole window, the 10
    /// columns of [`HISTORY_FIELDS`].
    #[serde(rename = "stock.history")]
    StockHistory,
    /// `hotspots.ranking` (n = 10) of a random date.
    #[serde(rename = "hotspots.ranking")]
    Hotspots,
    /// `industry.detail` of a random industry on a random date.
    #[serde(rename = "industry.detail")]
    IndustryDetail,
    /// `stock.list` of a random industry, the first [`LIST_N`] stocks.
    #[serde(rename = "stock.list")]
    StockList,
}

pub const ALL_OPS: [Op; 10] = [
    Op::StockGet,
    Op::StockGet8,
    Op::StockMany,
    Op::StockManyColumns,
    Op::StockTop,
    Op::StockTopColumns,
    Op::StockHistory,
    Op::Hotspots,
    Op::IndustryDetail,
    Op::StockList,
];

/// The ranking column and size of `stock.top`.
pub const TOP_BY: &str = "pct_chg";
pub const TOP_N: usize = 20;
/// Codes per `stock.many`.
pub const MANY_N: usize = 50;
/// Industries per `hotspots.ranking` (the daemon's default n).
pub const HOTSPOTS_N: usize = 10;
/// Leaders per industry in `hotspots.ranking`, movers each way in
/// `industry.detail` (the daemon's constants).
pub const HOTSPOTS_LEADERS: usize = 3;
pub const INDUSTRY_MOVERS: usize = 5;
/// Page size of `stock.list` (the daemon's default limit).
pub const LIST_N: usize = 100;
/// `stock.get` with 8 columns.
pub const GET8_FIELDS: [&str; 8] = [
    "stock_name",
    "close",
    "pct_chg",
    "volume",
    "amount",
    "turnover_rate",
    "pe_ttm",
    "total_mv",
];
/// `stock.history` with 10 columns.
pub const HISTORY_FIELDS: [&str; 10] = [
    "open",
    "high",
    "low",
    "close",
    "pct_chg",
    "volume",
    "amount",
    "turnover_rate",
    "ma5",
    "ma20",
];
/// What the industry views read of each member row.
pub const VIEW_FIELDS: [&str; 9] = [
    "industry",
    "stock_name",
    "pct_chg",
    "close",
    "up_limit",
    "down_limit",
    "amount",
    "net_mf_amount",
    "volume_ratio",
];

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::StockGet => "stock.get",
            Op::StockGet8 => "stock.get/8",
            Op::StockMany => "stock.many",
            Op::StockTop => "stock.top",
            Op::StockManyColumns => "stock.many/columns",
            Op::StockTopColumns => "stock.top/columns",
            Op::StockHistory => "stock.history",
            Op::Hotspots => "hotspots.ranking",
            Op::IndustryDetail => "industry.detail",
            Op::StockList => "stock.list",
        }
    }

    /// What one request does, for the report.
    pub fn describe(self) -> String {
        match self {
            Op::StockGet => "one row by (code, date), all columns".into(),
            Op::StockGet8 => format!("one row by (code, date), 8 columns ({})", GET8_FIELDS.join(", ")),
            Op::StockMany => format!("{MANY_N} codes (evenly spaced from a random start) on a random date, all columns"),
            Op::StockTop => format!("top {TOP_N} by {TOP_BY} desc on a random date, all columns"),
            Op::StockManyColumns => format!(
                "{}, layout=columns (PostgreSQL and Redis do the same work as for stock.many)",
                Op::StockMany.describe()
            ),
            Op::StockTopColumns => format!(
                "{}, layout=columns (PostgreSQL and Redis do the same work as for stock.top)",
                Op::StockTop.describe()
            ),
            Op::StockHistory => format!(
                "one random stock over the whole window, 10 columns ({})",
                HISTORY_FIELDS.join(", ")
            ),
            Op::Hotspots => format!(
                "industries of a random date ranked by heat, top {HOTSPOTS_N} with {HOTSPOTS_LEADERS} leaders each"
            ),
            Op::IndustryDetail => format!(
                "one random industry on a random date: statistics, heat, top {INDUSTRY_MOVERS} gainers and losers"
            ),
            Op::StockList => format!(
                "the stocks of one random industry (by each stock's latest row in the window): \
                 code, name, industry, date of the first {LIST_N} by code, and the count; \
                 no Redis equivalent (its layout has no per-stock latest row)"
            ),
        }
    }

    /// The next request of this operation.
    pub fn next(self, rng: &mut Rng, u: &Universe) -> Request {
        let date = |rng: &mut Rng| rng.below(u.dates.len()) as u32;
        match self {
            Op::StockGet | Op::StockGet8 => {
                let (code, date) = u.pairs[rng.below(u.pairs.len())];
                if self == Op::StockGet {
                    Request::Get { code, date }
                } else {
                    Request::Get8 { code, date }
                }
            }
            Op::StockMany | Op::StockManyColumns => Request::Many {
                date: date(rng),
                first: rng.below(u.codes.len()) as u32,
                columns: self == Op::StockManyColumns,
            },
            Op::StockTop | Op::StockTopColumns => Request::Top {
                date: date(rng),
                columns: self == Op::StockTopColumns,
            },
            Op::StockHistory => Request::History {
                code: rng.below(u.codes.len()) as u32,
            },
            Op::Hotspots => Request::Hotspots { date: date(rng) },
            Op::IndustryDetail => Request::Industry {
                industry: rng.below(u.industries.len().max(1)) as u32,
                date: date(rng),
            },
            Op::StockList => Request::List {
                industry: rng.below(u.industries.len().max(1)) as u32,
            },
        }
    }

    /// The equivalent SQL (a prepared statement; `$n` parameters as the
    /// request supplies them).
    pub fn sql(self, t: &str) -> String {
        let list = |f: &[&str]| {
            f.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // The member rows the industry views read, with pct_chg as float8
        // and NaN read as "no value", like the daemon.
        let members = format!(
            "SELECT stock_code, stock_name, industry, \
             CASE WHEN pct_chg = 'NaN' THEN NULL ELSE pct_chg::float8 END AS p, \
             close, up_limit, down_limit, amount, net_mf_amount, volume_ratio FROM {t}"
        );
        let stats = "count(*) AS members, avg(p) AS avg_pct_change, \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY p) AS median_pct_change, \
             count(*) FILTER (WHERE p > 0) AS up, count(*) FILTER (WHERE p = 0) AS flat, \
             count(*) FILTER (WHERE p < 0) AS down, \
             count(*) FILTER (WHERE close >= up_limit) AS limit_up, \
             count(*) FILTER (WHERE close <= down_limit) AS limit_down, \
             sum(amount) AS amount, sum(net_mf_amount) AS net_inflow";
        let heat = "avg_pct_change + 5.0 * (up - down) / nullif(up + flat + down, 0) \
             + 2.0 * limit_up - 2.0 * limit_down AS heat";
        match self {
            Op::StockGet => {
                format!("SELECT * FROM {t} WHERE stock_code = $1 AND \"date\" = $2")
            }
            Op::StockGet8 => format!(
                "SELECT {} FROM {t} WHERE stock_code = $1 AND \"date\" = $2",
                list(&GET8_FIELDS)
            ),
            Op::StockMany | Op::StockManyColumns => {
                format!("SELECT * FROM {t} WHERE \"date\" = $1 AND stock_code = ANY($2)")
            }
            Op::StockTop | Op::StockTopColumns => format!(
                "SELECT * FROM {t} WHERE \"date\" = $1 AND {TOP_BY} IS NOT NULL \
                 ORDER BY {TOP_BY} DESC, stock_code LIMIT {TOP_N}"
            ),
            Op::StockHistory => format!(
                "SELECT \"date\", {} FROM {t} WHERE stock_code = $1 ORDER BY \"date\"",
                list(&HISTORY_FIELDS)
            ),
            Op::Hotspots => format!(
                "WITH d AS ({members} WHERE \"date\" = $1 AND industry IS NOT NULL), \
                 s AS (SELECT industry, {stats} FROM d GROUP BY industry), \
                 h AS (SELECT *, {heat} FROM s ORDER BY heat DESC NULLS LAST, industry LIMIT {HOTSPOTS_N}) \
                 SELECT h.*, l.stock_code, l.stock_name, l.p, l.close, l.amount, l.volume_ratio FROM h \
                 LEFT JOIN LATERAL (SELECT * FROM d WHERE d.industry = h.industry AND d.p IS NOT NULL \
                 ORDER BY d.p DESC, d.stock_code LIMIT {HOTSPOTS_LEADERS}) l ON true \
                 ORDER BY h.heat DESC NULLS LAST, h.industry, l.p DESC, l.stock_code"
            ),
            Op::IndustryDetail => format!(
                "WITH d AS ({members} WHERE \"date\" = $1 AND industry = $2), \
                 s AS (SELECT {stats} FROM d), \
                 m AS ((SELECT 'gainer' AS side, * FROM d WHERE p > 0 ORDER BY p DESC, stock_code LIMIT {INDUSTRY_MOVERS}) \
                 UNION ALL (SELECT 'loser', * FROM d WHERE p < 0 ORDER BY p ASC, stock_code LIMIT {INDUSTRY_MOVERS})) \
                 SELECT s.*, {heat}, m.side, m.stock_code, m.stock_name, m.p, m.close, m.amount, m.volume_ratio \
                 FROM s LEFT JOIN m ON true"
            ),
            // Each stock's latest row in the window ($1 = its first date),
            // then the industry ($2), the page and the count of matches.
            // The codes by a skip scan of the (stock_code, date) index
            // (one probe a stock) and each one's latest row by a second
            // probe: a `DISTINCT ON (stock_code)` over the window reads
            // every row (1.9 s at year scale, 0.2-0.3 s this way).
            Op::StockList => format!(
                "WITH RECURSIVE codes AS ((SELECT stock_code FROM {t} ORDER BY stock_code LIMIT 1) \
                 UNION ALL SELECT (SELECT n.stock_code FROM {t} n WHERE n.stock_code > c.stock_code \
                 ORDER BY n.stock_code LIMIT 1) FROM codes c WHERE c.stock_code IS NOT NULL) \
                 SELECT l.stock_code, l.stock_name, l.industry, l.\"date\", count(*) OVER () AS total \
                 FROM codes c CROSS JOIN LATERAL (SELECT stock_code, stock_name, industry, \"date\" \
                 FROM {t} r WHERE r.stock_code = c.stock_code AND r.\"date\" >= $1 \
                 ORDER BY r.\"date\" DESC LIMIT 1) l \
                 WHERE l.industry = $2 ORDER BY l.stock_code LIMIT {LIST_N}"
            ),
        }
    }

    /// Whether the Redis layout (see `redis.rs`) can answer this
    /// operation. `stock.list` describes each stock by its latest row; the
    /// layout keeps rows per (code, date) and code sets per date, so the
    /// equivalent would read every date's set of the window: not how
    /// anyone would use Redis, so it is left out rather than measured.
    pub fn has_redis(self) -> bool {
        self != Op::StockList
    }

    /// Whether a `--baseline` binary is timed on it: every operation but
    /// the columns layouts, which an older daemon may not have.
    pub fn has_baseline(self) -> bool {
        !matches!(self, Op::StockTopColumns | Op::StockManyColumns)
    }

    /// Items a correct answer has when the count is fixed (rows for the
    /// row methods); `None` when it depends on the data.
    pub fn expected_rows(self) -> Option<usize> {
        match self {
            Op::StockGet | Op::StockGet8 => Some(1),
            Op::StockTop | Op::StockTopColumns => Some(TOP_N),
            _ => None,
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
            "stock.get/8" | "get8" => Ok(Op::StockGet8),
            "stock.many" | "many" => Ok(Op::StockMany),
            "stock.top" | "top" => Ok(Op::StockTop),
            "stock.many/columns" | "many-columns" => Ok(Op::StockManyColumns),
            "stock.top/columns" | "top-columns" => Ok(Op::StockTopColumns),
            "stock.history" | "history" => Ok(Op::StockHistory),
            "hotspots.ranking" | "hotspots" => Ok(Op::Hotspots),
            "industry.detail" | "industry" => Ok(Op::IndustryDetail),
            "stock.list" | "list" => Ok(Op::StockList),
            _ => anyhow::bail!(
                "unknown operation '{s}' (stock.get, stock.get/8, stock.many, stock.many/columns, stock.top, \
                 stock.top/columns, stock.history, \
                 hotspots.ranking, industry.detail, stock.list)"
            ),
        }
    }
}

/// One request, as indices into the [`Universe`] (no allocation per request).
#[derive(Debug, Clone, Copy)]
pub enum Request {
    Get {
        code: u32,
        date: u32,
    },
    Get8 {
        code: u32,
        date: u32,
    },
    /// `columns`: ask stockd for the `columns` layout (the others ignore it).
    Many {
        date: u32,
        first: u32,
        columns: bool,
    },
    Top {
        date: u32,
        columns: bool,
    },
    History {
        code: u32,
    },
    Hotspots {
        date: u32,
    },
    Industry {
        industry: u32,
        date: u32,
    },
    List {
        industry: u32,
    },
}

impl Request {
    pub fn op(&self) -> Op {
        match self {
            Request::Get { .. } => Op::StockGet,
            Request::Get8 { .. } => Op::StockGet8,
            Request::Many { columns: false, .. } => Op::StockMany,
            Request::Many { columns: true, .. } => Op::StockManyColumns,
            Request::Top { columns: false, .. } => Op::StockTop,
            Request::Top { columns: true, .. } => Op::StockTopColumns,
            Request::History { .. } => Op::StockHistory,
            Request::Hotspots { .. } => Op::Hotspots,
            Request::Industry { .. } => Op::IndustryDetail,
            Request::List { .. } => Op::StockList,
        }
    }
}

/// The codes of a `stock.many`: [`MANY_N`] distinct codes evenly spaced
/// from `first`.
pub fn many_codes(first: u32, ncodes: usize) -> impl Iterator<Item = u32> {
    let n = ncodes.max(1);
    let stride = (n / MANY_N).max(1);
    (0..MANY_N.min(n)).map(move |i| ((first as usize + i * stride) % n) as u32)
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
