//! The `stockd` binary: configuration, logging, the runtime, and the
//! start-up order — read and validate config, open the socket, start the
//! load, serve until SIGTERM/SIGINT, then drain and remove the socket.

use clap::Parser;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use stockd::app::reload::{ReloadRequest, Trigger};
use stockd::app::Shared;
use stockd::config::{Cli, Config};
use stockd::demo::DemoParams;
use stockd::source::{self, PgSource};
use stockd::systemd;
use stockd::transport::{self, Limits};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(10);
/// How long a stop waits for a snapshot write in progress before it
/// cancels the write (the previous snapshot stays); well inside the unit's
/// `TimeoutStopSec`.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);
/// How long the runtime's shutdown waits for its blocking tasks (a COPY
/// decode seeing its input end, a host name lookup) before the process
/// exits anyway.
const BLOCKING_WAIT: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    stockd::memory::tune_allocator();
    let cli = Cli::parse();
    let config = match Config::load(&cli, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stockd: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = stockd::memory::check_cache_caps(&config) {
        eprintln!("stockd: {e}");
        return ExitCode::from(2);
    }
    if cli.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    let exposed = stockd::config::exposed_password_warning(&cli);
    if cli.check_config {
        if let Some(w) = &exposed {
            eprintln!("stockd: warning: {w}");
        }
        // A start keeps retrying an unreachable database (under systemd it
        // may come up later); --check-config says at once that it is.
        let checked = if config.source.database_url.is_empty() {
            let demo = DemoParams::embedded();
            vec![format!(
                "source: built-in data set, no database (source.database_url is empty): {}",
                demo.describe()
            )]
        } else {
            match probe_database(&config) {
                Ok(lines) => lines,
                Err(e) => {
                    eprintln!("stockd: {e}");
                    return ExitCode::FAILURE;
                }
            }
        };
        println!(
            "stockd: configuration is valid ({})",
            match &cli.config {
                Some(path) => format!("file {}", path.display()),
                None if std::path::Path::new(stockd::config::DEFAULT_CONFIG_PATH).exists() => {
                    format!("file {}", stockd::config::DEFAULT_CONFIG_PATH)
                }
                None => "no file: defaults, environment and flags".to_string(),
            }
        );
        for line in checked {
            println!("  {line}");
        }
        println!("  socket: {}", config.server.socket.display());
        return ExitCode::SUCCESS;
    }
    if cli.export_demo {
        return export_demo();
    }
    init_logging(cli.log.as_deref());
    if let Some(w) = exposed {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(4)
        .thread_name("stockd")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stockd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(config));
    // Not a plain drop: that would wait for every blocking task, however
    // long it takes.
    runtime.shutdown_timeout(BLOCKING_WAIT);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("stockd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// How long `--check-config` waits for the database.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `--check-config`: connects to the configured database (bounded by
/// [`PROBE_TIMEOUT`]) and reads zero rows of the configured table, so an
/// unreachable server, a refused login or a missing or unreadable table is
/// reported naming host, port, database and table with PostgreSQL's words.
fn probe_database(config: &Config) -> Result<Vec<String>, String> {
    let src = &config.source;
    let env: HashMap<String, String> = std::env::vars().collect();
    let target =
        stockd::pgconn::Target::resolve(&src.database_url, &source::password_sources(config), &env)
            .map_err(|e| format!("source.database_url cannot be used: {e}"))?;
    let tls = target
        .tls()
        .map_err(|e| format!("source.database_url cannot be used: {e}"))?;
    let mut pg = target.pg_config();
    pg.connect_timeout(PROBE_TIMEOUT);
    let server = target.describe();
    let table = source::quote_table(&src.table);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let connected = tokio::time::timeout(PROBE_TIMEOUT, pg.connect(tls));
        let (client, conn) = match connected.await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(format!(
                    "cannot connect to {server}: {}",
                    source::pg_detail(&e)
                ))
            }
            Err(_) => {
                return Err(format!(
                    "cannot connect to {server}: no answer within {PROBE_TIMEOUT:?}"
                ))
            }
        };
        tokio::spawn(conn);
        let sql = format!("SELECT * FROM {table} LIMIT 0");
        let read = client.simple_query(&sql);
        match tokio::time::timeout(PROBE_TIMEOUT, read).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(format!(
                    "source.table {table} is not readable in {server}: {}",
                    source::pg_detail(&e)
                ))
            }
            Err(_) => {
                return Err(format!(
                    "source.table {table} in {server}: no answer within {PROBE_TIMEOUT:?}"
                ))
            }
        }
        let user = pg.get_user().map(str::to_string).unwrap_or_default();
        let mut lines = vec![format!(
            "source: PostgreSQL {server}{}",
            if user.is_empty() { String::new() } else { format!(" as user {user:?}") }
        )];
        // What a load would find: the columns, the rows and dates, the key,
        // semantic and change columns.
        let facts = async {
            let cols = client
                .query(
                    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
                     FROM pg_attribute a WHERE a.attrelid = to_regclass($1) \
                     AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    &[&table],
                )
                .await?;
            let cols: Vec<(String, String)> = cols.iter().map(|r| (r.get(0), r.get(1))).collect();
            let d = source::quote_ident(&config.columns.date);
            let counts = client
                .query_one(
                    &format!(
                        "SELECT count(*), min({d})::text, max({d})::text FROM {table}"
                    ),
                    &[],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>((cols, counts))
        };
        let (cols, counts) = match tokio::time::timeout(PROBE_TIMEOUT, facts).await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                return Err(format!(
                    "source.table {table} in {server}: {}",
                    source::pg_detail(&e)
                ))
            }
            Err(_) => {
                return Err(format!(
                    "source.table {table} in {server}: counting rows took longer than {PROBE_TIMEOUT:?}"
                ))
            }
        };
        let rows: i64 = counts.get(0);
        let first: Option<String> = counts.get(1);
        let last: Option<String> = counts.get(2);
        lines.push(format!(
            "table: {table}, {rows} rows{}",
            match (first, last) {
                (Some(a), Some(b)) => format!(", dates {a} to {b}"),
                _ => String::new(),
            }
        ));
        lines.push(format!(
            "columns found: {} ({})",
            cols.len(),
            cols.iter().map(|c| format!("{} {}", c.0, c.1)).collect::<Vec<_>>().join(", ")
        ));
        let has = |name: &str| cols.iter().any(|c| c.0 == name);
        for (key, col) in [("code", &config.columns.code), ("date", &config.columns.date)] {
            if !has(col) {
                return Err(format!(
                    "source.table {table} has no column {col:?} (columns.{key}); a load would fail"
                ));
            }
        }
        let missing: Vec<String> = config
            .columns
            .iter()
            .filter(|(_, col)| !has(col))
            .map(|(key, col)| format!("{key} ({col})"))
            .collect();
        lines.push(if missing.is_empty() {
            "semantic columns: all found".to_string()
        } else {
            format!(
                "semantic columns not found (what needs them answers missing_column, or null in stock.list): {}",
                missing.join(", ")
            )
        });
        let change = &src.change_column;
        lines.push(match change.as_str() {
            "" => "change column: none (source.change_column = \"\")".to_string(),
            stockd::config::CHANGE_COLUMN_AUTO => {
                match stockd::config::CHANGE_COLUMN_CANDIDATES.iter().find(|c| {
                    cols.iter().any(|(n, t)| n == *c && t.starts_with("timestamp"))
                }) {
                    Some(c) => format!("change column: {c} (found by source.change_column = \"auto\")"),
                    None => format!(
                        "change column: none found (no timestamp column named {})",
                        stockd::config::CHANGE_COLUMN_CANDIDATES.join(", ")
                    ),
                }
            }
            named if has(named) => format!("change column: {named}"),
            named => {
                return Err(format!(
                    "source.change_column {named:?} is not a column of {table}"
                ))
            }
        });
        Ok(lines)
    })
}

