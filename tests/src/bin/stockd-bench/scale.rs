//! Data-set scales. Issue 2 measures `seed`; `quarter` and `year` are the
//! later benchmark's (issue 6) and work the same way: one table per scale in
//! the `stockd_bench` database, generated once and reused.

use std::fmt;
use std::str::FromStr;

use stockd::demo::DemoParams;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// 2,895 stocks × 30 days − 14 suspended = 86,836 rows.
    Seed,
    /// 5,400 stocks × 61 days.
    Quarter,
    /// 5,400 stocks × 244 days ≈ 1.3 M rows.
    Year,
}

impl Scale {
    pub fn name(self) -> &'static str {
        match self {
            Scale::Seed => "seed",
            Scale::Quarter => "quarter",
            Scale::Year => "year",
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
        }
    }

    /// The table in `stockd_bench` (unquoted; a plain lower-case name).
    pub fn table(self) -> String {
        format!("daily_stock_data_{}", self.name())
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
        match s {
            "seed" => Ok(Scale::Seed),
            "quarter" => Ok(Scale::Quarter),
            "year" => Ok(Scale::Year),
            _ => anyhow::bail!("unknown scale '{s}' (seed, quarter, year)"),
        }
    }
}
