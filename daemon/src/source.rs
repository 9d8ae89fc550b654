//! Where stores come from: the embedded demo data set, or a PostgreSQL table
//! through a small bounded pool. A load discovers the table's columns from
//! the catalog, picks the window's first date, drains one binary
//! `COPY (SELECT …) TO STDOUT` into a [`StoreBuilder`] and returns a new
//! [`Store`]; it never touches the store in service. The refresh task
//! decides when to load: a cheap change check every `refresh_interval`, a
//! `NOTIFY` on `notify_channel`, or an explicit request.

use crate::config::Config;
use crate::demo::{self, DemoParams};
use crate::server::Shared;
use crate::store::copy::CopyDecoder;
use crate::store::schema::{ColumnKind, ColumnSpec};
use crate::store::snapshot;
use crate::store::{LoadInfo, Provenance, Store, StoreBuilder, StoreError};
use bb8_postgres::PostgresConnectionManager;
use futures_util::{StreamExt, TryStreamExt};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use stockd_api::ReloadResult;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;

pub type PgPool = bb8::Pool<PostgresConnectionManager<NoTls>>;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("database URL {url} is not valid: {reason}")]
    Url { url: String, reason: String },
    #[error("no connection from the pool within {0:?} (source.pool.connection_timeout)")]
    Timeout(Duration),
    #[error("PostgreSQL: {}", pg_detail(.0))]
    Pg(#[from] tokio_postgres::Error),
    #[error("table {0} does not exist (source.table); check the name and search_path")]
    NoTable(String),
    #[error("table {table}: {source}")]
    Store { table: String, source: StoreError },
    #[error("the load task failed: {0}")]
    Task(String),
}

impl From<bb8::RunError<tokio_postgres::Error>> for LoadError {
    fn from(e: bb8::RunError<tokio_postgres::Error>) -> Self {
        match e {
            bb8::RunError::User(e) => LoadError::Pg(e),
            bb8::RunError::TimedOut => LoadError::Timeout(Duration::ZERO),
        }
    }
}

/// The whole story of a PostgreSQL error: tokio-postgres's own text is
/// often just "db error", with the server's message in the source chain.
pub fn pg_detail(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({}): {}", db.severity(), db.code().code(), db.message());
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Hides a password in a connection URL before it is logged.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url
            .split_whitespace()
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

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

/// The PostgreSQL side: pool plus what a load needs to know.
pub struct PgSource {
    pool: PgPool,
    url: String,
    table: String,
    quoted: String,
    code: String,
    date: String,
    window_days: u32,
    change_column: Option<String>,
    timeout: Duration,
    /// Where the warm-restart snapshot lives (`[snapshot] dir`).
    snapshot_dir: Option<std::path::PathBuf>,
}

impl PgSource {
    /// Builds the pool without connecting: the daemon comes up even while
    /// PostgreSQL is down and the pool connects when it can.
    pub fn new(cfg: &Config) -> Result<PgSource, LoadError> {
        let src = &cfg.source;
        let pg =
            tokio_postgres::Config::from_str(&src.database_url).map_err(|e| LoadError::Url {
                url: redact(&src.database_url),
                reason: e.to_string(),
            })?;
        let manager = PostgresConnectionManager::new(pg, NoTls);
        let pool = bb8::Pool::builder()
            .max_size(src.pool.max_size)
            .min_idle(Some(src.pool.min_idle))
            .connection_timeout(src.pool.connection_timeout)
            .max_lifetime(Some(src.pool.max_lifetime))
            .test_on_check_out(src.pool.test_on_check_out)
            .retry_connection(false)
            .build_unchecked(manager);
        Ok(PgSource {
            pool,
            url: src.database_url.clone(),
            quoted: quote_table(&src.table),
            table: src.table.clone(),
            code: cfg.columns.code.clone(),
            date: cfg.columns.date.clone(),
            window_days: src.window_days,
            change_column: (!src.change_column.is_empty()).then(|| src.change_column.clone()),
            timeout: src.pool.connection_timeout,
            snapshot_dir: cfg.snapshot.dir.clone(),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// What a store loaded from this source says it is (`market.info`
    /// `source.detail`); a snapshot of another source is not served.
    pub fn detail(&self) -> String {
        format!("table {} at {}", self.table, redact(&self.url))
    }

    async fn conn(
        &self,
    ) -> Result<bb8::PooledConnection<'_, PostgresConnectionManager<NoTls>>, LoadError> {
        self.pool.get().await.map_err(|e| match e {
            bb8::RunError::TimedOut => LoadError::Timeout(self.timeout),
            bb8::RunError::User(e) => LoadError::Pg(e),
        })
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
pub async fn listen(url: String, channel: String, tx: mpsc::Sender<ReloadRequest>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match tokio_postgres::connect(&url, NoTls).await {
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
                                tracing::warn!("LISTEN connection lost: {e}");
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
                    Err(e) => tracing::warn!("LISTEN {channel} failed: {e}"),
                }
                driver.abort();
            }
            Err(e) => tracing::debug!("LISTEN connection failed: {e}"),
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
    loop {
        let request = tokio::select! {
            _ = tick.tick() => ReloadRequest::new(Trigger::Poll),
            r = requests.recv() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let started = Instant::now();
        if request.trigger == Trigger::Poll {
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
        match reload(&source, &shared, request.trigger).await {
            Ok(k) => {
                known = Some(k);
                request.answer(&shared, Ok(()), started);
            }
            Err(e) => request.answer(&shared, Err(e.to_string()), started),
        }
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

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("host=h password=secret dbname=x"),
            "host=h password=*** dbname=x"
        );
    }
}
