//! Result shapes of the contract, as clients decode them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `market.info`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
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
    /// The `[columns]` mapping: semantic name → column of this table (e.g.
    /// `close` → `close`, `pct_change` → `pct_chg`), for clients that draw
    /// charts or rank by meaning rather than by name.
    #[serde(default)]
    pub semantic_columns: std::collections::BTreeMap<String, String>,
    /// A newer date that is not complete yet: held and served when asked
    /// for by date, but not the default date, and not counted in `dates` or
    /// `rows`, until it is complete (NOTIFY, or its row count settled).
    #[serde(default)]
    pub pending: Option<PendingDay>,
}

/// `market.info` `pending`: a date being loaded by the source (an ETL job
/// still inserting it), and why it is not served by default yet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct PendingDay {
    /// The pending date (the newest, if several).
    pub date: String,
    /// Its rows in the table at the last check.
    pub rows: u64,
    /// Its rows in the store in service (served when asked for by date).
    pub rows_loaded: u64,
    /// Why it is pending, and what publishes it.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct DateSpan {
    pub first: Option<String>,
    pub last: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ColumnInfo {
    pub name: String,
    /// SQL type as the catalog spells it (`numeric(10,2)`, `real`, …).
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SourceInfo {
    /// `"demo"` (the embedded data set) or `"postgres"`.
    pub kind: String,
    /// The table for `postgres`, a description of the data set for `demo`.
    pub detail: String,
    /// True while the store in service is older than the source could give.
    pub stale: bool,
}

/// One row: `stock.get`, elements of `stock.many` and `stock.top`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StockRow {
    pub code: String,
    pub date: String,
    pub values: Map<String, Value>,
}

/// `stock.many`. Decodes either layout (`rows` or `columns`) into rows.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct StockMany {
    pub rows: Vec<StockRow>,
    /// Requested codes with no row (unknown, or no row on that date).
    pub missing: Vec<String>,
}

/// How a list of rows is laid out in an answer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One object per row: `{"code", "date", "values": {column: value}}`.
    #[default]
    Rows,
    /// Names once: `{"fields": [...], "codes": [...], "dates": [...],
    /// "rows": [[value, ...], ...]}`, `rows[i]` aligned with `fields`; in
    /// pandas `DataFrame(a["rows"], columns=a["fields"], index=a["codes"])`.
    Columns,
}

/// Rows in the `columns` layout (see [`Layout::Columns`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct RowTable {
    pub fields: Vec<String>,
    pub codes: Vec<String>,
    pub dates: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// `stock.many` only: requested codes with no row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
}

impl RowTable {
    /// The same rows, one object each.
    pub fn into_rows(self) -> Vec<StockRow> {
        let fields = self.fields;
        self.codes
            .into_iter()
            .zip(self.dates)
            .zip(self.rows)
            .map(|((code, date), values)| StockRow {
                code,
                date,
                values: fields.iter().cloned().zip(values).collect(),
            })
            .collect()
    }
}

/// An answer that is a list of rows, in either layout.
#[derive(Deserialize)]
#[serde(untagged)]
enum RowsWire<R> {
    Rows(R),
    Table(RowTable),
}

impl<'de> Deserialize<'de> for StockMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Rows {
            rows: Vec<StockRow>,
            missing: Vec<String>,
        }
        Ok(match RowsWire::<Rows>::deserialize(d)? {
            RowsWire::Rows(r) => StockMany {
                rows: r.rows,
                missing: r.missing,
            },
            RowsWire::Table(mut t) => {
                let missing = t.missing.take().unwrap_or_default();
                StockMany {
                    rows: t.into_rows(),
                    missing,
                }
            }
        })
    }
}

/// `stock.top`: the ranked rows. Decodes either layout into rows.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(transparent)]
pub struct TopRows(pub Vec<StockRow>);

impl<'de> Deserialize<'de> for TopRows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(TopRows(match RowsWire::<Vec<StockRow>>::deserialize(d)? {
            RowsWire::Rows(r) => r,
            RowsWire::Table(t) => t.into_rows(),
        }))
    }
}

