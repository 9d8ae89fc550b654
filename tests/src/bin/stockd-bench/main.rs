//! `stockd-bench`: stockd against PostgreSQL and Redis on the same data, at
//! several scales, in one run.
//!
//! ```text
//! cargo run --release -p stockd-tests --bin stockd-bench -- [--scales seed,quarter,year] [--concurrency 1,8,32] [--duration 3s] [--out bench-out/]
//! ```
//!
//! Per scale:
//! 1. **Data** ([`prepare`]): database `stockd_bench`, table
//!    `daily_stock_data_<scale>` from the fixture DDL plus the indexes a
//!    careful user adds, filled by `stockd::demo::fill_table`, cached by
//!    content hash in `bench_meta`.
//! 2. **Load** ([`load`]): the release `stockd` started N times vs draining
//!    the same binary COPY N times (best of N each); Redis loaded from the
//!    same rows ([`redis`]).
//! 3. **Memory**: store bytes, RSS from /proc, Redis `used_memory`,
//!    PostgreSQL `pg_total_relation_size`.
//! 4. **Requests** ([`runner`]): each [`ops::Op`] × concurrency level ×
//!    [`target::Target`] (stockd on its socket, PostgreSQL through a bb8
//!    pool, Redis over RESP), closed loop, the same request sequence.
//! 5. **Warm restart**: a daemon with a snapshot dir loads and writes its
//!    snapshot; the next start is timed to its first answer.
//!
//! Then fits across scales, charts ([`charts`]) and the report
//! ([`report`]): `<out>/report.md` (also printed), `<out>/results.json`,
//! `<out>/*.png`.
//!
//! Everything is bounded: a fixed number of loads, timed request loops with
//! per-request timeouts, and every daemon is stopped with SIGTERM. Only local
//! PostgreSQL and Redis servers are accepted; in Redis only keys with the
//! prefix `sb:` in the benchmark's database number are written or deleted.

mod charts;
mod cli;
mod cpu;
mod daemon;
mod diag;
mod load;
mod lossless;
mod machine;
mod ops;
mod pgval;
mod prepare;
mod redis;
mod report;
mod resp;
mod rpc;
mod runner;
mod scale;
mod target;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::daemon::{SpawnArgs, StockdProcess};
use crate::load::{LoadResult, LoadRun};
use crate::ops::{many_codes, Op, Request, TOP_N};
use crate::pgval::PgDate;
use crate::prepare::{DataSet, Universe};
use crate::redis::{RedisLoad, RedisTarget};
use crate::report::{
    BaselineLoad, Check, Goal, MemoryResult, RefreshResult, Results, ScaleResult, WarmRestart,
    WindowRefresh,
};
use crate::resp::{RedisAddr, RespConn};
use crate::rpc::HttpConn;
use crate::runner::{OpStats, RunConfig};
use crate::scale::Scale;
use crate::target::{PostgresTarget, StockdTarget};

/// The issue-2 load target, kept as a check at every scale.
const LOAD_RATIO_MAX: f64 = 1.5;
/// The issue-6 targets.
const TARGET_CLIENTS: usize = 8;
const GET_VS_REDIS_MIN: f64 = 1.0;
const GET_P99_MAX_US: f64 = 500.0;
/// Issue #13: a new trading day served within 2 s of its NOTIFY, with a
/// peak RSS at most 48 MiB over the steady one.
const REFRESH_MAX_MS: f64 = 2000.0;
const REFRESH_PEAK_MAX_MIB: f64 = 48.0;
const TOP_VS_PG_MIN: f64 = 5.0;
const TOP_VS_REDIS_MIN: f64 = 1.0;
const MEM_VS_REDIS_MAX: f64 = 0.25;
const YEAR_RSS_MAX_MIB: f64 = 1024.0;
/// Issue #13: the demo data in at most 300 B/row of store and a year of it
/// in at most 420 MiB of RSS; the vendor-style data (doubles that are
/// decimals) in 200 B/row and 288 MiB.
const STORE_PER_ROW_MAX: f64 = 300.0;
const YEAR13_RSS_MAX_MIB: f64 = 420.0;
const VENDOR_PER_ROW_MAX: f64 = 200.0;
const VENDOR_YEAR_RSS_MAX_MIB: f64 = 288.0;
const FLAT_P50_MAX: f64 = 1.5;
/// Issue #13, "no slower serving": stockd / the `--baseline` binary.
const GET_VS_BASELINE_MIN: f64 = 0.95;
const SCAN_VS_BASELINE_MIN: f64 = 0.9;
/// The issue-14 targets (the compact `columns` layout).
const TOP_COLUMNS_VS_PG_MIN: f64 = 1.5;
const MANY_COLUMNS_VS_PG_MIN: f64 = 1.2;

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

/// A scratch directory for sockets, configs and snapshots, removed on drop.
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

/// What every scale's run shares.
struct Ctx<'a> {
    args: &'a cli::Args,
    bin: PathBuf,
    /// The private copy of the `--baseline` binary.
    baseline: Option<PathBuf>,
    scratch: PathBuf,
    url: String,
    redis: Option<(RedisAddr, u32)>,
}

