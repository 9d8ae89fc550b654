//! Results: the machine-readable document (`results.json`) and the
//! markdown report (`report.md`) rendered from it.

use std::fmt::Write as _;

use serde_json::Value;

use crate::daemon::ProcMem;
use crate::diag::DecodeCost;
use crate::load::LoadResult;
use crate::machine::Machine;
use crate::ops::Op;
use crate::prepare::{DataSet, NaturalWidth};
use crate::redis::RedisLoad;
use crate::runner::OpStats;
use crate::scale::Scale;
use crate::target::Decode;

#[derive(Debug, Clone, serde::Serialize)]
pub struct MemoryResult {
    pub rows: u64,
    pub store_bytes: Option<u64>,
    /// `admin.status` or `log` (the "store loaded" line's store_mib, ±0.05 MiB).
    pub store_bytes_source: &'static str,
    pub store_bytes_per_row: Option<f64>,
    pub natural_bytes_per_row: f64,
    pub after_load: Option<ProcMem>,
    pub after_run: Option<ProcMem>,
    /// RSS as admin.status reports it (for comparison with /proc).
    pub admin_rss_bytes: Option<u64>,
    /// PostgreSQL: pg_total_relation_size of the table (heap, TOAST, indexes).
    pub pg_total_bytes: i64,
    /// Redis `used_memory` after loading, and minus the figure before.
    pub redis_used_memory: Option<u64>,
    pub redis_used_memory_delta: Option<u64>,
    /// `admin.status` after the last load: every column's layout, bytes
    /// and bits per value, and the indexes' bytes.
    pub columns: Vec<stockd_api::ColumnMemory>,
    pub index_bytes: Option<u64>,
}

/// The `--baseline` binary's one load of the same rows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BaselineLoad {
    pub wall_ready_ms: f64,
    pub load_ms: Option<u64>,
    /// load_ms / the scale's best COPY drain.
    pub ratio: Option<f64>,
    pub after_load: Option<ProcMem>,
    pub store_bytes: Option<u64>,
    pub store_bytes_per_row: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WarmRestart {
    /// Spawn → first market.info with rows, served from the snapshot.
    pub first_answer_ms: f64,
    pub snapshot_bytes: u64,
    /// market.info `source.stale` of that first answer.
    pub served_stale: Option<bool>,
    pub rows: u64,
    pub rss_bytes: Option<u64>,
}

/// One new trading day added to the table while a daemon (holding the
/// whole table, `window_days = 0`) serves it, then a full `store.reload`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RefreshResult {
    /// The rows added (the last day's, one day later).
    pub new_rows: u64,
    pub rss_before: u64,
    /// NOTIFY → `market.info` names the new date as the last.
    pub served_ms: f64,
    /// Highest RSS sampled every 5 ms from the NOTIFY until served, and
    /// VmHWM (reset before the NOTIFY through /proc/PID/clear_refs).
    pub peak_rss_sampled: u64,
    pub peak_rss_hwm: Option<u64>,
    /// `admin.status` `store.read_kind`, `read_rows`, `read_dates` after it.
    pub read_kind: String,
    pub read_rows: u64,
    pub read_dates: u64,
    /// The same daemon's full `store.reload` right after, for comparison.
    pub full_ms: f64,
    pub full_peak_rss_sampled: u64,
    pub full_peak_rss_hwm: Option<u64>,
    /// The same new day for a daemon whose window moves.
    pub window: Option<WindowRefresh>,
}

/// A new day for a daemon with a window of as many days as the table
/// holds: the oldest date leaves as the new one comes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WindowRefresh {
    pub window_days: u32,
    pub new_rows: u64,
    pub rss_before: u64,
    pub served_ms: f64,
    /// Peak RSS (the higher of the sampled and VmHWM readings) over before.
    pub peak_over: u64,
    pub read_kind: String,
    pub read_rows: u64,
    pub read_dates: u64,
    pub dropped_dates: u64,
    pub retired_rows: u64,
    pub rows_after: u64,
    pub first_before: String,
    pub first_after: String,
}

impl RefreshResult {
    /// Bytes of the new day's RSS peak (the higher of the two readings)
    /// over the RSS before it.
    pub fn refresh_over(&self) -> u64 {
        self.peak_rss_sampled
            .max(self.peak_rss_hwm.unwrap_or(0))
            .saturating_sub(self.rss_before)
    }

    /// The same for the full reload.
    pub fn full_over(&self) -> u64 {
        self.full_peak_rss_sampled
            .max(self.full_peak_rss_hwm.unwrap_or(0))
            .saturating_sub(self.rss_before)
    }
}