impl std::ops::Deref for TopRows {
    type Target = Vec<StockRow>;
    fn deref(&self) -> &Vec<StockRow> {
        &self.0
    }
}

/// `stock.history`: one array per column, aligned with `dates`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StockHistory {
    pub code: String,
    pub dates: Vec<String>,
    pub columns: Map<String, Value>,
}

/// `admin.status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct AdminStatus {
    pub version: String,
    pub uptime_s: u64,
    pub store: StoreStatus,
    pub memory: MemoryStatus,
    pub pool: PoolStatus,
    pub caches: Vec<CacheStatus>,
    pub requests: Vec<RequestStatus>,
    pub source: SourceStatus,
    #[serde(default)]
    pub systemd: SystemdStatus,
}

/// What the daemon tells systemd.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct SystemdStatus {
    /// Whether NOTIFY_SOCKET is set.
    pub notify: bool,
    /// `WatchdogSec=`, when the watchdog is on.
    pub watchdog_interval_ms: Option<u64>,
    pub watchdog_pings: u64,
    /// When the last ping was sent (RFC 3339, UTC).
    pub last_watchdog_ping: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StoreStatus {
    /// False until the first load (or snapshot) succeeds.
    pub loaded: bool,
    pub rows: u64,
    pub dates: u64,
    pub stocks: u64,
    pub columns: u64,
    /// Bytes of column buffers and indexes.
    pub bytes: u64,
    pub bytes_per_row: f64,
    pub generation: u64,
    pub loaded_at: Option<String>,
    pub load_ms: u64,
    pub stale: bool,
    /// What the load of this generation read: `full` (the whole table,
    /// or the demo data), `incremental` (only the dates after the previous
    /// generation's newest, and held dates whose rows changed; the rest
    /// is shared with it) or `snapshot`.
    #[serde(default)]
    pub read_kind: String,
    /// Rows and trading dates that load read.
    #[serde(default)]
    pub read_rows: u64,
    #[serde(default)]
    pub read_dates: u64,
    /// Of an incremental read: the oldest dates the window dropped, and
    /// held dates read again because their rows changed (counted in
    /// `read_dates` too).
    #[serde(default)]
    pub read_dropped_dates: u64,
    #[serde(default)]
    pub read_reread_dates: u64,
    /// Rows still in the column buffers, shared with older generations,
    /// that are no longer served (dropped or read again): counted in
    /// `bytes` until a full load gives them back.
    #[serde(default)]
    pub retired_rows: u64,
    /// Where the bytes go: one entry per column, in table order. The
    /// indexes are the rest of `bytes`.
    #[serde(default)]
    pub column_bytes: Vec<ColumnMemory>,
    /// Bytes of the (code, date) and per-date indexes and the name tables.
    #[serde(default)]
    pub index_bytes: u64,
}