async fn run(args: cli::Args, command: String) -> Result<()> {
    let started = Instant::now();
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
    let baseline = match &args.baseline {
        Some(b) => {
            if !b.exists() {
                bail!("--baseline: no stockd binary at {}", b.display());
            }
            machine.baseline(b);
            let copy = scratch.0.join("stockd-baseline");
            std::fs::copy(b, &copy).with_context(|| format!("copying {}", b.display()))?;
            Some(copy)
        }
        None => None,
    };

    let url = prepare::ensure_database(&args.pg_url).await?;
    let pg = prepare::connect(&url).await?;
    machine.postgres_version = prepare::show(&pg, "server_version").await?;
    machine.postgres_shared_buffers = prepare::show(&pg, "shared_buffers").await?;
    drop(pg);
    let redis = match &args.redis {
        Some(addr) => {
            let mut c = RespConn::connect(addr, args.redis_db)
                .await
                .with_context(|| {
                    format!("Redis at {addr} is not reachable (pass --no-redis to leave it out)")
                })?;
            let info = redis::info(&mut c).await?;
            machine.redis_version = info.version.clone();
            step(&format!(
                "Redis {} at {addr}, db {} (pid {})",
                info.version, args.redis_db, info.pid
            ));
            Some((addr.clone(), args.redis_db))
        }
        None => None,
    };
    let ctx = Ctx {
        args: &args,
        bin: private_bin,
        baseline,
        scratch: scratch.0.clone(),
        url,
        redis,
    };
    let mut scales = Vec::new();
    for &scale in &args.scales {
        let t = Instant::now();
        let r = run_scale(&ctx, scale).await?;
        step(&format!(
            "{scale} scale done in {:.0} s",
            t.elapsed().as_secs_f64()
        ));
        scales.push(r);
    }

    let checks = checks(&scales, ctx.redis.is_some());
    let fits = report::fits(&scales);
    let mut results = Results {
        command,
        machine,
        concurrency: args.concurrency.clone(),
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        client_decode: args.decode,
        redis: ctx.redis.as_ref().map(|(a, db)| format!("{a}, db {db}")),
        scales,
        fits,
        checks,
        charts: Vec::new(),
        chart_note: None,
        notes: {
            let mut n = notes(&args);
            for op in &args.ops {
                n.push(format!("`{op}`: {}.", op.describe()));
            }
            n
        },
        total_s: 0.0,
    };
    match charts::write_all(&results, &args.out) {
        Ok(files) => results.charts = files,
        Err(e) => {
            step(&format!("charts not written: {e:#}"));
            results.chart_note = Some(format!("charts not written: {e:#}"));
        }
    }
    results.total_s = started.elapsed().as_secs_f64();
    let md = report::markdown(&results);
    let md_path = args.out.join("report.md");
    let json_path = args.out.join("results.json");
    std::fs::write(&md_path, &md)?;
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)?)?;
    println!("{md}");
    step(&format!(
        "wrote {} and {} ({:.0} s in all)",
        md_path.display(),
        json_path.display(),
        results.total_s
    ));
    Ok(())
}

fn spawn<'a>(
    ctx: &'a Ctx<'a>,
    bin: &'a Path,
    ds: &'a DataSet,
    run: usize,
    label: &'a str,
    config: &'a str,
) -> Result<StockdProcess> {
    StockdProcess::spawn(SpawnArgs {
        bin,
        dir: &ctx.scratch,
        run,
        label,
        log_dir: &ctx.args.out,
        database_url: &ctx.url,
        table: &ds.table,
        window_days: ds.window_days,
        config,
    })
}

