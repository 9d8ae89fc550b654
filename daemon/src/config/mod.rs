//! Configuration: built-in defaults, the TOML file, `STOCKD_*` environment
//! variables and CLI flags, merged in that order into one validated
//! [`Config`].
//!
//! Two stages. The file struct (`file::FileConfig`, every field optional,
//! unknown keys refused) is the raw layer: the file is parsed into it, then
//! the environment and the flags overwrite the slots they set. The resolver
//! then turns that into [`Config`], whose fields are concrete and checked,
//! filling unset slots from the `DEFAULT_*` constants. Range and unit checks
//! live only in the resolver, so a bad value gets the same message whichever
//! layer it came from, plus where it came from.
//!
//! This module owns: the key names (a contract, see DESIGN.md
//! "Configuration"), their defaults and limits, the units of sizes and
//! durations, [`Cli`], `--print-config` output ([`Config::to_toml`]) and the
//! `--help` text ([`help_text`]). It does not check that the cache caps fit
//! the memory budget; the memory module does, once the budget is known.

mod cli;
mod columns;
mod env;
mod error;
mod file;
mod resolve;
mod units;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cli::{help_text, Cli};
pub use columns::ColumnsConfig;
pub use error::{ConfigError, Origin};
pub use units::{format_duration, format_size, parse_duration, parse_size};

use env::Env;
use file::{FileConfig, KeyVisitor};
use resolve::resolve;

/// Which layer set each dotted key; keys absent here have their default.
type Origins = BTreeMap<String, Origin>;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Config file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/stockd/stockd.toml";
/// File name of the default socket inside the runtime directory.
pub const DEFAULT_SOCKET_NAME: &str = "stockd.sock";
/// The Debian package's socket (stockd.socket, `RuntimeDirectory=stockd`):
/// the default outside systemd when it exists.
pub const PACKAGED_SOCKET: &str = "/run/stockd/stockd.sock";
/// Socket used when neither `$RUNTIME_DIRECTORY` nor `$XDG_RUNTIME_DIR` is
/// set and the packaged socket does not exist.
pub const DEFAULT_SOCKET_FALLBACK: &str = "./stockd.sock";
/// Socket permissions: owner and group (the admin group) may connect.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;
/// Concurrent connections served.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 256;
/// How long a client may take to send a request's headers and body, or
/// to take a response without any progress, before it is disconnected;
/// also how long a keep-alive connection may sit idle.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Allowed `server.client_timeout`.
pub const CLIENT_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(3600);
/// Largest request body, in bytes (64 KiB: a 1000-code `stock.many` fits).
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 64 * KIB;
/// Groups whose members may call admin methods.
pub const DEFAULT_ADMIN_GROUPS: &[&str] = &["stockd-admin"];
/// Source table.
pub const DEFAULT_TABLE: &str = "daily_stock_data";
/// Trading days held in memory.
pub const DEFAULT_WINDOW_DAYS: u32 = 30;
/// How often the source is polled for new data.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// PostgreSQL channel `LISTEN`ed on for immediate refreshes.
pub const DEFAULT_NOTIFY_CHANNEL: &str = "stockd_refresh";
/// `source.change_column` value that looks for a conventional timestamp
/// column ([`CHANGE_COLUMN_CANDIDATES`]) when the table is loaded.
pub const CHANGE_COLUMN_AUTO: &str = "auto";
/// Default `source.change_column`: [`CHANGE_COLUMN_AUTO`].
pub const DEFAULT_CHANGE_COLUMN: &str = CHANGE_COLUMN_AUTO;
/// Columns `change_column = "auto"` uses, first found wins, when their type
/// is `timestamp` or `timestamptz`.
pub const CHANGE_COLUMN_CANDIDATES: [&str; 3] = ["updated_at", "modified_at", "update_time"];
/// Default `source.settle`: a new date's row count must stay unchanged this
/// long before the date counts as complete (unless a NOTIFY says so).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30);
/// Allowed `source.settle`.
pub const SETTLE_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(3600);
/// Default `source.min_day_fraction`: a settled new date is complete when it
/// has at least this fraction of the previous complete date's rows.
pub const DEFAULT_MIN_DAY_FRACTION: f64 = 0.9;
/// Connections in the pool at most (the seed's pool_size 2 + overflow 2).
pub const DEFAULT_POOL_MAX_SIZE: u32 = 4;
/// Connections kept open while idle.
pub const DEFAULT_POOL_MIN_IDLE: u32 = 2;
/// How long a checkout may wait for a connection.
pub const DEFAULT_POOL_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections are closed and replaced after this long.
pub const DEFAULT_POOL_MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// Whether a connection is checked before each use.
pub const DEFAULT_POOL_TEST_ON_CHECK_OUT: bool = true;
/// Memory budget: derived from the cgroup or RAM.
pub const DEFAULT_MEMORY_LIMIT: MemoryLimit = MemoryLimit::Auto;
/// Fraction of the budget above which caches shrink.
pub const DEFAULT_MEMORY_HIGH: f64 = 0.80;
/// Fraction of the budget above which caches clear and expensive requests
/// are refused.
pub const DEFAULT_MEMORY_CRITICAL: f64 = 0.95;
/// `hotspots.ranking` results.
pub const DEFAULT_CACHE_HOTSPOTS: CacheConfig = CacheConfig {
    max_bytes: 8 * MIB,
    ttl: Duration::from_secs(600),
};
/// `industry.detail` results.
pub const DEFAULT_CACHE_INDUSTRY: CacheConfig = CacheConfig {
    max_bytes: 8 * MIB,
    ttl: Duration::from_secs(600),
};
/// `signals.stock` results.
pub const DEFAULT_CACHE_SIGNALS: CacheConfig = CacheConfig {
    max_bytes: 8 * MIB,
    ttl: Duration::from_secs(600),
};
/// Generic query results (`stock.top` and the like).
pub const DEFAULT_CACHE_QUERY: CacheConfig = CacheConfig {
    max_bytes: 16 * MIB,
    ttl: Duration::from_secs(30),
};

