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
//! - [`server`]: the Unix-socket JSON-RPC server and its handlers.
//! - [`admin`]: the admin gate (peer credentials) and `admin.status`.
//! - [`memory`]: real RSS, cgroup figures, the budget, returning memory.

pub mod admin;
pub mod config;
pub mod demo;
pub mod memory;
pub mod query;
pub mod server;
pub mod source;
pub mod store;
