//! Reading another process's memory figures from /proc, so tests check the
//! daemon's RSS themselves rather than trust what it reports.

use anyhow::{Context, Result};

/// A `kB` field of /proc/<pid>/status (e.g. `VmRSS`, `VmHWM`), in bytes.
pub fn status_field(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .with_context(|| format!("{path} has no {field} line"))
}

/// The resident set size (VmRSS) of `pid`, in bytes.
pub fn vm_rss(pid: u32) -> Result<u64> {
    status_field(pid, "VmRSS")
}

/// Bytes as MiB with one decimal, for messages.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}