/// `[signals]` thresholds of `signals.stock`.
pub const DEFAULT_SIGNALS: SignalsConfig = SignalsConfig {
    kdj_high: 100.0,
    kdj_low: 0.0,
    rsi_high: 80.0,
    rsi_low: 20.0,
    volume_ratio: 2.0,
    limit_up_streak: 2,
    high_low_days: 20,
};

/// Allowed `server.max_connections`.
pub const MAX_CONNECTIONS_RANGE: RangeInclusive<u32> = 1..=65536;
/// Allowed `server.max_request_bytes`, in bytes.
pub const MAX_REQUEST_BYTES_RANGE: RangeInclusive<u64> = KIB..=16 * MIB;
/// Largest `source.window_days` (about 400 years of trading days).
pub const MAX_WINDOW_DAYS: u32 = 100_000;
/// Shortest `source.refresh_interval`: polling faster only loads the database.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Allowed `source.pool.max_size`: each PostgreSQL connection costs a backend
/// process (~15 MB), so the pool stays small.
pub const POOL_MAX_SIZE_RANGE: RangeInclusive<u32> = 1..=64;
/// Longest `source.notify_channel` (PostgreSQL's identifier limit).
pub const MAX_NOTIFY_CHANNEL_LEN: usize = 63;
/// Smallest explicit `memory.limit`: below this the store alone cannot fit.
pub const MIN_MEMORY_LIMIT: u64 = 16 * MIB;
/// Largest `cache.*.max_bytes`.
pub const MAX_CACHE_BYTES: u64 = 4 * GIB;
/// Allowed `signals.limit_up_streak` (consecutive limit-up days).
pub const SIGNALS_LIMIT_UP_STREAK_RANGE: RangeInclusive<u32> = 1..=1000;
/// Allowed `signals.high_low_days` (trading days; a high needs 2 to compare).
pub const SIGNALS_HIGH_LOW_DAYS_RANGE: RangeInclusive<u32> = 2..=MAX_WINDOW_DAYS;

/// What `memory.limit` may look like; shown in errors.
const SIZE_OR_AUTO_SYNTAX: &str =
    "\"auto\" or a size with a unit B, KiB, MiB or GiB (e.g. \"512MiB\")";

/// The effective configuration of one `stockd` process.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[server]`: the socket and who may use it.
    pub server: ServerConfig,
    /// `[source]`: where the data comes from.
    pub source: SourceConfig,
    /// `[columns]`: semantic columns used by derived views.
    pub columns: ColumnsConfig,
    /// `[memory]`: the budget and its watermarks.
    pub memory: MemoryConfig,
    /// `[cache.*]`: one byte-capped cache per derived view.
    pub cache: CachesConfig,
    /// `[snapshot]`: warm-restart copy of the store.
    pub snapshot: SnapshotConfig,
    /// `[signals]`: thresholds of the `signals.stock` view.
    pub signals: SignalsConfig,
    /// `[metrics]`: the optional TCP listener for Prometheus.
    pub metrics: MetricsConfig,
}

