//! The machine and versions a report was measured on.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Machine {
    pub date_utc: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub mem_total_bytes: u64,
    pub kernel: String,
    pub postgres_version: String,
    pub postgres_shared_buffers: String,
    pub stockd_version: String,
    pub stockd_binary: String,
    pub git_revision: String,
    pub redis_version: String,
    pub rustc_version: String,
    /// /proc/loadavg when the run started (1, 5, 15 min).
    pub load_average: String,
    /// `--baseline`: the binary, its `--version` and the revision of the
    /// checkout it sits in (when it sits in one).
    pub baseline_binary: Option<String>,
    pub baseline_version: Option<String>,
    pub baseline_revision: Option<String>,
}

impl Machine {
    pub fn collect(stockd: &Path, workspace: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let mem_total_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kb| kb * 1024);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let stockd_version =
            run(Command::new(stockd).arg("--version")).unwrap_or_else(|| "unknown".into());
        let git_revision = revision(workspace);
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let rustc_version =
            run(Command::new(rustc).arg("--version")).unwrap_or_else(|| "unknown".into());
        Machine {
            rustc_version,
            date_utc: utc_now(),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            mem_total_bytes,
            kernel,
            stockd_version,
            stockd_binary: stockd.display().to_string(),
            git_revision,
            load_average: std::fs::read_to_string("/proc/loadavg")
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            ..Default::default()
        }
    }
}

impl Machine {
    /// Records the `--baseline` binary.
    pub fn baseline(&mut self, bin: &Path) {
        self.baseline_binary = Some(bin.display().to_string());
        self.baseline_version = run(Command::new(bin).arg("--version"));
        self.baseline_revision = bin.parent().map(revision);
    }
}

/// `git rev-parse --short HEAD` of the checkout holding `dir`, marked when
/// the checkout has uncommitted changes; `unknown` outside one.
fn revision(dir: &Path) -> String {
    let rev = run(Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--short", "HEAD"]));
    let dirty = run(Command::new("git").arg("-C").arg(dir).args([
        "status",
        "--porcelain",
        "--untracked-files=no",
    ]))
    .map(|s| !s.is_empty())
    .unwrap_or(false);
    match rev {
        Some(r) if dirty => format!("{r} (with uncommitted changes)"),
        Some(r) => r,
        None => "unknown".into(),
    }
}

fn run(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `YYYY-MM-DD HH:MM UTC` without a date crate (civil-from-days).
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}
