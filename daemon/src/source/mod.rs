//! Where stores come from: the embedded demo data set, or a PostgreSQL table
//! through a small bounded pool. A load discovers the table's columns from
//! the catalog, picks the window's first date, drains one binary
//! `COPY (SELECT …) TO STDOUT` into a [`StoreBuilder`] and returns a new
//! [`Store`]; it never touches the store in service. The refresh task
//! decides when to load: a cheap change check every `refresh_interval`, a
//! `NOTIFY` on `notify_channel`, or an explicit request.

use crate::app::reload::{serving_now, ReloadRequest, Trigger, COUNTERS};
use crate::app::{PoolFigures, Shared};
use crate::config::Config;
use crate::demo::DemoParams;
use crate::pgconn::{self, Connector, PasswordSources, Target};
use crate::store::schema::{ColumnKind, ColumnSpec};
use crate::store::snapshot;
use crate::store::{LoadInfo, Provenance, Store, StoreError};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use stockd_api::PoolStatus;
use tokio::sync::mpsc;

mod decode;

pub type PgPool = bb8::Pool<Connector>;

impl PoolFigures for PgPool {
    fn figures(&self) -> PoolStatus {
        let st = self.state();
        PoolStatus {
            max_size: self.config().max_size,
            size: st.connections,
            idle: st.idle_connections,
            in_use: st.connections.saturating_sub(st.idle_connections),
            waits: st.statistics.get_waited,
            timeouts: st.statistics.get_timed_out,
            errors: st.statistics.connections_closed_broken
                + st.statistics.connections_closed_invalid,
        }
    }
}

/// After a failed load the daemon retries by itself this many times, the
/// first after [`RETRY_FIRST`], doubling (capped at the refresh interval),
/// then waits for the next poll, NOTIFY or request.
pub const RETRIES: u32 = 5;
pub const RETRY_FIRST: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The connection string, a password source or a TLS file cannot be
    /// used. The string itself is not repeated: with a typo in a keyword
    /// the redactor could not know which value is the password.
    #[error("source.database_url cannot be used: {0}")]
    Url(#[from] pgconn::ConnError),
    #[error("no connection from the pool within {after:?} (source.pool.connection_timeout){}",
        cause.as_ref().map(|c| format!("; last connection attempt: {c}")).unwrap_or_default())]
    Timeout {
        after: Duration,
        /// Why the pool could not open a connection, when it tried and
        /// failed since the last successful checkout.
        cause: Option<String>,
    },
    /// A new connection could not be opened (server down, unreachable,
    /// login refused): reported as soon as the attempt fails.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    #[error("PostgreSQL: {}", pg_detail(.0))]
    Pg(#[from] tokio_postgres::Error),
    #[error("table {0} does not exist (source.table); check the name and search_path")]
    NoTable(String),
    #[error("table {table}: {source}")]
    Store { table: String, source: StoreError },
    #[error("the load task failed: {0}")]
    Task(String),
}

impl LoadError {
    /// PostgreSQL cancelled a statement of the load after `lock_timeout`.
    pub fn is_lock_timeout(&self) -> bool {
        matches!(self, LoadError::Pg(e) if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE))
    }
}

impl From<bb8::RunError<tokio_postgres::Error>> for LoadError {
    fn from(e: bb8::RunError<tokio_postgres::Error>) -> Self {
        match e {
            bb8::RunError::User(e) => LoadError::Pg(e),
            bb8::RunError::TimedOut => LoadError::Timeout {
                after: Duration::ZERO,
                cause: None,
            },
        }
    }
}

/// The whole story of a PostgreSQL error: tokio-postgres's own text is
/// often just "db error", with the server's message in the source chain.
/// Passed through [`redact`]: a server message may quote what it was sent.
pub fn pg_detail(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return redact(&format!(
            "{} ({}): {}",
            db.severity(),
            db.code().code(),
            db.message()
        ));
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    redact(&s)
}

/// Hides every password in a connection string or a message holding one:
/// the one redactor, [`pgconn::redact`].
pub use crate::pgconn::redact;

/// Quotes one SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The configured table as SQL: `schema.table` parts are quoted; a name the
/// user already quoted (contains `"`) is used as written.
pub fn quote_table(table: &str) -> String {
    if table.contains('"') {
        return table.to_string();
    }
    table
        .split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// What the change check compares: the window's last date, its row count,
/// and the maximum of the optional change column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub last_date: Option<i32>,
    pub rows: i64,
    pub change: Option<Newest>,
}

/// The change column's maximum: microseconds for a `timestamp` or
/// `timestamptz` column (a load takes it from the rows it read), its text
/// for a column of another type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Newest {
    Micros(i64),
    Text(String),
}

/// The change column in use; `micros` for a timestamp column.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChangeColumn {
    name: String,
    micros: bool,
}

impl Fingerprint {
    /// Sets the change mark to the newest value of the timestamp column
    /// `col` in the rows a load read (`None`: the mark came with the query).
    fn newest_from(&mut self, store: &Store, col: Option<&str>) {
        if let Some(c) = col {
            self.change = store
                .column(c)
                .and_then(|c| store.newest_i64(c, None))
                .map(Newest::Micros);
        }
    }
}

/// Keeps the pool's last failed connection attempt, so a checkout that
/// times out can say why (server down, login refused, …) instead of only
/// that it waited, and wakes a waiting checkout at once when an attempt
/// fails: a refused connection is known in milliseconds, and waiting out
/// `connection_timeout` (meant for a busy pool) would hide the outage.
#[derive(Debug, Clone, Default)]
struct ConnectErrors(Arc<(std::sync::Mutex<Option<String>>, tokio::sync::Notify)>);

