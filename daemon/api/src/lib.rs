//! The stockd JSON-RPC contract, defined once: the method table in
//! [`contract`] (names, params, results, docs, data or admin), the result
//! shapes ([`types`], [`views`], [`list`]), the error codes ([`error`]) and
//! the limits. The daemon parses calls into [`Call`] and answers each
//! variant; stockctl and the tests call [`StockdClient`]; `rpc.discover`
//! serves [`openrpc`]. Nothing else in the workspace spells a method name
//! or a param.

pub mod contract;
pub mod error;
pub mod list;
pub mod types;
pub mod views;

pub use contract::*;
pub use error::{AppError, ErrorKind};
pub use list::*;
pub use types::*;
pub use views::*;

/// Limits every request is held to (defaults; the server config may lower
/// the body and connection limits).
pub mod limits {
    /// Most codes in one `stock.many`.
    pub const MAX_CODES: usize = 1000;
    /// Largest `n` in `stock.top`.
    pub const MAX_TOP_N: u64 = 500;
    /// Default `n` in `stock.top`.
    pub const DEFAULT_TOP_N: u64 = 20;
    /// Most calls in one JSON-RPC batch.
    pub const MAX_BATCH: u32 = 100;
    /// Most entries in `fields`.
    pub const MAX_FIELDS: usize = 1024;
    /// Longest string accepted as a code, date, column or industry.
    pub const MAX_NAME_LEN: usize = 128;
    /// Shortest `interval_ms` of `admin.subscribe_status`.
    pub const MIN_STATUS_INTERVAL_MS: u64 = 250;
    /// Longest `interval_ms` of `admin.subscribe_status` (one hour).
    pub const MAX_STATUS_INTERVAL_MS: u64 = 3_600_000;
    /// Subscriptions one connection may hold.
    pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 4;
    /// Largest cache cap `cache.resize` accepts (4 GiB).
    pub const MAX_CACHE_BYTES: u64 = 4 << 30;
    /// Longest `stock.history` span (trading days asked for and held)
    /// served while memory is critical; longer spans, derived views,
    /// `store.reload` and `stock.many` beyond [`MAX_CODES_WHEN_CRITICAL`]
    /// answer "overloaded".
    pub const MAX_HISTORY_DAYS_WHEN_CRITICAL: usize = 60;
    /// Largest `stock.many` served while memory is critical.
    pub const MAX_CODES_WHEN_CRITICAL: usize = 50;
}
