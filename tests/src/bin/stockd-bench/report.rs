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
use crate::runner::OpStats;
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
    pub admin_status: Option<Value>,
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
            u => format!("{v:.2} {u}"),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Results {
    pub command: String,
    pub machine: Machine,
    pub data: DataSet,
    pub natural_width: NaturalWidth,
    pub load: LoadResult,
    pub memory: MemoryResult,
    pub clients: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub client_decode: Decode,
    pub ops: Vec<OpStats>,
    pub checks: Vec<Check>,
    pub decode_costs: Vec<DecodeCost>,
    /// `admin.status` `requests` after the runs (the daemon's own view), if
    /// it reports them.
    pub server_requests: Option<Value>,
    /// `admin.status` `caches` after the runs, if reported.
    pub server_caches: Option<Value>,
    /// Answers compared between stockd and PostgreSQL before measuring.
    pub sanity: Vec<String>,
    pub plans: Vec<(String, Vec<String>)>,
    pub notes: Vec<String>,
}

impl Results {
    pub fn stats(&self, op: Op, target: &str) -> Option<&OpStats> {
        self.ops.iter().find(|s| s.op == op && s.target == target)
    }
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

pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let d = &r.data;
    let _ = writeln!(s, "# stockd benchmark — {} scale\n", d.scale);
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
        "- **PostgreSQL**: {} (shared_buffers {}), same machine, TCP 127.0.0.1",
        m.postgres_version, m.postgres_shared_buffers
    );
    let _ = writeln!(
        s,
        "- **stockd**: {} (git {}), `{}`",
        m.stockd_version, m.git_revision, m.stockd_binary
    );
    let _ = writeln!(s, "- **Command**: `{}`", r.command);
    let _ = writeln!(
        s,
        "- **Data**: `{}` in database `stockd_bench`: {} rows × {} columns ({}); window {} days from {}; content hash `{}`, {}",
        d.table,
        thousands(d.rows),
        d.columns.len(),
        d.params,
        d.window_days,
        d.window_start,
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
    s.push('\n');

    let _ = writeln!(s, "## Targets\n");
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
            "**Diagnostic run (`--decode none`)**: clients read answers without decoding them; the \
             targets are defined with full decoding, so the request figures here show server capacity only.\n"
        );
    }

    let l = &r.load;
    let _ = writeln!(s, "## Load (best of {})\n", l.runs.len());
    let _ = writeln!(s, "| | stockd | binary COPY drain | ratio |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    let _ = writeln!(
        s,
        "| load time (daemon's `load_ms`) | {} | {:.0} ms | {} |",
        l.best_load_ms.map_or("–".into(), |v| format!("{v} ms")),
        l.best_drain_ms,
        l.ratio.map_or("–".into(), |v| format!("{v:.2}×"))
    );
    let _ = writeln!(
        s,
        "| spawn → first `market.info` | {:.0} ms | {:.0} ms | {:.2}× |",
        l.best_wall_ready_ms, l.best_drain_ms, l.wall_ratio
    );
    let runs = l
        .runs
        .iter()
        .map(|x| {
            format!(
                "{} / {:.0}",
                x.load_ms.map_or("–".into(), |v| v.to_string()),
                x.wall_ready_ms
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let drains = l
        .drains
        .iter()
        .map(|x| format!("{:.0}", x.ms))
        .collect::<Vec<_>>()
        .join(", ");
    let _ =
        writeln!(
        s,
        "\nEvery run (ms): stockd load_ms / ready {runs}; COPY drain {drains} ({} of binary COPY; \
         connecting took {:.1} ms more and is not counted). `load_ms` source: {}.\n",
        mib(l.copy_bytes),
        l.drains.iter().map(|x| x.connect_ms).fold(f64::INFINITY, f64::min),
        l.runs.last().map_or("–", |x| x.load_ms_source)
    );

    let mem = &r.memory;
    let nw = &r.natural_width;
    let _ = writeln!(s, "## Memory\n");
    let _ = writeln!(s, "| figure | value |");
    let _ = writeln!(s, "|---|---:|");
    let _ = writeln!(
        s,
        "| store bytes ({}) | {} |",
        mem.store_bytes_source,
        mem.store_bytes
            .map_or("–".into(), |b| format!("{} ({})", thousands(b), mib(b)))
    );
    let _ = writeln!(
        s,
        "| store bytes / row | {} |",
        mem.store_bytes_per_row
            .map_or("–".into(), |b| format!("{b:.1}"))
    );
    let _ = writeln!(
        s,
        "| natural width / row: Σ avg(pg_column_size) | {:.1} |",
        nw.bytes_per_row
    );
    let _ = writeln!(
        s,
        "| natural width / row, NULL = 0 bytes | {:.1} |",
        nw.bytes_per_row_nulls_zero
    );
    let _ = writeln!(
        s,
        "| PostgreSQL heap / row (indexes extra) | {:.1} (+ {:.1}) |",
        nw.heap_bytes as f64 / mem.rows as f64,
        nw.index_bytes as f64 / mem.rows as f64
    );
    if let Some(p) = mem.after_load {
        let _ = writeln!(s, "| RSS after load (/proc VmRSS) | {} |", mib(p.rss_bytes));
        let _ = writeln!(
            s,
            "| peak RSS during load (/proc VmHWM) | {} |",
            mib(p.peak_rss_bytes)
        );
    }
    if let Some(p) = mem.after_run {
        let _ = writeln!(s, "| RSS after the request runs | {} |", mib(p.rss_bytes));
        let _ = writeln!(
            s,
            "| peak RSS after the request runs | {} |",
            mib(p.peak_rss_bytes)
        );
    }
    if let Some(b) = mem.admin_rss_bytes {
        let _ = writeln!(s, "| RSS as `admin.status` reports it | {} |", mib(b));
    }
    s.push('\n');

    let _ = writeln!(
        s,
        "## Throughput and latency ({} clients, {} s per run after {} s warm-up)\n",
        r.clients, r.duration_s, r.warmup_s
    );
    let _ = writeln!(
        s,
        "| operation | target | req/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | rows/req | errors |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut ops: Vec<Op> = Vec::new();
    for st in &r.ops {
        if !ops.contains(&st.op) {
            ops.push(st.op);
        }
    }
    for op in &ops {
        let mut rows: Vec<&OpStats> = r.ops.iter().filter(|x| x.op == *op).collect();
        rows.sort_by_key(|x| if x.target == "stockd" { 0 } else { 1 });
        for st in &rows {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {:.1} | {}{} |",
                op,
                st.target,
                thousands(st.throughput.round() as u64),
                us(st.p50_us),
                us(st.p90_us),
                us(st.p99_us),
                us(st.p999_us),
                us(st.max_us),
                st.rows_per_request,
                st.errors,
                if st.failed_clients > 0 {
                    format!(" ({} clients failed)", st.failed_clients)
                } else {
                    String::new()
                }
            );
        }
        if let (Some(a), Some(b)) = (r.stats(*op, "stockd"), r.stats(*op, "postgres")) {
            let _ = writeln!(
                s,
                "| `{}` | **stockd / postgres** | **{:.2}×** | {:.2}× | {:.2}× | {:.2}× | {:.2}× | | | |",
                op,
                a.throughput / b.throughput,
                a.p50_us / b.p50_us,
                a.p90_us / b.p90_us,
                a.p99_us / b.p99_us,
                a.p999_us / b.p999_us,
            );
        }
    }
    if r.ops.iter().any(|x| x.cpu.is_some()) {
        let _ = writeln!(
            s,
            "\nCPU during each recorded window (from /proc; cores = CPU seconds / wall seconds):\n"
        );
        let _ = writeln!(
            s,
            "| operation | target | server CPU µs/req | client CPU µs/req | cores: server | client | postgres | other | machine busy |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for st in &r.ops {
            let Some(c) = st.cpu else { continue };
            let w = c.wall_s.max(1e-9);
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0}% |",
                st.op,
                st.target,
                st.server_cpu_us_per_req
                    .map_or("–".into(), |v| format!("{v:.0}")),
                st.client_cpu_us_per_req
                    .map_or("–".into(), |v| format!("{v:.0}")),
                c.server_s / w,
                c.client_s / w,
                c.postgres_s / w,
                c.other_s / w,
                c.machine_busy_s / c.machine_capacity_s.max(1e-9) * 100.0
            );
        }
        let disturbed: Vec<String> = r
            .ops
            .iter()
            .filter_map(|st| {
                let c = st.cpu?;
                let cores = c.other_s / c.wall_s.max(1e-9);
                (cores > 0.15).then(|| format!("{} on {} ({cores:.2} cores)", st.op, st.target))
            })
            .collect();
        if !disturbed.is_empty() {
            let _ = writeln!(
                s,
                "\n**Warning**: other processes used CPU during {}; those figures are disturbed — rerun on a quiet machine.",
                disturbed.join(", ")
            );
        }
    }
    if !r.decode_costs.is_empty() {
        let _ = writeln!(
            s,
            "\nClient-side decode cost of one answer (one thread, while nothing else of the benchmark runs):\n"
        );
        let _ = writeln!(s, "| operation | stockd answer | serde_json → Value | PostgreSQL rows | decode all columns |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for d in &r.decode_costs {
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
    if let Some(Value::Array(reqs)) = &r.server_requests {
        let _ = writeln!(
            s,
            "\nThe daemon's own request statistics (`admin.status` `requests`, whole run):\n"
        );
        let _ = writeln!(s, "| method | count | errors | p50 µs | p99 µs |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for q in reqs {
            let g = |k: &str| q.get(k).map_or("–".to_string(), |v| v.to_string());
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                q.get("method").and_then(Value::as_str).unwrap_or("?"),
                g("count"),
                g("errors"),
                g("p50_us"),
                g("p99_us")
            );
        }
    }
    if let Some(Value::Array(caches)) = &r.server_caches {
        let _ = writeln!(
            s,
            "\nThe daemon's result caches after the runs (`admin.status` `caches`):\n"
        );
        let _ = writeln!(
            s,
            "| cache | entries | bytes | max bytes | hits | misses | evictions |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        for c in caches {
            let g = |k: &str| c.get(k).map_or("–".to_string(), |v| v.to_string());
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                c.get("name").and_then(Value::as_str).unwrap_or("?"),
                g("entries"),
                g("bytes"),
                g("max_bytes"),
                g("hits"),
                g("misses"),
                g("evictions")
            );
        }
    }
    for st in r.ops.iter().filter(|x| x.first_error.is_some()) {
        let _ = writeln!(
            s,
            "\n**{} on {}**: {} errors, {} wrong row counts; first: `{}`",
            st.op,
            st.target,
            st.errors,
            st.wrong_row_count,
            st.first_error.as_deref().unwrap_or("")
        );
    }
    s.push('\n');

    let _ = writeln!(s, "## How it was measured\n");
    for n in &r.notes {
        let _ = writeln!(s, "- {n}");
    }
    if !r.sanity.is_empty() {
        let _ = writeln!(s, "\nChecks before measuring:\n");
        for n in &r.sanity {
            let _ = writeln!(s, "- {n}");
        }
    }
    let _ = writeln!(s, "\nIndexes on `{}`:\n", d.table);
    for i in &d.indexes {
        let _ = writeln!(s, "- `{i}`");
    }
    for (name, plan) in &r.plans {
        let _ = writeln!(
            s,
            "\nPostgreSQL plan for {name}:\n\n```\n{}\n```",
            plan.join("\n")
        );
    }
    s
}
