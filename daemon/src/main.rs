//! The `stockd` binary: configuration, logging, the runtime, and the
//! start-up order — read and validate config, open the socket, start the
//! load, serve until SIGTERM/SIGINT, then drain and remove the socket.

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use stockd::config::{Cli, Config};
use stockd::demo::DemoParams;
use stockd::server::{self, Limits, Shared};
use stockd::source::{self, PgSource, ReloadRequest, Trigger};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(10);

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
    if cli.check_config {
        println!("stockd: configuration is valid");
        return ExitCode::SUCCESS;
    }
    if cli.export_demo {
        return export_demo();
    }
    init_logging(cli.log.as_deref());
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
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("stockd: {e:#}");
            ExitCode::FAILURE
        }
    }
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
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().with_ansi(false).init();
    } else {
        builder.init();
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let shared = Shared::new(&config);
    let socket = config.server.socket.clone();
    let listener = server::bind(&socket, config.server.socket_mode)?;
    tracing::info!(socket = %socket.display(), mode = format!("{:04o}", config.server.socket_mode), "listening");

    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = mpsc::channel::<ReloadRequest>(8);
    let _ = shared.reloads.set(tx.clone());
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
        shared.swap(store);
        tokio::spawn(source::demo_loop(shared.clone(), params, rx));
    } else {
        let pg = Arc::new(PgSource::new(&config)?);
        let _ = shared.pool.set(pg.pool().clone());
        tracing::info!(
            url = %source::redact(pg.url()),
            table = %config.source.table,
            window_days = config.source.window_days,
            "loading from PostgreSQL"
        );
        tokio::spawn(source::listen(
            config.source.database_url.clone(),
            config.source.notify_channel.clone(),
            tx.clone(),
        ));
        tokio::spawn(source::refresh_loop(
            pg,
            shared.clone(),
            config.source.refresh_interval,
            rx,
        ));
    }
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading data");
            if tx.try_send(ReloadRequest::new(Trigger::Request)).is_err() {
                tracing::debug!("a reload is already queued");
            }
        }
    });

    let limits = Limits {
        max_connections: config.server.max_connections,
        max_request_bytes: u32::try_from(config.server.max_request_bytes).unwrap_or(u32::MAX),
    };
    let governed = shared.clone();
    tokio::spawn(async move {
        governed
            .governor
            .run(&governed.caches, Duration::from_secs(1))
            .await
    });
    server::serve(
        listener,
        server::rpc_module(shared.clone()),
        shared.stats.clone(),
        limits,
        shutdown_signal(),
        DRAIN,
    )
    .await;
    if let Err(e) = std::fs::remove_file(&socket) {
        tracing::warn!("could not remove {}: {e}", socket.display());
    }
    tracing::info!("stopped");
    Ok(())
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