/// `[metrics]`. `GET /metrics` is always served on the socket; this adds a
/// TCP listener that serves only that, for a Prometheus that cannot reach
/// a Unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsConfig {
    /// Address and port to serve `/metrics` on over HTTP. Default: `None`
    /// (no listener; `""` in the file). A loopback address unless
    /// `allow_remote`.
    pub listen: Option<std::net::SocketAddr>,
    /// Allow a non-loopback `listen` address. Default: false (the figures
    /// name methods, caches and memory: not for every host to read).
    pub allow_remote: bool,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Unix socket path. Default: `$RUNTIME_DIRECTORY/stockd.sock`, else
    /// [`PACKAGED_SOCKET`] when it exists, else `$XDG_RUNTIME_DIR/stockd.sock`,
    /// else [`DEFAULT_SOCKET_FALLBACK`].
    pub socket: PathBuf,
    /// Permission bits of the socket file. Default: [`DEFAULT_SOCKET_MODE`]
    /// (`"0660"`); at most `0o777`.
    pub socket_mode: u32,
    /// Group owning the socket file; `""` leaves the daemon's own group.
    /// Default: `""`. Checked to exist when the config is resolved.
    pub socket_group: String,
    /// Connections served at once. Default: [`DEFAULT_MAX_CONNECTIONS`];
    /// allowed [`MAX_CONNECTIONS_RANGE`].
    pub max_connections: u32,
    /// Largest request body, in bytes. Default: [`DEFAULT_MAX_REQUEST_BYTES`]
    /// (64 KiB); allowed [`MAX_REQUEST_BYTES_RANGE`] (1 KiB to 16 MiB).
    pub max_request_bytes: u64,
    /// Slow-client bound: see [`DEFAULT_CLIENT_TIMEOUT`]; allowed
    /// [`CLIENT_TIMEOUT_RANGE`].
    pub client_timeout: Duration,
    /// Extra user ids allowed to call admin methods; root and the daemon's
    /// own uid always are. Default: none.
    pub admin_uids: Vec<u32>,
    /// Groups whose members may call admin methods. Default:
    /// [`DEFAULT_ADMIN_GROUPS`] (`["stockd-admin"]`).
    pub admin_groups: Vec<String>,
}

/// `[source]`.
#[derive(Clone, PartialEq)]
pub struct SourceConfig {
    /// PostgreSQL connection string (URL or key=value form). Default: `""`,
    /// which serves the built-in demo data set. Contains the password, if
    /// any: `Debug` and [`Config::to_toml`] hide it
    /// ([`crate::pgconn::redact`]).
    pub database_url: String,
    /// A file holding only the database password, read at start and on
    /// SIGHUP; refused when group or others may access it. Default: `None`
    /// (then `$CREDENTIALS_DIRECTORY/stockd-db-password`, `PGPASSWORD`,
    /// `PGPASSFILE` / `~/.pgpass`; see [`crate::pgconn::Target::resolve`]).
    pub password_file: Option<PathBuf>,
    /// Table to load, possibly schema-qualified. Default: [`DEFAULT_TABLE`].
    pub table: String,
    /// Trading days held, counting back from the latest; 0 = all. Default:
    /// [`DEFAULT_WINDOW_DAYS`]; at most [`MAX_WINDOW_DAYS`].
    pub window_days: u32,
    /// Poll interval for new data. Default: [`DEFAULT_REFRESH_INTERVAL`]
    /// (60 s); at least [`MIN_REFRESH_INTERVAL`] (1 s).
    pub refresh_interval: Duration,
    /// Channel `LISTEN`ed on; a `NOTIFY` on it triggers a refresh at once.
    /// Default: [`DEFAULT_NOTIFY_CHANNEL`]; 1 to 63 characters, ASCII
    /// letters, digits and `_`, not starting with a digit.
    pub notify_channel: String,
    /// Column whose `max()` is part of the refresh change check (e.g.
    /// `"updated_at"`), to notice corrections to days already held.
    /// Default: [`DEFAULT_CHANGE_COLUMN`] (`"auto"`: the first of
    /// [`CHANGE_COLUMN_CANDIDATES`] the table has as a timestamp column);
    /// `""` = none.
    pub change_column: String,
    /// How long a new date's row count must stay unchanged before the date
    /// is complete. Default: [`DEFAULT_SETTLE`] (30 s); allowed
    /// [`SETTLE_RANGE`] (1 s to 1 h).
    pub settle: Duration,
    /// Rows a settled new date needs, as a fraction of the previous
    /// complete date's rows, to be complete. Default:
    /// [`DEFAULT_MIN_DAY_FRACTION`] (0.9); 0 to 1 (0 = no count check).
    pub min_day_fraction: f64,
    /// `[source.pool]`.
    pub pool: PoolConfig,
}

