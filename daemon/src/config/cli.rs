//! Command-line flags: the last and strongest config layer, plus the
//! actions (`--print-config`, `--check-config`) and the log filter, which
//! are not configuration.
//!
//! Flags read no environment variables through clap: the environment is one
//! layer handled in [`super::env`], from the pairs given to
//! [`super::Config::load`], so the help text does not depend on the caller's
//! environment and tests stay hermetic.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use super::file::FileConfig;
use super::{Origin, Origins};

const AFTER_HELP: &str = "\
Configuration is read from built-in defaults, then the config file, then
STOCKD_* environment variables, then flags; each overrides the one before.

Environment:
  STOCKD_SOCKET, STOCKD_DATABASE_URL  same as --socket, --database-url
  STOCKD_<SECTION>_<KEY>              any config key, e.g. STOCKD_SOURCE_WINDOW_DAYS=60,
                                      STOCKD_SOURCE_POOL_MAX_SIZE=8 (lists comma-separated)
  STOCKD_LOG                          log filter, like --log (not a config key)
  RUNTIME_DIRECTORY, XDG_RUNTIME_DIR  directory of the default socket
  STATE_DIRECTORY                     default snapshot directory

Sizes take B, KiB, MiB or GiB; durations take ms, s, m or h.
See `stockd --print-config` for every key and its effective value.";

/// `stockd` command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(
    name = "stockd",
    version,
    about = "Serve daily stock data from PostgreSQL as JSON-RPC over a Unix socket",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Config file [default: /etc/stockd/stockd.toml if it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Unix socket to listen on (server.socket)
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    // Flags are visible in `ps`, hence the advice on passwords.
    /// PostgreSQL URL, "" = demo data (source.database_url); pass passwords via STOCKD_DATABASE_URL
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,

    /// Table to load, optionally schema-qualified (source.table)
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,

    /// Trading days held, 0 = all (source.window_days)
    #[arg(long, value_name = "N")]
    pub window_days: Option<u32>,

    /// Print the effective configuration as TOML and exit
    #[arg(long, conflicts_with = "check_config")]
    pub print_config: bool,

    /// Validate the configuration, check that the database answers and the
    /// table is readable (when a database is set), and exit
    #[arg(long)]
    pub check_config: bool,

    /// Write the embedded demo data set to stdout as PostgreSQL binary COPY
    /// data (all 83 columns of the reference layout) and exit; load it with
    /// `COPY daily_stock_data FROM STDIN (FORMAT binary)`
    #[arg(long, conflicts_with_all = ["print_config", "check_config"])]
    pub export_demo: bool,

    /// Log filter, e.g. "info" or "stockd=debug"; overrides STOCKD_LOG
    #[arg(long, value_name = "LEVEL_FILTER")]
    pub log: Option<String>,
}

impl Cli {
    /// Overwrites the slots this command line sets (the top layer).
    pub(crate) fn apply(&self, file: &mut FileConfig, origins: &mut Origins) {
        let mut set = |key: &str, flag: &'static str| {
            origins.insert(key.to_owned(), Origin::Flag(flag));
        };
        if let Some(socket) = &self.socket {
            file.server.socket = Some(socket.clone());
            set("server.socket", "--socket");
        }
        if let Some(url) = &self.database_url {
            file.source.database_url = Some(url.clone());
            set("source.database_url", "--database-url");
        }
        if let Some(table) = &self.table {
            file.source.table = Some(table.clone());
            set("source.table", "--table");
        }
        if let Some(days) = self.window_days {
            file.source.window_days = Some(i64::from(days));
            set("source.window_days", "--window-days");
        }
    }
}

/// The text `stockd --help` prints; committed as `docs/stockd-help.txt`.
pub fn help_text() -> String {
    Cli::command().render_help().to_string()
}
