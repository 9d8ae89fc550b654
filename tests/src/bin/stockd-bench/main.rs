//! `stockd-bench`: stockd against PostgreSQL on the same data, in one run.
//!
//! ```text
//! cargo run --release -p stockd-tests --bin stockd-bench -- [--scale seed] [--clients 8] [--duration 10s] [--out bench-out/]
//! ```
//!
//! 1. **Data** ([`prepare`]): database `stockd_bench`, table
//!    `daily_stock_data_<scale>` from the fixture DDL (plus a (date, pct_chg)
//!    index), filled by `stockd::demo::fill_table`, cached by content hash in
//!    `bench_meta`.
//! 2. **Load** ([`load`]): the release `stockd` started N times vs draining
//!    the same binary COPY N times (best of N each).
//! 3. **Memory**: store bytes (admin.status, else the daemon's log), natural
//!    row width from `pg_column_size`, RSS from /proc.
//! 4. **Requests** ([`runner`]): each [`ops::Op`] against each
//!    [`target::Target`] (stockd over its socket; PostgreSQL through a bb8
//!    pool), closed loop, same request sequence.
//! 5. **Report** ([`report`]): `<out>/report.md` (also printed) and
//!    `<out>/results.json`.
//!
//! Everything is bounded: a fixed number of loads, timed request loops with
//! per-request timeouts, and the daemon is stopped with SIGTERM at the end.
//! Only local PostgreSQL servers are accepted.

mod cli;
mod cpu;
mod daemon;
mod diag;
mod load;
mod machine;
mod ops;
mod pgval;
mod prepare;
mod report;
mod rpc;
mod runner;
mod scale;
mod target;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::daemon::{SpawnArgs, StockdProcess};
use crate::load::{LoadResult, LoadRun};
use crate::ops::{Op, TOP_N};
use crate::pgval::PgDate;
use crate::prepare::{DataSet, Universe};
use crate::report::{Check, Goal, MemoryResult, Results};
use crate::rpc::HttpConn;
use crate::runner::RunConfig;
use crate::target::{PostgresTarget, StockdTarget};

/// The issue-2 targets.
const LOAD_RATIO_MAX: f64 = 1.5;
const RSS_MAX_MIB: f64 = 64.0;
const GET_RATIO_MIN: f64 = 1.5;
const TOP_RATIO_MIN: f64 = 3.0;
const P99_MAX_US: f64 = 1000.0;

