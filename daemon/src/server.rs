//! The JSON-RPC server on a Unix socket: binding (stale-socket removal,
//! file mode), the accept loop with its connection cap, per-connection peer
//! credentials, the request-size gate, and thin handlers that call
//! [`crate::query`] against the store in service.

use crate::admin::{self, Gate};
use crate::config::{Config, MemoryLimit};
use crate::memory;
use crate::query;
use crate::source::PgPool;
use crate::store::Store;
use arc_swap::ArcSwapOption;
use jsonrpsee::core::RpcResult;
use jsonrpsee::server::{
    stop_channel, BatchRequestConfig, HttpBody, HttpRequest, HttpResponse, RpcModule, Server,
    ServerConfig,
};
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::value::RawValue;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use stockd_api::{
    AdminServer, AdminStatus, AppError, ErrorKind, MarketInfo, MarketServer, StockServer,
};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::sync::Semaphore;

/// What every handler shares: the store in service and its state.
pub struct Shared {
    /// `None` until the first load (or snapshot) succeeds.
    pub store: ArcSwapOption<Store>,
    /// The store is older than the source could give (served from a
    /// snapshot, or the source is failing).
    pub stale: AtomicBool,
    /// The `[columns] industry` column, for the `industry` filter.
    pub industry_col: String,
    pub started: Instant,
    /// `demo` or `postgres`.
    pub source_kind: &'static str,
    /// The PostgreSQL pool, when the source is PostgreSQL.
    pub pool: OnceLock<PgPool>,
    /// Whether the last contact with the source worked, and the last error.
    health: Mutex<(bool, Option<String>)>,
    pub memory_budget: u64,
    pub memory_high: f64,
    pub memory_critical: f64,
    pub gate: Gate,
}

impl Shared {
    pub fn new(config: &Config) -> Arc<Shared> {
        let demo = config.source.database_url.is_empty();
        Arc::new(Shared {
            store: ArcSwapOption::empty(),
            stale: AtomicBool::new(false),
            industry_col: config.columns.industry.clone(),
            started: Instant::now(),
            source_kind: if demo { "demo" } else { "postgres" },
            pool: OnceLock::new(),
            health: Mutex::new((demo, None)),
            memory_budget: match config.memory.limit {
                MemoryLimit::Auto => memory::default_budget(),
                MemoryLimit::Bytes(b) => b,
            },
            memory_high: config.memory.high,
            memory_critical: config.memory.critical,
            gate: Gate::new(&config.server.admin_uids, &config.server.admin_groups),
        })
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
        self.health.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
}

/// The connecting process's credentials (SO_PEERCRED), put into every
/// request's extensions for the admin gate.
#[derive(Debug, Clone, Copy)]
pub struct PeerCred {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// The handlers: parse, call [`query`], map errors.
#[derive(Clone)]
pub struct Rpc {
    shared: Arc<Shared>,
}

fn raw(json: String) -> RpcResult<Box<RawValue>> {
    RawValue::from_string(json).map_err(|e| {
        ErrorObjectOwned::owned(-32603, format!("internal error writing the result: {e}"), None::<()>)
    })
}

fn done(r: Result<String, AppError>) -> RpcResult<Box<RawValue>> {
    raw(r?)
}

impl MarketServer for Rpc {
    fn info(&self) -> RpcResult<MarketInfo> {
        let store = self.shared.store()?;
        Ok(query::market_info(
            &store,
            self.shared.stale.load(Ordering::Relaxed),
        ))
    }

    fn dates(&self) -> RpcResult<Vec<String>> {
        Ok(query::market_dates(&*self.shared.store()?))
    }
}

type J = Box<RawValue>;

impl StockServer<J, J, J, J> for Rpc {
    fn get(&self, code: String, date: Option<String>, fields: Option<Vec<String>>) -> RpcResult<J> {
        let store = self.shared.store()?;
        done(query::stock_get(&store, &code, date.as_deref(), fields.as_deref()))
    }