/// What one column of the store costs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ColumnMemory {
    pub name: String,
    /// The column's PostgreSQL type.
    pub pg_type: String,
    /// How the values are held. `…-packed`: in blocks of 1,024 rows, each
    /// frame-of-reference + bit-packed at the width its values need:
    /// `int-packed` (smallint, integer, bigint), `date-packed`,
    /// `timestamp-packed`, `decimal-packed` (numeric as a scaled integer),
    /// `f64-decimal-packed` (a double whose every value is an integer of
    /// at most 2^53 over a power of ten, held as that integer),
    /// `f64-fraction-packed` (the same over `m × 10^e`, m ≤ 250: a moving
    /// average of prices in cents over 30 days is an integer over 3,000),
    /// `f64-dict-packed` (a double column of at most 256 distinct values,
    /// as codes into them), `f64-packed`/`f32-packed` (other doubles and
    /// reals, by their bit patterns). `decimal-by-stock`,
    /// `f64-decimal-by-stock`, `f64-fraction-by-stock`: the same
    /// integers held as offsets from a value of each stock, where that is
    /// smaller (share counts, which a stock keeps from day to day). Also
    /// `decimal-i128` (numeric past 18 digits),
    /// `decimal-text`, `dict-packed` (text as bit-packed dictionary codes),
    /// `bitmap` (boolean).
    pub layout: String,
    /// Bytes of the values (with the dictionary, for text).
    pub bytes: u64,
    /// Bytes of the null bitmap (0 when the column holds no NULL).
    pub null_bytes: u64,
    /// `(bytes + null_bytes) × 8 / rows`.
    pub bits_per_value: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct MemoryStatus {
    /// Resident set size from /proc (not allocator counters).
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
    /// The budget (`memory.limit`; default the cgroup limit, else 25% of RAM).
    pub limit_bytes: u64,
    /// Where `limit_bytes` came from: `memory.limit`, `cgroup v2 memory.high
    /// of /system.slice/stockd.service` (or `memory.max`, or v1's limit),
    /// `25% of RAM (sysinfo)`, or the fixed 512 MiB fallback.
    #[serde(default)]
    pub budget_source: String,
    pub cgroup_limit_bytes: Option<u64>,
    pub cgroup_usage_bytes: Option<u64>,
    /// PSI memory "some avg10" (percent), where the kernel exposes it.
    pub psi_some_avg10: Option<f64>,
    /// The high and critical marks, as fractions of `limit_bytes`.
    #[serde(default)]
    pub high_mark: f64,
    #[serde(default)]
    pub critical_mark: f64,
    /// `ok`, `high` or `critical`.
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct PoolStatus {
    pub max_size: u32,
    pub size: u32,
    pub idle: u32,
    pub in_use: u32,
    /// Checkouts that had to wait for a connection.
    pub waits: u64,
    /// Checkouts that gave up after `connection_timeout`.
    pub timeouts: u64,
    /// Connections that failed to open or were found broken.
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CacheStatus {
    pub name: String,
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct RequestStatus {
    pub method: String,
    pub count: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SourceStatus {
    /// `demo` or `postgres`.
    pub kind: String,
    pub healthy: bool,
    pub last_error: Option<String>,
    /// Loads that failed since start (the previous store kept serving).
    #[serde(default)]
    pub load_failures: u64,
    /// Loads that gave up waiting for a table lock after
    /// `source.pool.connection_timeout`.
    #[serde(default)]
    pub lock_timeouts: u64,
    /// Loads the daemon retried by itself after a failure (with backoff).
    #[serde(default)]
    pub retries: u64,
    /// Reload requests answered by a load already queued for another one.
    #[serde(default)]
    pub coalesced: u64,
}

/// A size: a number of bytes, or a string with a unit (`B`, `KiB`, `MiB`,
/// `GiB`), as `cache.resize` accepts it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Size {
    Bytes(u64),
    Text(String),
}

const SIZE_EXPECTED: &str =
    "a whole number of bytes (0 or more) or a string such as \"4MiB\" (units B, KiB, MiB, GiB)";

impl<'de> Deserialize<'de> for Size {
    /// Refuses anything else with a message naming the value and what is
    /// allowed (an untagged enum would say only "did not match any variant").
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(SIZE_EXPECTED)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size::Bytes(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v).map(Size::Bytes).map_err(|_| {
                    E::custom(format!("max_bytes {v} is negative; give {SIZE_EXPECTED}"))
                })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Size, E> {
                Err(E::custom(format!(
                    "max_bytes {v} is not a whole number; give {SIZE_EXPECTED}"
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Size, E> {
                Ok(Size::Text(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Size, E> {
                Err(E::custom(format!(
                    "max_bytes null is not a size; give {SIZE_EXPECTED}"
                )))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Size, E> {
                Err(E::custom(format!(
                    "max_bytes {v} is not a size; give {SIZE_EXPECTED}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// `cache.clear`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CacheClearResult {
    pub dropped: Vec<CacheDropped>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CacheDropped {
    pub name: String,
    pub entries: u64,
    pub bytes: u64,
}

/// `cache.resize`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CacheResizeResult {
    pub name: String,
    pub max_bytes: u64,
    pub evicted_entries: u64,
    pub evicted_bytes: u64,
}

/// `store.reload`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ReloadResult {
    pub generation: u64,
    pub rows: u64,
    pub duration_ms: u64,
}

/// `memory.trim`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct TrimResult {
    pub rss_before: u64,
    pub rss_after: u64,
    pub cache_bytes_dropped: u64,
}
