//! stockd: daily stock market data loaded from PostgreSQL into a typed,
//! lossless columnar store, served as JSON-RPC over a Unix socket, with every
//! byte it holds accounted for.
//!
//! Module map:
//! - [`config`]: file + environment + CLI → one validated [`config::Config`].
//! - [`store`]: the columnar store, its builder (binary COPY decoder) and the
//!   JSON row writer.
//! - [`demo`]: the embedded deterministic demo data set (reference layout).
//! - [`source`]: PostgreSQL: pool, catalog discovery, COPY load, refresh.
//! - [`query`]: the data methods over a store, free of JSON-RPC.
//! - [`views`]: the derived views (hotspots, industry detail, signals).
//! - [`server`]: the Unix-socket JSON-RPC server and its handlers.
//! - [`params`]: unknown parameter names refused by name.
//! - [`admin`]: the admin gate (peer credentials) and `admin.status`.
//! - [`memory`]: real RSS, cgroup figures, the budget, returning memory.
//! - [`cache`]: byte-capped LRU caches for derived results.
//! - [`governor`]: ok/high/critical memory states and what each sheds.
//! - [`systemd`]: sd-notify (READY, STATUS, watchdog), socket activation,
//!   journald log format.
//! - [`snapshots`]: the one snapshot writer thread (newest store wins).
//! - [`stats`]: per-method request counts, errors and latency percentiles.

pub mod admin;
pub mod cache;
pub mod config;
pub mod conn;
pub mod demo;
pub mod fast;
pub mod governor;
pub mod memory;
pub mod params;
pub mod pgconn;
pub mod query;
pub mod server;
pub mod snapshots;
pub mod source;
pub mod stats;
pub mod store;
pub mod systemd;
pub mod views;
