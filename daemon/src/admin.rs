//! The admin side: who may call it (peer credentials against root, the
//! daemon's own uid, `admin_uids` and `admin_groups`), and `admin.status`
//! assembled from the store, /proc, the pool and the source's health.

use crate::memory;
use crate::server::{PeerCred, Shared};
use crate::store::time;
use stockd_api::{
    AdminStatus, AppError, ErrorKind, MemoryStatus, PoolStatus, SourceStatus, StoreStatus,
    SystemdStatus,
};

/// An admin group resolved at start-up.
#[derive(Debug, Clone)]
struct AdminGroup {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Decides whether a peer may call admin methods.
#[derive(Debug, Clone)]
pub struct Gate {
    own_uid: u32,
    uids: Vec<u32>,
    groups: Vec<AdminGroup>,
}

impl Gate {
    /// Resolves `admin_groups` by name; a group that does not exist is
    /// logged and ignored (it cannot admit anyone).
    pub fn new(admin_uids: &[u32], admin_groups: &[String]) -> Gate {
        let groups = admin_groups
            .iter()
            .filter_map(|name| match nix::unistd::Group::from_name(name) {
                Ok(Some(g)) => Some(AdminGroup {
                    name: name.clone(),
                    gid: g.gid.as_raw(),
                    members: g.mem,
                }),
                Ok(None) => {
                    tracing::info!("admin group '{name}' does not exist on this system; ignored");
                    None
                }
                Err(e) => {
                    tracing::warn!("cannot look up admin group '{name}': {e}");
                    None
                }
            })
            .collect();
        Gate {
            own_uid: nix::unistd::geteuid().as_raw(),
            uids: admin_uids.to_vec(),
            groups,
        }
    }

    fn admits(&self, peer: &PeerCred) -> bool {
        if peer.uid == 0 || peer.uid == self.own_uid || self.uids.contains(&peer.uid) {
            return true;
        }
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(peer.uid))
            .ok()
            .flatten()
            .map(|u| u.name);
        self.groups.iter().any(|g| {
            g.gid == peer.gid
                || user
                    .as_ref()
                    .is_some_and(|u| g.members.iter().any(|m| m == u))
        })
    }

    /// `Ok` if the caller may run `method`, else "forbidden" naming the rule.
    pub fn check(&self, method: &str, ext: &http::Extensions) -> Result<(), AppError> {
        let peer = ext.get::<PeerCred>();
        if peer.is_some_and(|p| self.admits(p)) {
            return Ok(());
        }
        let who = peer.map_or("an unidentified peer".to_string(), |p| {
            format!("uid {} gid {}", p.uid, p.gid)
        });
        let groups: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        Err(AppError::new(
            ErrorKind::Forbidden,
            method,
            format!(
                "{method} is an admin method and the caller ({who}) is not allowed: admin methods \
                 are open to root, the daemon's uid ({}), server.admin_uids {:?} and members of \
                 server.admin_groups {:?}",
                self.own_uid, self.uids, groups
            ),
        ))
    }
}

fn counter(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(std::sync::atomic::Ordering::Relaxed)
}

/// `admin.status`.
pub fn status(shared: &Shared) -> AdminStatus {
    let store = shared.store.load_full();
    let stale = shared.stale.load(std::sync::atomic::Ordering::Relaxed);
    let store = match store.as_deref() {
        Some(s) => {
            let since = s
                .info
                .loaded_at
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let bytes = s.heap_bytes() as u64;
            StoreStatus {
                loaded: true,
                rows: s.rows() as u64,
                dates: s.dates().len() as u64,
                stocks: s.stocks() as u64,
                columns: s.specs().len() as u64,
                bytes,
                bytes_per_row: if s.rows() == 0 {
                    0.0
                } else {
                    (bytes as f64 / s.rows() as f64 * 10.0).round() / 10.0
                },
                generation: s.info.generation,
                loaded_at: Some(time::rfc3339_from_unix(
                    since.as_secs() as i64,
                    since.subsec_micros(),
                )),
                load_ms: s.info.load_ms,
                stale,
            }
        }
        None => StoreStatus {
            loaded: false,
            rows: 0,
            dates: 0,
            stocks: 0,
            columns: 0,
            bytes: 0,
            bytes_per_row: 0.0,
            generation: 0,
            loaded_at: None,
            load_ms: 0,
            stale,
        },
    };
    let (rss, peak) = memory::rss().unwrap_or((0, 0));
    let pool = shared.pool.get().map_or_else(PoolStatus::default, |p| {
        let st = p.state();
        PoolStatus {
            max_size: p.config().max_size,
            size: st.connections,
            idle: st.idle_connections,
            in_use: st.connections.saturating_sub(st.idle_connections),
            waits: st.statistics.get_waited,
            timeouts: st.statistics.get_timed_out,
            errors: st.statistics.connections_closed_broken
                + st.statistics.connections_closed_invalid,
        }
    });
    let health = shared.health();
    AdminStatus {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_s: shared.started.elapsed().as_secs(),
        store,
        memory: MemoryStatus {
            rss_bytes: rss,
            peak_rss_bytes: peak,
            limit_bytes: shared.governor.budget,
            cgroup_limit_bytes: memory::cgroup_limit(),
            cgroup_usage_bytes: memory::cgroup_usage(),
            psi_some_avg10: crate::governor::psi_some_avg10(),
            high_mark: shared.governor.high,
            critical_mark: shared.governor.critical,
            state: shared.governor.state().as_str().to_string(),
        },
        pool,
        caches: shared.caches.all().iter().map(|c| c.status()).collect(),
        requests: shared.stats.status(),
        source: SourceStatus {
            kind: shared.source_kind.to_string(),
            healthy: health.0,
            last_error: health.1,
            load_failures: counter(&crate::source::COUNTERS.load_failures),
            lock_timeouts: counter(&crate::source::COUNTERS.lock_timeouts),
            retries: counter(&crate::source::COUNTERS.retries),
            coalesced: counter(&crate::source::COUNTERS.coalesced),
        },
        systemd: SystemdStatus {
            notify: crate::systemd::under_service_manager(),
            watchdog_interval_ms: crate::systemd::watchdog_interval().map(|d| d.as_millis() as u64),
            watchdog_pings: crate::systemd::watchdog_pings(),
            last_watchdog_ping: crate::systemd::last_watchdog_ping().map(|t| {
                let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                time::rfc3339_from_unix(since.as_secs() as i64, since.subsec_micros())
            }),
        },
    }
}