impl ConnectErrors {
    fn take(&self) -> Option<String> {
        self.0 .0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl bb8::ErrorSink<tokio_postgres::Error> for ConnectErrors {
    fn sink(&self, e: tokio_postgres::Error) {
        // A pooled connection found dead on checkout (the server restarted)
        // is replaced by a new one: not a failure to report.
        if e.is_closed() {
            tracing::debug!("pooled connection found closed: {}", pg_detail(&e));
            return;
        }
        tracing::debug!("pool connection attempt failed: {}", pg_detail(&e));
        *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()) = Some(pg_detail(&e));
        self.0 .1.notify_waiters();
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<tokio_postgres::Error>> {
        Box::new(self.clone())
    }
}

/// The PostgreSQL side: pool plus what a load needs to know.
pub struct PgSource {
    pool: PgPool,
    /// The resolved connection target (its password re-read on SIGHUP).
    target: std::sync::Mutex<Target>,
    connector: Connector,
    table: String,
    quoted: String,
    code: String,
    date: String,
    window_days: u32,
    /// `source.change_column` as configured (`"auto"`, `""` or a name).
    change_column: String,
    /// The change column in use, resolved at each load (`"auto"` looks at
    /// the table's columns).
    change_in_use: std::sync::Mutex<Option<ChangeColumn>>,
    /// `source.settle` and `source.min_day_fraction`: when a new date is
    /// complete.
    pub settle: Duration,
    pub min_day_fraction: f64,
    pub notify_channel: String,
    timeout: Duration,
    connect_errors: ConnectErrors,
    /// Where the warm-restart snapshot lives (`[snapshot] dir`).
    snapshot_dir: Option<std::path::PathBuf>,
    /// Writes it, one write at a time (none without a directory).
    snapshots: Option<crate::snapshots::SnapshotWriter>,
}

/// Where a password may come from besides the string, per the config.
pub fn password_sources(cfg: &Config) -> PasswordSources {
    PasswordSources {
        password_file: cfg.source.password_file.clone(),
    }
}

/// How long one connection attempt may take when the connection string
/// sets no `connect_timeout`: an unreachable server is reported after this,
/// not after the pool's `connection_timeout` (which is for a busy pool).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The tokio-postgres configuration of `target` (with [`CONNECT_TIMEOUT`]
/// unless the string sets one), with the load's
/// `lock_timeout`: a load waits for a table lock (an ETL transaction
/// holding the table) no longer than for a pool connection; it gives up,
/// the previous store keeps serving and the load is retried, instead of
/// holding the pool's connection and every queued reload forever.
fn pg_config(target: &Target, connection_timeout: Duration) -> tokio_postgres::Config {
    let mut pg = target.pg_config();
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(CONNECT_TIMEOUT);
    }
    let lock_timeout = format!("-c lock_timeout={}", connection_timeout.as_millis().max(1));
    let options = match pg.get_options() {
        Some(o) if !o.trim().is_empty() => format!("{o} {lock_timeout}"),
        _ => lock_timeout,
    };
    pg.options(&options);
    pg
}

impl PgSource {
    /// Builds the pool without connecting: the daemon comes up even while
    /// PostgreSQL is down and the pool connects when it can. The connection
    /// string is read as libpq would with environment `env` (`PG*`,
    /// `CREDENTIALS_DIRECTORY`, `HOME`); a bad string, password file or TLS
    /// file is an error now rather than a failing load every 30 s.
    pub fn new(cfg: &Config, env: &HashMap<String, String>) -> Result<PgSource, LoadError> {
        let src = &cfg.source;
        let target = Target::resolve(&src.database_url, &password_sources(cfg), env)?;
        let connector = Connector::new(
            pg_config(&target, src.pool.connection_timeout),
            target.tls()?,
        );
        let connect_errors = ConnectErrors::default();
        let pool = bb8::Pool::builder()
            .error_sink(Box::new(connect_errors.clone()))
            .max_size(src.pool.max_size)
            .min_idle(Some(src.pool.min_idle))
            .connection_timeout(src.pool.connection_timeout)
            .max_lifetime(Some(src.pool.max_lifetime))
            .test_on_check_out(src.pool.test_on_check_out)
            .retry_connection(false)
            .build_unchecked(connector.clone());
        Ok(PgSource {
            pool,
            target: std::sync::Mutex::new(target),
            connector,
            quoted: quote_table(&src.table),
            table: src.table.clone(),
            code: cfg.columns.code.clone(),
            date: cfg.columns.date.clone(),
            window_days: src.window_days,
            change_column: src.change_column.clone(),
            change_in_use: std::sync::Mutex::new(None),
            settle: src.settle,
            min_day_fraction: src.min_day_fraction,
            notify_channel: src.notify_channel.clone(),
            timeout: src.pool.connection_timeout,
            connect_errors,
            snapshot_dir: cfg.snapshot.dir.clone(),
            snapshots: match &cfg.snapshot.dir {
                Some(dir) => Some(
                    crate::snapshots::SnapshotWriter::start(dir.clone()).map_err(|e| {
                        LoadError::Task(format!("cannot start the snapshot writer thread: {e}"))
                    })?,
                ),
                None => None,
            },
        })
    }

    /// SIGHUP: finds the password again (password file, credential,
    /// `PGPASSWORD`, passfile) for connections opened from now on. On error
    /// the running password is kept.
    pub fn reload_password(
        &self,
        cfg: &Config,
        env: &HashMap<String, String>,
    ) -> Result<(), LoadError> {
        let mut target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = target.clone();
        next.find_password(&password_sources(cfg), env)?;
        self.connector.replace(pg_config(&next, self.timeout));
        tracing::info!(
            password = next.password_origin,
            "SIGHUP: database password re-read"
        );
        *target = next;
        Ok(())
    }

    /// Opens connections to this source (the LISTEN connection uses it).
    pub fn connector(&self) -> Connector {
        self.connector.clone()
    }

    /// The target for admins and logs (user, hosts, database, sslmode,
    /// where the password came from); never the password.
    pub fn describe(&self) -> String {
        self.target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .describe()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The snapshot writer, when `[snapshot] dir` is set.
    pub fn snapshots(&self) -> Option<&crate::snapshots::SnapshotWriter> {
        self.snapshots.as_ref()
    }

    /// What a store loaded from this source says it is (`market.info`
    /// `source.detail`, the snapshot header); a snapshot of another source
    /// is not served. Host, port, database and table only: any process that
    /// can open the socket reads it, so no user name and no credentials.
    pub fn detail(&self) -> String {
        let target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        format!("table {} at {}", self.table, target.public())
    }

    async fn conn(&self) -> Result<bb8::PooledConnection<'_, Connector>, LoadError> {
        // Registered before the checkout, so a connection attempt it starts
        // and that fails wakes it.
        let failed = self.connect_errors.0 .1.notified();
        tokio::pin!(failed);
        failed.as_mut().enable();
        let got = tokio::select! {
            got = self.pool.get() => got,
            _ = failed => {
                return Err(LoadError::Connect(
                    self.connect_errors.take().unwrap_or_else(|| "no detail".to_string()),
                ))
            }
        };
        match got {
            Ok(c) => {
                self.connect_errors.take();
                Ok(c)
            }
            Err(bb8::RunError::TimedOut) => Err(LoadError::Timeout {
                after: self.timeout,
                cause: self.connect_errors.take(),
            }),
            Err(bb8::RunError::User(e)) => Err(LoadError::Pg(e)),
        }
    }

