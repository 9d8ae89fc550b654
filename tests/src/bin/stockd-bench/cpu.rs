//! Who used the CPUs during a measurement: the daemon, the benchmark
//! client, PostgreSQL backends, and everything else — from /proc, so a run
//! disturbed by other work on the machine shows it, and the server's CPU
//! time per request can be compared independently of contention.

use std::collections::HashMap;
use std::time::Instant;

/// Linux's USER_HZ (clock ticks in /proc/<pid>/stat) on every mainstream
/// architecture.
const TICKS_PER_S: f64 = 100.0;

#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    /// pid → (comm, utime + stime ticks)
    procs: HashMap<u32, (String, u64)>,
    /// (busy, total) ticks of all CPUs from /proc/stat.
    machine: (u64, u64),
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CpuUse {
    pub wall_s: f64,
    /// CPU seconds in the interval.
    pub server_s: f64,
    pub client_s: f64,
    pub postgres_s: f64,
    /// Busy time not accounted to the three above (other processes, kernel).
    pub other_s: f64,
    pub machine_busy_s: f64,
    pub machine_capacity_s: f64,
}

fn proc_ticks(pid: &str) -> Option<(String, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let f: Vec<&str> = s[close + 1..].split_whitespace().collect();
    let ut: u64 = f.get(11)?.parse().ok()?;
    let st: u64 = f.get(12)?.parse().ok()?;
    Some((comm, ut + st))
}

fn machine_ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = s.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user)
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

impl Snapshot {
    pub fn take() -> Snapshot {
        let mut procs = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if let Ok(pid) = name.parse::<u32>() {
                    if let Some(p) = proc_ticks(&name) {
                        procs.insert(pid, p);
                    }
                }
            }
        }
        Snapshot {
            at: Instant::now(),
            procs,
            machine: machine_ticks(),
        }
    }

    /// CPU use from `self` to `later`; `server` is the daemon's pid.
    pub fn until(&self, later: &Snapshot, server: u32) -> CpuUse {
        let me = std::process::id();
        let (mut server_t, mut client_t, mut pg_t) = (0u64, 0u64, 0u64);
        for (pid, (comm, t1)) in &later.procs {
            let t0 = self.procs.get(pid).map_or(0, |(_, t)| *t);
            let d = t1.saturating_sub(t0);
            if *pid == server {
                server_t += d;
            } else if *pid == me {
                client_t += d;
            } else if comm == "postgres" {
                pg_t += d;
            }
        }
        let busy = later.machine.0.saturating_sub(self.machine.0) as f64 / TICKS_PER_S;
        let cap = later.machine.1.saturating_sub(self.machine.1) as f64 / TICKS_PER_S;
        let s = |t: u64| t as f64 / TICKS_PER_S;
        CpuUse {
            wall_s: later.at.duration_since(self.at).as_secs_f64(),
            server_s: s(server_t),
            client_s: s(client_t),
            postgres_s: s(pg_t),
            other_s: (busy - s(server_t) - s(client_t) - s(pg_t)).max(0.0),
            machine_busy_s: busy,
            machine_capacity_s: cap,
        }
    }
}
