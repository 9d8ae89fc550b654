//! The command line: no subcommand opens the console; subcommands do one
//! thing and print it, for scripts and ssh sessions.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::conn::Order;

const AFTER_HELP: &str = "\
Without a subcommand, stockctl opens the live console (press ? for its keys).

Exit codes:
  0  ok
  1  the daemon answered with an error (its message is printed)
  2  usage error
  3  cannot connect to the socket (the socket and the likely cause are printed)

Environment:
  STOCKD_SOCKET                       same as --socket
  RUNTIME_DIRECTORY, XDG_RUNTIME_DIR  directory of the default socket";

const SEARCH_HELP: &str = "\
Each stock is described by its latest row held (the date column says which).
Filters combine: `stockctl search 银行 --prefix 60` lists codes starting with
60 whose name contains 银行. Columns the table lacks are left out of the table.

Examples:
  stockctl search 600519          the stock 600519 (and every code starting so)
  stockctl search 茅台            names containing 茅台
  stockctl search --industry 银行 -n 100
  stockctl search ping --json";

#[derive(Debug, Parser)]
#[command(name = "stockctl", version, about = "Admin console and one-shot commands for stockd", after_help = AFTER_HELP)]
pub struct Cli {
    /// stockd's Unix socket [default: $RUNTIME_DIRECTORY/stockd.sock, else
    /// /run/stockd/stockd.sock when it exists, else
    /// $XDG_RUNTIME_DIR/stockd.sock, else ./stockd.sock]
    #[arg(long, env = "STOCKD_SOCKET", global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// How often the console and `watch` refresh the status, in milliseconds
    #[arg(long, global = true, default_value_t = 1000, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(250..=3_600_000))]
    pub interval_ms: u64,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summary of the daemon's state (admin)
    Status {
        /// Print the raw admin.status result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Where the store's memory goes: bytes and bits per value of each
    /// column, most expensive first, then the indexes (admin)
    Columns {
        /// Print the columns' figures as JSON (table order, exact bytes)
        #[arg(long)]
        json: bool,
    },
    /// One stock's row (its latest date unless --date)
    Get {
        code: String,
        /// Trading date, YYYY-MM-DD
        #[arg(long)]
        date: Option<String>,
        /// Columns to show, comma-separated (default: all)
        #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
        fields: Option<Vec<String>>,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// The top N stocks of a date ranked by a numeric column
    Top {
        /// Numeric column to rank by
        #[arg(long, value_name = "COLUMN")]
        by: String,
        /// How many rows (1-500)
        #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 20,
              value_parser = clap::value_parser!(u64).range(1..=500))]
        n: u64,
        /// Trading date, YYYY-MM-DD (default: the latest)
        #[arg(long)]
        date: Option<String>,
        /// Highest first (desc) or lowest first (asc)
        #[arg(long, value_enum, default_value_t = OrderArg::Desc)]
        order: OrderArg,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Find stocks: code, name, industry, board and listing date, by code
    #[command(after_help = SEARCH_HELP)]
    Search {
        /// Text to find: stocks whose code starts with TEXT or whose name
        /// contains it (ASCII letters in any case); every stock without it
        text: Option<String>,
        /// Only stocks of this industry (its exact name)
        #[arg(long)]
        industry: Option<String>,
        /// Only codes starting with P
        #[arg(long, value_name = "P")]
        prefix: Option<String>,
        /// How many stocks to show at most (1-1000)
        #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 50,
              value_parser = clap::value_parser!(u64).range(1..=stockd_api::LIST_MAX_LIMIT))]
        n: u64,
        /// Print the result as JSON (the shape of stock.list)
        #[arg(long)]
        json: bool,
    },
    /// List, clear or resize the daemon's caches (admin)
    Cache {
        #[command(subcommand)]
        action: CacheCommand,
    },
    /// Reload the store from its source now and wait for it (admin)
    Reload,
    /// Shed caches to half their caps and return memory to the OS (admin)
    Trim,
    /// Print a status line every interval until interrupted (admin)
    Watch,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Every cache: entries, bytes, cap, hit rate, evictions
    List {
        /// Print the caches as JSON
        #[arg(long)]
        json: bool,
    },
    /// Drop every entry of one cache, or of all without NAME
    Clear {
        name: Option<String>,
        /// Really do it (required)
        #[arg(long)]
        yes: bool,
    },
    /// Set a cache's cap (B, KiB, MiB or GiB) and evict down to it now
    Resize {
        name: String,
        #[arg(value_parser = parse_cap, value_name = "SIZE")]
        size: u64,
    },
}

fn parse_cap(s: &str) -> Result<u64, String> {
    crate::size::parse_cache_cap(s).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    Desc,
    Asc,
}

impl From<OrderArg> for Order {
    fn from(o: OrderArg) -> Order {
        match o {
            OrderArg::Desc => Order::Desc,
            OrderArg::Asc => Order::Asc,
        }
    }
}

impl Cli {
    /// The socket to use: `--socket`/`STOCKD_SOCKET`, else the default.
    pub fn socket(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(crate::socket::default_socket_from_env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_are_checked_before_any_request() {
        let e = Cli::try_parse_from(["stockctl", "cache", "resize", "query", "4MB"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("did you mean MiB?"), "{e}");
        let ok = Cli::try_parse_from(["stockctl", "cache", "resize", "query", "4MiB"]).unwrap();
        assert!(matches!(
            ok.command,
            Some(Command::Cache {
                action: CacheCommand::Resize { size, .. }
            }) if size == 4 << 20
        ));
    }
}
