//! The stockd JSON-RPC contract, defined once: method names, parameters,
//! result shapes and error codes. The daemon implements the generated
//! `*Server` traits; stockctl and the tests call the generated `*Client`
//! traits. Nothing else in the workspace spells a method name.
//!
//! Data methods return large row documents. The traits are generic over those
//! result types so the daemon can write rows straight to JSON text
//! (`Box<RawValue>`) while clients decode them into the typed structs of
//! [`types`] — one contract, no second hand-written copy.

pub mod error;
pub mod list;
pub mod types;
pub mod views;

pub use error::{AppError, ErrorKind};
pub use list::*;
pub use types::*;
pub use views::*;

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

/// Every method name the daemon serves, in the order of the contract table.
/// A drift test compares this with the server's registered methods.
pub const METHODS: &[&str] = &[
    "market.info",
    "market.dates",
    "stock.list",
    "stock.get",
    "stock.many",
    "stock.history",
    "stock.top",
    "hotspots.ranking",
    "industry.detail",
    "signals.stock",
    "admin.status",
    "admin.subscribe_status",
    "cache.clear",
    "cache.resize",
    "store.reload",
    "memory.trim",
];

/// Methods whose params object may hold only the names listed here: any
/// other name is refused with "invalid params" naming it and the names
/// allowed (the server checks this before the handler runs). A unit test in
/// the daemon checks that every listed name is one the method decodes.
pub const STRICT_PARAMS: &[(&str, &[&str])] = &[(
    "stock.list",
    &["industry", "prefix", "name", "offset", "limit"],
)];

/// The names `method` takes, if it refuses unknown ones (see
/// [`STRICT_PARAMS`]).
pub fn strict_params(method: &str) -> Option<&'static [&'static str]> {
    STRICT_PARAMS
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, names)| *names)
}

/// Market-wide methods.
#[rpc(server, client)]
pub trait Market {
    /// What the store holds: dates, stocks, rows, columns, source, generation.
    #[method(name = "market.info")]
    fn info(&self) -> RpcResult<MarketInfo>;

    /// Trading dates held, ascending, as `YYYY-MM-DD`.
    #[method(name = "market.dates")]
    fn dates(&self) -> RpcResult<Vec<String>>;
}

/// Per-stock data methods. Generic over the result documents (see the crate
/// docs): clients use [`StockRow`], [`StockMany`], [`StockHistory`],
/// `Vec<StockRow>` and [`StockList`].
#[rpc(
    server,
    client,
    server_bounds(
        Row: serde::Serialize + Send + Sync + Clone + 'static,
        Many: serde::Serialize + Send + Sync + Clone + 'static,
        History: serde::Serialize + Send + Sync + Clone + 'static,
        Top: serde::Serialize + Send + Sync + Clone + 'static,
        List: serde::Serialize + Send + Sync + Clone + 'static
    ),
    client_bounds(
        Row: serde::de::DeserializeOwned,
        Many: serde::de::DeserializeOwned,
        History: serde::de::DeserializeOwned,
        Top: serde::de::DeserializeOwned,
        List: serde::de::DeserializeOwned
    )
)]
pub trait Stock<Row, Many, History, Top, List> {
    /// The stocks held, each described by its latest row (code, name,
    /// industry, board, listing date), by code; filtered by `industry`
    /// (exact), `prefix` (of the code) and `name` (substring, ASCII letters
    /// in any case); paged by `offset` (default 0) and `limit` (default
    /// [`LIST_DEFAULT_LIMIT`], at most [`LIST_MAX_LIMIT`]). See [`list`].
    #[method(name = "stock.list", param_kind = map)]
    fn list(
        &self,
        industry: Option<String>,
        prefix: Option<String>,
        name: Option<String>,
        offset: Option<u64>,
        limit: Option<u64>,
    ) -> RpcResult<List>;

