//! stockd: daily stock market data loaded from PostgreSQL into a typed,
//! lossless columnar store, served as JSON-RPC over a Unix socket, with every
//! byte it holds accounted for.
//!
//! Module map:
//! - [`config`]: file + environment + CLI → one validated [`config::Config`].
//! - [`store`]: the columnar store, its builder (binary COPY decoder) and the
//!   JSON row writer.
//! - [`demo`]: the embedded deterministic demo data set (reference layout).
//! - [`source`]: PostgreSQL: pool, catalog discovery, COPY load, refresh;
//!   the demo loop. Updates the app state, never calls the server.
//! - [`pgconn`]: libpq-style connection strings, TLS, passwords, redaction.
//! - [`query`]: the data methods over a store, free of JSON-RPC.
//! - [`views`]: the derived views (hotspots, industry detail, signals).
//! - [`arrow`]: store rows as an Arrow IPC stream, with exact types (the
//!   Arrow answers of the row-list methods).
//! - [`app`]: the state every part shares (store in service, caches,
//!   governor, statistics, admin gate), reload requests, `admin.status`.
//!
//! The request path, imports pointing one way:
//! [`transport`] (socket, accept loop, HTTP/WebSocket service, limits) →
//! [`rpc`] (JSON-RPC 2.0 framing, the contract's [`stockd_api::Call`]) →
//! [`handlers`] (one function per method) → [`app`] and the store, query,
//! views and caches.
//! - [`memory`]: real RSS, cgroup figures, the budget, returning memory.
//! - [`cache`]: byte-capped LRU caches for derived results.
//! - [`governor`]: ok/high/critical memory states and what each sheds.
//! - [`systemd`]: sd-notify (READY, STATUS, watchdog), socket activation,
//!   journald log format.
//! - [`snapshots`]: the one snapshot writer thread (newest store wins).
//! - [`stats`]: per-method request counts, errors and latency percentiles.

pub mod app;
pub mod arrow;
pub mod cache;
pub mod config;
pub mod demo;
pub mod governor;
pub mod handlers;
pub mod memory;
pub mod pgconn;
pub mod query;
pub mod rpc;
pub mod snapshots;
pub mod source;
pub mod stats;
pub mod store;
pub mod systemd;
pub mod transport;
pub mod views;