/// `--export-demo`: the demo data set as binary COPY on stdout.
fn export_demo() -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for chunk in stockd::demo::copy_chunks(&DemoParams::embedded(), 4096) {
        if let Err(e) = out.write_all(&chunk) {
            eprintln!("stockd: cannot write the demo data: {e}");
            return ExitCode::FAILURE;
        }
    }
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stockd: cannot write the demo data: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--log`, else `STOCKD_LOG`, else `RUST_LOG`, else `info`. Under journald
/// the journal adds its own timestamps, so we write none.
fn init_logging(flag: Option<&str>) {
    let filter = flag
        .map(str::to_string)
        .or_else(|| std::env::var("STOCKD_LOG").ok())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|e| {
        eprintln!("stockd: log filter '{filter}' is not valid ({e}); using 'info'");
        tracing_subscriber::EnvFilter::new("info")
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if systemd::journald_stream() {
        // sd-daemon priority prefixes, no timestamps: the journal adds its own.
        builder
            .with_ansi(false)
            .event_format(systemd::JournaldFormat)
            .init();
    } else {
        builder.init();
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let shared = Shared::new(&config);
    let socket = config.server.socket.clone();
    // Socket activation (stockd.socket) hands us the listener; otherwise
    // bind the configured path ourselves.
    let (listener, activated) = match systemd::listen_fds() {
        Some(std_listener) => {
            std_listener.set_nonblocking(true)?;
            (tokio::net::UnixListener::from_std(std_listener)?, true)
        }
        None => (
            transport::bind(
                &socket,
                config.server.socket_mode,
                &config.server.socket_group,
            )?,
            false,
        ),
    };
    tracing::info!(
        socket = %socket.display(),
        mode = format!("{:04o}", config.server.socket_mode),
        activated,
        "listening"
    );

    let mut hup = signal(SignalKind::hangup())?;
    // SIGTERM/SIGINT: set once; the server drains, loads in progress are
    // cancelled at once (see below), the snapshot writer gets a bounded wait.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        systemd::notify_stopping();
        stop_tx.send_replace(true);
    });
    let stopping = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // The tasks that load: aborted on stop, so a load waiting for an
    // unreachable database (up to source.pool.connection_timeout) or in
    // the middle of a COPY does not hold the exit.
    let mut loaders: Vec<tokio::task::AbortHandle> = Vec::new();
    let (tx, rx) = mpsc::channel::<ReloadRequest>(8);
    let _ = shared.reloads.set(tx.clone());
    let mut pg_source: Option<Arc<PgSource>> = None;
    let mut pg_stop: Option<Arc<PgSource>> = None;
    if config.source.database_url.is_empty() {
        let params = DemoParams::embedded();
        tracing::warn!(
            "DEMO DATA: no database configured (source.database_url / --database-url); serving the \
             embedded deterministic data set: {}",
            params.describe()
        );
        let store = tokio::task::spawn_blocking(move || {
            let store = source::load_demo(&params, 1);
            stockd::memory::release_to_os();
            store
        })
        .await??;
        tracing::info!(
            rows = store.rows(),
            store_mib = format!("{:.1}", store.heap_bytes() as f64 / 1048576.0),
            load_ms = store.info.load_ms,
            "demo store loaded"
        );
        stockd::app::reload::COUNTERS.record_load(store.info.load_ms);
        shared.swap(store);
        shared.settled.send_replace(true);
        loaders.push(tokio::spawn(source::demo_loop(shared.clone(), params, rx)).abort_handle());
    } else {
        // Reads password files and TLS keys, looks up the OS user: off
        // the async workers.
        let pg = {
            let (config, env) = (config.clone(), env.clone());
            tokio::task::spawn_blocking(move || PgSource::new(&config, &env)).await??
        };
        let pg = Arc::new(pg);
        let _ = shared.pool.set(Box::new(pg.pool().clone()));
        pg_source = Some(pg.clone());
        pg_stop = Some(pg.clone());
        tracing::info!(
            target = %pg.describe(),
            table = %config.source.table,
            window_days = config.source.window_days,
            "loading from PostgreSQL"
        );
        loaders.push(
            tokio::spawn(source::listen(
                pg.connector(),
                config.source.notify_channel.clone(),
                tx.clone(),
            ))
            .abort_handle(),
        );
        loaders.push(
            tokio::spawn(source::refresh_loop(
                pg,
                shared.clone(),
                config.source.refresh_interval,
                rx,
            ))
            .abort_handle(),
        );
    }
    let stop_loads = stop.clone();
    tokio::spawn(async move {
        stopping(stop_loads).await;
        for l in &loaders {
            l.abort();
        }
    });

    if let Some(addr) = config.metrics.listen {
        let tcp = transport::metrics_tcp::bind(addr).await?;
        tracing::info!(%addr, "serving /metrics over TCP (metrics.listen)");
        tokio::spawn(transport::metrics_tcp::serve(
            tcp,
            shared.clone(),
            config.server.client_timeout,
            stopping(stop.clone()),
        ));
    }
    stockd::governor::spawn_thread(shared.clone(), Duration::from_secs(1), |s| {
        (&s.governor, &s.caches)
    })?;
    let server = tokio::spawn(transport::serve(
        listener,
        shared.clone(),
        Limits {
            max_connections: config.server.max_connections,
            max_request_bytes: u32::try_from(config.server.max_request_bytes).unwrap_or(u32::MAX),
            client_timeout: config.server.client_timeout,
        },
        stopping(stop.clone()),
        DRAIN,
    ));

    // READY once the socket listens and a store is served (loaded or
    // restored), or the first load failed with nothing to restore.
    let mut settled = shared.settled.subscribe();
    tokio::select! {
        r = systemd::extend_timeout_while(Duration::from_secs(10), settled.wait_for(|s| *s)) => {
            r?;
        }
        // Stopped before the first load ended: do not wait for it.
        _ = stopping(stop.clone()) => return finish(server, pg_stop, &socket, activated).await,
    }
    systemd::notify_ready();
    match shared.store.load().as_ref() {
        Some(store) => tracing::info!(
            generation = store.info.generation,
            rows = store.rows(),
            "ready"
        ),
        None => tracing::warn!(
            "listening, nothing loaded yet: requests are answered store_not_loaded until a load succeeds (retrying)"
        ),
    }

    let status = shared.clone();
    tokio::spawn(systemd::status_task(Duration::from_secs(5), move || {
        status_figures(&status)
    }));
    if let Some(interval) = systemd::watchdog_interval() {
        let health = shared.clone();
        tokio::spawn(systemd::watchdog_task(interval, move || {
            // Accept loop alive, and the store readable when there is one.
            health.heartbeat.age() < interval
                && health
                    .store
                    .load()
                    .as_ref()
                    .is_none_or(|s| s.rows() == 0 || !s.dates().is_empty())
        }));
        tracing::info!(?interval, "watchdog enabled");
        systemd::spawn_test_stall_hook();
    }

    let reload_shared = shared.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading configuration and data");
            systemd::notify_reloading();
            // Reads the config file and password files: off the workers.
            let (s, pg) = (reload_shared.clone(), pg_source.clone());
            if let Err(e) =
                tokio::task::spawn_blocking(move || reload_config(&s, pg.as_deref())).await
            {
                tracing::error!("SIGHUP: configuration reload failed: {e}");
            }
            let (reply, done) = tokio::sync::oneshot::channel();
            let req = ReloadRequest {
                trigger: Trigger::Request,
                reply: Some(reply),
            };
            if tx.send(req).await.is_ok() {
                let _ = done.await;
            }
            systemd::notify_ready();
        }
    });

    finish(server, pg_stop, &socket, activated).await
}

/// After the stop signal: waits for the server's drain, gives a snapshot
/// write in progress up to [`SNAPSHOT_WAIT`], removes the socket.
async fn finish(
    server: tokio::task::JoinHandle<()>,
    pg: Option<Arc<PgSource>>,
    socket: &std::path::Path,
    activated: bool,
) -> anyhow::Result<()> {
    server.await?;
    if let Some(pg) = pg {
        tokio::task::spawn_blocking(move || {
            if let Some(w) = pg.snapshots() {
                w.shutdown(SNAPSHOT_WAIT);
            }
        })
        .await?;
    }
    if !activated {
        if let Err(e) = std::fs::remove_file(socket) {
            tracing::warn!("could not remove {}: {e}", socket.display());
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: re-reads the configuration and applies what can change while
/// running (cache caps); the rest needs a restart and is said so.
fn reload_config(shared: &Shared, pg: Option<&PgSource>) {
    let cli = Cli::parse();
    let config = match Config::load(&cli, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("SIGHUP: configuration not reloaded, keeping the running one: {e}");
            return;
        }
    };
    if let Err(e) = stockd::memory::check_cache_caps(&config) {
        tracing::error!("SIGHUP: configuration not reloaded, keeping the running one: {e}");
        return;
    }
    if let Some(pg) = pg {
        let env: HashMap<String, String> = std::env::vars().collect();
        if let Err(e) = pg.reload_password(&config, &env) {
            tracing::error!("SIGHUP: database password not re-read, keeping the running one: {e}");
        }
    }
    for (name, c) in config.cache.iter() {
        if let Some(cache) = shared.caches.by_name(name) {
            if cache.cap() != c.max_bytes {
                cache.resize(c.max_bytes);
                tracing::info!(cache = name, max_bytes = c.max_bytes, "cache cap changed");
            }
        }
    }
    tracing::info!(
        "SIGHUP: cache caps and the database password applied; socket, source, pool, memory and column settings take effect on restart"
    );
}

/// The figures of the STATUS line.
fn status_figures(shared: &Shared) -> systemd::StatusFigures {
    let store = shared.store.load();
    let (cache_bytes, cache_cap_bytes) = shared.caches.totals();
    let source = match shared.pool.get() {
        Some(p) => {
            let f = p.figures();
            systemd::StatusSource::Postgres {
                in_use: f.in_use,
                size: f.max_size,
            }
        }
        None => systemd::StatusSource::Demo,
    };
    systemd::StatusFigures {
        loaded: store.is_some(),
        rows: store.as_ref().map_or(0, |s| s.rows() as u64),
        dates: store.as_ref().map_or(0, |s| s.dates().len() as u64),
        rss_bytes: stockd::memory::rss().map_or(0, |r| r.0),
        cache_bytes,
        cache_cap_bytes,
        source,
        memory_state: shared.governor.state().as_str(),
        source_healthy: shared.health().0,
        stale: shared.stale.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}