async fn run_scale(ctx: &Ctx<'_>, scale: Scale) -> Result<ScaleResult> {
    let args = ctx.args;
    let url = &ctx.url;
    let pg = prepare::connect(url).await?;
    let ds = prepare::ensure_table(&pg, scale, args.regenerate).await?;
    let universe = Arc::new(prepare::universe(&pg, &ds).await?);
    step(&format!(
        "{scale}: window {} dates from {}, {} stocks, {} industries, {} rows",
        universe.dates.len(),
        ds.window_start,
        universe.codes.len(),
        universe.industries.len(),
        universe.pairs.len()
    ));
    let natural = prepare::natural_width(&pg, &ds).await?;

    // Load, interleaved: drain, daemon, drain, daemon, …; the last daemon
    // stays up for the rest.
    let copy_sql = ds.copy_sql();
    let mut runs = Vec::new();
    let mut drains = Vec::new();
    let mut kept: Option<StockdProcess> = None;
    let mut admin_after_load: Option<Value> = None;
    for i in 1..=args.load_runs {
        let d = load::drain(url, &copy_sql).await.context("COPY drain")?;
        step(&format!(
            "{scale} load {i}/{}: COPY drain {:.0} ms ({:.1} MiB)",
            args.load_runs,
            d.ms,
            d.bytes as f64 / 1_048_576.0
        ));
        drains.push(d);
        if let Some(mut prev) = kept.take() {
            prev.terminate(Duration::from_secs(15))?;
        }
        let label = format!("{scale}-{i}");
        // The last run also writes the snapshot the warm restart reads
        // (streamed to disk after the load; not in RSS).
        let config = if i == args.load_runs {
            snapshot_config(ctx, &ds)?
        } else {
            String::new()
        };
        let mut p = spawn(ctx, &ctx.bin, &ds, i, &label, &config)?;
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
            "{scale} load {i}/{}: stockd ready after {:.0} ms, load_ms {}, RSS {:.1} MiB",
            args.load_runs,
            wall.as_secs_f64() * 1000.0,
            load_ms.map_or("?".into(), |v| v.to_string()),
            mem_after_ready.map_or(0.0, |m| m.rss_bytes as f64 / 1_048_576.0)
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
    // Nothing is timed while the snapshot is still being written.
    let snapshot_file = snapshot_dir(ctx, &ds).join("store.snapshot");
    let deadline = Instant::now() + Duration::from_secs(180);
    while !snapshot_file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let last = load.runs.last().context("no load run")?;
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
        pg_total_bytes: natural.total_bytes,
        redis_used_memory: None,
        redis_used_memory_delta: None,
        columns: admin_after_load
            .as_ref()
            .and_then(|a| a.pointer("/store/column_bytes"))
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default(),
        index_bytes: admin_after_load
            .as_ref()
            .and_then(|a| a.pointer("/store/index_bytes"))
            .and_then(Value::as_u64),
    };

    // Redis, from the same rows.
    let mut redis_load: Option<RedisLoad> = None;
    let mut redis_target: Option<RedisTarget> = None;
    let redis = ctx.redis.as_ref().filter(|_| !scale.memory_only());
    if let Some((addr, db)) = redis {
        step(&format!("{scale}: loading Redis ({addr}, db {db})"));
        let l = redis::load(url, &ds, addr, *db)
            .await
            .context("loading Redis")?;
        step(&format!(
            "{scale}: Redis loaded {} rows ({} commands) in {:.0} ms; used_memory {:.1} MiB (+{:.1} MiB)",
            l.rows,
            l.commands,
            l.load_ms,
            l.used_memory_after as f64 / 1_048_576.0,
            l.used_memory_delta as f64 / 1_048_576.0
        ));
        memory.redis_used_memory = Some(l.used_memory_after);
        memory.redis_used_memory_delta = Some(l.used_memory_delta);
        let mut c = RespConn::connect(addr, *db).await?;
        let info = redis::info(&mut c).await?;
        redis_target = Some(RedisTarget {
            addr: addr.clone(),
            db: *db,
            pid: info.pid,
            universe: universe.clone(),
        });
        redis_load = Some(l);
    }

    let baseline = match &ctx.baseline {
        Some(bin) => Some(baseline_load(ctx, bin, &ds, &load).await?),
        None => None,
    };

    // Answers agree before anything is timed.
    let mut sanity = sanity_checks(&daemon.socket, &pg, &ds, &universe).await?;
    let lossless = lossless::sampled_rows(&daemon.socket, &pg, &ds, &universe).await?;
    sanity.push(lossless.summary());
    if let Some(rt) = &redis_target {
        sanity.push(redis_sanity(rt, &pg, &ds, &universe).await?);
    }
    for s in &sanity {
        step(s);
    }

    // Requests: op × concurrency × target.
    let max_c = args.concurrency.iter().copied().max().unwrap_or(1);
    let pg_target = PostgresTarget::new(
        url,
        max_c as u32,
        &ds.quoted,
        &args.ops,
        universe.clone(),
        args.decode,
    )
    .await?;
    let base_target = baseline.as_ref().map(|(p, _)| StockdTarget {
        name: "baseline",
        socket: p.socket.clone(),
        pid: p.pid,
        decode: args.decode,
        universe: universe.clone(),
    });
    let sd_target = StockdTarget {
        name: "stockd",
        socket: daemon.socket.clone(),
        pid: daemon.pid,
        decode: args.decode,
        universe: universe.clone(),
    };
    let mut stats: Vec<OpStats> = Vec::new();
    let ops: &[Op] = if scale.memory_only() { &[] } else { &args.ops };
    for op in ops {
        for &clients in &args.concurrency {
            let cfg = RunConfig {
                clients,
                warmup: args.warmup,
                duration: args.duration,
                max_requests: args.max_requests,
                seed: args.seed,
            };
            for which in ["stockd", "baseline", "postgres", "redis"] {
                let st = match which {
                    "stockd" => runner::run(&sd_target, *op, universe.clone(), &cfg).await?,
                    "baseline" => match &base_target {
                        Some(bt) if op.has_baseline() => {
                            runner::run(bt, *op, universe.clone(), &cfg).await?
                        }
                        _ => continue,
                    },
                    "postgres" => runner::run(&pg_target, *op, universe.clone(), &cfg).await?,
                    _ => match &redis_target {
                        Some(rt) if op.has_redis() => {
                            runner::run(rt, *op, universe.clone(), &cfg).await?
                        }
                        _ => continue,
                    },
                };
                step(&format!(
                    "{scale} {op} ×{clients} {which}: {:.0} req/s, p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, {:.1} items/req, {} errors",
                    st.throughput, st.p50_us, st.p99_us, st.p999_us, st.rows_per_request, st.errors
                ));
                if let Some(e) = &st.first_error {
                    step(&format!("  first error: {e}"));
                }
                stats.push(st);
            }
        }
    }
    memory.after_run = daemon.proc_mem();
    let admin_after_run = daemon.admin_status().await.ok().flatten();
    let decode = diag::decode_costs(&sd_target, &pg_target, ops)
        .await
        .unwrap_or_else(|e| {
            step(&format!("decode-cost measurement failed: {e:#}"));
            Vec::new()
        });
    drop(pg_target);
    let baseline = baseline.map(|(mut p, b)| {
        match p.terminate(Duration::from_secs(15)) {
            Ok(st) => step(&format!("baseline stockd stopped with SIGTERM ({st})")),
            Err(e) => step(&format!("stopping the baseline stockd: {e:#}")),
        }
        b
    });
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

    // Warm restart and a new day: not for the memory-only data sets.
    let (warm, refresh) = if scale.memory_only() {
        (None, None)
    } else {
        (
            warm_restart_step(ctx, &ds).await,
            refresh_step(ctx, &ds, &pg).await,
        )
    };

    if let Some((addr, db)) = redis {
        let mut c = RespConn::connect(addr, *db).await?;
        let n = redis::clear(&mut c).await?;
        step(&format!("{scale}: deleted the benchmark's {n} Redis keys"));
    }

    let mut plans = Vec::new();
    for op in ops {
        let sql = literal_sql(*op, &ds, &universe);
        plans.push((format!("`{op}`"), prepare::explain(&pg, &sql).await?));
    }
    Ok(ScaleResult {
        scale,
        data: ds,
        natural_width: natural,
        load,
        baseline,
        warm,
        refresh,
        memory,
        redis_load,
        ops: stats,
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
        lossless,
        plans,
        warnings,
    })
}

/// The `--baseline` binary loads the same rows once (no snapshot); it is
/// left running for the request runs.
async fn baseline_load(
    ctx: &Ctx<'_>,
    bin: &Path,
    ds: &DataSet,
    load: &LoadResult,
) -> Result<(StockdProcess, BaselineLoad)> {
    let label = format!("{}-baseline", ds.scale);
    let mut p = spawn(ctx, bin, ds, 90, &label, "")?;
    let (wall, info) = p
        .wait_ready(READY_TIMEOUT)
        .await
        .context("baseline stockd")?;
    let mem = p.proc_mem();
    let log = p.load_line().await;
    let rows = info.get("rows").and_then(Value::as_u64).unwrap_or(0);
    if rows != ds.rows {
        bail!(
            "the baseline stockd serves {rows} rows, the table has {}",
            ds.rows
        );
    }
    let admin = p.admin_status().await.ok().flatten();
    let at = |ptr: &str| {
        admin
            .as_ref()
            .and_then(|a| a.pointer(ptr))
            .and_then(Value::as_u64)
    };
    let load_ms = at("/store/load_ms").or(log.load_ms);
    let store_bytes =
        at("/store/bytes").or(log.store_mib.map(|m| (m * 1_048_576.0).round() as u64));
    let b = BaselineLoad {
        wall_ready_ms: wall.as_secs_f64() * 1000.0,
        load_ms,
        ratio: load_ms.map(|l| l as f64 / load.best_drain_ms),
        after_load: mem,
        store_bytes,
        store_bytes_per_row: store_bytes.map(|v| v as f64 / ds.rows as f64),
    };
    step(&format!(
        "{} baseline: ready after {:.0} ms, load_ms {}, RSS {:.1} MiB, store {:.1} B/row",
        ds.scale,
        b.wall_ready_ms,
        load_ms.map_or("?".into(), |v| v.to_string()),
        mem.map_or(0.0, |m| m.rss_bytes as f64 / 1_048_576.0),
        b.store_bytes_per_row.unwrap_or(0.0)
    ));
    Ok((p, b))
}

