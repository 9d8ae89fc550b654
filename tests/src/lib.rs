//! End-to-end test harness for stockd: the real `stockd` binary, started on a
//! temporary Unix socket, called over real HTTP/1.1 and WebSocket, against
//! throwaway PostgreSQL databases.
//!
//! - [`pg`]: [`PgTestDb`], a database created for one test and dropped after it,
//!   with helpers for the reference fixture table and its data.
//! - [`daemon`]: [`Daemon`], one `stockd` process on its own socket, with the
//!   raw HTTP helper, a JSON-RPC `call` helper and the typed WebSocket client.
//! - [`http`]: a minimal HTTP/1.1 exchange over a Unix socket, so tests see
//!   the exact bytes the daemon sends (status line and raw JSON literals).
//! - [`compare`]: reads a row from PostgreSQL and checks a JSON value of the
//!   daemon against it, type by type (floats bit-exact, numeric by literal).
//! - [`util`]: temporary directories, a deterministic PRNG, polling.
//! - [`inspect`]: `admin.status` decoded, and the data set's codes, dates
//!   and industries discovered through the public methods.
//! - [`keepalive`]: a keep-alive HTTP/1.1 JSON-RPC client, for load.
//! - [`procfs`]: another process's RSS read from /proc.
//! - [`cluster`]: a private PostgreSQL cluster a fault test may stop and
//!   start (initdb into a temporary directory, its own port).
//!
//! Every helper returns `anyhow::Result` so a test fails with the context of
//! what it was doing; daemon stderr is printed when a test panics.

pub mod accounts;
pub mod cluster;
pub mod compare;
pub mod daemon;
pub mod docs;
pub mod http;
pub mod inspect;
pub mod keepalive;
pub mod pg;
pub mod procfs;
pub mod util;
pub mod warm;

pub use daemon::{Daemon, DaemonBuilder, RpcError};
pub use pg::PgTestDb;
pub use util::{wait_until, Rng, TempDir};

/// Path of the reference table DDL (packaging/examples/ in this repository).
pub const FIXTURE_SQL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../packaging/examples/daily_stock_data.sql"
);

/// The workspace root (where README.md lives).
pub const WORKSPACE_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
