//! The one-shot subcommands: connect, do one thing, print it, exit with a
//! code a script can act on (see [`Outcome::code`]).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use jsonrpsee::core::client::Error as ClientError;
use stockd_api::{AdminStatus, CacheStatus, Size, StockList, StockRow, StockdClient};
use tokio::sync::mpsc;

use crate::cli::{CacheCommand, Cli, Command};
use crate::conn::{self, Client, Event, Failure, SearchQuery, TopQuery};
use crate::fmt;
use crate::state::Rates;

/// How a one-shot command ended.
#[derive(Debug)]
pub enum Outcome {
    Ok,
    /// The daemon answered with an error.
    Daemon(String),
    /// The command line asked for something that cannot be done.
    Usage(String),
    /// The socket could not be opened.
    Connect(String),
}

impl Outcome {
    /// 0 ok, 1 daemon error, 2 usage error, 3 cannot connect.
    pub fn code(&self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Daemon(_) => 1,
            Outcome::Usage(_) => 2,
            Outcome::Connect(_) => 3,
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Ok => None,
            Outcome::Daemon(m) | Outcome::Usage(m) | Outcome::Connect(m) => Some(m),
        }
    }
}

/// A daemon error as printed: what we tried, the daemon's message, and its
/// code and kind.
fn daemon_error(what: &str, e: &ClientError) -> Outcome {
    let f = Failure::from_client(e);
    let code = match (f.code, f.kind()) {
        (Some(c), Some(k)) => format!(" [{} {}]", c, k.as_str()),
        (Some(c), None) => format!(" [{c}]"),
        _ => String::new(),
    };
    Outcome::Daemon(format!("{what}: {}{code}", f.message))
}

async fn open(socket: &Path) -> Result<Client, Outcome> {
    conn::connect(socket)
        .await
        .map_err(|e| Outcome::Connect(format!("{e}\n  likely cause: {}", e.cause())))
}

/// Runs `cmd`, printing its result to stdout.
pub async fn run(cli: &Cli, cmd: &Command) -> Outcome {
    let socket = cli.socket();
    if let Command::Cache {
        action: CacheCommand::Clear { yes: false, name },
    } = cmd
    {
        let what = name
            .as_deref()
            .map_or("every cache".to_string(), |n| format!("cache '{n}'"));
        return Outcome::Usage(format!(
            "clearing {what} drops its entries; add --yes to do it"
        ));
    }
    if let Command::Watch = cmd {
        return watch(&socket, cli.interval_ms).await;
    }
    let client = match open(&socket).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    match one(&client, cmd).await {
        Ok(text) => {
            print!("{text}");
            Outcome::Ok
        }
        Err(o) => o,
    }
}