    /// The table's columns from the catalog, split into supported and
    /// skipped (name, SQL type). Domains are resolved to their base type.
    pub async fn discover(&self) -> Result<(Vec<ColumnSpec>, Vec<(String, String)>), LoadError> {
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT a.attname::text, \
                        CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, \
                        CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, \
                        a.attnotnull, format_type(a.atttypid, a.atttypmod) \
                 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&self.quoted],
            )
            .await?;
        if rows.is_empty() {
            return Err(LoadError::NoTable(self.table.clone()));
        }
        let mut specs = Vec::new();
        let mut skipped = Vec::new();
        for r in rows {
            let name: String = r.get(0);
            let oid: u32 = r.get(1);
            let typmod: i32 = r.get(2);
            let not_null: bool = r.get(3);
            let pg_type: String = r.get(4);
            match ColumnKind::from_pg(oid, typmod) {
                Some(kind) => specs.push(ColumnSpec {
                    name,
                    kind,
                    nullable: !not_null,
                    pg_type,
                }),
                None => {
                    tracing::warn!(
                        "table {}: column '{name}' has unsupported type {pg_type}; skipped",
                        self.table
                    );
                    skipped.push((name, pg_type));
                }
            }
        }
        Ok((specs, skipped))
    }

    /// The first date of the window (`None` = no filter): the
    /// `window_days`-th complete date counting back from `through`, so a
    /// pending date never pushes an old complete one out.
    async fn window_start(&self, through: Option<i32>) -> Result<Option<i32>, LoadError> {
        if self.window_days == 0 {
            return Ok(None);
        }
        let Some(through) = through else {
            // No complete date yet: everything held is pending.
            return Ok(None);
        };
        let conn = self.conn().await?;
        let d = quote_ident(&self.date);
        let sql = format!(
            "SELECT min(x) FROM (SELECT DISTINCT ({d} - DATE '2000-01-01') AS x FROM {t} \
             WHERE {d} <= DATE '2000-01-01' + $2::int4 ORDER BY 1 DESC LIMIT $1) w",
            t = self.quoted
        );
        let row = conn
            .query_one(&sql, &[&(self.window_days as i64), &through])
            .await?;
        Ok(row.get::<_, Option<i32>>(0))
    }

    fn window_filter(&self, start: Option<i32>) -> String {
        match start {
            Some(s) => format!(
                " WHERE {} >= DATE '2000-01-01' + {s}",
                quote_ident(&self.date)
            ),
            None => String::new(),
        }
    }

    /// `COPY (SELECT <every column> FROM table<filter>) TO STDOUT` in
    /// binary; `filter` is empty or starts with " WHERE".
    fn copy_sql(&self, specs: &[ColumnSpec], filter: &str) -> String {
        let cols = specs
            .iter()
            .map(|s| quote_ident(&s.name))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "COPY (SELECT {cols} FROM {t}{filter}) TO STDOUT (FORMAT binary)",
            t = self.quoted
        )
    }

    /// The change check: the window's newest date and row count, and the
    /// change column's maximum (in a query of its own, which an index on
    /// that column answers).
    pub async fn fingerprint(&self, start: Option<i32>) -> Result<Fingerprint, LoadError> {
        Ok(self.fingerprint_before_load(start, false).await?.0)
    }

    /// The fingerprint a load keeps, taken before it reads anything (a
    /// change after it is seen by the next poll). With `from_rows`, a
    /// timestamp change column's maximum is left out and its column name
    /// returned: the load takes it from the rows it read
    /// ([`Fingerprint::newest_from`]), which are the rows it describes, and
    /// the query is the window's date and count only (an index-only scan
    /// where the date is indexed; without an index on the change column,
    /// its maximum is a scan of the whole window: about 0.45 s of a
    /// year's 1.3 M rows).
    async fn fingerprint_before_load(
        &self,
        start: Option<i32>,
        from_rows: bool,
    ) -> Result<(Fingerprint, Option<String>), LoadError> {
        let conn = self.conn().await?;
        let in_use = self
            .change_in_use
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let later = in_use.as_ref().filter(|c| c.micros && from_rows);
        let (t, w) = (&self.quoted, self.window_filter(start));
        // The maximum in a query of its own: an index on the change column
        // answers it without reading the window (a year: 0.45 s of a
        // scan, 56 ms with the index), which the count would not let it.
        let change = match &in_use {
            _ if later.is_some() => String::new(),
            Some(c) if c.micros => format!(", (SELECT max({}) FROM {t}{w})", quote_ident(&c.name)),
            Some(c) => format!(", (SELECT max({})::text FROM {t}{w})", quote_ident(&c.name)),
            None => String::new(),
        };
        let sql = format!(
            "SELECT a.d, a.n{change} FROM \
             (SELECT max({d}) - DATE '2000-01-01' AS d, count(*) AS n FROM {t}{w}) a",
            d = quote_ident(&self.date),
        );
        let row = conn.query_one(&sql, &[]).await?;
        let change = match &in_use {
            _ if change.is_empty() => None,
            Some(c) if c.micros => row.get::<_, Option<Micros>>(2).map(|m| Newest::Micros(m.0)),
            _ => row.get::<_, Option<String>>(2).map(Newest::Text),
        };
        let fp = Fingerprint {
            last_date: row.get(0),
            rows: row.get(1),
            change,
        };
        Ok((fp, later.map(|c| c.name.clone())))
    }

    /// Resolves `source.change_column` against the table's columns and
    /// logs when the column in use changes (first load included).
    fn resolve_change_column(&self, specs: &[ColumnSpec], skipped: &[(String, String)]) {
        let micros = |name: &str| {
            specs.iter().any(|s| {
                s.name == name && matches!(s.kind, ColumnKind::Timestamp | ColumnKind::TimestampTz)
            })
        };
        let found = match self.change_column.as_str() {
            "" => None,
            crate::config::CHANGE_COLUMN_AUTO => crate::config::CHANGE_COLUMN_CANDIDATES
                .iter()
                .find(|c| micros(c))
                .map(|c| c.to_string()),
            named => Some(named.to_string()),
        }
        .map(|name| ChangeColumn {
            micros: micros(&name),
            name,
        });
        let mut in_use = self.change_in_use.lock().unwrap_or_else(|e| e.into_inner());
        if *in_use == found && in_use.is_some() {
            return;
        }
        match (found.as_ref().map(|c| &c.name), self.change_column.as_str()) {
            (Some(c), crate::config::CHANGE_COLUMN_AUTO) => tracing::info!(
                table = %self.table,
                "change column: {c} (found by source.change_column = \"auto\"); corrections to rows already held are seen at the next poll"
            ),
            (Some(c), _) => {
                if !specs.iter().any(|s| &s.name == c) && !skipped.iter().any(|s| &s.0 == c) {
                    tracing::warn!(
                        table = %self.table,
                        "change column {c} (source.change_column) is not a column of the table; the change check will fail"
                    );
                } else {
                    tracing::info!(table = %self.table, "change column: {c} (source.change_column)");
                }
            }
            (None, crate::config::CHANGE_COLUMN_AUTO) => tracing::warn!(
                table = %self.table,
                "no change column: the table has no timestamp column named {}; corrections to rows already held are seen only on a NOTIFY or reload (set source.change_column)",
                crate::config::CHANGE_COLUMN_CANDIDATES.join(", ")
            ),
            (None, _) => tracing::info!(
                table = %self.table,
                "no change column (source.change_column = \"\"); corrections to rows already held are seen only on a NOTIFY or reload"
            ),
        }
        *in_use = found;
    }

    /// The change column in use (after the first load).
    pub fn change_column_in_use(&self) -> Option<String> {
        self.change_in_use
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.name.clone())
    }

    /// Row counts per date from `from` on (ascending, at most
    /// [`MAX_PENDING_DATES`] + 1 dates): the last complete date's count and
    /// every newer date's. One index range scan when the date is indexed.
    pub async fn day_counts(&self, from: Option<i32>) -> Result<Vec<(i32, i64)>, LoadError> {
        let conn = self.conn().await?;
        let d = quote_ident(&self.date);
        let lower = match from {
            Some(f) => format!("{d} >= DATE '2000-01-01' + {f}"),
            None => format!("{d} IS NOT NULL"),
        };
        let sql = format!(
            "SELECT {d} - DATE '2000-01-01', count(*) FROM {t} WHERE {lower} AND {d} < 'infinity' \
             GROUP BY 1 ORDER BY 1 LIMIT {limit}",
            t = self.quoted,
            limit = MAX_PENDING_DATES + 1
        );
        let rows = conn.query(&sql, &[]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The newest date counted complete by the rule at start: the newest
    /// date, unless it has fewer than `min_day_fraction` of the rows of
    /// the date before (then that one). `None` for an empty table.
    async fn complete_at_start(&self) -> Result<Option<i32>, LoadError> {
        let conn = self.conn().await?;
        let d = quote_ident(&self.date);
        let sql = format!(
            "WITH n AS (SELECT max({d}) AS n FROM {t} WHERE {d} < 'infinity'), \
                  p AS (SELECT max({d}) AS p FROM {t}, n WHERE {d} < n.n) \
             SELECT n.n - DATE '2000-01-01', p.p - DATE '2000-01-01', \
                    (SELECT count(*) FROM {t} WHERE {d} = n.n), \
                    (SELECT count(*) FROM {t} WHERE {d} = p.p) \
             FROM n, p",
            t = self.quoted
        );
        let row = conn.query_one(&sql, &[]).await?;
        let newest: Option<i32> = row.get(0);
        let before: Option<i32> = row.get(1);
        let (n_rows, p_rows): (i64, i64) = (row.get(2), row.get(3));
        Ok(match (newest, before) {
            (Some(n), Some(p)) if !enough_rows(n_rows, p_rows, self.min_day_fraction) => {
                tracing::warn!(
                    "at start, {} has {n_rows} rows, fewer than {} x {p_rows} of {}: held back as pending; {} is the default date",
                    crate::store::time::date_string(n),
                    self.min_day_fraction,
                    crate::store::time::date_string(p),
                    crate::store::time::date_string(p),
                );
                Some(p)
            }
            (n, _) => n,
        })
    }

    /// The newest date in the table (a NOTIFY marks everything complete).
    async fn newest_date(&self) -> Result<Option<i32>, LoadError> {
        let conn = self.conn().await?;
        let d = quote_ident(&self.date);
        let sql = format!(
            "SELECT max({d}) - DATE '2000-01-01' FROM {t} WHERE {d} < 'infinity'",
            t = self.quoted
        );
        Ok(conn.query_one(&sql, &[]).await?.get(0))
    }

    /// Loads a new store. `generation` is the number it will carry;
    /// `complete` says which dates are complete (the rest are held as
    /// pending: served only when asked for by date).
    pub async fn load(&self, generation: u64, complete: Complete) -> Result<Loaded, LoadError> {
        let started = Instant::now();
        let (specs, skipped) = self.discover().await?;
        self.resolve_change_column(&specs, &skipped);
        let through = match complete {
            Complete::Start => self.complete_at_start().await?,
            Complete::All => self.newest_date().await?,
            Complete::Through(t) => t,
        };
        let start = self.window_start(through).await?;
        let (mut fp, newest_col) = self.fingerprint_before_load(start, true).await?;
        let sql = self.copy_sql(&specs, &self.window_filter(start));
        let info = LoadInfo {
            generation,
            loaded_at: SystemTime::now(),
            load_ms: 0,
            provenance: Provenance {
                kind: "postgres",
                detail: self.detail(),
                window_days: self.window_days,
                skipped,
            },
            read: crate::store::Read::FULL,
        };
        // Receiving, decoding and building run on the load thread, on a
        // connection of its own (decode.rs).
        let mut store = decode::copy_and_build(decode::CopyJob {
            connector: self.connector.clone(),
            sql,
            specs,
            code: self.code.clone(),
            date: self.date.clone(),
            rows: fp.rows.max(0) as usize,
            table: self.table.clone(),
            info,
        })
        .await?;
        fp.newest_from(&store, newest_col.as_deref());
        store.info.loaded_at = SystemTime::now();
        store.hold_back_after(through.unwrap_or(i32::MIN));
        // The load's duration includes building the indexes.
        store.info.load_ms = started.elapsed().as_millis() as u64;
        Ok(Loaded {
            store,
            known: Known { fp, start, through },
        })
    }
}

impl PgSource {
    /// A refresh that reads only what changed. When the rows `prev` holds
    /// are unchanged in the table (the same count, and no change-column
    /// value newer than the newest held), reads the rows of the dates after
    /// `prev`'s newest and appends them to it ([`Store::append`]): the new
    /// generation shares `prev`'s column buffers, so it costs about one
    /// day's memory, and PostgreSQL sends one day's rows, not the table.
    /// A window that moved drops its oldest dates from the new generation,
    /// and held dates with rows whose change column is newer than the
    /// newest held are read again, and so are dates whose row counts
    /// differ from the table's when the rest does not match (at most
    /// [`MAX_REREAD_DATES`] in all); their
    /// old rows leave the index but stay in the shared buffers until a
    /// full load, which comes when they pass [`RETIRED_SHARE`] of the rows.
    ///
    /// `Ok(None)` when that cannot be known or done, and the caller loads
    /// in full: no change column (an edit of a held row would go unseen),
    /// other columns or another source, held rows changed without a newer
    /// change-column value or a different count, too many dates changed,
    /// too many rows retired.
    pub async fn load_increment(
        &self,
        prev: &Store,
        generation: u64,
        complete: Complete,
    ) -> Result<Option<Loaded>, LoadError> {
        let started = Instant::now();
        let p = &prev.info.provenance;
        if p.kind != "postgres" || p.detail != self.detail() || p.window_days != self.window_days {
            return Ok(None);
        }
        let Some(&held_last) = prev.dates().last() else {
            return Ok(None);
        };
        let (specs, skipped) = self.discover().await?;
        self.resolve_change_column(&specs, &skipped);
        if specs != prev.specs() || skipped != p.skipped {
            return Ok(None);
        }
        let Some(change) = self.change_column_in_use() else {
            return Ok(None);
        };
        let Some(change_col) = prev.column(&change).filter(|&c| {
            matches!(
                specs[c].kind,
                ColumnKind::Timestamp | ColumnKind::TimestampTz
            )
        }) else {
            return Ok(None);
        };
        let through = match complete {
            Complete::Start => return Ok(None),
            Complete::All => self.newest_date().await?,
            Complete::Through(t) => t,
        };
        let start = self.window_start(through).await?;
        let (mut fp, newest_col) = self.fingerprint_before_load(start, true).await?;
        let (d, c, t) = (quote_ident(&self.date), quote_ident(&change), &self.quoted);
        let held = format!(
            "({d} IS NULL OR {d} <= DATE '2000-01-01' + {held_last} OR {d} = 'infinity'){}",
            match start {
                Some(s) => format!(" AND {d} >= DATE '2000-01-01' + {s}"),
                None => String::new(),
            }
        );
        // Held dates with a row edited (or added) since the newest held.
        let mut reread: Vec<i32> = Vec::new();
        let newest_held = prev.newest_i64(change_col, None);
        if let Some(newest) = newest_held {
            let sql = format!(
                "SELECT DISTINCT {d} - DATE '2000-01-01' FROM {t} WHERE {held} \
                 AND {d} > '-infinity' AND {d} < 'infinity' AND {c} > $1 LIMIT {}",
                MAX_REREAD_DATES + 1
            );
            let rows = self.conn().await?.query(&sql, &[&Micros(newest)]).await?;
            reread = rows.iter().map(|r| r.get::<_, i32>(0)).collect();
            reread.retain(|&day| prev.date_index(day).is_some());
            if reread.len() > MAX_REREAD_DATES {
                tracing::info!(
                    "rows of more than {MAX_REREAD_DATES} held dates changed: a full load"
                );
                return Ok(None);
            }
        }
        let moved = start.is_some_and(|s| prev.dates().first().is_some_and(|&first| s > first));
        // The rows that stay must be the table's: the same count, the same
        // newest change. When they are not, the dates whose row counts
        // differ (a row deleted, or added without a newer change value)
        // are read again too, once.
        let mut counted = false;
        let (retiring, count) = loop {
            let retiring = (moved || !reread.is_empty()).then(|| prev.retiring(start, &reread));
            let (left, held_newest) = match &retiring {
                Some(r) => {
                    if r.out > r.left / RETIRED_SHARE {
                        tracing::info!(
                            retired = r.out,
                            rows = r.left,
                            "rows retired by refreshes would pass 1/{RETIRED_SHARE} of the rows held: a full load",
                        );
                        return Ok(None);
                    }
                    (r.left, prev.newest_i64(change_col, Some(r)))
                }
                None => (prev.rows(), newest_held),
            };
            let kept = match reread.is_empty() {
                true => held.clone(),
                false => format!(
                    "{held} AND ({d} IS NULL OR {d} NOT IN ({}))",
                    date_list(&reread)
                ),
            };
            // The maximum in a query of its own, as in the fingerprint, so
            // that an index on the change column answers it.
            let sql = format!(
                "SELECT a.n, (SELECT max({c}) FROM {t} WHERE {kept}) FROM \
                 (SELECT count(*) AS n FROM {t} WHERE {kept}) a"
            );
            let row = self.conn().await?.query_one(&sql, &[]).await?;
            let (count, newest): (i64, Option<Micros>) = (row.get(0), row.get(1));
            let newest = newest.map(|m| m.0);
            if count == left as i64 && newest == held_newest {
                break (retiring, count);
            }
            let mut differ = Vec::new();
            if !counted {
                counted = true;
                let sql = format!(
                    "SELECT {d} - DATE '2000-01-01', count(*) FROM {t} WHERE {kept} \
                     AND {d} > '-infinity' AND {d} < 'infinity' GROUP BY 1"
                );
                let table: HashMap<i32, i64> = self
                    .conn()
                    .await?
                    .query(&sql, &[])
                    .await?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
                let held_by_date = prev.rows_by_date(retiring.as_ref());
                differ = table
                    .keys()
                    .chain(held_by_date.keys())
                    .copied()
                    .filter(|day| {
                        table.get(day).copied().unwrap_or(0)
                            != held_by_date.get(day).map_or(0, |&n| n as i64)
                    })
                    .collect();
                differ.sort_unstable();
                differ.dedup();
            }
            if differ.is_empty() || reread.len() + differ.len() > MAX_REREAD_DATES {
                tracing::info!(
                    "rows already held changed ({left} rows held, {count} in the table through {}; newest {change} {}; {} dates with other row counts): a full load",
                    crate::store::time::date_string(held_last),
                    if newest == held_newest {
                        "unchanged"
                    } else {
                        "changed"
                    },
                    differ.len(),
                );
                return Ok(None);
            }
            reread.extend(differ);
            reread.sort_unstable();
        };
        let mut filter =
            format!(" WHERE ({d} > DATE '2000-01-01' + {held_last} AND {d} < 'infinity')");
        if !reread.is_empty() {
            filter.push_str(&format!(" OR {d} IN ({})", date_list(&reread)));
        }
        let sql = self.copy_sql(&specs, &filter);
        let info = LoadInfo {
            generation,
            loaded_at: SystemTime::now(),
            load_ms: 0,
            provenance: p.clone(),
            read: crate::store::Read::FULL,
        };
        let more = decode::copy_and_build(decode::CopyJob {
            connector: self.connector.clone(),
            sql,
            specs,
            code: self.code.clone(),
            date: self.date.clone(),
            rows: (fp.rows - count).max(0) as usize,
            table: self.table.clone(),
            info: info.clone(),
        })
        .await?;
        let Some(mut store) = prev.append(more, info, retiring) else {
            return Ok(None);
        };
        fp.newest_from(&store, newest_col.as_deref());
        store.info.loaded_at = SystemTime::now();
        store.hold_back_after(through.unwrap_or(i32::MIN));
        store.info.load_ms = started.elapsed().as_millis() as u64;
        Ok(Some(Loaded {
            store,
            known: Known { fp, start, through },
        }))
    }
}

/// Held dates an incremental refresh reads again at most; more changed
/// dates load in full.
pub const MAX_REREAD_DATES: usize = 32;

/// Retired rows (a window's dropped dates, dates read again) are at most
/// this fraction of the rows held (1/8): past it, a full load gives their
/// memory back.
pub const RETIRED_SHARE: usize = 8;

/// `DATE '2000-01-01' + d, …` for PostgreSQL days `d` (integers, from the
/// store or read from the table as integers: never text from outside).
fn date_list(days: &[i32]) -> String {
    days.iter()
        .map(|day| format!("DATE '2000-01-01' + {day}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `timestamp` or `timestamptz` as PostgreSQL sends it: microseconds
/// since 2000-01-01 (±infinity as i64::MAX/MIN), as the store holds it.
#[derive(Debug)]
struct Micros(i64);

impl tokio_postgres::types::ToSql for Micros {
    fn to_sql(
        &self,
        _: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <Micros as tokio_postgres::types::FromSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

impl<'a> tokio_postgres::types::FromSql<'a> for Micros {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Micros(i64::from_be_bytes(raw.try_into()?)))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        matches!(
            *ty,
            tokio_postgres::types::Type::TIMESTAMP | tokio_postgres::types::Type::TIMESTAMPTZ
        )
    }
}

/// Which dates a load counts as complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complete {
    /// The first load: the newest date, unless it has fewer than
    /// `min_day_fraction` of the previous date's rows.
    Start,
    /// Every date in the table (a NOTIFY said the data is complete).
    All,
    /// Dates up to this one (`None`: none yet).
    Through(Option<i32>),
}

/// What the refresh task remembers of the last successful load.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub fp: Fingerprint,
    /// The window's first date (`None` = no filter).
    pub start: Option<i32>,
    /// The newest complete date (`None` = none yet).
    pub through: Option<i32>,
}

/// A freshly loaded store and what was loaded.
pub struct Loaded {
    pub store: Store,
    pub known: Known,
}

/// Most pending dates followed at once (a backfill of more is published
/// by a NOTIFY).
pub const MAX_PENDING_DATES: usize = 1000;

/// How often a pending date's row count is checked: often enough that the
/// settle rule fires within half a second of `source.settle`.
pub const PENDING_POLL: Duration = Duration::from_millis(500);

/// `rows` is at least `fraction` of `previous`.
fn enough_rows(rows: i64, previous: i64, fraction: f64) -> bool {
    rows as f64 >= fraction * previous as f64
}

/// The completeness rule, free of I/O. `reference` is the last complete
/// date's row count (`None` when there is none); `pending` the newer
/// dates, ascending, with their counts; `settled` whether those counts have
/// not changed for `source.settle`. Returns the newest date that is now
/// complete: each in turn needs `fraction` of the rows of the date before.
pub fn newly_complete(
    reference: Option<i64>,
    pending: &[(i32, i64)],
    settled: bool,
    fraction: f64,
) -> Option<i32> {
    if !settled {
        return None;
    }
    let mut previous = reference;
    let mut newest = None;
    for &(date, rows) in pending {
        if previous.is_some_and(|p| !enough_rows(rows, p, fraction)) {
            break;
        }
        newest = Some(date);
        previous = Some(rows);
    }
    newest
}

/// Follows the pending dates' row counts between loads.
#[derive(Debug, Clone)]
pub struct PendingTracker {
    /// Pending dates and their row counts at the last check.
    pub counts: Vec<(i32, i64)>,
    /// When those counts last changed (or were first seen).
    pub changed_at: Instant,
}

impl PendingTracker {
    /// Records a check; the settle clock restarts when a count changed.
    fn observe(&mut self, counts: Vec<(i32, i64)>, now: Instant) {
        if counts != self.counts {
            self.counts = counts;
            self.changed_at = now;
        }
    }
}

/// Why the newest pending date is not the default date yet.
fn pending_reason(
    src: &PgSource,
    reference: Option<(i32, i64)>,
    tracker: &PendingTracker,
    now: Instant,
) -> String {
    let Some(&(date, rows)) = tracker.counts.last() else {
        return String::new();
    };
    let quiet = now.saturating_duration_since(tracker.changed_at);
    let notify = format!("or NOTIFY {} once the day is complete", src.notify_channel);
    if quiet < src.settle {
        let wanted = match reference {
            Some((d, r)) => format!(
                " and it has at least {} x {r} rows of {}",
                src.min_day_fraction,
                crate::store::time::date_string(d)
            ),
            None => String::new(),
        };
        format!(
            "rows are still arriving: {rows} rows, last change {:.1}s ago; it becomes the default date once its row count has not changed for {}s (source.settle){wanted}, {notify}",
            quiet.as_secs_f64(),
            src.settle.as_secs_f64()
        )
    } else {
        let (d, r) = reference.unwrap_or((date, 0));
        format!(
            "{} has {rows} rows, unchanged for {:.0}s, but fewer than {} x {r} rows of {} (source.min_day_fraction); it becomes the default date when it reaches {} rows, {notify}",
            crate::store::time::date_string(date),
            quiet.as_secs_f64(),
            src.min_day_fraction,
            crate::store::time::date_string(d),
            (src.min_day_fraction * r as f64).ceil() as i64,
        )
    }
}

pub use crate::demo::load as load_demo;

/// Loads, swaps the new store in, and logs; a failure leaves the old store
/// serving, if there is one. Returns what was loaded.
pub async fn reload(
    source: &PgSource,
    shared: &Shared,
    trigger: Trigger,
    complete: Complete,
) -> Result<Known, LoadError> {
    let generation = shared
        .store
        .load()
        .as_ref()
        .map_or(1, |s| s.info.generation + 1);
    // A change seen by a poll, a NOTIFY or the settle rule reads only the
    // new dates when it can; a start, a retry and `store.reload` read all.
    let prev = shared.store.load_full();
    let increment = match (prev.as_deref(), trigger) {
        (Some(prev), Trigger::Poll | Trigger::Notify | Trigger::Pending) => {
            source.load_increment(prev, generation, complete).await
        }
        _ => Ok(None),
    };
    drop(prev);
    let loaded = match increment {
        Ok(Some(loaded)) => Ok(loaded),
        Ok(None) => source.load(generation, complete).await,
        Err(e) => Err(e),
    };
    match loaded {
        Ok(Loaded { store, known }) => {
            tracing::info!(
                ?trigger,
                generation,
                read = store.info.read.kind.as_str(),
                read_rows = store.info.read.rows,
                read_dates = store.info.read.dates,
                dropped_dates = store.info.read.dropped_dates,
                reread_dates = store.info.read.reread_dates,
                rows = store.rows(),
                retired_rows = store.retired_rows(),
                dates = store.served_dates().len(),
                latest = store.served_dates().last().map_or_else(
                    || "none".to_string(),
                    |&d| crate::store::time::date_string(d)
                ),
                pending = store.pending_dates().last().map_or_else(
                    || "none".to_string(),
                    |&d| crate::store::time::date_string(d)
                ),
                stocks = store.stocks(),
                store_mib = format!("{:.1}", store.heap_bytes() as f64 / 1048576.0),
                load_ms = store.info.load_ms,
                "store loaded"
            );
            if store.unindexed_rows() > 0 {
                tracing::warn!(
                    "{} rows have a NULL key or repeat a (code, date) and are not reachable by code and date",
                    store.unindexed_rows()
                );
            }
            COUNTERS.record_load(store.info.load_ms);
            shared.swap(store);
            shared.set_health(Ok(()));
            if let (Some(writer), Some(store)) = (&source.snapshots, shared.store.load_full()) {
                writer.submit(store);
            }
            Ok(known)
        }
        Err(e) => {
            COUNTERS.load_failures.fetch_add(1, Ordering::Relaxed);
            if e.is_lock_timeout() {
                COUNTERS.lock_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            match serving_now(shared) {
                Some(serving) => {
                    tracing::error!(?trigger, "load failed, {serving}: {e}");
                    shared.stale.store(true, Ordering::Relaxed);
                }
                None => tracing::error!(
                    ?trigger,
                    "load failed; nothing is loaded yet, requests are answered store_not_loaded until a load succeeds: {e}"
                ),
            }
            shared.set_health(Err(e.to_string()));
            Err(e)
        }
    }
}

/// Longest wait between attempts to reopen the LISTEN connection: it is
/// also how soon the daemon sees PostgreSQL back after an outage.
pub const LISTEN_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Listens on `channel` on a dedicated connection (LISTEN cannot share a
/// pooled one) and forwards every notification; reconnects with capped
/// backoff when the connection drops.
///
/// The connection is also the daemon's first sign of an outage: when it
/// drops, a change check is asked for at once (which fails fast and logs
/// the reason while the server is down), and the first failed reconnect is
/// logged at WARN with its cause; when it is back, another change check
/// loads what changed meanwhile without waiting for the next poll.
pub async fn listen(connector: Connector, channel: String, tx: mpsc::Sender<ReloadRequest>) {
    let mut backoff = Duration::from_millis(500);
    // Whether the last attempt failed (logged once per outage).
    let mut down = false;
    let mut ever_up = false;
    loop {
        match connector.connect_raw().await {
            Ok((client, mut conn)) => {
                let (ntx, mut nrx) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
                    while let Some(m) = messages.next().await {
                        match m {
                            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                if ntx.send(n.channel().to_string()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!("LISTEN connection lost: {}", pg_detail(&e));
                                return;
                            }
                        }
                    }
                    tracing::warn!("LISTEN connection lost: the server closed it");
                });
                match client
                    .batch_execute(&format!("LISTEN {}", quote_ident(&channel)))
                    .await
                {
                    Ok(()) => {
                        tracing::info!(channel, "listening for refresh notifications");
                        backoff = Duration::from_millis(500);
                        if down || ever_up {
                            tracing::info!("PostgreSQL is reachable again; checking for changes");
                            // Whatever changed while it was away: look now.
                            if tx.send(ReloadRequest::new(Trigger::Poll)).await.is_err() {
                                return;
                            }
                        }
                        down = false;
                        ever_up = true;
                        while nrx.recv().await.is_some() {
                            // Coalesce a burst of notifications into one reload.
                            while nrx.try_recv().is_ok() {}
                            if tx.send(ReloadRequest::new(Trigger::Notify)).await.is_err() {
                                return;
                            }
                        }
                        // Lost: let the refresh loop find out how bad it is
                        // (and log it) now rather than at the next poll.
                        if tx.send(ReloadRequest::new(Trigger::Poll)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!("LISTEN {channel} failed: {}", pg_detail(&e)),
                }
                driver.abort();
            }
            Err(e) if !down => {
                down = true;
                tracing::warn!(
                    "cannot open the LISTEN connection: {}; retrying every {:?} at most",
                    pg_detail(&e),
                    LISTEN_BACKOFF_MAX
                );
            }
            Err(e) => tracing::debug!("LISTEN connection failed: {}", pg_detail(&e)),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(LISTEN_BACKOFF_MAX);
    }
}

/// The wait before retry number `n` (0-based) after a failed load:
/// 0.5, 1, 2, 4, 8 s, never longer than the refresh interval.
pub fn retry_wait(n: u32, interval: Duration) -> Duration {
    (RETRY_FIRST * 2u32.saturating_pow(n.min(16))).min(interval)
}

/// The refresh loop: the first load at once; after a failed load, retries
/// after 0.5, 1, 2, 4, 8 s (capped at `interval`), then at every poll; a
/// change check every `interval`; a reload on every request; and, while a
/// newer date is pending, a row count check every [`PENDING_POLL`] that
/// publishes it when the settle rule says it is complete.
pub async fn refresh_loop(
    source: Arc<PgSource>,
    shared: Arc<Shared>,
    interval: Duration,
    mut requests: mpsc::Receiver<ReloadRequest>,
) {
    if restore_snapshot(&source, &shared).await {
        shared.settled.send_replace(true);
    }
    let mut known: Option<Known> = None;
    let mut tracker: Option<PendingTracker> = None;
    // After a failed load: when to retry, and how many retries are left.
    let mut retry: Option<(tokio::time::Instant, u32)> = None;
    let mut gave_up = false;
    let mut notified = false;
    let mut pending_at: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = Some(ReloadRequest::new(Trigger::Start));
    loop {
        let request = match first.take() {
            Some(r) => r,
            None => tokio::select! {
                _ = tick.tick() => ReloadRequest::new(Trigger::Poll),
                _ = sleep_until(retry.map(|r| r.0)) => ReloadRequest::new(Trigger::Retry),
                _ = sleep_until(pending_at) => ReloadRequest::new(Trigger::Pending),
                r = requests.recv() => match r {
                    Some(r) => r,
                    None => return,
                },
            },
        };
        let started = Instant::now();
        // Everything else already queued is answered by this same load: a
        // burst of reloads costs one load, not one each.
        let mut batch = vec![request];
        while let Ok(r) = requests.try_recv() {
            batch.push(r);
        }
        let trigger = batch
            .iter()
            .map(|r| r.trigger)
            .find(|t| !matches!(t, Trigger::Poll | Trigger::Pending))
            .unwrap_or(batch[0].trigger);
        if batch.len() > 1 {
            COUNTERS
                .coalesced
                .fetch_add(batch.len() as u64 - 1, Ordering::Relaxed);
        }
        let mut complete = match &known {
            Some(k) => Complete::Through(k.through),
            None => Complete::Start,
        };
        // A NOTIFY says the data is complete; that holds until a load
        // succeeds (a failed one is retried, or answered by the next
        // request, with the same meaning).
        if batch.iter().any(|r| r.trigger == Trigger::Notify) {
            notified = true;
        }
        if notified && trigger != Trigger::Pending {
            complete = Complete::All;
        }
        if trigger == Trigger::Pending {
            pending_at = None;
            let (Some(k), Some(t)) = (&known, tracker.as_mut()) else {
                continue;
            };
            match check_pending(&source, k, t).await {
                Ok(Some(through)) => complete = Complete::Through(Some(through)),
                Ok(None) => {
                    publish_pending(&source, &shared, k, tracker.as_ref());
                    if tracker.as_ref().is_some_and(|t| !t.counts.is_empty()) {
                        pending_at = Some(tokio::time::Instant::now() + PENDING_POLL);
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!("pending date check failed: {e}");
                    pending_at = Some(
                        tokio::time::Instant::now() + PENDING_POLL.max(Duration::from_secs(1)),
                    );
                    continue;
                }
            }
        }
        if trigger == Trigger::Poll {
            if let Some(k) = &known {
                match source.fingerprint(k.start).await {
                    Ok(fp) if k.fp == fp => {
                        shared.stale.store(false, Ordering::Relaxed);
                        shared.set_health(Ok(()));
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("change check failed: {e}");
                        shared.set_health(Err(e.to_string()));
                        shared.stale.store(true, Ordering::Relaxed);
                        continue;
                    }
                }
            } else if retry.is_some() {
                // Retries are under way; the poll does not add a load.
                continue;
            }
        }
        if trigger == Trigger::Retry {
            COUNTERS.retries.fetch_add(1, Ordering::Relaxed);
        }
        let result = reload(&source, &shared, trigger, complete).await;
        // Loaded, or failed with nothing to serve: either way the daemon
        // is up (answering "store not loaded" until a load succeeds).
        shared.settled.send_replace(true);
        retry = match &result {
            Ok(_) => {
                gave_up = false;
                notified = false;
                None
            }
            // The retries of this episode are spent: the next attempt is
            // the next poll, NOTIFY or request, not a new series.
            Err(_) if gave_up => None,
            Err(e) => {
                let left = match retry {
                    Some((_, left)) if trigger == Trigger::Retry => left.saturating_sub(1),
                    _ => RETRIES,
                };
                if left > 0 {
                    let wait = retry_wait(RETRIES - left, interval);
                    tracing::info!(
                        "retrying the load in {wait:?} ({left} retries left) after: {e}"
                    );
                    Some((tokio::time::Instant::now() + wait, left))
                } else {
                    tracing::info!(
                        "{RETRIES} retries failed; the load is tried again at every poll ({interval:?}), NOTIFY or store.reload"
                    );
                    gave_up = true;
                    None
                }
            }
        };
        let answer = match result {
            Ok(k) => {
                if let Some(t) = tracker.as_mut() {
                    t.counts.retain(|&(d, _)| k.through.is_none_or(|th| d > th));
                }
                match check_pending_after_load(&source, &k, &mut tracker).await {
                    Ok(()) => {}
                    Err(e) => tracing::warn!("pending date check failed: {e}"),
                }
                publish_pending(&source, &shared, &k, tracker.as_ref());
                pending_at = tracker
                    .as_ref()
                    .filter(|t| !t.counts.is_empty())
                    .map(|_| tokio::time::Instant::now() + PENDING_POLL);
                known = Some(k);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        };
        for r in batch {
            r.answer(&shared, answer.clone(), started);
        }
    }
}

/// After a load: starts or updates the tracker of dates newer than the
/// last complete one (none: no tracker).
async fn check_pending_after_load(
    source: &PgSource,
    k: &Known,
    tracker: &mut Option<PendingTracker>,
) -> Result<(), LoadError> {
    let counts = source.day_counts(k.through).await?;
    let pending: Vec<(i32, i64)> = counts
        .into_iter()
        .filter(|&(d, _)| k.through.is_none_or(|t| d > t))
        .collect();
    if pending.is_empty() {
        *tracker = None;
        return Ok(());
    }
    match tracker {
        Some(t) => t.observe(pending, Instant::now()),
        None => {
            *tracker = Some(PendingTracker {
                counts: pending,
                changed_at: Instant::now(),
            })
        }
    }
    Ok(())
}

/// One pending check: updates the counts and returns the newest date the
/// rule now counts complete, if any.
async fn check_pending(
    source: &PgSource,
    k: &Known,
    tracker: &mut PendingTracker,
) -> Result<Option<i32>, LoadError> {
    let counts = source.day_counts(k.through).await?;
    let reference = reference_count(k, &counts);
    let pending: Vec<(i32, i64)> = counts
        .into_iter()
        .filter(|&(d, _)| k.through.is_none_or(|t| d > t))
        .collect();
    let now = Instant::now();
    tracker.observe(pending, now);
    let settled = now.saturating_duration_since(tracker.changed_at) >= source.settle;
    let through = newly_complete(
        reference.map(|r| r.1),
        &tracker.counts,
        settled,
        source.min_day_fraction,
    );
    if let Some(t) = through {
        let rows = tracker.counts.iter().find(|c| c.0 == t).map_or(0, |c| c.1);
        tracing::info!(
            date = %crate::store::time::date_string(t),
            rows,
            settle = ?source.settle,
            "new date complete: row count unchanged for source.settle and at least source.min_day_fraction of the day before; it becomes the default date"
        );
    }
    Ok(through)
}

/// The last complete date and its row count, from a `day_counts` answer.
fn reference_count(k: &Known, counts: &[(i32, i64)]) -> Option<(i32, i64)> {
    let t = k.through?;
    counts.iter().copied().find(|c| c.0 == t)
}

/// Puts the pending date, and why, where `market.info` reads it.
fn publish_pending(
    source: &PgSource,
    shared: &Shared,
    k: &Known,
    tracker: Option<&PendingTracker>,
) {
    let day = tracker.and_then(|t| {
        let &(date, rows) = t.counts.last()?;
        let reference = k.through.map(|d| {
            let rows = shared
                .store
                .load()
                .as_ref()
                .and_then(|s| s.date_index(d).map(|di| s.rows_on(di).len() as i64))
                .unwrap_or(0);
            (d, rows)
        });
        let rows_loaded = shared
            .store
            .load()
            .as_ref()
            .and_then(|s| s.date_index(date).map(|di| s.rows_on(di).len() as u64))
            .unwrap_or(0);
        Some((
            date,
            stockd_api::PendingDay {
                date: crate::store::time::date_string(date),
                rows: rows as u64,
                rows_loaded,
                reason: pending_reason(source, reference, t, Instant::now()),
            },
        ))
    });
    *shared.pending.lock().unwrap_or_else(|e| e.into_inner()) = day;
}

/// Sleeps until `at`; never wakes when there is nothing to wait for.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Serves the last snapshot (marked stale) while the first load runs, so a
/// restart answers within milliseconds and keeps answering when PostgreSQL
/// is down. A corrupt, truncated, old-format or foreign snapshot is logged
/// and ignored.
/// Returns whether a snapshot is now being served.
async fn restore_snapshot(source: &PgSource, shared: &Shared) -> bool {
    let Some(dir) = &source.snapshot_dir else {
        return false;
    };
    let removed = snapshot::remove_leftovers(dir);
    if removed > 0 {
        tracing::warn!(dir = %dir.display(), removed, "removed unfinished snapshot writes");
    }
    let path = dir.join(snapshot::FILE_NAME);
    if !path.exists() {
        tracing::info!(path = %path.display(), "no snapshot to restore");
        return false;
    }
    let started = Instant::now();
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || snapshot::read(&path)).await
    };
    match read {
        Ok(Ok(mut store)) if store.info.provenance.detail == source.detail() => {
            // The rule at start, on the snapshot's own counts: a newest date
            // with too few rows is held back as pending.
            let n = store.dates().len();
            if n >= 2 {
                let last = store.rows_on(n - 1).len() as i64;
                let before = store.rows_on(n - 2).len() as i64;
                if !enough_rows(last, before, source.min_day_fraction) {
                    store.hold_back_after(store.dates()[n - 2]);
                }
            }
            tracing::info!(
                path = %path.display(),
                rows = store.rows(),
                generation = store.info.generation,
                ms = started.elapsed().as_millis() as u64,
                "snapshot restored; serving it (stale) until the first load succeeds"
            );
            shared.swap(store);
            shared
                .stale
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return true;
        }
        Ok(Ok(store)) => tracing::warn!(
            path = %path.display(),
            "snapshot is of another source ({}); ignored",
            redact(&store.info.provenance.detail)
        ),
        Ok(Err(e)) => tracing::warn!(path = %path.display(), "snapshot ignored: {e}"),
        Err(e) => tracing::warn!(path = %path.display(), "snapshot ignored: {e}"),
    }
    false
}

/// The demo source's loop: every request rebuilds the demo store (same
/// data, next generation), so reload paths work without a database.
pub async fn demo_loop(
    shared: Arc<Shared>,
    params: DemoParams,
    mut requests: mpsc::Receiver<ReloadRequest>,
) {
    while let Some(request) = requests.recv().await {
        let started = Instant::now();
        let generation = shared
            .store
            .load()
            .as_ref()
            .map_or(1, |s| s.info.generation + 1);
        let built = tokio::task::spawn_blocking(move || {
            let store = load_demo(&params, generation);
            crate::memory::release_to_os();
            store
        })
        .await;
        let result = match built {
            Ok(Ok(store)) => {
                tracing::info!(generation, rows = store.rows(), "demo store reloaded");
                COUNTERS.record_load(store.info.load_ms);
                shared.swap(store);
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        request.answer(&shared, result, started);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_table("daily_stock_data"), "\"daily_stock_data\"");
        assert_eq!(quote_table("mkt.Daily Bars"), "\"mkt\".\"Daily Bars\"");
        assert_eq!(quote_table("\"My.Schema\".t"), "\"My.Schema\".t");
    }

    #[test]
    fn a_new_date_is_complete_only_when_settled_and_large_enough() {
        let day = [(10, 3600)];
        assert_eq!(newly_complete(Some(3600), &day, false, 0.9), None);
        assert_eq!(newly_complete(Some(3600), &day, true, 0.9), Some(10));
        // One row of a new day, settled: not complete.
        assert_eq!(newly_complete(Some(3600), &[(10, 1)], true, 0.9), None);
        assert_eq!(newly_complete(Some(3600), &[(10, 3239)], true, 0.9), None);
        assert_eq!(
            newly_complete(Some(3600), &[(10, 3240)], true, 0.9),
            Some(10)
        );
        // 0 = no count check; no previous day = the settle rule alone.
        assert_eq!(newly_complete(Some(3600), &[(10, 1)], true, 0.0), Some(10));
        assert_eq!(newly_complete(None, &[(10, 5)], true, 0.9), Some(10));
        // Several pending dates: each against the one before; the first
        // short one stops the walk.
        let days = [(10, 3600), (11, 3500), (12, 100), (13, 3600)];
        assert_eq!(newly_complete(Some(3600), &days, true, 0.9), Some(11));
        assert_eq!(newly_complete(Some(3600), &[], true, 0.9), None);
    }

    #[test]
    fn retries_follow_the_documented_schedule() {
        let hour = Duration::from_secs(3600);
        let waits: Vec<f64> = (0..RETRIES)
            .map(|n| retry_wait(n, hour).as_secs_f64())
            .collect();
        assert_eq!(waits, [0.5, 1.0, 2.0, 4.0, 8.0]);
        assert_eq!(
            retry_wait(4, Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert_eq!(retry_wait(u32::MAX, hour), hour);
    }
}
