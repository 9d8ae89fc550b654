//! Data sets. Issue 2 measures `seed`; `quarter` and `year` are the later
//! benchmark's (issue 6) and work the same way: one table per data set in
//! the `stockd_bench` database, generated once and reused.
//!
//! `seed-vendor` and `year-vendor` are issue #13's "gen-style" data: the
//! same rows as `seed` and `year`, with every `double precision` column
//! rounded to the decimals a data vendor's daily table holds (see
//! [`Scale::vendor_decimals`]), so the doubles are decimals. They are
//! measured for load and memory only.

use std::fmt;
use std::str::FromStr;

use stockd::demo::DemoParams;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scale {
    /// 2,895 stocks × 30 days − 14 suspended = 86,836 rows.
    Seed,
    /// 5,400 stocks × 61 days.
    Quarter,
    /// 5,400 stocks × 244 days ≈ 1.3 M rows.
    Year,
    /// `seed`'s rows, doubles rounded as a vendor's table holds them.
    SeedVendor,
    /// `year`'s rows, doubles rounded as a vendor's table holds them.
    YearVendor,
}

/// Every data set, in the order `--scales` lists them.
pub const ALL: [Scale; 5] = [
    Scale::Seed,
    Scale::Quarter,
    Scale::Year,
    Scale::SeedVendor,
    Scale::YearVendor,
];

/// Doubles a vendor publishes in yuan, shares or lots: rounded to 2
/// decimals. Every other `double precision` column (ratios, prices'
/// moving averages, oscillators) is rounded to 4.
pub const VENDOR_TWO_DECIMALS: &[&str] = &[
    "total_share",
    "float_share",
    "total_mv",
    "circ_mv",
    "vol_ma5",
    "vol_ma10",
    "vol_ma20",
    "obv",
    "net_mf_amount",
    "buy_lg_amount",
    "sell_lg_amount",
    "buy_elg_amount",
    "sell_elg_amount",
    "main_net_inflow",
];

impl Scale {
    pub fn name(self) -> &'static str {
        match self {
            Scale::Seed => "seed",
            Scale::Quarter => "quarter",
            Scale::Year => "year",
            Scale::SeedVendor => "seed-vendor",
            Scale::YearVendor => "year-vendor",
        }
    }

    /// The demo data set a vendor-style one is derived from; `None` for the
    /// demo data sets themselves.
    pub fn vendor_of(self) -> Option<Scale> {
        match self {
            Scale::SeedVendor => Some(Scale::Seed),
            Scale::YearVendor => Some(Scale::Year),
            Scale::Seed | Scale::Quarter | Scale::Year => None,
        }
    }

    /// Only load and memory are measured (no requests, Redis, warm
    /// restart or refresh).
    pub fn memory_only(self) -> bool {
        self.vendor_of().is_some()
    }

    /// Decimals a `double precision` column is rounded to in the vendor
    /// data sets.
    pub fn vendor_decimals(column: &str) -> i32 {
        if VENDOR_TWO_DECIMALS.contains(&column) {
            2
        } else {
            4
        }
    }

    pub fn params(self) -> DemoParams {
        let seed = DemoParams::seed();
        match self {
            Scale::Seed => seed,
            Scale::Quarter => DemoParams {
                stocks: 5_400,
                days: 61,
                suspended: 0,
                ..seed
            },
            Scale::Year => DemoParams {
                stocks: 5_400,
                days: 244,
                suspended: 0,
                ..seed
            },
            Scale::SeedVendor | Scale::YearVendor => self.vendor_of().map_or(seed, Scale::params),
        }
    }

    /// The table in `stockd_bench` (unquoted; a plain lower-case name).
    pub fn table(self) -> String {
        format!("daily_stock_data_{}", self.name().replace('-', "_"))
    }

    /// Trading days the daemon holds (the whole table).
    pub fn window_days(self) -> u32 {
        self.params().days
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scale {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Scale> {
        ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|x| x.name()).collect();
            anyhow::anyhow!("unknown data set '{s}' ({})", names.join(", "))
        })
    }
}