impl fmt::Debug for SourceConfig {
    // By hand so a logged config never shows the database password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceConfig")
            .field("database_url", &crate::pgconn::redact(&self.database_url))
            .field("password_file", &self.password_file)
            .field("table", &self.table)
            .field("window_days", &self.window_days)
            .field("refresh_interval", &self.refresh_interval)
            .field("notify_channel", &self.notify_channel)
            .field("change_column", &self.change_column)
            .field("settle", &self.settle)
            .field("min_day_fraction", &self.min_day_fraction)
            .field("pool", &self.pool)
            .finish()
    }
}

/// `[source.pool]`: the bounded PostgreSQL pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Connections at most. Default: [`DEFAULT_POOL_MAX_SIZE`]; allowed
    /// [`POOL_MAX_SIZE_RANGE`].
    pub max_size: u32,
    /// Connections kept open while idle. Default: [`DEFAULT_POOL_MIN_IDLE`],
    /// or `max_size` if that is smaller; at most `max_size`.
    pub min_idle: u32,
    /// How long a checkout waits for a connection. Default:
    /// [`DEFAULT_POOL_CONNECTION_TIMEOUT`] (30 s); must be above zero.
    pub connection_timeout: Duration,
    /// Connection age after which it is replaced. Default:
    /// [`DEFAULT_POOL_MAX_LIFETIME`] (1 h); must be above zero.
    pub max_lifetime: Duration,
    /// Check each connection before handing it out. Default:
    /// [`DEFAULT_POOL_TEST_ON_CHECK_OUT`] (`true`).
    pub test_on_check_out: bool,
}

/// `[memory]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// The memory budget. Default: [`MemoryLimit::Auto`]; an explicit limit
    /// is at least [`MIN_MEMORY_LIMIT`] (16 MiB).
    pub limit: MemoryLimit,
    /// Fraction of the budget above which caches shrink. Default:
    /// [`DEFAULT_MEMORY_HIGH`] (0.80); in (0, 1] and below `critical`.
    pub high: f64,
    /// Fraction of the budget above which caches clear and expensive
    /// requests are refused. Default: [`DEFAULT_MEMORY_CRITICAL`] (0.95);
    /// in (0, 1].
    pub critical: f64,
}

/// The memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLimit {
    /// The cgroup's limit if one is set, else 25% of RAM (`"auto"`).
    Auto,
    /// An explicit budget, in bytes.
    Bytes(u64),
}

impl fmt::Display for MemoryLimit {
    /// The file form: `auto` or a size such as `512MiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Bytes(bytes) => f.write_str(&format_size(*bytes)),
        }
    }
}

/// `[cache.*]`: every cache of derived results, each capped in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachesConfig {
    /// `[cache.hotspots]`. Default: [`DEFAULT_CACHE_HOTSPOTS`] (8 MiB, 10 m).
    pub hotspots: CacheConfig,
    /// `[cache.industry]`. Default: [`DEFAULT_CACHE_INDUSTRY`] (8 MiB, 10 m).
    pub industry: CacheConfig,
    /// `[cache.signals]`. Default: [`DEFAULT_CACHE_SIGNALS`] (8 MiB, 10 m).
    pub signals: CacheConfig,
    /// `[cache.query]`. Default: [`DEFAULT_CACHE_QUERY`] (16 MiB, 30 s).
    pub query: CacheConfig,
}

impl CachesConfig {
    /// `(name, cache)` for every cache; the names are those of the config
    /// sections and of `cache.clear` / `cache.resize`.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &CacheConfig)> {
        [
            ("hotspots", &self.hotspots),
            ("industry", &self.industry),
            ("signals", &self.signals),
            ("query", &self.query),
        ]
        .into_iter()
    }

    /// Sum of all caps, in bytes.
    pub fn total_max_bytes(&self) -> u64 {
        self.iter().map(|(_, cache)| cache.max_bytes).sum()
    }
}

