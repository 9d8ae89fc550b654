//! The application state every part shares: the store in service and its
//! generation swap, the caches, the memory governor, the request
//! statistics, the admin gate and the source's health. Transport, rpc and
//! handlers read it; the source and systemd tasks update it. It imports
//! none of them.

pub mod gate;
pub mod metrics;
pub mod reload;
pub mod status;

pub use gate::{Gate, PeerCred};

use crate::cache::Caches;
use crate::config::Config;
use crate::governor::Governor;
use crate::memory;
use crate::stats::RequestStats;
use crate::store::Store;
use arc_swap::ArcSwapOption;
use reload::ReloadRequest;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use stockd_api::{AppError, ErrorKind, PoolStatus};
use tokio::sync::mpsc;

/// The figures of the source's connection pool, for `admin.status` and
/// the STATUS line (implemented by the PostgreSQL source).
pub trait PoolFigures: Send + Sync {
    fn figures(&self) -> PoolStatus;
}

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
    /// The PostgreSQL pool's figures, when the source is PostgreSQL.
    pub pool: OnceLock<Box<dyn PoolFigures>>,
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
    /// The pending (not yet complete) date (days since 2000-01-01) and why,
    /// as the refresh task last saw it (`market.info` `pending`).
    pub pending: Mutex<Option<(i32, stockd_api::PendingDay)>>,
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
            stats: Arc::new(RequestStats::new(
                &stockd_api::METHODS
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>(),
            )),
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
    pub fn refuse_if_overloaded(&self, method: &str) -> Result<(), AppError> {
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
