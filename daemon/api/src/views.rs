//! Result shapes of the derived views (`hotspots.ranking`,
//! `industry.detail`, `signals.stock`).
//!
//! Every figure is computed from one date of the store. Figures are JSON
//! numbers (IEEE doubles; a `numeric` column is converted from its exact
//! decimal); `null` means "no value": no member had one, or the column is
//! not in the table (then its semantic key is listed in `missing_columns`).
//! A single value of a `real` (float4) column (a member's pct change, a
//! signal's volume ratio) is written in its shortest float4 form, as
//! `stock.get` writes it: `20.01`, which read as float4 is the stored value
//! bit for bit. Statistics (mean, median, sums, heat) are computed in exact
//! decimal arithmetic on each value's decimal form (a `numeric` as held, a
//! `real`/`double` as its shortest text, `7.98`), so they carry no float
//! noise: a sum is exact at its values' scale, a median is exact (one more
//! decimal when it averages the two middle values), a mean and the heat
//! score are rounded half away from zero (as PostgreSQL's `round`) to the
//! date's pct-change scale + 2 decimals (4 for 2-decimal pct changes).
//! A JSON number drops trailing zeros (`7.98`, not `7.9800`).
//! Statistics follow SQL aggregate semantics: NULL (and NaN) values are left
//! out, and a sum over no values is `null`, not 0.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Default `n` of `hotspots.ranking`.
pub const HOTSPOTS_DEFAULT_N: u64 = 10;
/// Largest `n` of `hotspots.ranking`.
pub const HOTSPOTS_MAX_N: u64 = 100;
/// Leading stocks listed per industry in `hotspots.ranking`.
pub const HOTSPOTS_LEADERS: usize = 3;
/// Gainers and losers listed by `industry.detail` (each).
pub const INDUSTRY_MOVERS: usize = 5;

/// `hotspots.ranking`: industries of one date ranked by heat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct HotspotsRanking {
    /// The date ranked (`YYYY-MM-DD`; default the latest held).
    pub date: String,
    /// The `n` hottest industries: heat descending, then name ascending;
    /// industries whose heat is `null` come last.
    pub industries: Vec<IndustryHeat>,
    /// Industries with at least one member on the date (before the cut to
    /// `n`). Rows with a NULL industry belong to none.
    pub total_industries: u64,
    /// Optional semantic columns the table lacks, as `key (column)`, e.g.
    /// `"net_inflow (main_net_inflow)"`; their figures are `null`.
    pub missing_columns: Vec<String>,
}

/// One industry in [`HotspotsRanking`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct IndustryHeat {
    pub industry: String,
    #[serde(flatten)]
    pub stats: IndustryStats,
    /// The top [`HOTSPOTS_LEADERS`] members by pct change, descending (ties
    /// by code); members without a pct change are never leaders.
    pub leaders: Vec<Member>,
}

/// Statistics of one industry on one date (shared by both industry views).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct IndustryStats {
    /// Stocks of the industry with a row on the date.
    pub members: u64,
    /// Mean pct change of the members that have one; `null` if none has.
    pub avg_pct_change: Option<f64>,
    /// Median pct change (the mean of the two middle values for an even
    /// count, as PostgreSQL's `percentile_cont(0.5)`); `null` if none.
    pub median_pct_change: Option<f64>,
    /// Members with pct change > 0, = 0, < 0. Members with no pct change
    /// are in none of the three: `up + flat + down <= members`.
    pub up: u64,
    pub flat: u64,
    pub down: u64,
    /// Members closing at or above their limit-up price (both known).
    pub limit_up: u64,
    /// Members closing at or below their limit-down price (both known).
    pub limit_down: u64,
    /// Sum of traded amount; `null` if no member has one.
    pub amount: Option<f64>,
    /// Sum of main-force net inflow; `null` if no member has one.
    pub net_inflow: Option<f64>,
    /// The heat score:
    /// `avg_pct_change + 5 × (up − down) / (up + flat + down)
    ///  + 2 × limit_up − 2 × limit_down`;
    /// `null` when no member has a pct change.
    pub heat: Option<f64>,
}

