//! `stock.list`: finding the stocks held by code prefix, name or industry.
//!
//! Every stock with at least one row in the window is listed once,
//! described by its *latest* row held (the row `stock.get` answers without
//! a date): a stock suspended on the last trading day is still listed, with
//! the attributes and `date` of its last traded day. Stocks are ordered by
//! code (byte order), so `offset`/`limit` pages are stable for one store
//! generation.
//!
//! The attributes come from the `[columns]` semantic mapping: `code`,
//! `name`, `industry`, `board` and `list_date`. A mapped column the table
//! does not have (the reference layout has no `board` and no `list_date`)
//! makes that attribute `null` for every stock and is named in
//! `missing_columns`; filtering on such a column (`industry`, `name`) is a
//! `missing_column` error.

use serde::{Deserialize, Serialize};

/// Default `limit` of `stock.list`.
pub const LIST_DEFAULT_LIMIT: u64 = 100;
/// Largest `limit` of `stock.list`.
pub const LIST_MAX_LIMIT: u64 = 1000;

/// `stock.list`: one page of the stocks matched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StockList {
    /// Stocks matched by the filters, before paging.
    pub total: u64,
    /// The `offset` and `limit` applied.
    pub offset: u64,
    pub limit: u64,
    /// The `offset` of the next page; `null` on the last page.
    pub next_offset: Option<u64>,
    /// At most `limit` stocks, by code.
    pub stocks: Vec<ListedStock>,
    /// Semantic columns the table lacks, as `key (column)`, e.g.
    /// `"board (board)"`; those attributes are `null`.
    pub missing_columns: Vec<String>,
}

/// One stock in [`StockList`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ListedStock {
    pub code: String,
    /// `[columns] name` on the stock's latest row.
    pub name: Option<String>,
    /// `[columns] industry` on the stock's latest row.
    pub industry: Option<String>,
    /// `[columns] board` on the stock's latest row (a text column).
    pub board: Option<String>,
    /// `[columns] list_date` on the stock's latest row (a date column as
    /// `YYYY-MM-DD`, or a text column as held).
    pub list_date: Option<String>,
    /// The date of the row the attributes were read from: the stock's
    /// latest trading day held.
    pub date: String,
}