/// One cache's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Byte cap; the cache never holds more. At most [`MAX_CACHE_BYTES`]
    /// (4 GiB); 0 keeps nothing.
    pub max_bytes: u64,
    /// How long an entry stays valid.
    pub ttl: Duration,
}

/// `[snapshot]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// Directory for the warm-restart snapshot. Default: `$STATE_DIRECTORY`
    /// if set, else `None` (no snapshot); `""` in the file means default.
    pub dir: Option<PathBuf>,
}

/// `[signals]`: when `signals.stock` reports a threshold signal. Checked
/// with strict comparisons (`>`/`<`) except `limit_up_streak` (`>=`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalsConfig {
    /// `kdj_overbought` when KDJ J > this. Default: 100.0; finite, above
    /// `kdj_low`.
    pub kdj_high: f64,
    /// `kdj_oversold` when KDJ J < this. Default: 0.0; finite.
    pub kdj_low: f64,
    /// `rsi_overbought` when RSI6 > this. Default: 80.0; from 0 to 100,
    /// above `rsi_low`.
    pub rsi_high: f64,
    /// `rsi_oversold` when RSI6 < this. Default: 20.0; from 0 to 100.
    pub rsi_low: f64,
    /// `volume_surge` when the volume ratio > this. Default: 2.0; finite,
    /// above zero.
    pub volume_ratio: f64,
    /// `limit_up_streak` when consecutive limit-up days >= this. Default: 2;
    /// allowed [`SIGNALS_LIMIT_UP_STREAK_RANGE`].
    pub limit_up_streak: u32,
    /// `new_high` / `new_low` compare the close with the stock's closes over
    /// this many trading days held, the date included. Default: 20; allowed
    /// [`SIGNALS_HIGH_LOW_DAYS_RANGE`].
    pub high_low_days: u32,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        DEFAULT_SIGNALS
    }
}

impl Default for ServerConfig {
    /// Defaults without looking at the environment: the socket is
    /// [`DEFAULT_SOCKET_FALLBACK`]. Use [`Config::default_for_env`] for the
    /// socket a deployment would get.
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET_FALLBACK),
            socket_mode: DEFAULT_SOCKET_MODE,
            socket_group: String::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            client_timeout: DEFAULT_CLIENT_TIMEOUT,
            admin_uids: Vec::new(),
            admin_groups: DEFAULT_ADMIN_GROUPS.iter().map(|&g| g.to_owned()).collect(),
        }
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            database_url: String::new(),
            password_file: None,
            table: DEFAULT_TABLE.to_owned(),
            window_days: DEFAULT_WINDOW_DAYS,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            notify_channel: DEFAULT_NOTIFY_CHANNEL.to_owned(),
            change_column: DEFAULT_CHANGE_COLUMN.to_owned(),
            settle: DEFAULT_SETTLE,
            min_day_fraction: DEFAULT_MIN_DAY_FRACTION,
            pool: PoolConfig::default(),
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: DEFAULT_POOL_MAX_SIZE,
            min_idle: DEFAULT_POOL_MIN_IDLE,
            connection_timeout: DEFAULT_POOL_CONNECTION_TIMEOUT,
            max_lifetime: DEFAULT_POOL_MAX_LIFETIME,
            test_on_check_out: DEFAULT_POOL_TEST_ON_CHECK_OUT,
        }
    }
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            limit: DEFAULT_MEMORY_LIMIT,
            high: DEFAULT_MEMORY_HIGH,
            critical: DEFAULT_MEMORY_CRITICAL,
        }
    }
}

impl Default for CachesConfig {
    fn default() -> Self {
        Self {
            hotspots: DEFAULT_CACHE_HOTSPOTS,
            industry: DEFAULT_CACHE_INDUSTRY,
            signals: DEFAULT_CACHE_SIGNALS,
            query: DEFAULT_CACHE_QUERY,
        }
    }
}

impl Default for Config {
    /// Built-in defaults, ignoring the environment: socket
    /// [`DEFAULT_SOCKET_FALLBACK`], no snapshot directory. Handy in tests;
    /// the daemon uses [`Config::load`].
    fn default() -> Self {
        Self::default_for_env(std::iter::empty())
    }
}