/// Warm restart: one daemon with a snapshot dir loads and writes the
/// snapshot; the next start is timed to its first answer.
async fn warm_restart_step(ctx: &Ctx<'_>, ds: &DataSet) -> Option<WarmRestart> {
    match warm_restart(ctx, ds).await {
        Ok(w) => Some(w),
        Err(e) => {
            step(&format!("{}: warm restart not measured: {e:#}", ds.scale));
            None
        }
    }
}

/// A new day while a daemon serves: read alone, or the whole table.
async fn refresh_step(
    ctx: &Ctx<'_>,
    ds: &DataSet,
    pg: &tokio_postgres::Client,
) -> Option<RefreshResult> {
    match refresh_one_day(ctx, ds, pg).await {
        Ok(r) => Some(r),
        Err(e) => {
            step(&format!(
                "{}: refresh of one new day not measured: {e:#}",
                ds.scale
            ));
            None
        }
    }
}

fn snapshot_dir(ctx: &Ctx<'_>, ds: &DataSet) -> PathBuf {
    ctx.scratch.join(format!("snapshot-{}", ds.scale))
}

/// Config TOML pointing `[snapshot] dir` at a fresh directory for `ds`.
fn snapshot_config(ctx: &Ctx<'_>, ds: &DataSet) -> Result<String> {
    let dir = snapshot_dir(ctx, ds);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(format!("[snapshot]\ndir = \"{}\"\n", dir.display()))
}

/// Starts a daemon on the snapshot the last cold run wrote and times its
/// first answer.
async fn warm_restart(ctx: &Ctx<'_>, ds: &DataSet) -> Result<WarmRestart> {
    let dir = snapshot_dir(ctx, ds);
    let file = dir.join("store.snapshot");
    if !file.exists() {
        bail!("the last cold run wrote no snapshot at {}", file.display());
    }
    let config = format!("[snapshot]\ndir = \"{}\"\n", dir.display());
    let snapshot_bytes = std::fs::metadata(&file)?.len();
    let label = format!("{}-warm", ds.scale);
    let mut warm = spawn(ctx, &ctx.bin, ds, 91, &label, &config)?;
    let (wall, info) = warm.wait_ready(READY_TIMEOUT).await?;
    let mem = warm.proc_mem();
    let stale = info.pointer("/source/stale").and_then(Value::as_bool);
    let rows = info.get("rows").and_then(Value::as_u64).unwrap_or(0);
    let _ = warm.terminate(Duration::from_secs(15));
    let _ = std::fs::remove_dir_all(&dir);
    step(&format!(
        "{}: warm restart: first answer after {:.0} ms (snapshot {:.1} MiB, stale {stale:?}, {rows} rows)",
        ds.scale,
        wall.as_secs_f64() * 1000.0,
        snapshot_bytes as f64 / 1_048_576.0
    ));
    Ok(WarmRestart {
        first_answer_ms: wall.as_secs_f64() * 1000.0,
        snapshot_bytes,
        served_stale: stale,
        rows,
        rss_bytes: mem.map(|m| m.rss_bytes),
    })
}

/// Samples a process's RSS every 5 ms until dropped; `peak()` is the
/// highest seen.
struct RssSampler {
    peak: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, st) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                if let Some(m) = daemon::proc_mem(pid) {
                    p.fetch_max(m.rss_bytes, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        RssSampler { peak, stop }
    }

    fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A process's RSS peak over a stretch of time: sampled every 5 ms, and
/// VmHWM, reset at the start (Linux `clear_refs` 5) where the kernel allows.
struct PeakWatch {
    pid: u32,
    hwm_reset: bool,
    sampler: RssSampler,
}

impl PeakWatch {
    fn start(pid: u32) -> PeakWatch {
        let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        PeakWatch {
            pid,
            hwm_reset,
            sampler: RssSampler::start(pid),
        }
    }

    /// After 200 ms more: the highest sample, and VmHWM (`None` when it
    /// could not be reset).
    async fn finish(self) -> (u64, Option<u64>) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sampled = self.sampler.peak();
        let hwm = self
            .hwm_reset
            .then(|| daemon::proc_mem(self.pid).map(|m| m.peak_rss_bytes))
            .flatten();
        (sampled, hwm)
    }
}

/// The newest date of `ds`'s table, in PostgreSQL days.
async fn last_day(ds: &DataSet, pg: &tokio_postgres::Client) -> Result<i32> {
    if !ds.columns.iter().any(|c| c.name == "date") {
        bail!("the table has no column named date");
    }
    pg.query_one(
        &format!(
            "SELECT (max(date) - DATE '2000-01-01') FROM {t}",
            t = ds.quoted
        ),
        &[],
    )
    .await?
    .get::<_, Option<i32>>(0)
    .context("empty table")
}

/// What adding one day showed: see [`add_day`].
struct NewDay {
    new_rows: u64,
    served_ms: f64,
    peak_rss_sampled: u64,
    peak_rss_hwm: Option<u64>,
    /// `admin.status` → `store` once the day is served.
    store: Value,
}