/// Everything measured at one scale.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScaleResult {
    pub scale: Scale,
    pub data: DataSet,
    pub natural_width: NaturalWidth,
    pub load: LoadResult,
    pub baseline: Option<BaselineLoad>,
    pub warm: Option<WarmRestart>,
    pub refresh: Option<RefreshResult>,
    pub memory: MemoryResult,
    pub redis_load: Option<RedisLoad>,
    pub ops: Vec<OpStats>,
    pub decode_costs: Vec<DecodeCost>,
    pub server_requests: Option<Value>,
    pub server_caches: Option<Value>,
    pub sanity: Vec<String>,
    pub lossless: crate::lossless::Lossless,
    pub plans: Vec<(String, Vec<String>)>,
    pub warnings: Vec<String>,
}

impl ScaleResult {
    pub fn stats(&self, op: Op, target: &str, clients: usize) -> Option<&OpStats> {
        self.ops
            .iter()
            .find(|s| s.op == op && s.target == target && s.clients == clients)
    }
}

/// A least-squares line y = fixed + per_row × rows over the scales.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fit {
    pub name: String,
    pub unit: &'static str,
    pub per_row: f64,
    pub fixed: f64,
    pub r2: f64,
    pub points: Vec<(u64, f64)>,
}

fn fit(name: &str, unit: &'static str, points: Vec<(u64, f64)>) -> Option<Fit> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0 as f64).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 as f64 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 as f64 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let b = sxy / sxx;
    let a = my - b * mx;
    let ss_tot: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    let ss_res: f64 = points
        .iter()
        .map(|p| (p.1 - (a + b * p.0 as f64)).powi(2))
        .sum();
    Some(Fit {
        name: name.to_string(),
        unit,
        per_row: b,
        fixed: a,
        r2: if ss_tot == 0.0 {
            1.0
        } else {
            1.0 - ss_res / ss_tot
        },
        points,
    })
}

