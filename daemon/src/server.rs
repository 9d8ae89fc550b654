//! The JSON-RPC server on a Unix socket: binding (stale-socket removal,
//! file mode), the accept loop with its connection cap, per-connection peer
//! credentials, the request-size gate, and thin handlers that call
//! [`crate::query`], [`crate::views`] and [`crate::admin`] against the store
//! in service, with results cached where that pays.

use crate::admin::{self, Gate};
use crate::cache::{ByteCache, Caches, Doc};
use crate::config::Config;
use crate::governor::Governor;
use crate::memory;
use crate::query;
use crate::source::{PgPool, ReloadRequest, Trigger};
use crate::stats::{Recorder, RequestStats};
use crate::store::Store;
use crate::views;
use arc_swap::ArcSwapOption;
use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{
    stop_channel, BatchRequestConfig, HttpBody, HttpRequest, HttpResponse, PendingSubscriptionSink,
    RpcModule, Server, ServerConfig, SubscriptionMessage,
};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::Extensions;
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use stockd_api::{
    limits, AdminServer, AdminStatus, AppError, CacheClearResult, CacheDropped, CacheResizeResult,
    ErrorKind, MarketInfo, MarketServer, ReloadResult, Size, StockServer, TrimResult, ViewsServer,
};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// What every handler shares: the store in service and its state.
pub struct Shared {
    /// `None` until the first load (or snapshot) succeeds.
    pub store: ArcSwapOption<Store>,
    /// The store is older than the source could give (served from a
    /// snapshot, or the source is failing).
    pub stale: AtomicBool,
    pub columns: crate::config::ColumnsConfig,
    pub signals: crate::config::SignalsConfig,
    pub started: Instant,
    /// `demo` or `postgres`.
    pub source_kind: &'static str,
    /// The PostgreSQL pool, when the source is PostgreSQL.
    pub pool: OnceLock<PgPool>,
    /// Where reload requests go (the refresh task).
    pub reloads: OnceLock<mpsc::Sender<ReloadRequest>>,
    /// Whether the last contact with the source worked, and the last error.
    health: Mutex<(bool, Option<String>)>,
    pub caches: Caches,
    pub governor: Governor,
    pub stats: Arc<RequestStats>,
    pub gate: Gate,
    /// Beaten by the accept loop; the watchdog checks it is recent.
    pub heartbeat: crate::systemd::Heartbeat,
    /// Becomes true once a store is served or the first load attempt has
    /// ended (success or not): the moment to tell systemd READY.
    pub settled: tokio::sync::watch::Sender<bool>,
    /// The pending (not yet complete) date and why, as the refresh task
    /// last saw it (`market.info` `pending`).
    pub pending: Mutex<Option<stockd_api::PendingDay>>,
}

impl Shared {
    pub fn new(config: &Config) -> Arc<Shared> {
        let demo = config.source.database_url.is_empty();
        let budget = memory::budget(&config.memory.limit);
        Arc::new(Shared {
            store: ArcSwapOption::empty(),
            stale: AtomicBool::new(false),
            columns: config.columns.clone(),
            signals: config.signals,
            started: Instant::now(),
            source_kind: if demo { "demo" } else { "postgres" },
            pool: OnceLock::new(),
            reloads: OnceLock::new(),
            health: Mutex::new((demo, None)),
            caches: Caches::new(&config.cache),
            governor: Governor::new(budget, config.memory.high, config.memory.critical),
            stats: Arc::new(RequestStats::new(stockd_api::METHODS)),
            gate: Gate::new(&config.server.admin_uids, &config.server.admin_groups),
            heartbeat: crate::systemd::Heartbeat::new(),
            settled: tokio::sync::watch::Sender::new(false),
            pending: Mutex::new(None),
        })
    }

    /// The store in service, or the "store not loaded" error.
    pub fn store(&self) -> Result<Arc<Store>, AppError> {
        self.store.load_full().ok_or_else(|| {
            AppError::new(
                ErrorKind::StoreNotLoaded,
                "",
                "the store is not loaded yet: the first load from the source has not succeeded; retrying",
            )
        })
    }