/// Adds the day after `last` to the table (the last day's rows, one day
/// later), sends NOTIFY and times it until daemon `d` serves the new date,
/// watching its RSS. The caller deletes the day again.
async fn add_day(
    ds: &DataSet,
    pg: &tokio_postgres::Client,
    d: &StockdProcess,
    c: &mut HttpConn,
    last: i32,
) -> Result<NewDay> {
    let list: Vec<&str> = ds
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| *n != "id")
        .collect();
    let select: Vec<String> = list
        .iter()
        .map(|n| match *n {
            "date" => "date + 1".to_string(),
            "updated_at" | "created_at" => "now()".to_string(),
            other => prepare::quote_ident(other),
        })
        .collect();
    let insert = format!(
        "INSERT INTO {t} ({cols}) SELECT {sel} FROM {t} WHERE date = DATE '2000-01-01' + {last}",
        t = ds.quoted,
        cols = list
            .iter()
            .map(|n| prepare::quote_ident(n))
            .collect::<Vec<_>>()
            .join(", "),
        sel = select.join(", "),
    );
    let new_rows = pg.execute(&insert, &[]).await.context("adding a day")?;
    let new_date = pg
        .query_one(
            &format!("SELECT (DATE '2000-01-01' + {last} + 1)::text"),
            &[],
        )
        .await?
        .get::<_, String>(0);
    let watch = PeakWatch::start(d.pid);
    let t0 = Instant::now();
    pg.batch_execute("NOTIFY stockd_refresh").await?;
    loop {
        let i = c.call("market.info", json!({})).await?;
        if i.pointer("/dates/last").and_then(Value::as_str) == Some(new_date.as_str()) {
            break;
        }
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("the new date {new_date} was not served within 300 s: {i}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let served_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (peak_rss_sampled, peak_rss_hwm) = watch.finish().await;
    let st = c.call("admin.status", json!({})).await?;
    Ok(NewDay {
        new_rows,
        served_ms,
        peak_rss_sampled,
        peak_rss_hwm,
        store: st.get("store").cloned().unwrap_or_default(),
    })
}

/// `DELETE` of the rows after `last`: the added day.
fn delete_after(ds: &DataSet, last: i32) -> String {
    format!(
        "DELETE FROM {t} WHERE date > DATE '2000-01-01' + {last}",
        t = ds.quoted
    )
}

/// Adds one trading day to the table (the last day's rows, one day later)
/// while a daemon holding the whole table serves it, and times NOTIFY →
/// the new date served, with the RSS peak; then a full `store.reload` of
/// the same daemon. The added day is deleted again afterwards. Then the
/// same day again for a daemon whose window holds as many days as the
/// table (the data set's `window_days`), which drops the oldest date.
async fn refresh_one_day(
    ctx: &Ctx<'_>,
    ds: &DataSet,
    pg: &tokio_postgres::Client,
) -> Result<RefreshResult> {
    let last = last_day(ds, pg).await?;
    let whole = DataSet {
        window_days: 0,
        ..ds.clone()
    };
    let label = format!("{}-refresh", ds.scale);
    let config = "[source]\nrefresh_interval = \"1h\"\n";
    let mut d = spawn(ctx, &ctx.bin, &whole, 92, &label, config)?;
    let (_, info) = d.wait_ready(READY_TIMEOUT).await?;
    let rows = info.get("rows").and_then(Value::as_u64).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = d.proc_mem().map_or(0, |m| m.rss_bytes);
    let measured = async {
        let mut c = HttpConn::connect(&d.socket).await?;
        let day = add_day(ds, pg, &d, &mut c, last).await?;
        let store = &day.store;

        // The same daemon, a full reload.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let watch = PeakWatch::start(d.pid);
        let t1 = Instant::now();
        c.call("store.reload", json!({})).await?;
        let full_ms = t1.elapsed().as_secs_f64() * 1000.0;
        let (full_peak_rss_sampled, full_peak_rss_hwm) = watch.finish().await;
        let r = RefreshResult {
            new_rows: day.new_rows,
            rss_before,
            served_ms: day.served_ms,
            peak_rss_sampled: day.peak_rss_sampled,
            peak_rss_hwm: day.peak_rss_hwm,
            read_kind: store["read_kind"].as_str().unwrap_or("?").to_string(),
            read_rows: store["read_rows"].as_u64().unwrap_or(0),
            read_dates: store["read_dates"].as_u64().unwrap_or(0),
            full_ms,
            full_peak_rss_sampled,
            full_peak_rss_hwm,
            window: None,
        };
        step(&format!(
            "{}: one new day ({} rows) served {:.0} ms after NOTIFY, read {} {} rows / {} dates, RSS {:.1} MiB, peak +{:.1} MiB; full store.reload {:.0} ms, peak +{:.1} MiB",
            ds.scale,
            r.new_rows,
            r.served_ms,
            r.read_kind,
            r.read_rows,
            r.read_dates,
            r.rss_before as f64 / 1_048_576.0,
            r.refresh_over() as f64 / 1_048_576.0,
            r.full_ms,
            r.full_over() as f64 / 1_048_576.0,
        ));
        Ok::<_, anyhow::Error>(r)
    }
    .await;
    let cleaned = pg.execute(&delete_after(ds, last), &[]).await;
    let _ = d.terminate(Duration::from_secs(15));
    let mut r = measured?;
    cleaned.context("deleting the added day")?;
    if rows != ds.rows {
        bail!("the refresh daemon held {rows} rows, the table {}", ds.rows);
    }
    if ds.window_days > 0 {
        match window_one_day(ctx, ds, pg, last).await {
            Ok(w) => r.window = Some(w),
            Err(e) => step(&format!(
                "{}: a new day with a moving window not measured: {e:#}",
                ds.scale
            )),
        }
    }
    Ok(r)
}

/// A new day for a daemon whose window (`ds.window_days`) holds every
/// date of the table: the window moves by one, and the oldest date leaves.
async fn window_one_day(
    ctx: &Ctx<'_>,
    ds: &DataSet,
    pg: &tokio_postgres::Client,
    last: i32,
) -> Result<WindowRefresh> {
    let label = format!("{}-window", ds.scale);
    let config = "[source]\nrefresh_interval = \"1h\"\n";
    let mut d = spawn(ctx, &ctx.bin, ds, 93, &label, config)?;
    let measured = async {
        let (_, info) = d.wait_ready(READY_TIMEOUT).await?;
        let first = info.pointer("/dates/first").cloned().unwrap_or_default();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_before = d.proc_mem().map_or(0, |m| m.rss_bytes);
        let mut c = HttpConn::connect(&d.socket).await?;
        let day = add_day(ds, pg, &d, &mut c, last).await?;
        let after = c.call("market.info", json!({})).await?;
        let s = &day.store;
        let n = |k: &str| s[k].as_u64().unwrap_or(0);
        let w = WindowRefresh {
            window_days: ds.window_days,
            new_rows: day.new_rows,
            rss_before,
            served_ms: day.served_ms,
            peak_over: day
                .peak_rss_sampled
                .max(day.peak_rss_hwm.unwrap_or(0))
                .saturating_sub(rss_before),
            read_kind: s["read_kind"].as_str().unwrap_or("?").to_string(),
            read_rows: n("read_rows"),
            read_dates: n("read_dates"),
            dropped_dates: n("read_dropped_dates"),
            retired_rows: n("retired_rows"),
            rows_after: after.get("rows").and_then(Value::as_u64).unwrap_or(0),
            first_before: first.as_str().unwrap_or("?").to_string(),
            first_after: after
                .pointer("/dates/first")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
        };
        step(&format!(
            "{}: a new day with a {}-day window served {:.0} ms after NOTIFY, read {} {} rows / {} dates, {} dropped ({} -> {}), {} rows retired, peak +{:.1} MiB",
            ds.scale,
            w.window_days,
            w.served_ms,
            w.read_kind,
            w.read_rows,
            w.read_dates,
            w.dropped_dates,
            w.first_before,
            w.first_after,
            w.retired_rows,
            w.peak_over as f64 / 1_048_576.0,
        ));
        Ok::<_, anyhow::Error>(w)
    }
    .await;
    let cleaned = pg.execute(&delete_after(ds, last), &[]).await;
    let _ = d.terminate(Duration::from_secs(15));
    let w = measured?;
    cleaned.context("deleting the added day")?;
    Ok(w)
}

/// The SQL of `op` with literal values of a sample request (for EXPLAIN).
fn literal_sql(op: Op, ds: &DataSet, u: &Universe) -> String {
    let d = format!("'{}'", u.dates[u.dates.len() - 1].text);
    let (ci, _) = u.pairs[u.pairs.len() / 2];
    let code = format!("'{}'", u.codes[ci as usize]);
    let sql = op.sql(&ds.quoted);
    let (p1, p2) = match op {
        Op::StockGet | Op::StockGet8 => (code, d),
        Op::StockMany | Op::StockManyColumns => {
            let codes: Vec<String> = many_codes(0, u.codes.len())
                .map(|c| format!("'{}'", u.codes[c as usize]))
                .collect();
            (d, format!("ARRAY[{}]::varchar[]", codes.join(",")))
        }
        Op::StockTop | Op::StockTopColumns | Op::Hotspots => (d, String::new()),
        Op::StockHistory => (code, String::new()),
        Op::StockList => (
            format!("'{}'", u.dates[0].text),
            format!(
                "'{}'",
                u.industries
                    .first()
                    .map_or("", String::as_str)
                    .replace('\'', "''")
            ),
        ),
        Op::IndustryDetail => (
            d,
            format!(
                "'{}'",
                u.industries
                    .first()
                    .map_or("", String::as_str)
                    .replace('\'', "''")
            ),
        ),
    };
    sql.replace("$2", &p2).replace("$1", &p1)
}

fn checks(scales: &[ScaleResult], with_redis: bool) -> Vec<Check> {
    let mut out = Vec::new();
    for s in scales {
        let sc = s.scale;
        let find = |op: Op, t: &str| {
            s.ops
                .iter()
                .find(|x| x.op == op && x.target == t && x.clients == TARGET_CLIENTS)
        };
        out.push(Check::new(
            format!("{sc}: load time / binary COPY drain (issue 2)"),
            s.load.ratio,
            Goal::AtMost(LOAD_RATIO_MAX),
            "×",
        ));
        if let Some(a) = find(Op::StockGet, "stockd") {
            if with_redis {
                out.push(Check::new(
                    format!("{sc}: `stock.get` all columns, {TARGET_CLIENTS} clients: throughput stockd / Redis HGETALL"),
                    find(Op::StockGet, "redis").map(|b| a.throughput / b.throughput),
                    Goal::AtLeast(GET_VS_REDIS_MIN),
                    "×",
                ));
            }
            out.push(Check::new(
                format!("{sc}: `stock.get` all columns, {TARGET_CLIENTS} clients: stockd p99"),
                Some(a.p99_us),
                Goal::AtMost(GET_P99_MAX_US),
                "µs",
            ));
        }
        if let Some(a) = find(Op::StockTop, "stockd") {
            out.push(Check::new(
                format!("{sc}: `stock.top` n=20, {TARGET_CLIENTS} clients: throughput stockd / PostgreSQL"),
                find(Op::StockTop, "postgres").map(|b| a.throughput / b.throughput),
                Goal::AtLeast(TOP_VS_PG_MIN),
                "×",
            ));
            if with_redis {
                out.push(Check::new(
                    format!("{sc}: `stock.top` n=20, {TARGET_CLIENTS} clients: throughput stockd / Redis"),
                    find(Op::StockTop, "redis").map(|b| a.throughput / b.throughput),
                    Goal::AtLeast(TOP_VS_REDIS_MIN),
                    "×",
                ));
            }
        }
        for (op, goal, what) in [
            (
                Op::StockTopColumns,
                TOP_COLUMNS_VS_PG_MIN,
                "`stock.top` n=20 layout=columns",
            ),
            (
                Op::StockManyColumns,
                MANY_COLUMNS_VS_PG_MIN,
                "`stock.many` 50 codes layout=columns",
            ),
        ] {
            if let Some(a) = find(op, "stockd") {
                out.push(Check::new(
                    format!(
                        "{sc}: {what}, {TARGET_CLIENTS} clients: throughput stockd / PostgreSQL"
                    ),
                    find(op, "postgres").map(|b| a.throughput / b.throughput),
                    Goal::AtLeast(goal),
                    "×",
                ));
            }
        }
        for (op, goal) in [
            (Op::StockGet, GET_VS_BASELINE_MIN),
            (Op::StockTop, SCAN_VS_BASELINE_MIN),
            (Op::StockHistory, SCAN_VS_BASELINE_MIN),
            (Op::Hotspots, SCAN_VS_BASELINE_MIN),
            (Op::IndustryDetail, SCAN_VS_BASELINE_MIN),
        ] {
            if let (Some(a), Some(b)) = (find(op, "stockd"), find(op, "baseline")) {
                out.push(Check::new(
                    format!("{sc}: `{op}`, {TARGET_CLIENTS} clients: throughput stockd / baseline binary (issue #13)"),
                    Some(a.throughput / b.throughput),
                    Goal::AtLeast(goal),
                    "×",
                ));
            }
        }
        if let Some(f) = &s.refresh {
            out.push(Check::new(
                format!("{sc}: one new trading day served after NOTIFY (issue #13)"),
                Some(f.served_ms),
                Goal::AtMost(REFRESH_MAX_MS),
                "ms",
            ));
            out.push(Check::new(
                format!("{sc}: peak RSS over steady while a new day is added (issue #13)"),
                Some(f.refresh_over() as f64 / 1_048_576.0),
                Goal::AtMost(REFRESH_PEAK_MAX_MIB),
                "MiB",
            ));
            if let Some(w) = &f.window {
                out.push(Check::new(
                    format!(
                        "{sc}: a new day with a moving window: rows read / rows added (issue #13)"
                    ),
                    Some(w.read_rows as f64 / w.new_rows.max(1) as f64),
                    Goal::AtMost(1.0),
                    "×",
                ));
            }
        }
        out.push(Check::new(
            format!("{sc}: sampled rows that differ from PostgreSQL in any column (issue #13)"),
            Some(s.lossless.differing_rows as f64),
            Goal::AtMost(0.0),
            "rows",
        ));
        let (per_row_max, rss_max) = match sc {
            Scale::Seed => (Some(STORE_PER_ROW_MAX), None),
            Scale::Year => (Some(STORE_PER_ROW_MAX), Some(YEAR13_RSS_MAX_MIB)),
            Scale::SeedVendor => (Some(VENDOR_PER_ROW_MAX), None),
            Scale::YearVendor => (Some(VENDOR_PER_ROW_MAX), Some(VENDOR_YEAR_RSS_MAX_MIB)),
            Scale::Quarter => (None, None),
        };
        if let Some(max) = per_row_max {
            out.push(Check::new(
                format!("{sc}: stockd store bytes per row (issue #13)"),
                s.memory.store_bytes_per_row,
                Goal::AtMost(max),
                "B",
            ));
        }
        if let Some(max) = rss_max {
            out.push(Check::new(
                format!("{sc}: stockd RSS after load (issue #13)"),
                s.memory
                    .after_load
                    .map(|m| m.rss_bytes as f64 / 1_048_576.0),
                Goal::AtMost(max),
                "MiB",
            ));
        }
        if with_redis && !sc.memory_only() {
            let rss = s.memory.after_load.map(|m| m.rss_bytes as f64);
            out.push(Check::new(
                format!("{sc}: stockd RSS after load / Redis used_memory for the rows"),
                rss.zip(s.memory.redis_used_memory_delta)
                    .map(|(a, b)| a / b as f64),
                Goal::AtMost(MEM_VS_REDIS_MAX),
                "×",
            ));
        }
        if sc == Scale::Year {
            out.push(Check::new(
                "year: stockd RSS after load",
                s.memory
                    .after_load
                    .map(|m| m.rss_bytes as f64 / 1_048_576.0),
                Goal::AtMost(YEAR_RSS_MAX_MIB),
                "MiB",
            ));
        }
    }
    if scales.len() >= 2 {
        for clients in [1, TARGET_CLIENTS] {
            let p50: Vec<f64> = scales
                .iter()
                .filter_map(|s| {
                    s.ops
                        .iter()
                        .find(|x| {
                            x.op == Op::StockGet && x.target == "stockd" && x.clients == clients
                        })
                        .map(|x| x.p50_us)
                })
                .collect();
            if p50.len() == scales.len() {
                let max = p50.iter().copied().fold(f64::MIN, f64::max);
                let min = p50.iter().copied().fold(f64::MAX, f64::min);
                out.push(Check::new(
                    format!(
                        "`stock.get` p50 across scales ({clients} client{}): max / min",
                        if clients == 1 { "" } else { "s" }
                    ),
                    Some(max / min),
                    Goal::AtMost(FLAT_P50_MAX),
                    "×",
                ));
            }
        }
    }
    out
}

fn notes(args: &cli::Args) -> Vec<String> {
    vec![
        format!(
            "Load: per scale, `stockd --table <t> --window-days <days>` started {} times (fresh process each, config file \
             with defaults only, `STOCKD_*` and `STATE_DIRECTORY` unset), interleaved with as many drains of the daemon's \
             own query `COPY (SELECT <all columns> FROM <t> WHERE date >= <window start>) TO STDOUT (FORMAT binary)` \
             through tokio-postgres `copy_out` on a fresh connection (connecting not timed). Best of each is compared. \
             `load_ms` is the daemon's own figure; \"ready\" is spawn → first market.info with rows (polled every 5 ms).",
            args.load_runs
        ),
        "Warm restart: the last cold-load daemon of each scale has `[snapshot] dir` set and writes its snapshot after \
         loading (requests start once the file is there); after the request runs it is stopped and a new daemon \
         with the same dir is started; the figure is spawn → first market.info with rows (served from the snapshot, \
         marked stale, while its own load from PostgreSQL runs)."
            .to_string(),
        format!(
            "Vendor-style data sets (`seed-vendor`, `year-vendor`; issue #13's gen-style data): the rows of `seed` and \
             `year`, copied by `INSERT … SELECT` in (date, code) order with every `double precision` column stored as \
             `round(x::numeric, k)::float8`, the double nearest its rounded decimal, as a vendor's daily table holds them \
             (k = 2 for amounts, shares and volumes: {}; k = 4 for every other double; NULL, NaN and ±Infinity kept). \
             Measured for load and memory only.",
            scale::VENDOR_TWO_DECIMALS.join(", ")
        ),
        format!(
            "Sampled rows (issue #13's lossless check at every scale): {} (code, date) pairs drawn at random from the \
             window, each read from PostgreSQL through the tests' losslessness oracle (`stockd_tests::compare`: doubles \
             and reals bit for bit, numeric digit for digit against `::text`, dates and timestamps as text, NULL as null) \
             and from the daemon by `stock.get`; a row differs if any column does.",
            lossless::SAMPLED_ROWS
        ),
        "Memory: RSS is VmRSS from /proc/<pid>/status right after the first answer and again after all request runs \
         of the scale (the mixed run). Redis: `used_memory` from `INFO memory` after loading, minus `used_memory` \
         before loading with the benchmark's keys deleted (the rows' cost; the raw figure is shown too). \
         PostgreSQL: `pg_total_relation_size` of the table (heap, TOAST, all indexes)."
            .to_string(),
        format!(
            "Requests: closed loop; for every operation, concurrency level ({}) and target in turn: that many clients, \
             {:?} warm-up (not recorded) then {:?} recorded. Throughput = answered requests started in the recorded \
             window / its length; latency from before encoding the request to after decoding the answer, every \
             request recorded (exact percentiles from the sorted samples). Each client draws the same deterministic \
             (SplitMix64) request sequence on every target. Every request has a 5 s timeout.",
            args.concurrency.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "),
            args.warmup,
            args.duration
        ),
        "stockd client (decodes): one keep-alive HTTP/1.1 connection per client on the Unix socket (a minimal \
         hand-written client: one write per request), JSON-RPC 2.0 `POST /`; every answer is parsed with \
         `serde_json::from_slice` into a `serde_json::Value` (every column of every row becomes an owned JSON \
         number/string/bool/null) and its shape checked (items counted: rows, history dates, industries)."
            .to_string(),
        "PostgreSQL client (decodes): a bb8-postgres pool with one connection per client at the highest concurrency, \
         all open before measuring, every statement prepared once per connection; a request checks a connection \
         out, runs its prepared statement (one round trip, binary results) and decodes every column of every row \
         with `row.try_get` into owned values (ints, floats, bool, date and timestamps as integers, text into \
         String, numeric exactly into a scaled i128). The SQL of each operation is listed with its plan at the end."
            .to_string(),
        "Redis client (decodes): one connection per client (a minimal hand-written RESP2 client, like the stockd \
         one: commands of a pipeline encoded into one buffer and sent with one write, replies parsed from a read \
         buffer; no multiplexer). Every bulk string of every reply becomes an owned `String` (HGETALL: (field, \
         value) pairs of every column; HMGET: `Option<String>` per field) — Redis holds text, so text is its \
         natural decoded form; the industry views additionally parse the numbers they compute with into f64. \
         Per operation: `stock.get` = HGETALL; `stock.get/8` = HMGET of the 8 fields; `stock.many` = 50 pipelined \
         HGETALLs; `stock.top` = ZREVRANGE of the (date, pct_chg) sorted set, then 20 pipelined HGETALLs (two \
         round trips); `stock.history` = one pipelined HMGET of the 10 fields per date of the window; \
         `hotspots.ranking` = SMEMBERS of the date's code set, pipelined HMGET of the 9 fields the view reads for \
         every code, then grouping, statistics, heat and leaders in the client; `industry.detail` = the same over \
         the (date, industry) code set. Redis has no query engine, so the views are what a Redis user would write: \
         fetch the member rows, compute in the application."
            .to_string(),
        "Ties: stockd and PostgreSQL break `stock.top` ties by code ascending; Redis' ZREVRANGE breaks them by member \
         descending. stockd caches the derived views per date (`[cache.hotspots]`, `[cache.industry]`), so after \
         the first request of a date it answers from its cache; PostgreSQL and Redis compute every request."
            .to_string(),
        format!(
            "All three servers and the benchmark client share the same {} CPUs, so every figure includes competing \
             for them. PostgreSQL on TCP 127.0.0.1, stockd on its Unix socket, Redis as configured.",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
    ]
}

/// Before timing: a few Redis answers compared with PostgreSQL's.
async fn redis_sanity(
    rt: &RedisTarget,
    pg: &tokio_postgres::Client,
    ds: &DataSet,
    u: &Universe,
) -> Result<String> {
    use crate::target::{Target, TargetClient};
    let mut c = rt.client().await?;
    let mut rng = ops::Rng::for_client(98, Op::StockGet, 0);
    let get_sql = Op::StockGet.sql(&ds.quoted);
    let mut ok = 0;
    let mut problems = Vec::new();
    for _ in 0..20 {
        let (ci, di) = u.pairs[rng.below(u.pairs.len())];
        let n = c
            .execute(Request::Get { code: ci, date: di })
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let exists = pg
            .query_opt(
                &get_sql,
                &[&u.codes[ci as usize], &PgDate(u.dates[di as usize].days)],
            )
            .await?
            .is_some();
        if (n == 1) == exists {
            ok += 1;
        } else {
            problems.push(format!(
                "{} {}",
                u.codes[ci as usize], u.dates[di as usize].text
            ));
        }
    }
    let top_ok = {
        let mut r = ops::Rng::for_client(97, Op::StockTop, 0);
        let di = r.below(u.dates.len()) as u32;
        c.execute(Request::Top {
            date: di,
            columns: false,
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
    };
    Ok(format!(
        "Redis: {ok}/20 sampled rows present exactly when PostgreSQL has them{}; `stock.top` on a sampled date \
         returned {top_ok} of {TOP_N} rows",
        if problems.is_empty() {
            String::new()
        } else {
            format!(" — differing: {}", problems.join(", "))
        }
    ))
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
