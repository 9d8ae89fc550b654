//! The memory governor: samples real RSS, the cgroup's usage and PSI memory
//! pressure every second and moves between ok, high and critical with
//! hysteresis. High halves every cache's cap; critical clears the caches,
//! returns freed memory to the OS and makes expensive methods answer
//! "overloaded" until the state drops. Each transition is logged once.

use crate::cache::Caches;
use crate::memory;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// How far below a mark usage must fall before the state steps down, as a
/// fraction of the budget (so a process hovering at a mark does not flap).
pub const HYSTERESIS: f64 = 0.05;
/// PSI "some avg10" (percent of time stalled on memory) that counts as high.
pub const PSI_HIGH: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemState {
    Ok = 0,
    High = 1,
    Critical = 2,
}

impl MemState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemState::Ok => "ok",
            MemState::High => "high",
            MemState::Critical => "critical",
        }
    }

    fn from_u8(v: u8) -> MemState {
        match v {
            2 => MemState::Critical,
            1 => MemState::High,
            _ => MemState::Ok,
        }
    }
}

/// One reading of the process's memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub rss: u64,
    /// PSI "some avg10" in percent, if the kernel exposes it.
    pub psi_some_avg10: Option<f64>,
}

/// The state machine and its thresholds.
pub struct Governor {
    pub budget: u64,
    /// Where the budget came from (`memory.limit`, the cgroup, RAM).
    pub budget_source: String,
    pub high: f64,
    pub critical: f64,
    state: AtomicU8,
}

/// Reads PSI "some avg10" from the cgroup's memory.pressure, else the
/// system's /proc/pressure/memory; `None` where neither exists.
pub fn psi_some_avg10() -> Option<f64> {
    let text = memory::cgroup_file("memory.pressure")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .or_else(|| std::fs::read_to_string("/proc/pressure/memory").ok())?;
    parse_psi(&text)
}

fn parse_psi(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix("avg10="))
        .and_then(|v| v.parse().ok())
}

impl Governor {
    pub fn new(budget: crate::memory::Budget, high: f64, critical: f64) -> Governor {
        Governor {
            budget: budget.bytes,
            budget_source: budget.source,
            high,
            critical,
            state: AtomicU8::new(MemState::Ok as u8),
        }
    }

    pub fn state(&self) -> MemState {
        MemState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// True while expensive requests must be refused.
    pub fn overloaded(&self) -> bool {
        self.state() == MemState::Critical
    }

    /// The state a sample calls for, given the current one.
    pub fn next(&self, current: MemState, s: Sample) -> MemState {
        let used = s.rss as f64 / self.budget.max(1) as f64;
        let psi_high = s.psi_some_avg10.is_some_and(|p| p >= PSI_HIGH);
        let crit_exit = self.critical - HYSTERESIS;
        let high_exit = self.high - HYSTERESIS;
        if used >= self.critical || (current == MemState::Critical && used >= crit_exit) {
            MemState::Critical
        } else if used >= self.high || psi_high || (current >= MemState::High && used >= high_exit)
        {
            MemState::High
        } else {
            MemState::Ok
        }
    }

    /// Applies a sample: moves the state and sheds memory on the way up.
    /// Returns the new state if it changed.
    pub fn apply(&self, s: Sample, caches: &Caches) -> Option<MemState> {
        let current = self.state();
        let next = self.next(current, s);
        if next == current {
            if current == MemState::Critical {
                // Memory freed since entering critical (closed connections,
                // dropped responses) must leave RSS too, or the state never
                // falls back below the mark.
                memory::release_to_os();
            }
            return None;
        }
        self.state.store(next as u8, Ordering::Relaxed);
        let mib = |b: u64| b as f64 / 1048576.0;
        match next {
            MemState::Critical => {
                // A zero limit empties the caches and keeps them empty (no
                // entry fits) until the state steps down.
                let d = caches.throttle_all(0.0);
                memory::release_to_os();
                tracing::error!(
                    "memory critical: rss {:.1} MiB of {:.1} MiB budget ({:.0}%); cleared caches ({} entries, {:.1} MiB), returned memory to the OS, refusing expensive requests",
                    mib(s.rss), mib(self.budget), 100.0 * s.rss as f64 / self.budget as f64, d.entries, mib(d.bytes)
                );
            }
            MemState::High => {
                let d = caches.throttle_all(0.5);
                if current == MemState::Critical {
                    tracing::warn!("memory high (down from critical): rss {:.1} MiB; expensive requests served again, caches at half their caps", mib(s.rss));
                } else {
                    tracing::warn!(
                        "memory high: rss {:.1} MiB of {:.1} MiB budget, psi {:?}; caches shrunk to half their caps ({} entries, {:.1} MiB dropped)",
                        mib(s.rss), mib(self.budget), s.psi_some_avg10, d.entries, mib(d.bytes)
                    );
                }
            }
            MemState::Ok => {
                caches.throttle_all(1.0);
                tracing::info!(
                    "memory ok: rss {:.1} MiB; caches back to their full caps",
                    mib(s.rss)
                );
            }
        }
        Some(next)
    }

    /// Takes one sample and applies it.
    pub fn tick(&self, caches: &Caches) {
        let Some((rss, _)) = memory::rss() else {
            return;
        };
        self.apply(
            Sample {
                rss,
                psi_some_avg10: psi_some_avg10(),
            },
            caches,
        );
    }
}

/// Runs the governor on its own thread (`stockd-memory`), sampling every
/// `every` for as long as the process lives: the /proc and cgroup reads,
/// dropping cache entries and returning memory to the OS never hold an
/// async worker. `parts` finds the governor and the caches in `owner`.
pub fn spawn_thread<T: Send + Sync + 'static>(
    owner: std::sync::Arc<T>,
    every: Duration,
    parts: fn(&T) -> (&Governor, &Caches),
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("stockd-memory".into())
        .spawn(move || {
            let mut next = std::time::Instant::now() + every;
            loop {
                std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
                next = std::time::Instant::now() + every;
                let (governor, caches) = parts(&owner);
                governor.tick(caches);
            }
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CachesConfig;

    fn budget(bytes: u64) -> crate::memory::Budget {
        crate::memory::Budget {
            bytes,
            source: "test".into(),
        }
    }

    fn sample(rss: u64) -> Sample {
        Sample {
            rss,
            psi_some_avg10: None,
        }
    }

    #[test]
    fn moves_with_hysteresis() {
        let g = Governor::new(budget(1000), 0.80, 0.95);
        let caches = Caches::new(&CachesConfig::default());
        assert_eq!(g.apply(sample(700), &caches), None);
        assert_eq!(g.apply(sample(800), &caches), Some(MemState::High));
        // 0.78 is inside the hysteresis band: stays high.
        assert_eq!(g.apply(sample(780), &caches), None);
        assert_eq!(g.apply(sample(960), &caches), Some(MemState::Critical));
        assert!(g.overloaded());
        assert_eq!(g.apply(sample(910), &caches), None);
        assert_eq!(g.apply(sample(880), &caches), Some(MemState::High));
        assert!(!g.overloaded());
        assert_eq!(g.apply(sample(740), &caches), Some(MemState::Ok));
    }

    #[test]
    fn psi_alone_makes_it_high() {
        let g = Governor::new(budget(1000), 0.80, 0.95);
        let s = Sample {
            rss: 100,
            psi_some_avg10: Some(12.5),
        };
        assert_eq!(g.next(MemState::Ok, s), MemState::High);
        let text = "some avg10=12.50 avg60=3.00 avg300=1.00 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_psi(text), Some(12.5));
        assert_eq!(parse_psi("garbage"), None);
    }
}