async fn one(c: &Client, cmd: &Command) -> Result<String, Outcome> {
    let mut out = String::new();
    match cmd {
        Command::Status { json } => {
            let st = StockdClient::status(c)
                .await
                .map_err(|e| daemon_error("status", &e))?;
            if *json {
                out = pretty(&st)?;
            } else {
                out = status_summary(&st);
            }
        }
        Command::Columns { json } => {
            let st = StockdClient::status(c)
                .await
                .map_err(|e| daemon_error("status", &e))?;
            out = if *json {
                pretty(&ColumnsJson {
                    rows: st.store.rows,
                    bytes: st.store.bytes,
                    index_bytes: st.store.index_bytes,
                    columns: &st.store.column_bytes,
                })?
            } else {
                columns_text(&st.store)
            };
        }
        Command::Get {
            code,
            date,
            fields,
            json,
        } => {
            let row = conn::stock_get(c, code.clone(), date.clone(), fields.clone())
                .await
                .map_err(|e| daemon_error(&format!("get {code}"), &e))?;
            out = if *json {
                pretty(&row)?
            } else {
                row_text(&row, &column_kinds(c).await)
            };
        }
        Command::Top {
            by,
            n,
            date,
            order,
            json,
        } => {
            let q = TopQuery {
                by: by.clone(),
                n: *n,
                order: (*order).into(),
                date: date.clone(),
            };
            let rows = conn::stock_top(c, &q)
                .await
                .map_err(|e| daemon_error(&format!("top by {by}"), &e))?;
            out = if *json {
                pretty(&rows)?
            } else {
                top_text(&q, &rows, &column_kinds(c).await)
            };
        }
        Command::Search {
            text,
            industry,
            prefix,
            n,
            json,
        } => {
            let q = SearchQuery {
                text: text.clone(),
                industry: industry.clone(),
                prefix: prefix.clone(),
                n: *n,
            };
            let list = conn::search(c, &q)
                .await
                .map_err(|e| daemon_error("search", &e))?;
            out = if *json {
                pretty(&list)?
            } else {
                search_text(&q, &list)
            };
        }
        Command::Cache { action } => match action {
            CacheCommand::List { json } => {
                let st = StockdClient::status(c)
                    .await
                    .map_err(|e| daemon_error("cache list", &e))?;
                out = if *json {
                    pretty(&st.caches)?
                } else {
                    caches_text(&st.caches)
                };
            }
            CacheCommand::Clear { name, .. } => {
                let what = name.as_deref().unwrap_or("all caches");
                let r = StockdClient::cache_clear(c, name.clone())
                    .await
                    .map_err(|e| daemon_error(&format!("clear {what}"), &e))?;
                for d in &r.dropped {
                    let _ = writeln!(
                        out,
                        "cleared {}: {} entries, {}",
                        d.name,
                        fmt::count(d.entries),
                        fmt::bytes(d.bytes)
                    );
                }
            }
            CacheCommand::Resize { name, size } => {
                let r = StockdClient::cache_resize(c, name.clone(), Size::Bytes(*size))
                    .await
                    .map_err(|e| daemon_error(&format!("resize {name}"), &e))?;
                let _ = writeln!(
                    out,
                    "{}: cap {} ({}); evicted {} entries, {}",
                    r.name,
                    fmt::bytes(r.max_bytes),
                    crate::size::format_exact(r.max_bytes),
                    fmt::count(r.evicted_entries),
                    fmt::bytes(r.evicted_bytes)
                );
            }
        },
        Command::Reload => {
            let r = StockdClient::store_reload(c)
                .await
                .map_err(|e| daemon_error("reload", &e))?;
            let _ = writeln!(
                out,
                "reloaded: generation {}, {} rows in {}",
                r.generation,
                fmt::count(r.rows),
                fmt::millis(r.duration_ms)
            );
        }
        Command::Trim => {
            let r = StockdClient::memory_trim(c)
                .await
                .map_err(|e| daemon_error("trim", &e))?;
            let _ = writeln!(
                out,
                "RSS {} → {}; caches dropped {}",
                fmt::bytes(r.rss_before),
                fmt::bytes(r.rss_after),
                fmt::bytes(r.cache_bytes_dropped)
            );
        }
        Command::Watch => unreachable!("handled before connecting"),
    }
    Ok(out)
}

/// The table's column types, to print numbers at their column's scale; if
/// `market.info` cannot be had, numbers print as the daemon sent them.
async fn column_kinds(c: &Client) -> fmt::ColumnKinds {
    StockdClient::info(c)
        .await
        .map(|m| fmt::ColumnKinds::new(&m.columns))
        .unwrap_or_default()
}

fn pretty<T: serde::Serialize>(v: &T) -> Result<String, Outcome> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| Outcome::Daemon(format!("cannot print the result as JSON: {e}")))
}