impl Config {
    /// Loads the effective configuration: defaults, then the file
    /// (`cli.config`, else [`DEFAULT_CONFIG_PATH`] if it exists), then
    /// `STOCKD_*` variables from `env`, then the flags in `cli`.
    ///
    /// `env` is usually `std::env::vars()`; only `STOCKD_*`,
    /// `RUNTIME_DIRECTORY`, `XDG_RUNTIME_DIR` and `STATE_DIRECTORY` are used.
    pub fn load(
        cli: &Cli,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::load_with_default_file(cli, env, Path::new(DEFAULT_CONFIG_PATH))
    }

    /// [`Config::load`] with another default file, so tests do not depend on
    /// what the machine has in `/etc`.
    fn load_with_default_file(
        cli: &Cli,
        env: impl IntoIterator<Item = (String, String)>,
        default_file: &Path,
    ) -> Result<Self, ConfigError> {
        let env = Env::capture(env);
        let mut origins = Origins::new();
        let mut file = match &cli.config {
            Some(path) => read_file(path, &mut origins)?,
            None => match std::fs::read_to_string(default_file) {
                Ok(text) => parse_file(default_file, &text, &mut origins)?,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
                // Present but unreadable is not "absent": say so rather than
                // silently running on defaults.
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: default_file.to_owned(),
                        source,
                    })
                }
            },
        };
        env.apply(&mut file, &mut origins)?;
        cli.apply(&mut file, &mut origins);
        resolve(file, &origins, &env)
    }

    /// The defaults a process with environment `env` gets when nothing is
    /// configured: the socket and snapshot directory follow
    /// `RUNTIME_DIRECTORY` / `XDG_RUNTIME_DIR` / `STATE_DIRECTORY`;
    /// `STOCKD_*` variables are not applied.
    pub fn default_for_env(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let env = Env::capture(env);
        Self {
            server: ServerConfig {
                socket: env.default_socket(),
                ..ServerConfig::default()
            },
            source: SourceConfig::default(),
            columns: ColumnsConfig::default(),
            memory: MemoryConfig::default(),
            cache: CachesConfig::default(),
            snapshot: SnapshotConfig {
                dir: env.default_snapshot_dir(),
            },
            signals: SignalsConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }

    /// The configuration as TOML, every key present, sizes and durations
    /// with units; loading it back (same environment) gives an equal
    /// `Config`. This is what `stockd --print-config` prints.
    pub fn to_toml(&self) -> String {
        // Serializing our own plain structs cannot fail: every value is a
        // string, integer, float, bool or array of those.
        toml::to_string(&FileConfig::from_resolved(self)).expect("config serializes to TOML")
    }
}

fn read_file(path: &Path, origins: &mut Origins) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_file(path, &text, origins)
}

/// Parses file text and records every key it sets as coming from `path`.
fn parse_file(path: &Path, text: &str, origins: &mut Origins) -> Result<FileConfig, ConfigError> {
    let mut file = FileConfig::parse(path, text)?;
    struct Record<'a>(&'a Path, &'a mut Origins);
    impl KeyVisitor for Record<'_> {
        fn visit<T: file::FieldValue>(
            &mut self,
            key: &str,
            slot: &mut Option<T>,
        ) -> Result<(), ConfigError> {
            if slot.is_some() {
                self.1
                    .insert(key.to_owned(), Origin::File(self.0.to_owned()));
            }
            Ok(())
        }
    }
    file.visit(&mut Record(path, origins))?;
    Ok(file)
}

/// A warning when the config file in use (`cli.config`, else
/// [`DEFAULT_CONFIG_PATH`]) holds a database password and any local user
/// may read it; names the file and the fix.
pub fn exposed_password_warning(cli: &Cli) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let text = std::fs::read_to_string(&path).ok()?;
    let url = FileConfig::parse(&path, &text).ok()?.source.database_url?;
    let mode = std::fs::metadata(&path).ok()?.mode();
    (mode & 0o004 != 0 && crate::pgconn::has_password(&url)).then(|| {
        format!(
            "{} holds the database password in source.database_url and is world-readable \
             (mode {:04o}). Fix: chown stockd:stockd {p} && chmod 0600 {p} (group stockd is \
             every data client's); better, move the \
             password to source.password_file or a systemd credential \
             (LoadCredential={}:/etc/stockd/db-password)",
            path.display(),
            mode & 0o7777,
            crate::pgconn::CREDENTIAL_NAME,
            p = path.display()
        )
    })
}