/// Per-row load time and memory, fitted over the scales measured.
pub fn fits(scales: &[ScaleResult]) -> Vec<Fit> {
    let pts = |f: &dyn Fn(&ScaleResult) -> Option<f64>| -> Vec<(u64, f64)> {
        scales
            .iter()
            .filter(|s| !s.scale.memory_only())
            .filter_map(|s| f(s).map(|y| (s.data.rows, y)))
            .collect()
    };
    let mut out = Vec::new();
    type Getter = Box<dyn Fn(&ScaleResult) -> Option<f64>>;
    let all: [(&str, &'static str, Getter); 8] = [
        (
            "stockd cold load (load_ms)",
            "ms",
            Box::new(|s| s.load.best_load_ms.map(|v| v as f64)),
        ),
        (
            "binary COPY drain",
            "ms",
            Box::new(|s| Some(s.load.best_drain_ms)),
        ),
        (
            "stockd warm restart to first answer",
            "ms",
            Box::new(|s| s.warm.as_ref().map(|w| w.first_answer_ms)),
        ),
        (
            "Redis load (pipelined HSET/ZADD/SADD)",
            "ms",
            Box::new(|s| s.redis_load.as_ref().map(|r| r.load_ms)),
        ),
        (
            "stockd store bytes",
            "B",
            Box::new(|s| s.memory.store_bytes.map(|b| b as f64)),
        ),
        (
            "stockd RSS after load",
            "B",
            Box::new(|s| s.memory.after_load.map(|m| m.rss_bytes as f64)),
        ),
        (
            "Redis used_memory for the rows",
            "B",
            Box::new(|s| s.memory.redis_used_memory_delta.map(|b| b as f64)),
        ),
        (
            "PostgreSQL total relation size",
            "B",
            Box::new(|s| Some(s.memory.pg_total_bytes as f64)),
        ),
    ];
    for (name, unit, f) in all.iter() {
        if let Some(x) = fit(name, unit, pts(f.as_ref())) {
            out.push(x);
        }
    }
    out
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub measured: Option<f64>,
    pub goal: Goal,
    pub unit: &'static str,
    pub met: Option<bool>,
    /// e.g. "met, 21% under the limit".
    pub verdict: String,
}

impl Check {
    pub fn new(
        name: impl Into<String>,
        measured: Option<f64>,
        goal: Goal,
        unit: &'static str,
    ) -> Check {
        let (met, verdict) = match (measured, goal) {
            (None, _) => (None, "not measured".to_string()),
            (Some(m), _) if m.is_nan() => (None, "not measured".to_string()),
            (Some(m), Goal::AtMost(0.0)) if m <= 0.0 => (Some(true), "**met**".to_string()),
            (Some(_), Goal::AtMost(0.0)) => (Some(false), "**missed**".to_string()),
            (Some(m), Goal::AtMost(g)) if m <= g => (
                Some(true),
                format!("**met**, {:.0}% under the limit", (g - m) / g * 100.0),
            ),
            (Some(m), Goal::AtMost(g)) => (
                Some(false),
                format!("**missed**, {:.0}% over the limit", (m - g) / g * 100.0),
            ),
            (Some(m), Goal::AtLeast(g)) if m >= g => (
                Some(true),
                format!("**met**, {:.0}% above the goal", (m - g) / g * 100.0),
            ),
            (Some(m), Goal::AtLeast(g)) => (
                Some(false),
                format!("**missed**, {:.0}% short of the goal", (g - m) / g * 100.0),
            ),
        };
        Check {
            name: name.into(),
            measured,
            goal,
            unit,
            met,
            verdict,
        }
    }

    fn fmt_value(&self, v: f64) -> String {
        match self.unit {
            "×" => format!("{v:.2}×"),
            "B" => format!("{v:.0} B"),
            "MiB" => format!("{v:.1} MiB"),
            "µs" => format!("{v:.0} µs"),
            "rows" => format!("{v:.0} rows"),
            u => format!("{v:.2} {u}"),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Results {
    pub command: String,
    pub machine: Machine,
    pub concurrency: Vec<usize>,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub client_decode: Decode,
    /// Redis address and db, if measured.
    pub redis: Option<String>,
    pub scales: Vec<ScaleResult>,
    pub fits: Vec<Fit>,
    pub checks: Vec<Check>,
    /// Chart files written beside the report.
    pub charts: Vec<String>,
    pub chart_note: Option<String>,
    pub notes: Vec<String>,
    /// Wall time of the whole run.
    pub total_s: f64,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    let mut left = match s.len() % 3 {
        0 => 3,
        r => r,
    };
    for c in s.chars() {
        if left == 0 {
            out.push(',');
            left = 3;
        }
        out.push(c);
        left -= 1;
    }
    out
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1_048_576.0)
}

fn us(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 10_000.0 {
        format!("{:.1} ms", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.0} ms"))
}

fn opt_mib(v: Option<u64>) -> String {
    v.map_or("–".into(), mib)
}

/// `per_row` of a fit in readable units.
fn per_row(f: &Fit) -> String {
    match f.unit {
        "ms" => format!("{:.2} µs/row", f.per_row * 1000.0),
        "B" => format!("{:.0} B/row", f.per_row),
        u => format!("{:.3} {u}/row", f.per_row),
    }
}

fn fixed(f: &Fit) -> String {
    match f.unit {
        "ms" => format!("{:.0} ms", f.fixed),
        "B" => format!("{:.1} MiB", f.fixed / 1_048_576.0),
        u => format!("{:.1} {u}", f.fixed),
    }
}

pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let names: Vec<String> = r.scales.iter().map(|x| x.scale.to_string()).collect();
    let _ = writeln!(
        s,
        "# stockd benchmark — stockd vs PostgreSQL vs Redis ({})\n",
        names.join(", ")
    );
    let _ = writeln!(s, "- **Date**: {}", m.date_utc);
    let _ = writeln!(
        s,
        "- **Machine**: {} CPUs ({}), {:.1} GiB RAM, Linux {}; load average at start {}",
        m.cpus,
        m.cpu_model,
        m.mem_total_bytes as f64 / 1_073_741_824.0,
        m.kernel,
        m.load_average
    );
    let _ = writeln!(
        s,
        "- **PostgreSQL**: {} (shared_buffers {}), TCP 127.0.0.1 · **Redis**: {} · **rustc**: {}",
        m.postgres_version,
        m.postgres_shared_buffers,
        match &r.redis {
            Some(a) => format!("{} ({a})", m.redis_version),
            None => "not measured (--no-redis)".into(),
        },
        m.rustc_version
    );
    let _ = writeln!(
        s,
        "- **stockd**: {} (git {}), `{}`",
        m.stockd_version, m.git_revision, m.stockd_binary
    );
    if let Some(b) = &m.baseline_binary {
        let _ = writeln!(
            s,
            "- **Baseline** (`--baseline`): {} (git {}), `{b}`",
            m.baseline_version.as_deref().unwrap_or("?"),
            m.baseline_revision.as_deref().unwrap_or("unknown")
        );
    }
    let _ = writeln!(s, "- **Command**: `{}`", r.command);
    let _ = writeln!(
        s,
        "- **Run**: concurrency {}, {} s warm-up + {} s recorded per operation × concurrency × target; whole run {:.1} min",
        r.concurrency
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join("/"),
        r.warmup_s,
        r.duration_s,
        r.total_s / 60.0
    );
    for x in &r.scales {
        let d = &x.data;
        let _ = writeln!(
            s,
            "- **{}**: `{}`: {} rows × {} columns ({}); content hash `{}`, {}",
            d.scale,
            d.table,
            thousands(d.rows),
            d.columns.len(),
            d.params,
            d.content_hash,
            if d.generated {
                format!(
                    "generated this run in {:.1} s",
                    d.generate_ms.unwrap_or(0) as f64 / 1000.0
                )
            } else {
                "reused from an earlier run".to_string()
            }
        );
    }
    s.push('\n');

    let _ = writeln!(s, "## Targets (issues 2, 6, #13 and #14)\n");
    let _ = writeln!(s, "| target | measured | goal | result |");
    let _ = writeln!(s, "|---|---:|---:|---|");
    for c in &r.checks {
        let goal = match c.goal {
            Goal::AtMost(g) => format!("≤ {}", c.fmt_value(g)),
            Goal::AtLeast(g) => format!("≥ {}", c.fmt_value(g)),
        };
        let measured = c.measured.map_or("–".into(), |v| c.fmt_value(v));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            c.name, measured, goal, c.verdict
        );
    }
    let met = r.checks.iter().filter(|c| c.met == Some(true)).count();
    let _ = writeln!(s, "\n{met} of {} targets met.\n", r.checks.len());
    if r.client_decode == Decode::None {
        let _ = writeln!(
            s,
            "**Diagnostic run (`--decode none`)**: stockd and PostgreSQL clients read answers without decoding \
             them; the targets are defined with full decoding.\n"
        );
    }
    if !r.charts.is_empty() {
        let _ = writeln!(s, "## Charts\n");
        for c in &r.charts {
            let _ = writeln!(s, "![{c}]({c})\n");
        }
    } else if let Some(n) = &r.chart_note {
        let _ = writeln!(s, "**Charts**: {n}\n");
    }

    // Cost growth.
    let _ = writeln!(s, "## Cost as the data grows\n");
    let _ = writeln!(
        s,
        "| scale | rows | stockd load_ms | COPY drain | load / drain | ready (spawn → answer) | warm restart → first answer | snapshot | Redis load |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for x in &r.scales {
        let l = &x.load;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} ms | {} | {:.0} ms | {} | {} | {} |",
            x.scale,
            thousands(x.data.rows),
            l.best_load_ms.map_or("–".into(), |v| format!("{v} ms")),
            l.best_drain_ms,
            l.ratio.map_or("–".into(), |v| format!("{v:.2}×")),
            l.best_wall_ready_ms,
            opt_ms(x.warm.as_ref().map(|w| w.first_answer_ms)),
            opt_mib(x.warm.as_ref().map(|w| w.snapshot_bytes)),
            opt_ms(x.redis_load.as_ref().map(|w| w.load_ms)),
        );
    }
    let _ = writeln!(s);
    if r.scales.iter().any(|x| x.refresh.is_some()) {
        let _ = writeln!(
            s,
            "Refresh of one new trading day (the last day's rows again, one day later; a daemon holding the whole table, `window_days = 0`; NOTIFY → the new date served), then a full `store.reload` of the same daemon:\n"
        );
        let _ = writeln!(
            s,
            "| scale | rows added | read (kind, rows, dates) | NOTIFY → served | RSS before | peak RSS (sampled / VmHWM) | peak − before | full reload | its peak − before |"
        );
        let _ = writeln!(s, "|---|---:|---|---:|---:|---:|---:|---:|---:|");
        for x in &r.scales {
            let Some(f) = &x.refresh else { continue };
            let _ = writeln!(
                s,
                "| {} | {} | {}, {}, {} | {:.0} ms | {} | {} / {} | {} | {:.0} ms | {} |",
                x.scale,
                thousands(f.new_rows),
                f.read_kind,
                thousands(f.read_rows),
                f.read_dates,
                f.served_ms,
                mib(f.rss_before),
                mib(f.peak_rss_sampled),
                opt_mib(f.peak_rss_hwm),
                mib(f.refresh_over()),
                f.full_ms,
                mib(f.full_over()),
            );
        }
        let _ = writeln!(s);
        if r.scales
            .iter()
            .any(|x| x.refresh.as_ref().is_some_and(|f| f.window.is_some()))
        {
            let _ = writeln!(
                s,
                "The same new day for a daemon whose window (`window_days`) holds as many days as the table: the oldest date leaves the new generation, its rows retired in the shared buffers until a full load:\n"
            );
            let _ = writeln!(
                s,
                "| scale | window | read (kind, rows, dates) | dates dropped | first date before → after | rows held after | rows retired | NOTIFY → served | RSS before | peak − before |"
            );
            let _ = writeln!(s, "|---|---:|---|---:|---|---:|---:|---:|---:|---:|");
            for x in &r.scales {
                let Some(w) = x.refresh.as_ref().and_then(|f| f.window.as_ref()) else {
                    continue;
                };
                let _ = writeln!(
                    s,
                    "| {} | {} days | {}, {}, {} | {} | {} → {} | {} | {} | {:.0} ms | {} | {} |",
                    x.scale,
                    w.window_days,
                    w.read_kind,
                    thousands(w.read_rows),
                    w.read_dates,
                    w.dropped_dates,
                    w.first_before,
                    w.first_after,
                    thousands(w.rows_after),
                    thousands(w.retired_rows),
                    w.served_ms,
                    mib(w.rss_before),
                    mib(w.peak_over),
                );
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(
        s,
        "| scale | stockd store | bytes/row | RSS after load | RSS after mixed run | Redis used_memory (rows / total) | PostgreSQL table + indexes | stockd RSS / Redis | store / Redis |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for x in &r.scales {
        let mm = &x.memory;
        let rss = mm.after_load.map(|p| p.rss_bytes as f64);
        let redis = mm.redis_used_memory_delta.map(|b| b as f64);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} / {} | {} | {} | {} |",
            x.scale,
            opt_mib(mm.store_bytes),
            mm.store_bytes_per_row
                .map_or("–".into(), |b| format!("{b:.0} B")),
            opt_mib(mm.after_load.map(|p| p.rss_bytes)),
            opt_mib(mm.after_run.map(|p| p.rss_bytes)),
            opt_mib(mm.redis_used_memory_delta),
            opt_mib(mm.redis_used_memory),
            mib(mm.pg_total_bytes.max(0) as u64),
            ratio(rss, redis),
            ratio(mm.store_bytes.map(|b| b as f64), redis),
        );
    }
    if !r.fits.is_empty() {
        let _ = writeln!(
            s,
            "\nLeast-squares fits over the scales (y = fixed + per-row × rows; R² = 1 means exactly linear):\n"
        );
        let _ = writeln!(
            s,
            "| figure | per row | fixed | R² | points (rows → value) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---|");
        for f in &r.fits {
            let pts = f
                .points
                .iter()
                .map(|(x, y)| match f.unit {
                    "B" => format!("{} → {:.1} MiB", thousands(*x), y / 1_048_576.0),
                    _ => format!("{} → {y:.0} {}", thousands(*x), f.unit),
                })
                .collect::<Vec<_>>()
                .join("; ");
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.4} | {pts} |",
                f.name,
                per_row(f),
                fixed(f),
                f.r2
            );
        }
    }
    column_bits(&mut s, &r.scales);
    let served: Vec<&ScaleResult> = r.scales.iter().filter(|x| !x.ops.is_empty()).collect();
    if served.len() >= 2 {
        let names: Vec<String> = served.iter().map(|x| x.scale.to_string()).collect();
        let _ = writeln!(s, "\n`stock.get` (all columns) p50 by scale, µs:\n");
        let _ = writeln!(
            s,
            "| clients | target | {} | max / min |",
            names.join(" | ")
        );
        let _ = writeln!(s, "|---|---|{}---:|", "---:|".repeat(served.len()));
        for &c in &r.concurrency {
            for t in ["stockd", "postgres", "redis"] {
                let v: Vec<Option<f64>> = served
                    .iter()
                    .map(|x| x.stats(Op::StockGet, t, c).map(|st| st.p50_us))
                    .collect();
                if v.iter().all(Option::is_none) {
                    continue;
                }
                let vals: Vec<f64> = v.iter().flatten().copied().collect();
                let max = vals.iter().copied().fold(f64::MIN, f64::max);
                let min = vals.iter().copied().fold(f64::MAX, f64::min);
                let _ = writeln!(
                    s,
                    "| {c} | {t} | {} | {:.2}× |",
                    v.iter()
                        .map(|x| x.map_or("–".into(), us))
                        .collect::<Vec<_>>()
                        .join(" | "),
                    max / min
                );
            }
        }
    }
    s.push('\n');

    for x in &r.scales {
        scale_section(&mut s, r, x);
    }

    let _ = writeln!(s, "## How it was measured\n");
    for n in &r.notes {
        let _ = writeln!(s, "- {n}");
    }
    if let Some(x) = r.scales.iter().rev().find(|x| !x.plans.is_empty()) {
        let _ = writeln!(s, "\nIndexes on `{}`:\n", x.data.table);
        for i in &x.data.indexes {
            let _ = writeln!(s, "- `{i}`");
        }
        for (name, plan) in &x.plans {
            let _ = writeln!(
                s,
                "\nPostgreSQL plan for {name} ({} scale):\n\n```\n{}\n```",
                x.scale,
                plan.join("\n")
            );
        }
    }
    s
}

