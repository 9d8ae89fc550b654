//! `[columns]`: which table column plays which role in the derived views
//! (hotspots, industry detail, signals, top-N).
//!
//! The list is long and every entry has the same shape, so one macro
//! invocation declares each semantic key once, with its default and doc, and
//! generates both the resolved [`ColumnsConfig`] and the file-side
//! `ColumnsFile`; the two cannot drift apart.

use serde::{Deserialize, Serialize};

macro_rules! semantic_columns {
    ($( $(#[doc = $doc:literal])+ $key:ident = $default:literal, )+) => {
        /// Semantic column names used by derived views. Defaults follow the
        /// reference layout (`daily_stock_data`); a deployment whose table
        /// names a role differently maps it here. Every value is a column name
        /// in the source table, and must not be empty.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct ColumnsConfig {
            $(
                $(#[doc = $doc])+
                #[doc = concat!("\n\nDefault: `\"", $default, "\"`.")]
                pub $key: String,
            )+
        }

        impl ColumnsConfig {
            /// Every semantic key with its default column, in declaration order.
            pub const DEFAULTS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($key), $default)),+];

            /// `(semantic key, column)` pairs, e.g. `("pct_change", "pct_chg")`.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
                [$((stringify!($key), self.$key.as_str())),+].into_iter()
            }
        }

        impl Default for ColumnsConfig {
            fn default() -> Self {
                Self { $($key: $default.to_owned()),+ }
            }
        }

        /// `[columns]` as written in the file.
        #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub(crate) struct ColumnsFile {
            $(pub $key: Option<String>,)+
        }

        impl ColumnsFile {
            /// `(dotted key, slot)` for every column, for the key visitors.
            pub fn slots_mut(&mut self) -> impl Iterator<Item = (&'static str, &mut Option<String>)> {
                [$((concat!("columns.", stringify!($key)), &mut self.$key)),+].into_iter()
            }

            /// The same file section with every key set from a resolved config.
            pub fn from_resolved(columns: &ColumnsConfig) -> Self {
                Self { $($key: Some(columns.$key.clone())),+ }
            }
        }

        impl ColumnsConfig {
            /// Takes each column from the file or the default, refusing empty
            /// names (an empty name can never match a column and would only
            /// surface later as a confusing "unknown column ''" per request).
            pub(crate) fn resolve(
                file: ColumnsFile,
                check: impl Fn(&'static str, &str) -> Result<(), super::ConfigError>,
            ) -> Result<Self, super::ConfigError> {
                let defaults = Self::default();
                let resolved = Self {
                    $($key: file.$key.unwrap_or(defaults.$key),)+
                };
                $(check(concat!("columns.", stringify!($key)), &resolved.$key)?;)+
                Ok(resolved)
            }
        }
    };
}

semantic_columns! {
    /// Stock code: the key of every per-stock method.
    code = "stock_code",
    /// Trading date of the row.
    date = "date",
    /// Display name of the stock.
    name = "stock_name",
    /// Industry of the stock; groups the hotspot and industry views.
    industry = "industry",
    /// Opening price.
    open = "open",
    /// Highest price of the day.
    high = "high",
    /// Lowest price of the day.
    low = "low",
    /// Closing price.
    close = "close",
    /// Previous trading day's close.
    pre_close = "pre_close",
    /// Change versus the previous close, in percent.
    pct_change = "pct_chg",
    /// Traded volume.
    volume = "volume",
    /// Traded amount (money).
    amount = "amount",
    /// Turnover rate, in percent.
    turnover_rate = "turnover_rate",
    /// Volume relative to recent average volume (volume-surge signal).
    volume_ratio = "volume_ratio",
    /// Limit-up price of the day.
    up_limit = "up_limit",
    /// Limit-down price of the day.
    down_limit = "down_limit",
    /// Main-force net money inflow.
    net_inflow = "main_net_inflow",
    /// Upstream rank of the stock.
    rank = "rank",
    /// Price/earnings ratio.
    pe = "pe",
    /// Total market value.
    total_mv = "total_mv",
    /// 5-day moving average of the close (MA cross signal).
    ma5 = "ma5",
    /// 20-day moving average of the close (MA cross signal).
    ma20 = "ma20",
    /// MACD DIF line (MACD cross signal).
    macd_dif = "macd_dif",
    /// MACD DEA line (MACD cross signal).
    macd_dea = "macd_dea",
    /// KDJ J line (KDJ extreme signal).
    kdj_j = "kdj_j",
    /// 6-day RSI (RSI extreme signal).
    rsi6 = "rsi6",
    /// Upper Bollinger band (breakout signal).
    boll_upper = "boll_upper",
    /// Lower Bollinger band (breakout signal).
    boll_lower = "boll_lower",
    /// Consecutive limit-up days (limit-up streak signal).
    consecutive_limit_up = "consecutive_limit_up",
    /// Trading board of the stock, a text column (`stock.list`; the
    /// reference layout has none, so `stock.list` answers `null`).
    board = "board",
    /// Listing date of the stock, a date or text column (`stock.list`; the
    /// reference layout has none, so `stock.list` answers `null`).
    list_date = "list_date",
}
