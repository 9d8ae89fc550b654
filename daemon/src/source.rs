//! Where stores come from: the embedded demo data set, or a PostgreSQL table
//! through a small bounded pool. A load discovers the table's columns from
//! the catalog, picks the window's first date, drains one binary
//! `COPY (SELECT …) TO STDOUT` into a [`StoreBuilder`] and returns a new
//! [`Store`]; it never touches the store in service. The refresh task
//! decides when to load: a cheap change check every `refresh_interval`, a
//! `NOTIFY` on `notify_channel`, or an explicit request.

use crate::config::Config;
use crate::demo::{self, DemoParams};
use crate::pgconn::{self, Connector, PasswordSources, Target};
use crate::server::Shared;
use crate::store::copy::CopyDecoder;
use crate::store::schema::{ColumnKind, ColumnSpec};
use crate::store::snapshot;
use crate::store::{LoadInfo, Provenance, Store, StoreBuilder, StoreError};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use stockd_api::ReloadResult;
use tokio::sync::{mpsc, oneshot};

pub type PgPool = bb8::Pool<Connector>;

/// How the PostgreSQL source has fared since start (`admin.status`
/// `source`): one source per process, so process-wide counters.
pub struct SourceCounters {
    /// Loads that failed (any cause); the previous store kept serving.
    pub load_failures: AtomicU64,
    /// Loads that gave up waiting for a table lock after
    /// `source.pool.connection_timeout` (the table was locked, e.g. by an
    /// ETL transaction).
    pub lock_timeouts: AtomicU64,
    /// Loads retried by the daemon itself after a failure.
    pub retries: AtomicU64,
    /// Reload requests answered by a load another request started
    /// (`store.reload`, NOTIFY and SIGHUP arriving while one was queued).
    pub coalesced: AtomicU64,
}

pub static COUNTERS: SourceCounters = SourceCounters {
    load_failures: AtomicU64::new(0),
    lock_timeouts: AtomicU64::new(0),
    retries: AtomicU64::new(0),
    coalesced: AtomicU64::new(0),
};

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
    pub change: Option<String>,
}

/// Keeps the pool's last failed connection attempt, so a checkout that
/// times out can say why (server down, login refused, …) instead of only
/// that it waited.
#[derive(Debug, Clone, Default)]
struct ConnectErrors(Arc<std::sync::Mutex<Option<String>>>);