/// The human summary of `stockctl status`.
pub fn status_summary(st: &AdminStatus) -> String {
    let mut o = String::new();
    let s = &st.store;
    let m = &st.memory;
    let p = &st.pool;
    let _ = writeln!(
        o,
        "stockd {} · up {} · source {} ({}){}",
        st.version,
        fmt::uptime(st.uptime_s),
        st.source.kind,
        if st.source.healthy {
            "healthy"
        } else {
            "UNHEALTHY"
        },
        st.source
            .last_error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "store     {} rows · {} stocks · {} dates · {} columns · generation {}",
        fmt::count(s.rows),
        fmt::count(s.stocks),
        s.dates,
        s.columns,
        s.generation
    );
    let _ = writeln!(
        o,
        "          {} ({:.1} B/row) · loaded {} in {} · stale {}",
        fmt::bytes(s.bytes),
        s.bytes_per_row,
        s.loaded_at
            .as_deref()
            .map_or("never".to_string(), fmt::timestamp),
        fmt::millis(s.load_ms),
        if s.stale { "YES" } else { "no" }
    );
    let _ = writeln!(
        o,
        "memory    RSS {} (peak {}) of budget {} ({}) · state {}",
        fmt::bytes(m.rss_bytes),
        fmt::bytes(m.peak_rss_bytes),
        fmt::bytes(m.limit_bytes),
        fmt::ratio(m.rss_bytes, m.limit_bytes).map_or_else(|| "–".to_string(), fmt::percent),
        m.state
    );
    let _ = writeln!(
        o,
        "pool      in use {} · idle {} · size {}/{} · waits {} · timeouts {} · errors {}",
        p.in_use, p.idle, p.size, p.max_size, p.waits, p.timeouts, p.errors
    );
    let (bytes, caps) = st
        .caches
        .iter()
        .fold((0, 0), |(b, c), x| (b + x.bytes, c + x.max_bytes));
    let _ = writeln!(
        o,
        "caches    {} of {} caps",
        fmt::bytes(bytes),
        fmt::bytes(caps)
    );
    for c in &st.caches {
        let _ = writeln!(
            o,
            "  {:<10} {:>8} entries  {:>10} / {:<10} hit {:>6}  evicted {}",
            c.name,
            fmt::count(c.entries),
            fmt::bytes(c.bytes),
            fmt::bytes(c.max_bytes),
            fmt::hit_rate(c.hits, c.misses),
            fmt::count(c.evictions)
        );
    }
    let total: u64 = st.requests.iter().map(|r| r.count).sum();
    let errors: u64 = st.requests.iter().map(|r| r.errors).sum();
    let _ = writeln!(
        o,
        "requests  {} total · {} errors",
        fmt::count(total),
        fmt::count(errors)
    );
    for r in &st.requests {
        let _ = writeln!(
            o,
            "  {:<20} {:>8}  errors {:>5}  p50 {:>8}  p99 {:>8}",
            r.method,
            fmt::count(r.count),
            fmt::count(r.errors),
            fmt::micros(r.p50_us),
            fmt::micros(r.p99_us)
        );
    }
    o
}

/// `stockctl columns --json`: the store's figures with its columns.
#[derive(serde::Serialize)]
struct ColumnsJson<'a> {
    rows: u64,
    bytes: u64,
    index_bytes: u64,
    columns: &'a [stockd_api::ColumnMemory],
}

/// `stockctl columns`: the store's bytes by column, most expensive first,
/// then the indexes and the total per row.
pub fn columns_text(s: &stockd_api::StoreStatus) -> String {
    if !s.loaded {
        return "no store loaded yet\n".to_string();
    }
    let (cols, name_w) = fmt::columns_by_cost(s, 7, 64);
    let per_row = |b: u64| {
        if s.rows == 0 {
            0.0
        } else {
            b as f64 / s.rows as f64
        }
    };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<name_w$}  {:>10}  {:>9}  {:>8}  {:>6}  layout",
        "column", "bytes", "nulls", "bits/val", "share"
    );
    for c in cols {
        let _ = writeln!(
            o,
            "{:<name_w$}  {:>10}  {:>9}  {:>8.2}  {:>5.1}%  {} ({})",
            c.name,
            fmt::bytes(c.bytes),
            fmt::bytes(c.null_bytes),
            c.bits_per_value,
            if s.bytes == 0 {
                0.0
            } else {
                (c.bytes + c.null_bytes) as f64 * 100.0 / s.bytes as f64
            },
            c.layout,
            c.pg_type
        );
    }
    let _ = writeln!(
        o,
        "{:<name_w$}  {:>10}  {:>9}  {:>8.2}  {:>5.1}%",
        "indexes",
        fmt::bytes(s.index_bytes),
        "",
        per_row(s.index_bytes) * 8.0,
        if s.bytes == 0 {
            0.0
        } else {
            s.index_bytes as f64 * 100.0 / s.bytes as f64
        }
    );
    let _ = writeln!(
        o,
        "{:<name_w$}  {:>10}  {:>9}  {:>8.2}  ({:.1} B/row, {} rows, {} columns)",
        "store",
        fmt::bytes(s.bytes),
        "",
        per_row(s.bytes) * 8.0,
        per_row(s.bytes),
        s.rows,
        s.column_bytes.len()
    );
    o
}