/// Issue #13: every column's bits per value and layout, one column per
/// data set, and where the rest of the store goes.
fn column_bits(s: &mut String, scales: &[ScaleResult]) {
    let with: Vec<&ScaleResult> = scales
        .iter()
        .filter(|x| !x.memory.columns.is_empty())
        .collect();
    let Some(first) = with.first() else { return };
    let names: Vec<String> = with.iter().map(|x| x.scale.to_string()).collect();
    let _ = writeln!(
        s,
        "\nBits per value of every column after the load (`admin.status` `column_bytes`: values and null bitmap × 8 / rows; the layout where it differs from the first data set's):\n"
    );
    let _ = writeln!(s, "| column | type | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|---|{}", "---:|".repeat(with.len()));
    for (i, c) in first.memory.columns.iter().enumerate() {
        let cells: Vec<String> = with
            .iter()
            .map(|x| match x.memory.columns.get(i) {
                Some(o) if o.name == c.name && o.layout == c.layout => {
                    format!("{:.1}", o.bits_per_value)
                }
                Some(o) if o.name == c.name => format!("{:.1} ({})", o.bits_per_value, o.layout),
                _ => "–".into(),
            })
            .collect();
        let _ = writeln!(
            s,
            "| `{}` | {} ({}) | {} |",
            c.name,
            c.pg_type,
            c.layout,
            cells.join(" | ")
        );
    }
    let per_row = |x: &ScaleResult, bytes: u64| bytes as f64 / x.data.rows.max(1) as f64;
    let row = |label: &str, f: &dyn Fn(&ScaleResult) -> Option<u64>| {
        let cells: Vec<String> = with
            .iter()
            .map(|x| f(x).map_or("–".into(), |b| format!("{:.1} B", per_row(x, b))))
            .collect();
        format!("| {label} | | {} |", cells.join(" | "))
    };
    let _ = writeln!(
        s,
        "{}",
        row("all columns, per row", &|x| Some(
            x.memory
                .columns
                .iter()
                .map(|c| c.bytes + c.null_bytes)
                .sum()
        ))
    );
    let _ = writeln!(
        s,
        "{}",
        row("indexes (codes, dates, keys), per row", &|x| x
            .memory
            .index_bytes)
    );
    let _ = writeln!(
        s,
        "{}",
        row("store total, per row", &|x| x.memory.store_bytes)
    );
}