impl ConnectErrors {
    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl bb8::ErrorSink<tokio_postgres::Error> for ConnectErrors {
    fn sink(&self, e: tokio_postgres::Error) {
        tracing::debug!("pool connection attempt failed: {}", pg_detail(&e));
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(pg_detail(&e));
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
    change_column: Option<String>,
    timeout: Duration,
    connect_errors: ConnectErrors,
    /// Where the warm-restart snapshot lives (`[snapshot] dir`).
    snapshot_dir: Option<std::path::PathBuf>,
}

/// Where a password may come from besides the string, per the config.
pub fn password_sources(cfg: &Config) -> PasswordSources {
    PasswordSources {
        password_file: cfg.source.password_file.clone(),
    }
}

/// The tokio-postgres configuration of `target`, with the load's
/// `lock_timeout`: a load waits for a table lock (an ETL transaction
/// holding the table) no longer than for a pool connection; it gives up,
/// the previous store keeps serving and the load is retried, instead of
/// holding the pool's connection and every queued reload forever.
fn pg_config(target: &Target, connection_timeout: Duration) -> tokio_postgres::Config {
    let mut pg = target.pg_config();
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
            change_column: (!src.change_column.is_empty()).then(|| src.change_column.clone()),
            timeout: src.pool.connection_timeout,
            connect_errors,
            snapshot_dir: cfg.snapshot.dir.clone(),
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

    /// What a store loaded from this source says it is (`market.info`
    /// `source.detail`, the snapshot header); a snapshot of another source
    /// is not served. Host, port, database and table only: any process that
    /// can open the socket reads it, so no user name and no credentials.
    pub fn detail(&self) -> String {
        let target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        format!("table {} at {}", self.table, target.public())
    }

    async fn conn(&self) -> Result<bb8::PooledConnection<'_, Connector>, LoadError> {
        match self.pool.get().await {
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

    /// The first date of the window (`None` = no filter).
    async fn window_start(&self) -> Result<Option<i32>, LoadError> {
        if self.window_days == 0 {
            return Ok(None);
        }
        let conn = self.conn().await?;
        let d = quote_ident(&self.date);
        let sql = format!(
            "SELECT min(x) FROM (SELECT DISTINCT ({d} - DATE '2000-01-01') AS x FROM {t} \
             WHERE {d} IS NOT NULL AND {d} < 'infinity' ORDER BY 1 DESC LIMIT $1) w",
            t = self.quoted
        );
        let row = conn.query_one(&sql, &[&(self.window_days as i64)]).await?;
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

    /// The change check: one aggregate over the window.
    pub async fn fingerprint(&self, start: Option<i32>) -> Result<Fingerprint, LoadError> {
        let conn = self.conn().await?;
        let change = match &self.change_column {
            Some(c) => format!("max({})::text", quote_ident(c)),
            None => "NULL::text".into(),
        };
        let sql = format!(
            "SELECT max({d}) - DATE '2000-01-01', count(*), {change} FROM {t}{w}",
            d = quote_ident(&self.date),
            t = self.quoted,
            w = self.window_filter(start)
        );
        let row = conn.query_one(&sql, &[]).await?;
        Ok(Fingerprint {
            last_date: row.get(0),
            rows: row.get(1),
            change: row.get(2),
        })
    }

    /// Loads a new store. `generation` is the number it will carry.
    pub async fn load(
        &self,
        generation: u64,
    ) -> Result<(Store, Fingerprint, Option<i32>), LoadError> {
        let started = Instant::now();
        let (specs, skipped) = self.discover().await?;
        let start = self.window_start().await?;
        let fp = self.fingerprint(start).await?;
        let cols = specs
            .iter()
            .map(|s| quote_ident(&s.name))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "COPY (SELECT {cols} FROM {t}{w}) TO STDOUT (FORMAT binary)",
            t = self.quoted,
            w = self.window_filter(start)
        );
        let store_err = |source| LoadError::Store {
            table: self.table.clone(),
            source,
        };
        let ncols = specs.len();
        let mut builder = StoreBuilder::new(specs, &self.code, &self.date, fp.rows.max(0) as usize)
            .map_err(store_err)?;
        let mut decoder = CopyDecoder::new(ncols);
        let conn = self.conn().await?;
        let stream = conn.copy_out(sql.as_str()).await?;
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.try_next().await? {
            decoder.feed(&chunk, &mut builder).map_err(store_err)?;
        }
        decoder.finish().map_err(store_err)?;
        drop(conn);
        let info = LoadInfo {
            generation,
            loaded_at: SystemTime::now(),
            load_ms: started.elapsed().as_millis() as u64,
            provenance: Provenance {
                kind: "postgres",
                detail: self.detail(),
                window_days: self.window_days,
                skipped,
            },
        };
        let mut store = tokio::task::spawn_blocking(move || {
            let store = builder.finish(info);
            // The builder's spare buffers were freed on this thread; mimalloc
            // returns a thread's free pages only when that thread asks.
            crate::memory::release_to_os();
            store
        })
        .await
        .map_err(|e| LoadError::Task(e.to_string()))?;
        // The load's duration includes building the indexes.
        store.info.load_ms = started.elapsed().as_millis() as u64;
        Ok((store, fp, start))
    }
}

/// Builds the embedded demo store (CPU only; run it off the async threads).
pub fn load_demo(params: &DemoParams, generation: u64) -> Result<Store, StoreError> {
    let started = Instant::now();
    let specs = demo::reference_columns();
    let n = specs.len();
    let mut builder = StoreBuilder::new(specs, "stock_code", "date", params.rows() as usize)?;
    let mut decoder = CopyDecoder::new(n);
    for chunk in demo::copy_chunks(params, 4096) {
        decoder.feed(&chunk, &mut builder)?;
    }
    decoder.finish()?;
    let mut store = builder.finish(LoadInfo {
        generation,
        loaded_at: SystemTime::now(),
        load_ms: 0,
        provenance: Provenance {
            kind: "demo",
            detail: params.describe(),
            window_days: params.days,
            skipped: vec![],
        },
    });
    // The load's duration includes building the indexes.
    store.info.load_ms = started.elapsed().as_millis() as u64;
    Ok(store)
}

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Start,
    Poll,
    Notify,
    /// SIGHUP or `store.reload`.
    Request,
    /// The daemon's own retry after a failed load.
    Retry,
}

/// A reload asked of the refresh task; `reply` hears how it went.
pub struct ReloadRequest {
    pub trigger: Trigger,
    pub reply: Option<oneshot::Sender<Result<ReloadResult, String>>>,
}

impl ReloadRequest {
    pub fn new(trigger: Trigger) -> ReloadRequest {
        ReloadRequest {
            trigger,
            reply: None,
        }
    }

    fn answer(self, shared: &Shared, result: Result<(), String>, started: Instant) {
        if let Some(reply) = self.reply {
            let _ = reply.send(result.map(|()| {
                let store = shared.store.load();
                ReloadResult {
                    generation: store.as_ref().map_or(0, |s| s.info.generation),
                    rows: store.as_ref().map_or(0, |s| s.rows() as u64),
                    duration_ms: started.elapsed().as_millis() as u64,
                }
            }));
        }
    }
}

/// Loads, swaps the new store in, and logs; a failure leaves the old store
/// serving. Returns the fingerprint and window start of a successful load.
pub async fn reload(
    source: &PgSource,
    shared: &Shared,
    trigger: Trigger,
) -> Result<(Fingerprint, Option<i32>), LoadError> {
    let generation = shared
        .store
        .load()
        .as_ref()
        .map_or(1, |s| s.info.generation + 1);
    match source.load(generation).await {
        Ok((store, fp, start)) => {
            tracing::info!(
                ?trigger,
                generation,
                rows = store.rows(),
                dates = store.dates().len(),
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
            shared.swap(store);
            shared.set_health(Ok(()));
            if let (Some(dir), Some(store)) = (&source.snapshot_dir, shared.store.load_full()) {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || {
                    let started = Instant::now();
                    match snapshot::write(&store, &dir) {
                        Ok(path) => tracing::info!(
                            path = %path.display(),
                            ms = started.elapsed().as_millis() as u64,
                            "snapshot written"
                        ),
                        Err(e) => tracing::warn!("snapshot not written to {}: {e}", dir.display()),
                    }
                });
            }
            Ok((fp, start))
        }
        Err(e) => {
            COUNTERS.load_failures.fetch_add(1, Ordering::Relaxed);
            if e.is_lock_timeout() {
                COUNTERS.lock_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            tracing::error!(
                ?trigger,
                "load failed, the previous store keeps serving: {e}"
            );
            shared.set_health(Err(e.to_string()));
            if shared.store.load().is_some() {
                shared
                    .stale
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e)
        }
    }
}

/// Listens on `channel` on a dedicated connection (LISTEN cannot share a
/// pooled one) and forwards every notification; reconnects with capped
/// backoff when the connection drops.
pub async fn listen(connector: Connector, channel: String, tx: mpsc::Sender<ReloadRequest>) {
    let mut backoff = Duration::from_millis(500);
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
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!("LISTEN connection lost: {}", pg_detail(&e));
                                break;
                            }
                        }
                    }
                });
                match client
                    .batch_execute(&format!("LISTEN {}", quote_ident(&channel)))
                    .await
                {
                    Ok(()) => {
                        tracing::info!(channel, "listening for refresh notifications");
                        backoff = Duration::from_millis(500);
                        while nrx.recv().await.is_some() {
                            // Coalesce a burst of notifications into one reload.
                            while nrx.try_recv().is_ok() {}
                            if tx.send(ReloadRequest::new(Trigger::Notify)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::warn!("LISTEN {channel} failed: {}", pg_detail(&e)),
                }
                driver.abort();
            }
            Err(e) => tracing::debug!("LISTEN connection failed: {}", pg_detail(&e)),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// The refresh loop: first load (retried with capped backoff until it
/// succeeds), then a change check every `interval`, and a reload on every
/// request received.
pub async fn refresh_loop(
    source: Arc<PgSource>,
    shared: Arc<Shared>,
    interval: Duration,
    mut requests: mpsc::Receiver<ReloadRequest>,
) {
    if restore_snapshot(&source, &shared).await {
        shared.settled.send_replace(true);
    }
    let mut known: Option<(Fingerprint, Option<i32>)> = None;
    let mut backoff = Duration::from_millis(500);
    while known.is_none() {
        let started = Instant::now();
        let result = reload(&source, &shared, Trigger::Start).await;
        // Loaded, or failed with nothing to serve: either way the daemon
        // is up (answering "store not loaded" until a load succeeds).
        shared.settled.send_replace(true);
        match result {
            Ok(k) => known = Some(k),
            Err(e) => {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    r = requests.recv() => match r {
                        // Asked while the first load keeps failing: answer now.
                        Some(r) => r.answer(&shared, Err(e.to_string()), started),
                        None => return,
                    },
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    // After a failed load: when to retry, and how many retries are left.
    let mut retry: Option<(tokio::time::Instant, u32)> = None;
    loop {
        let retry_at = retry.map(|r| r.0);
        let request = tokio::select! {
            _ = tick.tick() => ReloadRequest::new(Trigger::Poll),
            _ = sleep_until(retry_at) => ReloadRequest::new(Trigger::Retry),
            r = requests.recv() => match r {
                Some(r) => r,
                None => return,
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
            .find(|t| *t != Trigger::Poll)
            .unwrap_or(Trigger::Poll);
        if batch.len() > 1 {
            COUNTERS
                .coalesced
                .fetch_add(batch.len() as u64 - 1, Ordering::Relaxed);
        }
        if trigger == Trigger::Poll {
            let start = known.as_ref().and_then(|k| k.1);
            match source.fingerprint(start).await {
                Ok(fp) if known.as_ref().is_some_and(|k| k.0 == fp) => {
                    shared
                        .stale
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                    shared.set_health(Ok(()));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!("change check failed: {e}");
                    shared.set_health(Err(e.to_string()));
                    shared
                        .stale
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
            }
        }
        if trigger == Trigger::Retry {
            COUNTERS.retries.fetch_add(1, Ordering::Relaxed);
        }
        let result = reload(&source, &shared, trigger).await;
        retry = match &result {
            Ok(_) => None,
            Err(e) => {
                let left = match retry {
                    Some((_, left)) if trigger == Trigger::Retry => left.saturating_sub(1),
                    _ => RETRIES,
                };
                (left > 0).then(|| {
                    let n = RETRIES - left;
                    let wait = (RETRY_FIRST * 2u32.pow(n)).min(interval);
                    tracing::info!(
                        "retrying the load in {wait:?} ({left} retries left) after: {e}"
                    );
                    (tokio::time::Instant::now() + wait, left)
                })
            }
        };
        let answer = match result {
            Ok(k) => {
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
        Ok(Ok(store)) if store.info.provenance.detail == source.detail() => {
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
            store.info.provenance.detail
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
}