/// A stock in a leaders, gainers or losers list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Member {
    pub code: String,
    pub name: Option<String>,
    pub pct_change: f64,
    pub close: Option<f64>,
    pub amount: Option<f64>,
    pub volume_ratio: Option<f64>,
}

/// `industry.detail`: one industry on one date.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct IndustryDetail {
    pub industry: String,
    pub date: String,
    #[serde(flatten)]
    pub stats: IndustryStats,
    /// Up to [`INDUSTRY_MOVERS`] members with pct change > 0, highest first
    /// (ties by code).
    pub gainers: Vec<Member>,
    /// Up to [`INDUSTRY_MOVERS`] members with pct change < 0, lowest first
    /// (ties by code).
    pub losers: Vec<Member>,
    /// As in [`HotspotsRanking::missing_columns`].
    pub missing_columns: Vec<String>,
}

/// `signals.stock`: the technical signals of one stock on one date.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StockSignals {
    pub code: String,
    /// The date evaluated (default: the stock's latest row).
    pub date: String,
    /// Signals active on the date, in the order of [`SIGNAL_NAMES`].
    pub signals: Vec<Signal>,
    /// Names of the signals that could be evaluated (active or not).
    pub checked: Vec<String>,
    /// Signals that could not be evaluated, and why. Every name of
    /// [`SIGNAL_NAMES`] is in exactly one of `checked` and `skipped`.
    pub skipped: Vec<SkippedSignal>,
}

/// Every signal `signals.stock` evaluates, in output order.
pub const SIGNAL_NAMES: &[&str] = &[
    "ma_cross",
    "macd_cross",
    "kdj_overbought",
    "kdj_oversold",
    "rsi_overbought",
    "rsi_oversold",
    "boll_breakout_up",
    "boll_breakdown",
    "volume_surge",
    "limit_up_streak",
    "new_high",
    "new_low",
];

/// One active signal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Signal {
    /// One of [`SIGNAL_NAMES`].
    pub name: String,
    pub direction: Direction,
    /// The values behind the signal on the date, by table column name.
    pub values: BTreeMap<String, f64>,
    /// Crosses only: the same columns on the stock's previous row (its
    /// previous trading day); empty for the other signals.
    pub previous: BTreeMap<String, f64>,
    /// The configured threshold the value passed (`[signals]`), for the
    /// threshold signals; `null` for the others.
    pub threshold: Option<f64>,
    /// `new_high` / `new_low` only: rows compared (the stock's rows among
    /// the last `high_low_days` trading days held, the date included).
    pub window_rows: Option<u32>,
}

/// Which way a signal points.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Bullish,
    Bearish,
    /// Only `volume_surge` on a day without a price change (or without a
    /// known one).
    Neutral,
}

/// A signal that could not be evaluated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct SkippedSignal {
    pub name: String,
    pub reason: SkipReason,
    /// The table column concerned, for `missing_column` and `null_value`.
    pub column: Option<String>,
}

/// Why a signal was not evaluated.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The table has no such column (or not a numeric one).
    MissingColumn,
    /// The column is NULL (or NaN) on the date or on the previous row.
    NullValue,
    /// A cross needs the stock's previous row; there is none in the store.
    NoPreviousRow,
    /// `new_high` / `new_low` need at least 2 rows in the window.
    TooFewRows,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_flattened_and_round_trip() {
        let heat = IndustryHeat {
            industry: "银行".into(),
            stats: IndustryStats {
                members: 2,
                avg_pct_change: Some(1.5),
                median_pct_change: Some(1.5),
                up: 2,
                flat: 0,
                down: 0,
                limit_up: 0,
                limit_down: 0,
                amount: None,
                net_inflow: Some(-3.0),
                heat: Some(6.5),
            },
            leaders: vec![],
        };
        let v = serde_json::to_value(&heat).unwrap();
        assert_eq!(v["members"], 2);
        assert_eq!(v["amount"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<IndustryHeat>(v).unwrap(), heat);
        assert_eq!(
            serde_json::to_value(SkipReason::NoPreviousRow).unwrap(),
            "no_previous_row"
        );
        assert_eq!(serde_json::to_value(Direction::Bullish).unwrap(), "bullish");
    }
}