    /// One row: `code` on `date` (default: the stock's latest date held).
    #[method(name = "stock.get", param_kind = map)]
    fn get(
        &self,
        code: String,
        date: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<Row>;

    /// Up to [`limits::MAX_CODES`] rows at once; codes with no row are listed
    /// in `missing`.
    #[method(name = "stock.many", param_kind = map)]
    fn many(
        &self,
        codes: Vec<String>,
        date: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<Many>;

    /// One stock over a date range (default: the whole window), column-wise.
    #[method(name = "stock.history", param_kind = map)]
    fn history(
        &self,
        code: String,
        from: Option<String>,
        to: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<History>;

    /// The `n` rows of one date ranked by a numeric column; NULL and NaN are
    /// never ranked; ties are broken by code.
    #[method(name = "stock.top", param_kind = map)]
    fn top(
        &self,
        by: String,
        n: Option<u64>,
        order: Option<String>,
        date: Option<String>,
        industry: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<Top>;
}

/// Derived views, each computed from one date of the store and cached.
/// Generic over the result documents like [`Stock`]: clients use
/// [`HotspotsRanking`], [`IndustryDetail`] and [`StockSignals`].
#[rpc(
    server,
    client,
    server_bounds(
        Hot: serde::Serialize + Send + Sync + Clone + 'static,
        Ind: serde::Serialize + Send + Sync + Clone + 'static,
        Sig: serde::Serialize + Send + Sync + Clone + 'static
    ),
    client_bounds(
        Hot: serde::de::DeserializeOwned,
        Ind: serde::de::DeserializeOwned,
        Sig: serde::de::DeserializeOwned
    )
)]
pub trait Views<Hot, Ind, Sig> {
    /// Industries ranked by heat on `date` (default: the latest).
    #[method(name = "hotspots.ranking", param_kind = map)]
    fn hotspots(&self, date: Option<String>, n: Option<u64>) -> RpcResult<Hot>;

    /// One industry on `date`: members, statistics, top gainers and losers.
    #[method(name = "industry.detail", param_kind = map)]
    fn industry(&self, industry: String, date: Option<String>) -> RpcResult<Ind>;

    /// Technical signals active for `code` on `date` (default: its latest).
    #[method(name = "signals.stock", param_kind = map)]
    fn signals(&self, code: String, date: Option<String>) -> RpcResult<Sig>;
}

/// The typed client of [`Views`].
pub trait TypedViewsClient: ViewsClient<HotspotsRanking, IndustryDetail, StockSignals> {}
impl<T> TypedViewsClient for T where T: ViewsClient<HotspotsRanking, IndustryDetail, StockSignals> {}

/// Admin methods: allowed for root, the daemon's own uid, and configured
/// admin uids and groups (decided from the socket's peer credentials).
#[rpc(server, client)]
pub trait Admin {
    /// Everything an operator needs on one page: store, memory, pool,
    /// caches, requests, source.
    #[method(name = "admin.status", with_extensions)]
    fn status(&self) -> RpcResult<AdminStatus>;

    /// Pushes `admin.status` results (as `admin.status_update`
    /// notifications) every `interval_ms` (default 1000, at least
    /// [`limits::MIN_STATUS_INTERVAL_MS`]) over a WebSocket.
    #[subscription(
        name = "admin.subscribe_status" => "admin.status_update",
        unsubscribe = "admin.unsubscribe_status",
        item = AdminStatus,
        with_extensions,
        param_kind = map
    )]
    async fn subscribe_status(
        &self,
        interval_ms: Option<u64>,
    ) -> jsonrpsee::core::SubscriptionResult;

    /// Drops every entry of one cache (or of all, without `name`).
    #[method(name = "cache.clear", with_extensions, param_kind = map)]
    fn cache_clear(&self, name: Option<String>) -> RpcResult<CacheClearResult>;

    /// Sets a cache's cap (bytes, or a string with a unit: "4MiB") and
    /// evicts down to it now.
    #[method(name = "cache.resize", with_extensions, param_kind = map)]
    fn cache_resize(&self, name: String, max_bytes: Size) -> RpcResult<CacheResizeResult>;

    /// Reloads the store from the source now and waits for the result.
    #[method(name = "store.reload", with_extensions)]
    async fn store_reload(&self) -> RpcResult<ReloadResult>;

    /// Sheds caches to their low mark (half the cap) and returns freed
    /// memory to the OS.
    #[method(name = "memory.trim", with_extensions)]
    fn memory_trim(&self) -> RpcResult<TrimResult>;
}

/// The typed client of [`Stock`].
pub trait TypedStockClient:
    StockClient<StockRow, StockMany, StockHistory, Vec<StockRow>, StockList>
{
}
impl<T> TypedStockClient for T where
    T: StockClient<StockRow, StockMany, StockHistory, Vec<StockRow>, StockList>
{
}

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