    /// Puts a new store in service: cached results of the old one are
    /// dropped, and freed memory goes back to the OS.
    pub fn swap(&self, store: Store) {
        self.store.store(Some(Arc::new(store)));
        self.stale.store(false, Ordering::Relaxed);
        self.caches.clear_all();
        // The previous store is gone once its last reader finishes; hand
        // its pages back rather than keep them committed.
        memory::release_to_os();
    }

    /// Records the outcome of a contact with the source.
    pub fn set_health(&self, result: Result<(), String>) {
        let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => h.0 = true,
            Err(e) => *h = (false, Some(e)),
        }
    }

    /// (healthy, last error).
    pub fn health(&self) -> (bool, Option<String>) {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The "overloaded" error while memory is critical.
    fn refuse_if_overloaded(&self, method: &str) -> Result<(), AppError> {
        if self.governor.overloaded() {
            return Err(AppError::new(
                ErrorKind::Overloaded,
                method,
                format!(
                    "{method} is refused while memory is critical (rss above {:.0}% of the {} MiB budget); retry shortly",
                    self.governor.critical * 100.0,
                    self.governor.budget >> 20
                ),
            ));
        }
        Ok(())
    }
}

/// The connecting process's credentials (SO_PEERCRED), put into every
/// request's extensions for the admin gate.
#[derive(Debug, Clone, Copy)]
pub struct PeerCred {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// A JSON result document shared with the caches: serialising it copies
/// its text into the response, never re-encodes or re-validates it.
#[derive(Debug, Clone)]
pub struct Json(Doc);

/// serde_json's marker for "write this string verbatim": the exact
/// sequence `RawValue`'s own `Serialize` uses. Using it directly spares a
/// validating parse of every result (up to tens of µs for a 40 KB top-N);
/// the text is valid JSON by construction (the store's writers, or
/// `serde_json::to_string`), and a unit test pins the behaviour.
const RAW_TOKEN: &str = "$serde_json::private::RawValue";

impl Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct(RAW_TOKEN, 1)?;
        st.serialize_field(RAW_TOKEN, &*self.0)?;
        st.end()
    }
}

impl Json {
    /// The document's JSON text.
    pub fn text(&self) -> &str {
        &self.0
    }
}

fn doc(json: String) -> Result<Doc, AppError> {
    Ok(Arc::from(json))
}

/// Serves `key` from `cache`, or computes, stores and serves it.
fn cached(
    cache: &ByteCache,
    key: String,
    compute: impl FnOnce() -> Result<String, AppError>,
) -> RpcResult<Json> {
    if let Some(d) = cache.get(&key) {
        return Ok(Json(d));
    }
    let d = doc(compute()?)?;
    cache.insert(key, d.clone());
    Ok(Json(d))
}

/// The cache key of a call: method, store generation and parameters.
fn key(method: &str, generation: u64, params: impl Serialize) -> String {
    let p = serde_json::to_string(&params).unwrap_or_default();
    format!("{method}|{generation}|{p}")
}

fn to_json<T: Serialize>(v: &T) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| {
        AppError::new(
            ErrorKind::InvalidParams,
            "",
            format!("internal error writing the result: {e}"),
        )
    })
}

/// The handlers: parse, call [`query`]/[`views`]/[`admin`], map errors.
#[derive(Clone)]
pub struct Rpc {
    shared: Arc<Shared>,
}

impl Rpc {
    pub fn new(shared: Arc<Shared>) -> Rpc {
        Rpc { shared }
    }
}

impl MarketServer for Rpc {
    fn info(&self) -> RpcResult<MarketInfo> {
        let store = self.shared.store()?;
        let pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(query::market_info(
            &store,
            self.shared.stale.load(Ordering::Relaxed),
            pending,
            &self.shared.columns,
        ))
    }

    fn dates(&self) -> RpcResult<Vec<String>> {
        Ok(query::market_dates(&*self.shared.store()?))
    }
}