/// `--baseline`: its load and memory beside stockd's, and stockd / baseline
/// per operation from the same run.
fn baseline_section(s: &mut String, r: &Results, x: &ScaleResult) {
    let Some(b) = &x.baseline else { return };
    let m = &r.machine;
    let _ = writeln!(
        s,
        "Against the baseline binary (`--baseline`: {}, git {}), loaded once on the same rows:\n",
        m.baseline_version.as_deref().unwrap_or("?"),
        m.baseline_revision.as_deref().unwrap_or("unknown"),
    );
    let _ = writeln!(s, "| | stockd | baseline | stockd / baseline |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    let load_ms = |v: Option<u64>| v.map(|v| v as f64);
    let rss = |m: Option<ProcMem>| m.map(|m| m.rss_bytes as f64 / 1_048_576.0);
    let rows: [(&str, Option<f64>, Option<f64>, usize); 4] = [
        (
            "load_ms (stockd: best of its runs)",
            load_ms(x.load.best_load_ms),
            load_ms(b.load_ms),
            0,
        ),
        ("load / COPY drain", x.load.ratio, b.ratio, 2),
        (
            "RSS after load, MiB",
            rss(x.memory.after_load),
            rss(b.after_load),
            1,
        ),
        (
            "store, bytes per row",
            x.memory.store_bytes_per_row,
            b.store_bytes_per_row,
            1,
        ),
    ];
    for (what, a, c, digits) in rows {
        let f = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.digits$}"));
        let _ = writeln!(s, "| {what} | {} | {} | {} |", f(a), f(c), ratio(a, c));
    }
    let ops: Vec<&OpStats> = x.ops.iter().filter(|o| o.target == "baseline").collect();
    if !ops.is_empty() {
        let _ = writeln!(
            s,
            "\n| operation | clients | stockd req/s | baseline req/s | stockd / baseline | server CPU µs/req stockd / baseline |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for bo in ops {
            let Some(so) = x.stats(bo.op, "stockd", bo.clients) else {
                continue;
            };
            let cpu = |o: &OpStats| {
                o.server_cpu_us_per_req
                    .map_or("?".into(), |v| format!("{v:.0}"))
            };
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | **{}** | {} / {} |",
                bo.op,
                bo.clients,
                thousands(so.throughput.round() as u64),
                thousands(bo.throughput.round() as u64),
                ratio(Some(so.throughput), Some(bo.throughput)),
                cpu(so),
                cpu(bo)
            );
        }
    }
    let _ = writeln!(s);
}