/// `stockctl cache list`: one line per cache in aligned columns, sizes as
/// `status` writes them (`8.0 MiB`); `--json` has the exact byte counts.
pub fn caches_text(caches: &[CacheStatus]) -> String {
    let mut o = format!(
        "{:<12} {:>9} {:>10} {:>10} {:>6} {:>7} {:>9}\n",
        "NAME", "ENTRIES", "BYTES", "CAP", "FILL", "HIT%", "EVICTED"
    );
    for c in caches {
        let _ = writeln!(
            o,
            "{:<12} {:>9} {:>10} {:>10} {:>6} {:>7} {:>9}",
            c.name,
            fmt::count(c.entries),
            fmt::bytes(c.bytes),
            fmt::bytes(c.max_bytes),
            fmt::ratio(c.bytes, c.max_bytes).map_or_else(|| "–".to_string(), fmt::percent),
            fmt::hit_rate(c.hits, c.misses),
            fmt::count(c.evictions)
        );
    }
    o
}

/// `stockctl get`: the code and date, then one `column value` per line,
/// each value at its column's scale.
pub fn row_text(row: &StockRow, kinds: &fmt::ColumnKinds) -> String {
    let w = row
        .values
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut o = format!("{} {}\n", row.code, row.date);
    for (k, v) in &row.values {
        let _ = writeln!(o, "  {k:<w$}  {}", kinds.cell(k, v));
    }
    o
}

/// `stockctl top`: rank, code, date, the ranked value (and the name when the
/// table has a `stock_name` column). The ranked values share one scale.
pub fn top_text(q: &TopQuery, rows: &[StockRow], kinds: &fmt::ColumnKinds) -> String {
    let mut o = format!(
        "{:>4}  {:<10} {:<10} {:>14}  NAME\n",
        "#",
        "CODE",
        "DATE",
        q.by.to_uppercase()
    );
    let values = kinds.column(&q.by, rows.iter().map(|r| r.values.get(&q.by)));
    for (i, (r, v)) in rows.iter().zip(values).enumerate() {
        let name = r
            .values
            .get("stock_name")
            .map_or_else(String::new, fmt::value);
        let _ = writeln!(
            o,
            "{:>4}  {:<10} {:<10} {:>14}  {name}",
            i + 1,
            r.code,
            r.date,
            v
        );
    }
    o
}

