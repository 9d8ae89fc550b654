//! Result shapes of the contract, as clients decode them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `market.info`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MarketInfo {
    pub dates: DateSpan,
    /// Distinct stock codes held.
    pub stocks: u64,
    pub rows: u64,
    /// The columns held, in table order.
    pub columns: Vec<ColumnInfo>,
    /// Columns of the table that were not loaded (unsupported type).
    pub skipped_columns: Vec<ColumnInfo>,
    pub source: SourceInfo,
    /// Increases by one on every store swap.
    pub generation: u64,
    /// When the store in service was loaded (RFC 3339, UTC).
    pub loaded_at: String,
    /// Trading days the window holds at most (0 = all).
    pub window_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DateSpan {
    pub first: Option<String>,
    pub last: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// SQL type as the catalog spells it (`numeric(10,2)`, `real`, …).
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceInfo {
    /// `"demo"` (the embedded data set) or `"postgres"`.
    pub kind: String,
    /// The table for `postgres`, a description of the data set for `demo`.
    pub detail: String,
    /// True while the store in service is older than the source could give.
    pub stale: bool,
}

/// One row: `stock.get`, elements of `stock.many` and `stock.top`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StockRow {
    pub code: String,
    pub date: String,
    pub values: Map<String, Value>,
}

/// `stock.many`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StockMany {
    pub rows: Vec<StockRow>,
    /// Requested codes with no row (unknown, or no row on that date).
    pub missing: Vec<String>,
}

/// `stock.history`: one array per column, aligned with `dates`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StockHistory {
    pub code: String,
    pub dates: Vec<String>,
    pub columns: Map<String, Value>,
}
