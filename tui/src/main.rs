//! stockctl: with no subcommand, the live console; with one, a one-shot
//! command for scripts. Exit codes: 0 ok, 1 daemon error, 2 usage error,
//! 3 cannot connect.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use stockctl::cli::Cli;
use stockctl::{conn, console, oneshot};

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit 2 here
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stockctl: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match &cli.command {
        None => {
            let mut opts = conn::Options::new(cli.socket());
            opts.interval = Duration::from_millis(cli.interval_ms);
            match rt.block_on(console::run(opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("stockctl: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Some(cmd) => {
            let outcome = rt.block_on(oneshot::run(&cli, cmd));
            if let Some(m) = outcome.message() {
                eprintln!("stockctl: {m}");
            }
            // Do not wait for tasks still holding the connection.
            rt.shutdown_timeout(Duration::from_millis(100));
            ExitCode::from(outcome.code())
        }
    }
}