    fn many(
        &self,
        codes: Vec<String>,
        date: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<J> {
        let store = self.shared.store()?;
        done(query::stock_many(&store, &codes, date.as_deref(), fields.as_deref()))
    }

    fn history(
        &self,
        code: String,
        from: Option<String>,
        to: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<J> {
        let store = self.shared.store()?;
        done(query::stock_history(
            &store,
            &code,
            from.as_deref(),
            to.as_deref(),
            fields.as_deref(),
        ))
    }

    fn top(
        &self,
        by: String,
        n: Option<u64>,
        order: Option<String>,
        date: Option<String>,
        industry: Option<String>,
        fields: Option<Vec<String>>,
    ) -> RpcResult<J> {
        let store = self.shared.store()?;
        let p = query::TopParams {
            by: &by,
            n,
            order: order.as_deref(),
            date: date.as_deref(),
            industry: industry.as_deref(),
            fields: fields.as_deref(),
        };
        done(query::stock_top(&store, &p, &self.shared.industry_col))
    }
}

impl AdminServer for Rpc {
    fn status(&self, ext: &http::Extensions) -> RpcResult<AdminStatus> {
        self.shared.gate.check("admin.status", ext)?;
        Ok(admin::status(&self.shared))
    }
}

/// Every method the daemon serves, merged into one module.
pub fn rpc_module(shared: Arc<Shared>) -> RpcModule<()> {
    let rpc = Rpc { shared };
    let mut module = RpcModule::new(());
    // Names are unique by construction (one trait per namespace); a clash
    // would be a programming error caught by the drift test.
    for m in [
        MarketServer::into_rpc(rpc.clone()).remove_context(),
        StockServer::into_rpc(rpc.clone()).remove_context(),
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
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("socket directory {0} does not exist; create it or set server.socket / --socket")]
    NoDirectory(PathBuf),
    #[error("another process is listening on {0}; stop it or choose another --socket")]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("cannot bind {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Binds the socket: removes a stale socket file (one nobody listens on),
/// creates the new one with `mode` and no wider permissions in between.
pub fn bind(path: &Path, mode: u32) -> Result<UnixListener, BindError> {
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
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err)?;
    Ok(listener)
}

/// A JSON-RPC error document with HTTP status, for refusals made before
/// jsonrpsee sees the request.
fn refusal(status: u16, err: AppError) -> HttpResponse {
    let obj: ErrorObjectOwned = err.into();
    let body = serde_json::json!({"jsonrpc": "2.0", "error": obj, "id": null}).to_string();
    let mut resp = HttpResponse::new(HttpBody::from(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
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

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish (up to `drain`), and returns.
pub async fn serve(
    listener: UnixListener,
    module: RpcModule<()>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let cfg = ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_response_body_size(64 << 20)
        .max_connections(limits.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(stockd_api::limits::MAX_BATCH))
        .build();
    let builder = Server::builder().set_config(cfg).to_service_builder();
    let (stop_handle, server_handle) = stop_channel();
    let methods: jsonrpsee::Methods = module.into();
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
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
        let svc = builder.clone().build(methods.clone(), stop_handle.clone());
        let max_body = limits.max_request_bytes as u64;
        let svc = tower::service_fn(move |mut req: HttpRequest<hyper::body::Incoming>| {
            if let Some(c) = cred {
                req.extensions_mut().insert(c);
            }
            let declared = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let mut svc = svc.clone();
            async move {
                if let Some(len) = declared.filter(|&l| l > max_body) {
                    return Ok::<HttpResponse, anyhow::Error>(refusal(
                        413,
                        AppError::new(
                            ErrorKind::LimitExceeded,
                            len.to_string(),
                            format!(
                                "request body is {len} bytes; the limit is {max_body} (server.max_request_bytes)"
                            ),
                        ),
                    ));
                }
                tower::Service::call(&mut svc, req)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))
            }
        });
        let stopped = stop_handle.clone().shutdown();
        tokio::spawn(async move {
            if let Err(e) = jsonrpsee::server::serve_with_graceful_shutdown(stream, svc, stopped).await {
                tracing::debug!("connection closed: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = server_handle.stop();
    // In-flight connections hold permits; wait for all of them back.
    let all = limits.max_connections;
    if tokio::time::timeout(drain, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("connections still open after {drain:?}; closing them");
    }
}