impl StockServer<Json, Json, Json, Json, Json> for Rpc {
    fn list(
        &self,
        industry: Option<String>,
        prefix: Option<String>,
        name: Option<String>,
        offset: Option<u64>,
        limit: Option<u64>,
    ) -> RpcResult<Json> {
        let store = self.shared.store()?;
        let k = key(
            "stock.list",
            store.info.generation,
            (&industry, &prefix, &name, offset, limit),
        );
        cached(&self.shared.caches.query, k, || {
            let sem = views::Semantic::new(&store, &self.shared.columns);
            let p = views::ListParams {
                industry: industry.as_deref(),
                prefix: prefix.as_deref(),
                name: name.as_deref(),
                offset,
                limit,
            };
            to_json(&views::stock_list(&store, &sem, &p)?)
        })
    }

    fn get(
        &self,
        code: String,
        date: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<Json> {
        let store = self.shared.store()?;
        Ok(Json(doc(query::stock_get(
            &store,
            &code,
            date.as_deref(),
            fields.as_deref(),
        )?)?))
    }

    fn many(
        &self,
        codes: Vec<String>,
        date: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<Json> {
        if codes.len() > limits::MAX_CODES_WHEN_CRITICAL {
            self.shared.refuse_if_overloaded("stock.many")?;
        }
        let store = self.shared.store()?;
        let k = key(
            "stock.many",
            store.info.generation,
            (&codes, &date, &fields),
        );
        cached(&self.shared.caches.query, k, || {
            query::stock_many(&store, &codes, date.as_deref(), fields.as_deref())
        })
    }

    fn history(
        &self,
        code: String,
        from: Option<String>,
        to: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<Json> {
        let store = self.shared.store()?;
        if self.shared.governor.overloaded() {
            // Only long spans are expensive: count the dates asked for.
            let lo = from.as_deref().and_then(crate::store::time::parse_date);
            let hi = to.as_deref().and_then(crate::store::time::parse_date);
            let span = store
                .dates()
                .iter()
                .filter(|&&d| lo.is_none_or(|lo| d >= lo) && hi.is_none_or(|hi| d <= hi))
                .count();
            if span > limits::MAX_HISTORY_DAYS_WHEN_CRITICAL {
                self.shared.refuse_if_overloaded("stock.history")?;
            }
        }
        let k = key(
            "stock.history",
            store.info.generation,
            (&code, &from, &to, &fields),
        );
        cached(&self.shared.caches.query, k, || {
            query::stock_history(
                &store,
                &code,
                from.as_deref(),
                to.as_deref(),
                fields.as_deref(),
            )
        })
    }

    fn top(
        &self,
        by: String,
        n: Option<u64>,
        order: Option<String>,
        date: Option<String>,
        industry: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<Json> {
        let store = self.shared.store()?;
        let k = key(
            "stock.top",
            store.info.generation,
            (&by, n, &order, &date, &industry, &fields),
        );
        cached(&self.shared.caches.query, k, || {
            let p = query::TopParams {
                by: &by,
                n,
                order: order.as_deref(),
                date: date.as_deref(),
                industry: industry.as_deref(),
                fields: fields.as_deref(),
            };
            query::stock_top(&store, &p, &self.shared.columns.industry)
        })
    }
}

impl ViewsServer<Json, Json, Json> for Rpc {
    fn hotspots(&self, date: Option<String>, n: Option<u64>) -> RpcResult<Json> {
        self.shared.refuse_if_overloaded("hotspots.ranking")?;
        let store = self.shared.store()?;
        let k = key("hotspots.ranking", store.info.generation, (&date, n));
        cached(&self.shared.caches.hotspots, k, || {
            let sem = views::Semantic::new(&store, &self.shared.columns);
            to_json(&views::hotspots(&store, &sem, date.as_deref(), n)?)
        })
    }

    fn industry(&self, industry: String, date: Option<String>) -> RpcResult<Json> {
        self.shared.refuse_if_overloaded("industry.detail")?;
        let store = self.shared.store()?;
        let k = key("industry.detail", store.info.generation, (&industry, &date));
        cached(&self.shared.caches.industry, k, || {
            let sem = views::Semantic::new(&store, &self.shared.columns);
            to_json(&views::industry_detail(
                &store,
                &sem,
                &industry,
                date.as_deref(),
            )?)
        })
    }

    fn signals(&self, code: String, date: Option<String>) -> RpcResult<Json> {
        self.shared.refuse_if_overloaded("signals.stock")?;
        let store = self.shared.store()?;
        let k = key("signals.stock", store.info.generation, (&code, &date));
        cached(&self.shared.caches.signals, k, || {
            let sem = views::Semantic::new(&store, &self.shared.columns);
            to_json(&views::signals(
                &store,
                &sem,
                &self.shared.signals,
                &code,
                date.as_deref(),
            )?)
        })
    }
}

fn unknown_cache(caches: &Caches, name: &str) -> AppError {
    AppError::new(
        ErrorKind::UnknownCache,
        name,
        format!(
            "unknown cache '{name}'; caches are: {}",
            caches.names().join(", ")
        ),
    )
}

#[jsonrpsee::core::async_trait]
impl AdminServer for Rpc {
    fn status(&self, ext: &Extensions) -> RpcResult<AdminStatus> {
        self.shared.gate.check("admin.status", ext)?;
        Ok(admin::status(&self.shared))
    }

    async fn subscribe_status(
        &self,
        pending: PendingSubscriptionSink,
        ext: &Extensions,
        interval_ms: Option<u64>,
    ) -> SubscriptionResult {
        if let Err(e) = self.shared.gate.check("admin.subscribe_status", ext) {
            pending.reject(ErrorObjectOwned::from(e)).await;
            return Ok(());
        }
        let ms = interval_ms.unwrap_or(1000);
        if !(limits::MIN_STATUS_INTERVAL_MS..=limits::MAX_STATUS_INTERVAL_MS).contains(&ms) {
            let e = AppError::new(
                ErrorKind::InvalidParams,
                ms.to_string(),
                format!(
                    "interval_ms = {ms} is out of range; give {} to {}",
                    limits::MIN_STATUS_INTERVAL_MS,
                    limits::MAX_STATUS_INTERVAL_MS
                ),
            );
            pending.reject(ErrorObjectOwned::from(e)).await;
            return Ok(());
        }
        let sink = pending.accept().await?;
        let mut tick = tokio::time::interval(Duration::from_millis(ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = sink.closed() => break,
                _ = tick.tick() => {
                    let msg = SubscriptionMessage::from(serde_json::value::to_raw_value(&admin::status(&self.shared))?);
                    if sink.send(msg).await.is_err() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn cache_clear(&self, ext: &Extensions, name: Option<String>) -> RpcResult<CacheClearResult> {
        self.shared.gate.check("cache.clear", ext)?;
        let caches = &self.shared.caches;
        let targets: Vec<&ByteCache> = match &name {
            Some(n) => vec![caches.by_name(n).ok_or_else(|| unknown_cache(caches, n))?],
            None => caches.all().to_vec(),
        };
        let dropped = targets
            .into_iter()
            .map(|c| {
                let d = c.clear();
                CacheDropped {
                    name: c.name().to_string(),
                    entries: d.entries,
                    bytes: d.bytes,
                }
            })
            .collect();
        memory::release_to_os();
        tracing::info!(
            cache = name.as_deref().unwrap_or("all"),
            "cache cleared by admin"
        );
        Ok(CacheClearResult { dropped })
    }

    fn cache_resize(
        &self,
        ext: &Extensions,
        name: String,
        max_bytes: Size,
    ) -> RpcResult<CacheResizeResult> {
        self.shared.gate.check("cache.resize", ext)?;
        let caches = &self.shared.caches;
        let cache = caches
            .by_name(&name)
            .ok_or_else(|| unknown_cache(caches, &name))?;
        let bytes = match &max_bytes {
            Size::Bytes(b) => *b,
            Size::Text(t) => crate::config::parse_size(t).map_err(|e| {
                AppError::new(
                    ErrorKind::InvalidParams,
                    t.clone(),
                    format!("max_bytes '{t}' is not a size: {e}"),
                )
            })?,
        };
        if bytes > limits::MAX_CACHE_BYTES {
            return Err(AppError::new(
                ErrorKind::LimitExceeded,
                bytes.to_string(),
                format!(
                    "max_bytes = {bytes} exceeds the largest cache cap, {} (4 GiB)",
                    limits::MAX_CACHE_BYTES
                ),
            )
            .into());
        }
        let (_, caps) = caches.totals();
        let new_total = caps - cache.cap() + bytes;
        let budget = self.shared.governor.budget;
        if new_total > budget {
            return Err(AppError::new(
                ErrorKind::LimitExceeded,
                bytes.to_string(),
                format!(
                    "max_bytes = {bytes} would make the caches' caps total {new_total} bytes, over the memory budget of {budget} bytes (memory.limit)"
                ),
            )
            .into());
        }
        let d = cache.resize(bytes);
        tracing::info!(cache = name, max_bytes = bytes, "cache resized by admin");
        Ok(CacheResizeResult {
            name,
            max_bytes: bytes,
            evicted_entries: d.entries,
            evicted_bytes: d.bytes,
        })
    }

    async fn store_reload(&self, ext: &Extensions) -> RpcResult<ReloadResult> {
        self.shared.gate.check("store.reload", ext)?;
        // A reload builds a second store next to the first: not now.
        self.shared.refuse_if_overloaded("store.reload")?;
        let Some(tx) = self.shared.reloads.get() else {
            return Err(
                AppError::new(ErrorKind::StoreNotLoaded, "", "no source to reload from").into(),
            );
        };
        let (reply, answer) = oneshot::channel();
        let req = ReloadRequest {
            trigger: Trigger::Request,
            reply: Some(reply),
        };
        if tx.send(req).await.is_err() {
            return Err(AppError::new(
                ErrorKind::StoreNotLoaded,
                "",
                "the refresh task has stopped",
            )
            .into());
        }
        match answer.await {
            Ok(Ok(r)) => Ok(r),
            // An older store still serving is not "not loaded": say the
            // reload failed and what is served instead.
            Ok(Err(e)) => Err(match crate::source::serving_now(&self.shared) {
                Some(serving) => AppError::new(
                    ErrorKind::ReloadFailed,
                    "",
                    format!("reload failed, {serving}: {e}"),
                ),
                None => AppError::new(
                    ErrorKind::StoreNotLoaded,
                    "",
                    format!("reload failed and nothing is loaded yet: {e}"),
                ),
            }
            .into()),
            Err(_) => Err(AppError::new(
                ErrorKind::StoreNotLoaded,
                "",
                "the refresh task dropped the request",
            )
            .into()),
        }
    }

    fn memory_trim(&self, ext: &Extensions) -> RpcResult<TrimResult> {
        self.shared.gate.check("memory.trim", ext)?;
        let before = memory::rss().map_or(0, |r| r.0);
        let caches = &self.shared.caches;
        // Shed to the low mark (half of each cap), then restore the caps
        // unless the governor is holding them down.
        let d = caches.throttle_all(0.5);
        if self.shared.governor.state() == crate::governor::MemState::Ok {
            caches.throttle_all(1.0);
        }
        memory::release_to_os();
        let after = memory::rss().map_or(0, |r| r.0);
        tracing::info!(
            rss_before = before,
            rss_after = after,
            "memory trimmed by admin"
        );
        Ok(TrimResult {
            rss_before: before,
            rss_after: after,
            cache_bytes_dropped: d.bytes,
        })
    }
}

/// Every method the daemon serves, merged into one module.
pub fn rpc_module(rpc: Rpc) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    // Names are unique by construction (one trait per namespace); a clash
    // would be a programming error caught by the drift test.
    for m in [
        MarketServer::into_rpc(rpc.clone()).remove_context(),
        StockServer::into_rpc(rpc.clone()).remove_context(),
        ViewsServer::into_rpc(rpc.clone()).remove_context(),
        AdminServer::into_rpc(rpc).remove_context(),
    ] {
        if let Err(e) = module.merge(m) {
            tracing::error!("method registered twice: {e}");
        }
    }
    module
}

/// Limits of the server, from `[server]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: u32,
    pub max_request_bytes: u32,
    /// `server.client_timeout`: see [`crate::conn`].
    pub client_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("socket directory {0} does not exist; create it or set server.socket / --socket")]
    NoDirectory(PathBuf),
    #[error("another process is listening on {0}; stop it or choose another --socket")]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("server.socket_group {0:?} does not exist; create it or set another group")]
    NoGroup(String),
    #[error("cannot bind {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Binds the socket: removes a stale socket file (one nobody listens on),
/// creates the new one with `mode` and no wider permissions in between.
pub fn bind(path: &Path, mode: u32, group: &str) -> Result<UnixListener, BindError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let io_err = |source| BindError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(BindError::NoDirectory(dir.to_path_buf()));
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(BindError::InUse(path.to_path_buf()));
            }
            tracing::info!(path = %path.display(), "removing stale socket file");
            std::fs::remove_file(path).map_err(io_err)?;
        }
        Ok(_) => return Err(BindError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    // Bind under a tight umask so the socket is never wider than `mode`.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.map_err(io_err)?;
    if !group.is_empty() {
        // Group first, then the mode: never open to the wrong group.
        let gid = match nix::unistd::Group::from_name(group) {
            Ok(Some(g)) => g.gid,
            Ok(None) => return Err(BindError::NoGroup(group.to_string())),
            Err(e) => return Err(io_err(e.into())),
        };
        nix::unistd::chown(path, None, Some(gid)).map_err(|e| io_err(e.into()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err)?;
    Ok(listener)
}

/// A JSON-RPC error document with HTTP status, for refusals made before
/// jsonrpsee sees the request.
fn refusal(status: u16, err: AppError) -> HttpResponse {
    let obj: ErrorObjectOwned = err.into();
    let body = serde_json::json!({"jsonrpc": "2.0", "error": obj, "id": null}).to_string();
    let mut resp = HttpResponse::new(HttpBody::from(body));
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn too_many_connections(limit: u32) -> Vec<u8> {
    let err = AppError::new(
        ErrorKind::LimitExceeded,
        limit.to_string(),
        format!("too many connections: the limit is {limit} (server.max_connections); retry later"),
    );
    let obj: ErrorObjectOwned = err.into();
    let body = serde_json::json!({"jsonrpc": "2.0", "error": obj, "id": null}).to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Largest response (1000 rows × every column fits with room to spare).
const MAX_RESPONSE_BYTES: u32 = 64 << 20;

fn is_json(h: &http::HeaderMap) -> bool {
    h.get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The per-connection HTTP service: gates the request (peer credentials,
/// content type, body size and read time), answers plain data calls on
/// the [`crate::fast`] path, and hands everything else to jsonrpsee.
#[derive(Clone)]
struct ConnService<S> {
    rpc_svc: S,
    rpc: Rpc,
    shared: Arc<Shared>,
    cred: Option<PeerCred>,
    max_body: u64,
    timeout: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn limit_exceeded(len: impl std::fmt::Display, max_body: u64) -> HttpResponse {
    refusal(
        413,
        AppError::new(
            ErrorKind::LimitExceeded,
            len.to_string(),
            format!(
                "request body is {len} bytes; the limit is {max_body} (server.max_request_bytes)"
            ),
        ),
    )
}

/// A refusal after which the connection is closed (the request's body
/// was not read to its end).
fn closing(mut resp: HttpResponse) -> HttpResponse {
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

/// A 200 answer with the headers jsonrpsee sends.
fn json_response(body: String) -> HttpResponse {
    let mut resp = HttpResponse::new(HttpBody::from(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

impl<S> hyper::service::Service<HttpRequest<hyper::body::Incoming>> for ConnService<S>
where
    S: tower::Service<HttpRequest<HttpBody>, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>,
    >;

    fn call(&self, mut req: HttpRequest<hyper::body::Incoming>) -> Self::Future {
        if let Some(c) = self.cred {
            req.extensions_mut().insert(c);
        }
        let this = self.clone();
        Box::pin(async move {
            if req.method() != http::Method::POST {
                // WebSocket upgrades and everything jsonrpsee refuses.
                let mut svc = this.rpc_svc.clone();
                return tower::Service::call(&mut svc, req.map(HttpBody::new)).await;
            }
            // `curl -d` sends a form content type; the body is JSON-RPC all
            // the same, and DESIGN promises plain `curl -d` works.
            if !is_json(req.headers()) {
                req.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
            }
            let declared = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(len) = declared.filter(|&l| l > this.max_body) {
                return Ok(closing(limit_exceeded(len, this.max_body)));
            }
            let (parts, body) = req.into_parts();
            let limited = http_body_util::Limited::new(body, this.max_body as usize);
            let collected =
                tokio::time::timeout(this.timeout, http_body_util::BodyExt::collect(limited)).await;
            let bytes = match collected {
                Ok(Ok(c)) => c.to_bytes(),
                Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                    let more = format!("more than {}", this.max_body);
                    return Ok(closing(limit_exceeded(more, this.max_body)));
                }
                Ok(Err(e)) => {
                    return Ok(closing(refusal(
                        400,
                        AppError::new(
                            ErrorKind::InvalidParams,
                            "",
                            format!("could not read the request body: {e}"),
                        ),
                    )))
                }
                Err(_) => {
                    let t = this.timeout;
                    return Ok(closing(refusal(
                        408,
                        AppError::new(
                            ErrorKind::LimitExceeded,
                            format!("{t:?}"),
                            format!(
                                "the request body did not arrive within {t:?} (server.client_timeout)"
                            ),
                        ),
                    )));
                }
            };
            if let Ok(raw) = serde_json::from_slice::<&serde_json::value::RawValue>(&bytes) {
                if let Some(r) = crate::fast::refuse(raw) {
                    return Ok(json_response(crate::fast::refusal_doc(&r)));
                }
            }
            if let Some((mut answers, rest)) = crate::fast::split_batch(&bytes) {
                // Calls jsonrpsee would drop are answered here; the rest
                // of the batch goes to it (a batch's answers may come in
                // any order).
                if let Some(rest) = rest {
                    let req = HttpRequest::from_parts(parts, HttpBody::from(rest));
                    let mut svc = this.rpc_svc.clone();
                    let resp = tower::Service::call(&mut svc, req).await?;
                    let body = http_body_util::BodyExt::collect(resp.into_body())
                        .await?
                        .to_bytes();
                    match serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(&body) {
                        Ok(more) => answers.extend(more.iter().map(|r| r.get().to_string())),
                        Err(_) if body.is_empty() => {}
                        Err(_) => answers.push(String::from_utf8_lossy(&body).into_owned()),
                    }
                }
                return Ok(json_response(format!("[{}]", answers.join(","))));
            }
            if let Some(answer) = crate::fast::answer(
                &this.rpc,
                &this.shared.stats,
                &bytes,
                MAX_RESPONSE_BYTES as usize,
            ) {
                return Ok(json_response(answer));
            }
            let req =
                HttpRequest::from_parts(parts, HttpBody::new(http_body_util::Full::new(bytes)));
            let mut svc = this.rpc_svc.clone();
            tower::Service::call(&mut svc, req).await
        })
    }
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish (up to `drain`), and returns.
pub async fn serve(
    listener: UnixListener,
    rpc: Rpc,
    module: RpcModule<()>,
    shared: Arc<Shared>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let cfg = ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_response_body_size(MAX_RESPONSE_BYTES)
        .max_connections(limits.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(stockd_api::limits::MAX_BATCH))
        .max_subscriptions_per_connection(stockd_api::limits::MAX_SUBSCRIPTIONS_PER_CONNECTION)
        .build();
    let mut names: Vec<String> = module.method_names().map(str::to_string).collect();
    names.sort();
    let known = Arc::new(names);
    let stats = shared.stats.clone();
    let recorder = RpcServiceBuilder::new()
        .layer_fn(move |service| Recorder {
            service,
            stats: stats.clone(),
            known: known.clone(),
            max_response_bytes: MAX_RESPONSE_BYTES as usize,
        })
        .layer_fn(|service| crate::params::StrictParams { service });
    let builder = Server::builder()
        .set_config(cfg)
        .set_rpc_middleware(recorder)
        .to_service_builder();
    let (stop_handle, server_handle) = stop_channel();
    let methods: jsonrpsee::Methods = module.into();
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    tokio::pin!(shutdown);
    // The loop beats the heartbeat at least every second, also when idle.
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    loop {
        shared.heartbeat.beat();
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            _ = beat.tick() => continue,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            let limit = limits.max_connections;
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    stream.write_all(&too_many_connections(limit)),
                )
                .await;
            });
            continue;
        };
        let cred = stream.peer_cred().ok().map(|c| PeerCred {
            uid: c.uid(),
            gid: c.gid(),
            pid: c.pid(),
        });
        let rpc_svc = builder.clone().build(methods.clone(), stop_handle.clone());
        let svc = ConnService {
            rpc_svc,
            rpc: rpc.clone(),
            shared: shared.clone(),
            cred,
            max_body: limits.max_request_bytes as u64,
            timeout: limits.client_timeout,
        };
        let stopped = stop_handle.clone().shutdown();
        let timeout = limits.client_timeout;
        tokio::spawn(async move {
            if let Err(e) = crate::conn::serve(stream, svc, timeout, stopped).await {
                tracing::debug!("connection closed: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = server_handle.stop();
    // In-flight connections hold permits; wait for all of them back.
    let all = limits.max_connections;
    if tokio::time::timeout(drain, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {drain:?}; closing them");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's method list and the server's registered methods are
    /// the same set: neither can drift from the other.
    #[test]
    fn served_methods_match_the_contract() {
        let shared = Shared::new(&Config::default());
        let module = rpc_module(Rpc::new(shared));
        let mut served: Vec<&str> = module
            .method_names()
            .filter(|m| *m != "admin.unsubscribe_status")
            .collect();
        served.sort_unstable();
        let mut contract = stockd_api::METHODS.to_vec();
        contract.sort_unstable();
        assert_eq!(served, contract);
    }

    /// Every name the contract lists in `STRICT_PARAMS` is one the method
    /// decodes (a wrong-typed value for it is refused by the decoder), and a
    /// name it does not list is not (the call reaches the handler).
    #[test]
    fn strict_param_names_are_the_ones_decoded() {
        let module = rpc_module(Rpc::new(Shared::new(&Config::default())));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let call = |method: &str, name: &str| {
            let req = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method,
                                         "params": {name: {"wrong": "type"}}});
            let (answer, _) = rt
                .block_on(module.raw_json_request(&req.to_string(), 1))
                .expect("answer");
            let doc: serde_json::Value = serde_json::from_str(answer.get()).expect("JSON");
            doc["error"]["code"].as_i64()
        };
        for (method, names) in stockd_api::STRICT_PARAMS {
            assert!(stockd_api::METHODS.contains(method), "{method}");
            for name in *names {
                assert_eq!(call(method, name), Some(-32602), "{method} {name}");
            }
            // Not a param: decoded as nothing, so the handler answers
            // (no store is loaded here).
            assert_eq!(
                call(method, "not_a_param"),
                Some(ErrorKind::StoreNotLoaded.code() as i64),
                "{method}"
            );
        }
    }

    #[test]
    fn json_documents_are_written_verbatim() {
        #[derive(Serialize)]
        struct Envelope {
            result: Json,
        }
        let j = Json(Arc::from(r#"{"a":[1,2.50,"x"]}"#));
        let out = serde_json::to_string(&Envelope { result: j }).unwrap_or_default();
        // Verbatim: the scale of 2.50 survives.
        assert_eq!(out, r#"{"result":{"a":[1,2.50,"x"]}}"#);
        let raw =
            serde_json::value::to_raw_value(&Json(Arc::from("[1]"))).map(|r| r.get().to_string());
        assert_eq!(raw.ok().as_deref(), Some("[1]"));
    }

    #[test]
    fn curl_form_content_type_is_taken_for_json() {
        let mut h = http::HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&h));
    }
}