/// How long one daemon may take to load before the benchmark gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match cli::parse(argv.clone()) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stockd-bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stockd-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = format!(
        "cargo run --release -p stockd-tests --bin stockd-bench --{}",
        argv.iter().map(|a| format!(" {a}")).collect::<String>()
    );
    match runtime.block_on(run(args, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stockd-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A scratch directory for sockets and the empty config, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let p = PathBuf::from(format!("/tmp/stockd-bench-{}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn step(msg: &str) {
    eprintln!("stockd-bench: {msg}");
}

fn build_stockd(workspace: &Path) -> Result<()> {
    step("building the release daemon (cargo build --release -p stockd --bin stockd)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let st = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "-p", "stockd", "--bin", "stockd"])
        .status()
        .context("running cargo")?;
    if !st.success() {
        bail!("cargo build --release -p stockd failed ({st})");
    }
    Ok(())
}

async fn run(args: cli::Args, command: String) -> Result<()> {
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .context("workspace root")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let bin = args
        .stockd
        .clone()
        .unwrap_or_else(|| workspace.join("target/release/stockd"));
    if args.build && args.stockd.is_none() {
        build_stockd(&workspace)?;
    }
    if !bin.exists() {
        bail!(
            "no stockd binary at {} (build it or pass --stockd)",
            bin.display()
        );
    }
    let mut machine = machine::Machine::collect(&bin, &workspace);
    // Run a private copy: a rebuild by someone else mid-run must not change
    // the daemon between the load runs and the request runs.
    let scratch = Scratch::new()?;
    let private_bin = scratch.0.join("stockd");
    std::fs::copy(&bin, &private_bin).with_context(|| format!("copying {}", bin.display()))?;
    let bin = private_bin;

    // 1. Data.
    let url = prepare::ensure_database(&args.pg_url).await?;
    let pg = prepare::connect(&url).await?;
    machine.postgres_version = prepare::show(&pg, "server_version").await?;
    machine.postgres_shared_buffers = prepare::show(&pg, "shared_buffers").await?;
    let ds = prepare::ensure_table(&pg, args.scale, args.regenerate).await?;
    let universe = Arc::new(prepare::universe(&pg, &ds).await?);
    step(&format!(
        "window: {} dates from {}, {} stocks, {} rows",
        universe.dates.len(),
        ds.window_start,
        universe.codes.len(),
        universe.pairs.len()
    ));
    let natural = prepare::natural_width(&pg, &ds).await?;

    // 2. Load, interleaved: drain, daemon, drain, daemon, …; the last
    // daemon stays up for the rest.
    let copy_sql = ds.copy_sql();
    let mut runs = Vec::new();
    let mut drains = Vec::new();
    let mut kept: Option<StockdProcess> = None;
    let mut admin_after_load: Option<Value> = None;
    for i in 1..=args.load_runs {
        let d = load::drain(&url, &copy_sql).await.context("COPY drain")?;
        step(&format!(
            "load {i}/{}: COPY drain {:.0} ms ({:.1} MiB)",
            args.load_runs,
            d.ms,
            d.bytes as f64 / 1_048_576.0
        ));
        drains.push(d);
        if let Some(mut prev) = kept.take() {
            prev.terminate(Duration::from_secs(15))?;
        }
        let mut p = StockdProcess::spawn(SpawnArgs {
            bin: &bin,
            dir: &scratch.0,
            run: i,
            log_dir: &args.out,
            database_url: &url,
            table: &ds.table,
            window_days: ds.window_days,
        })?;
        let (wall, info) = p.wait_ready(READY_TIMEOUT).await?;
        let mem_after_ready = p.proc_mem();
        let log = p.load_line().await;
        let rows = info.get("rows").and_then(Value::as_u64).unwrap_or(0);
        if rows != ds.rows {
            bail!("stockd serves {rows} rows, the table has {}", ds.rows);
        }
        let admin = p.admin_status().await.unwrap_or_else(|e| {
            step(&format!("admin.status failed: {e:#}"));
            None
        });
        let admin_load = admin
            .as_ref()
            .and_then(|a| a.pointer("/store/load_ms"))
            .and_then(Value::as_u64);
        let (load_ms, source) = match (admin_load, log.load_ms) {
            (Some(v), _) => (Some(v), "admin.status store.load_ms"),
            (None, Some(v)) => (Some(v), "the \"store loaded … load_ms\" log line"),
            _ => (None, "none"),
        };
        step(&format!(
            "load {i}/{}: stockd ready after {:.0} ms, load_ms {}",
            args.load_runs,
            wall.as_secs_f64() * 1000.0,
            load_ms.map_or("?".into(), |v| v.to_string())
        ));
        runs.push(LoadRun {
            wall_ready_ms: wall.as_secs_f64() * 1000.0,
            load_ms,
            load_ms_source: source,
            log,
            mem_after_ready,
        });
        admin_after_load = admin;
        kept = Some(p);
    }
    let mut daemon = kept.context("no daemon")?;
    let load = LoadResult::new(runs, drains, &copy_sql);

    // 3. Memory (of the daemon kept).
    let last = load.runs.last().expect("at least one run");
    let admin_store_bytes = admin_after_load
        .as_ref()
        .and_then(|a| a.pointer("/store/bytes"))
        .and_then(Value::as_u64);
    let (store_bytes, store_bytes_source) = match (admin_store_bytes, last.log.store_mib) {
        (Some(b), _) => (Some(b), "admin.status"),
        (None, Some(m)) => (
            Some((m * 1_048_576.0).round() as u64),
            "log store_mib, ±0.05 MiB",
        ),
        _ => (None, "none"),
    };
    let mut memory = MemoryResult {
        rows: ds.rows,
        store_bytes,
        store_bytes_source,
        store_bytes_per_row: store_bytes.map(|b| b as f64 / ds.rows as f64),
        natural_bytes_per_row: natural.bytes_per_row,
        after_load: last.mem_after_ready,
        after_run: None,
        admin_rss_bytes: admin_after_load
            .as_ref()
            .and_then(|a| a.pointer("/memory/rss_bytes"))
            .and_then(Value::as_u64),
        admin_status: admin_after_load.clone(),
    };

    // Answers agree before anything is timed.
    let sanity = sanity_checks(&daemon.socket, &pg, &ds, &universe).await?;
    for s in &sanity {
        step(s);
    }

    // 4. Requests.
    let cfg = RunConfig {
        clients: args.clients,
        warmup: args.warmup,
        duration: args.duration,
        max_requests: args.max_requests,
        seed: args.seed,
    };
    let pg_target = PostgresTarget::new(
        &url,
        args.clients as u32,
        &ds.quoted,
        &args.ops,
        universe.clone(),
        args.decode,
    )
    .await?;
    let sd_target = StockdTarget {
        socket: daemon.socket.clone(),
        pid: daemon.pid,
        decode: args.decode,
        universe: universe.clone(),
    };
    let mut stats = Vec::new();
    for op in &args.ops {
        for which in ["stockd", "postgres"] {
            step(&format!(
                "{op} on {which}: {} clients, {:?} warm-up + {:?}",
                cfg.clients, cfg.warmup, cfg.duration
            ));
            let st = if which == "stockd" {
                runner::run(&sd_target, *op, universe.clone(), &cfg).await?
            } else {
                runner::run(&pg_target, *op, universe.clone(), &cfg).await?
            };
            step(&format!(
                "  {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, {} errors",
                st.throughput, st.p50_us, st.p99_us, st.p999_us, st.errors
            ));
            if let Some(e) = &st.first_error {
                step(&format!("  first error: {e}"));
            }
            stats.push(st);
        }
    }
    memory.after_run = daemon.proc_mem();
    let admin_after_run = daemon.admin_status().await.ok().flatten();
    let decode = diag::decode_costs(&sd_target, &pg_target, &args.ops)
        .await
        .unwrap_or_else(|e| {
            step(&format!("decode-cost measurement failed: {e:#}"));
            Vec::new()
        });
    drop(pg_target);
    let log_before_stop = daemon.log();
    match daemon.terminate(Duration::from_secs(15)) {
        Ok(st) => step(&format!("stockd stopped with SIGTERM ({st})")),
        Err(e) => step(&format!("stopping stockd: {e:#}")),
    }
    let warnings: Vec<String> = log_before_stop
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .map(str::to_string)
        .collect();

    // 5. Report.
    let mut plans = Vec::new();
    let d0 = &universe.dates[universe.dates.len() - 1];
    let (c0, _) = universe.pairs[universe.pairs.len() / 2];
    for op in &args.ops {
        let sql = op
            .sql(&ds.quoted)
            .replace(
                "$1",
                &match op {
                    Op::StockGet => format!("'{}'", universe.codes[c0 as usize]),
                    Op::StockTop => format!("'{}'", d0.text),
                },
            )
            .replace("$2", &format!("'{}'", d0.text));
        plans.push((format!("`{op}`"), prepare::explain(&pg, &sql).await?));
    }
    let mut checks = vec![
        Check::new(
            "load time / binary COPY drain",
            load.ratio,
            Goal::AtMost(LOAD_RATIO_MAX),
            "×",
        ),
        Check::new(
            "store bytes / row vs natural width",
            memory.store_bytes_per_row,
            Goal::AtMost(natural.bytes_per_row),
            "B",
        ),
        Check::new(
            "RSS after load",
            memory.after_load.map(|m| m.rss_bytes as f64 / 1_048_576.0),
            Goal::AtMost(RSS_MAX_MIB),
            "MiB",
        ),
    ];
    let find = |op: Op, t: &str| stats.iter().find(|s| s.op == op && s.target == t);
    for (op, goal) in [(Op::StockGet, GET_RATIO_MIN), (Op::StockTop, TOP_RATIO_MIN)] {
        if let (Some(a), Some(b)) = (find(op, "stockd"), find(op, "postgres")) {
            checks.push(Check::new(
                format!("`{op}` throughput stockd / PostgreSQL"),
                Some(a.throughput / b.throughput),
                Goal::AtLeast(goal),
                "×",
            ));
        }
    }
    for op in &args.ops {
        if let Some(a) = find(*op, "stockd") {
            checks.push(Check::new(
                format!("`{op}` stockd p99"),
                Some(a.p99_us),
                Goal::AtMost(P99_MAX_US),
                "µs",
            ));
        }
    }
    let mut notes = notes(&args, &ds, &load);
    for op in &args.ops {
        notes.push(format!("`{op}`: {}.", op.describe()));
    }
    if !warnings.is_empty() {
        notes.push(format!(
            "stockd logged {} warning/error lines during the run; the first: `{}`",
            warnings.len(),
            warnings[0]
        ));
    }
    let results = Results {
        command,
        machine,
        data: ds,
        natural_width: natural,
        load,
        memory,
        clients: args.clients,
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        client_decode: args.decode,
        ops: stats,
        checks,
        decode_costs: decode,
        server_requests: admin_after_run
            .as_ref()
            .and_then(|a| a.get("requests"))
            .cloned()
            .filter(|r| r.as_array().is_some_and(|a| !a.is_empty())),
        server_caches: admin_after_run
            .as_ref()
            .and_then(|a| a.get("caches"))
            .cloned()
            .filter(|r| r.as_array().is_some_and(|a| !a.is_empty())),
        sanity,
        plans,
        notes,
    };
    let md = report::markdown(&results);
    let md_path = args.out.join("report.md");
    let json_path = args.out.join("results.json");
    std::fs::write(&md_path, &md)?;
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)?)?;
    println!("{md}");
    step(&format!(
        "wrote {} and {}",
        md_path.display(),
        json_path.display()
    ));
    Ok(())
}

fn notes(args: &cli::Args, ds: &DataSet, load: &LoadResult) -> Vec<String> {
    vec![
        format!(
            "Load: `stockd --table {} --window-days {}` started {} times (fresh process each, empty config file, \
             `STOCKD_*` unset), interleaved with {} drains of the daemon's own query \
             `{}` through tokio-postgres `copy_out` on a fresh connection (connecting not timed), bytes counted \
             and dropped. Best of each is compared. `load_ms` is the daemon's own figure; \"spawn → first \
             market.info\" is the outside view (process start, connecting, catalog queries, COPY, decode, \
             store build, first answer; polled every 5 ms).",
            ds.table,
            ds.window_days,
            load.runs.len(),
            load.drains.len(),
            load.copy_sql_head
        ),
        "Natural width: Σ over all columns of avg(pg_column_size(col)) over the window's rows: a fixed-width \
         type counts its size (float8 8, int4 4, date 4, timestamptz 8, bool 1, …), a varlena type (varchar, \
         numeric) its average stored size including its 1-byte short header; NULLs are left out of the average \
         (so a nullable column counts as if present). The \"NULL = 0 bytes\" line averages them in as 0. \
         Neither counts PostgreSQL's 23-byte tuple header, null bitmap or alignment padding; the heap line does."
            .to_string(),
        "RSS: VmRSS and VmHWM read from /proc/<pid>/status by the benchmark (independent of the daemon's own \
         accounting), right after the first successful market.info, and again after all request runs."
            .to_string(),
        format!(
            "Requests: closed loop, {} concurrent clients per target, {:?} warm-up (not recorded) then {:?} \
             recorded; throughput = answered requests started in the recorded window / its length; latency from \
             before encoding the request to after decoding the answer, every request recorded (exact \
             percentiles from the sorted samples). Each client draws the same deterministic (SplitMix64) request \
             sequence on both targets: random (code, date) rows of the window for `stock.get`, random dates \
             for `stock.top`. Every request has a 5 s timeout; a client stops at the deadline or after {} requests.",
            args.clients, args.warmup, args.duration, args.max_requests
        ),
        "stockd client: one keep-alive HTTP/1.1 connection per client on the Unix socket (a minimal hand-written \
         client: one write per request, Content-Length body), JSON-RPC 2.0 POST /, no `fields` (all columns); \
         every answer is parsed with serde_json::from_slice into a Value and its shape and row count checked."
            .to_string(),
        format!(
            "PostgreSQL client: a bb8-postgres pool of {} connections (all open before measuring, min_idle = max, \
             no test query on checkout), each connection with both statements prepared once; a request checks a \
             connection out, runs the prepared statement (one round trip, binary results), returns it, then \
             decodes every column of every row with `row.try_get` into owned values (ints, floats, bool, date and \
             timestamps as integers, text into String, numeric exactly into a scaled i128). SQL: `{}` and `{}`.",
            args.clients,
            Op::StockGet.sql("t"),
            Op::StockTop.sql("t")
        ),
        format!(
            "The benchmark client, stockd and PostgreSQL all run on the same {} CPUs, so every figure includes \
             competing for them (as a co-located FastAPI app would). PostgreSQL on TCP 127.0.0.1, stockd on its \
             Unix socket. `stock.top` asks n = {TOP_N}, by pct_chg, order desc, all columns.",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
    ]
}

/// Before timing: a few answers compared between stockd and PostgreSQL.
async fn sanity_checks(
    socket: &Path,
    pg: &tokio_postgres::Client,
    ds: &DataSet,
    u: &Universe,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut conn = HttpConn::connect(socket).await?;
    let get_sql = Op::StockGet.sql(&ds.quoted);
    let mut rng = ops::Rng::for_client(99, Op::StockGet, 0);
    let (mut ok, mut n) = (0, 0);
    let mut problems = Vec::new();
    for _ in 0..20 {
        let (ci, di) = u.pairs[rng.below(u.pairs.len())];
        let code = &u.codes[ci as usize];
        let date = &u.dates[di as usize];
        n += 1;
        let row = pg.query_one(&get_sql, &[code, &PgDate(date.days)]).await?;
        let id: i64 = row.get("id");
        match conn
            .call("stock.get", json!({"code": code, "date": date.text}))
            .await
        {
            Ok(v) => {
                let vals = v.get("values").and_then(Value::as_object);
                let ncols = vals.map_or(0, |m| m.len());
                let sid = vals.and_then(|m| m.get("id")).and_then(Value::as_i64);
                if ncols == ds.columns.len() && sid == Some(id) {
                    ok += 1;
                } else {
                    problems.push(format!(
                        "{code} {}: {ncols} columns, id {sid:?} vs {id}",
                        date.text
                    ));
                }
            }
            Err(e) => problems.push(format!("{code} {}: {e:#}", date.text)),
        }
    }
    out.push(format!(
        "`stock.get`: {ok}/{n} sampled rows answered with all {} columns and PostgreSQL's id{}",
        ds.columns.len(),
        if problems.is_empty() {
            String::new()
        } else {
            format!(" — problems: {}", problems.join("; "))
        }
    ));
    let top_sql = Op::StockTop.sql(&ds.quoted);
    let mut agree = 0;
    let mut differ = Vec::new();
    for date in &u.dates {
        let rows = pg.query(&top_sql, &[&PgDate(date.days)]).await?;
        let pg_codes: Vec<String> = rows
            .iter()
            .map(|r| r.get::<_, String>("stock_code"))
            .collect();
        let pg_pct: Vec<Option<f32>> = rows
            .iter()
            .map(|r| r.get::<_, Option<f32>>("pct_chg"))
            .collect();
        let v = conn
            .call(
                "stock.top",
                json!({"by": ops::TOP_BY, "n": TOP_N, "order": "desc", "date": date.text}),
            )
            .await;
        match v {
            Ok(Value::Array(a)) => {
                let codes: Vec<String> = a
                    .iter()
                    .map(|x| {
                        x.get("code")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect();
                let pct: Vec<Option<f32>> = a
                    .iter()
                    .map(|x| {
                        x.pointer("/values/pct_chg")
                            .and_then(Value::as_f64)
                            .map(|f| f as f32)
                    })
                    .collect();
                if codes == pg_codes {
                    agree += 1;
                } else if pct == pg_pct {
                    differ.push(format!(
                        "{} (same pct_chg sequence, ties ordered differently)",
                        date.text
                    ));
                } else {
                    differ.push(format!(
                        "{}: stockd {:?}… vs PostgreSQL {:?}…",
                        date.text,
                        &codes[..codes.len().min(3)],
                        &pg_codes[..pg_codes.len().min(3)]
                    ));
                }
            }
            Ok(other) => differ.push(format!("{}: unexpected answer {other}", date.text)),
            Err(e) => differ.push(format!("{}: {e:#}", date.text)),
        }
    }
    out.push(format!(
        "`stock.top`: {agree}/{} dates give the same 20 codes in the same order as PostgreSQL's \
         `ORDER BY pct_chg DESC, stock_code`{}",
        u.dates.len(),
        if differ.is_empty() {
            String::new()
        } else {
            format!(" — differing: {}", differ.join("; "))
        }
    ));
    Ok(out)
}