fn scale_section(s: &mut String, r: &Results, x: &ScaleResult) {
    let _ = writeln!(s, "## {} scale: {} rows\n", x.scale, thousands(x.data.rows));
    baseline_section(s, r, x);
    if x.ops.is_empty() {
        let _ = writeln!(
            s,
            "Load and memory only (no requests timed at this data set).\n"
        );
        for line in &x.sanity {
            let _ = writeln!(s, "- {line}");
        }
        let _ = writeln!(s);
        return;
    }
    let mut ops: Vec<Op> = Vec::new();
    for st in &x.ops {
        if !ops.contains(&st.op) {
            ops.push(st.op);
        }
    }
    let has_redis = x.ops.iter().any(|o| o.target == "redis");
    let _ = writeln!(s, "Throughput (requests/s) and ratios:\n");
    let _ = writeln!(
        s,
        "| operation | clients | stockd | PostgreSQL | Redis | stockd / PostgreSQL | stockd / Redis |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    let tp = |op: Op, t: &str, c: usize| x.stats(op, t, c).map(|st| st.throughput);
    for op in &ops {
        for &c in &r.concurrency {
            let f = |v: Option<f64>| v.map_or("n/a".into(), |v| thousands(v.round() as u64));
            let _ = writeln!(
                s,
                "| `{op}` | {c} | {} | {} | {} | **{}** | **{}** |",
                f(tp(*op, "stockd", c)),
                f(tp(*op, "postgres", c)),
                if has_redis {
                    f(tp(*op, "redis", c))
                } else {
                    "n/a".into()
                },
                ratio(tp(*op, "stockd", c), tp(*op, "postgres", c)),
                ratio(tp(*op, "stockd", c), tp(*op, "redis", c)),
            );
        }
    }
    let _ = writeln!(
        s,
        "\nLatency p50 / p99 / p99.9 (µs), and items per answer (rows; history dates; industries):\n"
    );
    let _ = writeln!(
        s,
        "| operation | clients | stockd | PostgreSQL | Redis | items s / p / r | errors s / p / r |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    for op in &ops {
        for &c in &r.concurrency {
            let lat = |t: &str| {
                x.stats(*op, t, c).map_or("n/a".to_string(), |st| {
                    format!("{} / {} / {}", us(st.p50_us), us(st.p99_us), us(st.p999_us))
                })
            };
            let items = |t: &str| {
                x.stats(*op, t, c).map_or("–".to_string(), |st| {
                    format!("{:.1}", st.rows_per_request)
                })
            };
            let errs = |t: &str| {
                x.stats(*op, t, c).map_or("–".to_string(), |st| {
                    format!(
                        "{}{}",
                        st.errors,
                        if st.failed_clients > 0 {
                            format!(" ({} failed)", st.failed_clients)
                        } else {
                            String::new()
                        }
                    )
                })
            };
            let _ = writeln!(
                s,
                "| `{op}` | {c} | {} | {} | {} | {} / {} / {} | {} / {} / {} |",
                lat("stockd"),
                lat("postgres"),
                lat("redis"),
                items("stockd"),
                items("postgres"),
                items("redis"),
                errs("stockd"),
                errs("postgres"),
                errs("redis"),
            );
        }
    }
    // CPU at the target concurrency.
    let cpu_rows: Vec<&OpStats> = x
        .ops
        .iter()
        .filter(|st| st.clients == 8 && st.cpu.is_some())
        .collect();
    if !cpu_rows.is_empty() {
        let _ = writeln!(
            s,
            "\nCPU per request at 8 clients (from /proc; server = stockd process, all PostgreSQL backends, or redis-server):\n"
        );
        let _ = writeln!(
            s,
            "| operation | target | server CPU µs/req | client CPU µs/req | other processes (cores) | machine busy |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
        for st in cpu_rows {
            let Some(c) = st.cpu else { continue };
            let w = c.wall_s.max(1e-9);
            let server = if st.target == "postgres" {
                c.postgres_s
            } else {
                c.server_s
            };
            let n = st.requests.max(1) as f64;
            let _ = writeln!(
                s,
                "| `{}` | {} | {:.0} | {:.0} | {:.2} | {:.0}% |",
                st.op,
                st.target,
                server * 1e6 / n,
                c.client_s * 1e6 / n,
                c.other_s / w,
                c.machine_busy_s / c.machine_capacity_s.max(1e-9) * 100.0
            );
        }
    }
    let disturbed: Vec<String> = x
        .ops
        .iter()
        .filter_map(|st| {
            let c = st.cpu?;
            let cores = c.other_s / c.wall_s.max(1e-9);
            (cores > 0.15)
                .then(|| format!("{} ×{} on {} ({cores:.2})", st.op, st.clients, st.target))
        })
        .collect();
    if !disturbed.is_empty() {
        let _ = writeln!(
            s,
            "\n**Warning**: other processes used more than 0.15 cores during {} of {} measurements \
             (e.g. {}); those figures are disturbed — rerun on a quiet machine to compare with others.",
            disturbed.len(),
            x.ops.len(),
            disturbed.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    if !x.decode_costs.is_empty() {
        let _ = writeln!(
            s,
            "\nClient-side decode cost of one answer (one thread, nothing else of the benchmark running):\n"
        );
        let _ = writeln!(
            s,
            "| operation | stockd answer | serde_json → Value | PostgreSQL rows | decode all columns |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for d in &x.decode_costs {
            let _ = writeln!(
                s,
                "| `{}` | {} B | {:.1} µs | {} | {:.1} µs |",
                d.op,
                thousands(d.stockd_answer_bytes as u64),
                d.stockd_parse_us,
                d.postgres_rows,
                d.postgres_decode_us
            );
        }
    }
    let l = &x.load;
    let runs = l
        .runs
        .iter()
        .map(|r| {
            format!(
                "{} / {:.0}",
                r.load_ms.map_or("–".into(), |v| v.to_string()),
                r.wall_ready_ms
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let drains = l
        .drains
        .iter()
        .map(|d| format!("{:.0}", d.ms))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        s,
        "\nLoad runs (ms): stockd load_ms / ready {runs}; COPY drain {drains} ({} of binary COPY).",
        mib(l.copy_bytes)
    );
    if let Some(w) = &x.warm {
        let _ = writeln!(
            s,
            "Warm restart: first answer after {:.0} ms from a {} snapshot ({} rows, served stale: {}), RSS then {}.",
            w.first_answer_ms,
            mib(w.snapshot_bytes),
            thousands(w.rows),
            w.served_stale.map_or("?".into(), |b| b.to_string()),
            opt_mib(w.rss_bytes)
        );
    }
    if let Some(rl) = &x.redis_load {
        let _ = writeln!(
            s,
            "Redis load: {} rows, {} commands in {:.0} ms; used_memory {} before, {} after.",
            thousands(rl.rows),
            thousands(rl.commands),
            rl.load_ms,
            mib(rl.used_memory_before),
            mib(rl.used_memory_after)
        );
    }
    let nw = &x.natural_width;
    let _ = writeln!(
        s,
        "Natural row width Σ avg(pg_column_size) {:.0} B; PostgreSQL heap {:.0} B/row + indexes {:.0} B/row.",
        nw.bytes_per_row,
        nw.heap_bytes as f64 / x.data.rows.max(1) as f64,
        nw.index_bytes as f64 / x.data.rows.max(1) as f64
    );
    if let Some(Value::Array(caches)) = &x.server_caches {
        let c: Vec<String> = caches
            .iter()
            .map(|c| {
                format!(
                    "{} {} hits / {} misses",
                    c.get("name").and_then(Value::as_str).unwrap_or("?"),
                    c.get("hits").map_or("?".into(), |v| v.to_string()),
                    c.get("misses").map_or("?".into(), |v| v.to_string())
                )
            })
            .collect();
        let _ = writeln!(s, "stockd caches after the runs: {}.", c.join("; "));
    }
    if !x.sanity.is_empty() {
        let _ = writeln!(s, "\nChecks before measuring:\n");
        for n in &x.sanity {
            let _ = writeln!(s, "- {n}");
        }
    }
    for st in x.ops.iter().filter(|o| o.first_error.is_some()) {
        let _ = writeln!(
            s,
            "\n**{} ×{} on {}**: {} errors, {} wrong row counts; first: `{}`",
            st.op,
            st.clients,
            st.target,
            st.errors,
            st.wrong_row_count,
            st.first_error.as_deref().unwrap_or("")
        );
    }
    if !x.warnings.is_empty() {
        let _ = writeln!(
            s,
            "\nstockd logged {} warning/error lines; the first: `{}`",
            x.warnings.len(),
            x.warnings[0]
        );
    }
    s.push('\n');
}