/// `stockctl search`: a table by code (columns the table lacks left out),
/// then how many matched.
pub fn search_text(q: &SearchQuery, list: &StockList) -> String {
    let has = |key: &str| {
        !list
            .missing_columns
            .iter()
            .any(|m| m.split(' ').next() == Some(key))
    };
    let cell = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".to_string());
    let ind_w = list
        .stocks
        .iter()
        .map(|s| unicode_width::UnicodeWidthStr::width(cell(&s.industry).as_str()))
        .chain([8])
        .max()
        .unwrap_or(8);
    let mut o = String::new();
    let mut head = format!("{:<10} {:<10}", "CODE", "DATE");
    if has("board") {
        head.push_str(&format!(" {:<10}", "BOARD"));
    }
    if has("list_date") {
        head.push_str(&format!(" {:<10}", "LISTED"));
    }
    if has("industry") {
        head.push(' ');
        head.push_str(&fmt::pad("INDUSTRY", ind_w));
    }
    if has("name") {
        head.push_str(" NAME");
    }
    let _ = writeln!(o, "{}", head.trim_end());
    for s in &list.stocks {
        let mut line = format!("{:<10} {:<10}", s.code, s.date);
        if has("board") {
            line.push(' ');
            line.push_str(&fmt::pad(&cell(&s.board), 10));
        }
        if has("list_date") {
            line.push_str(&format!(" {:<10}", cell(&s.list_date)));
        }
        if has("industry") {
            line.push(' ');
            line.push_str(&fmt::pad(&cell(&s.industry), ind_w));
        }
        if has("name") {
            line.push(' ');
            line.push_str(&cell(&s.name));
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
    let mut what = Vec::new();
    if let Some(t) = &q.text {
        what.push(format!("code prefix or name \"{t}\""));
    }
    if let Some(p) = &q.prefix {
        what.push(format!("code prefix \"{p}\""));
    }
    if let Some(i) = &q.industry {
        what.push(format!("industry \"{i}\""));
    }
    let _ = write!(
        o,
        "{} of {} stocks",
        fmt::count(list.stocks.len() as u64),
        fmt::count(list.total)
    );
    if !what.is_empty() {
        let _ = write!(o, " matching {}", what.join(" and "));
    }
    if list.next_offset.is_some() {
        let _ = write!(o, " (raise -n or narrow the search for more)");
    }
    o.push('\n');
    if !list.missing_columns.is_empty() {
        let _ = writeln!(
            o,
            "not in the table ([columns]): {}",
            list.missing_columns.join(", ")
        );
    }
    o
}

/// One `watch` line.
pub fn watch_line(st: &AdminStatus, rates: &Rates) -> String {
    let m = &st.memory;
    let (bytes, caps) = st
        .caches
        .iter()
        .fold((0, 0), |(b, c), x| (b + x.bytes, c + x.max_bytes));
    let errors: u64 = st.requests.iter().map(|r| r.errors).sum();
    let total: u64 = st.requests.iter().map(|r| r.count).sum();
    format!(
        "up {} · RSS {} {} ({} of {}) · gen {} · {} rows{} · caches {}/{} · pool {}/{} · {} req ({}) · {} errors",
        fmt::uptime(st.uptime_s),
        fmt::bytes(m.rss_bytes),
        m.state,
        fmt::ratio(m.rss_bytes, m.limit_bytes).map_or_else(|| "–".to_string(), fmt::percent),
        fmt::bytes(m.limit_bytes),
        st.store.generation,
        fmt::count(st.store.rows),
        if st.store.stale { " STALE" } else { "" },
        fmt::bytes(bytes),
        fmt::bytes(caps),
        st.pool.in_use,
        st.pool.size,
        fmt::count(total),
        rates.total().map_or_else(|| "–/s".to_string(), |r| format!("{r:.1}/s")),
        fmt::count(errors)
    )
}

/// `stockctl watch`: a status line per update; exits 3 if the first
/// connection fails, 1 if status is refused, else runs until interrupted
/// (reconnecting like the console).
async fn watch(socket: &Path, interval_ms: u64) -> Outcome {
    let mut opts = conn::Options::new(socket.to_path_buf());
    opts.interval = std::time::Duration::from_millis(interval_ms);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (_req_tx, req_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(conn::run(opts, req_rx, ev_tx));
    let mut rates = Rates::default();
    let mut ever_connected = false;
    let outcome = loop {
        let Some(ev) = ev_rx.recv().await else {
            break Outcome::Ok;
        };
        match ev {
            Event::Connected => {
                if ever_connected {
                    eprintln!("reconnected to {}", socket.display());
                }
                ever_connected = true;
            }
            Event::Disconnected { reason, retry_in } => {
                if !ever_connected {
                    break Outcome::Connect(reason);
                }
                eprintln!(
                    "disconnected: {reason}; retrying in {:.1}s",
                    retry_in.as_secs_f64()
                );
            }
            Event::Status(st) => {
                rates.push(Instant::now(), &st);
                println!("{}", watch_line(&st, &rates));
            }
            Event::StatusFailed(f) => {
                break Outcome::Daemon(format!("watch: {}", f.message));
            }
            _ => {}
        }
    };
    task.abort();
    outcome
}
