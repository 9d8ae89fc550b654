//! The workload in PostgreSQL: a persistent database `stockd_bench` with one
//! table per scale, generated once by `stockd::demo::fill_table` and reused
//! while the content hash of its generator inputs stays the same
//! (`bench_meta`). Also the figures read from PostgreSQL itself: columns,
//! window, the (code, date) universe requests are drawn from, the natural
//! row width and relation sizes.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tokio_postgres::{Client, Config, NoTls};

use crate::scale::Scale;

/// The persistent benchmark database.
pub const BENCH_DB: &str = "stockd_bench";

/// Bumped when the way the table is built changes (DDL edits, indexes,
/// fill procedure), so cached tables are rebuilt.
pub const DATA_VERSION: &str = "stockd-bench-data/2";

const FIXTURE_SQL: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../packaging/examples/daily_stock_data.sql"
));

/// Quotes an identifier for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `url` with its database replaced by `db`. Only URL form
/// (`postgres://user@host:port/db?opts`) is accepted.
pub fn with_dbname(url: &str, db: &str) -> Result<String> {
    let Some(scheme_end) = url.find("://") else {
        bail!("--pg-url must be a postgres:// URL, not '{url}'");
    };
    let (base, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let after = &base[scheme_end + 3..];
    let authority = match after.find('/') {
        Some(i) => &after[..i],
        None => after,
    };
    Ok(format!(
        "{}{authority}/{db}{query}",
        &base[..scheme_end + 3]
    ))
}

/// Refuses anything but loopback TCP or a Unix socket.
pub fn check_local(url: &str) -> Result<()> {
    let cfg: Config = url
        .parse()
        .with_context(|| format!("bad PostgreSQL URL '{url}'"))?;
    for h in cfg.get_hosts() {
        match h {
            tokio_postgres::config::Host::Tcp(name) => {
                if !matches!(name.as_str(), "127.0.0.1" | "localhost" | "::1" | "[::1]") {
                    bail!("PostgreSQL host '{name}' is not local; the benchmark only targets local servers");
                }
            }
            tokio_postgres::config::Host::Unix(_) => {}
        }
    }
    for a in cfg.get_hostaddrs() {
        if !a.is_loopback() {
            bail!("PostgreSQL hostaddr {a} is not loopback");
        }
    }
    Ok(())
}

pub async fn connect(url: &str) -> Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("stockd-bench: PostgreSQL connection ended: {e}");
        }
    });
    Ok(client)
}

/// Creates `stockd_bench` on the server of `base_url` if missing; returns
/// its URL.
pub async fn ensure_database(base_url: &str) -> Result<String> {
    check_local(base_url)?;
    let admin = connect(base_url).await?;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&BENCH_DB])
        .await?
        .is_some();
    if !exists {
        eprintln!("stockd-bench: creating database {BENCH_DB}");
        admin
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(BENCH_DB)))
            .await
            .context("CREATE DATABASE")?;
    }
    with_dbname(base_url, BENCH_DB)
}

/// One column as the catalog has it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PgCol {
    pub name: String,
    pub pg_type: String,
    /// Fixed width in bytes (`typlen`), or `None` for varlena.
    pub fixed_len: Option<i16>,
}

/// A trading date of the window: as text for JSON-RPC, and as days since
/// 2000-01-01 (PostgreSQL's binary `date`) for SQL parameters.
#[derive(Debug, Clone)]
pub struct DateKey {
    pub text: String,
    pub days: i32,
}

/// What requests are drawn from: every (code, date) row of the window.
#[derive(Debug)]
pub struct Universe {
    pub codes: Vec<String>,
    pub dates: Vec<DateKey>,
    /// (index into `codes`, index into `dates`), in date then code order.
    pub pairs: Vec<(u32, u32)>,
    /// Distinct non-NULL industries, sorted.
    pub industries: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DataSet {
    pub scale: Scale,
    pub table: String,
    pub quoted: String,
    pub params: String,
    pub content_hash: String,
    pub rows: u64,
    /// `true` when this run (re)built the table.
    pub generated: bool,
    /// Time to build the table, when it was built (this run or the cached one).
    pub generate_ms: Option<i64>,
    pub columns: Vec<PgCol>,
    pub window_days: u32,
    pub window_start: String,
    pub window_start_days: i32,
    pub indexes: Vec<String>,
}

impl DataSet {
    /// `"id", "stock_code", …`: every column, quoted, in table order.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Exactly the daemon's load query (all columns, the window).
    pub fn copy_sql(&self) -> String {
        format!(
            "COPY (SELECT {} FROM {} WHERE \"date\" >= DATE '{}') TO STDOUT (FORMAT binary)",
            self.column_list(),
            self.quoted,
            self.window_start
        )
    }
}

fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= *b as u64;
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

fn ddl(table: &str) -> String {
    FIXTURE_SQL.replace("daily_stock_data", table)
}

/// The index a careful user adds for "top N by pct_chg on a date": it
/// matches `WHERE date = $1 AND pct_chg IS NOT NULL ORDER BY pct_chg DESC,
/// stock_code LIMIT n` exactly, so PostgreSQL reads n index entries.
///
/// And `(date, industry)` for `industry.detail` (one industry of one date).
/// `stock.get`, `stock.many` and `stock.history` use the fixture's UNIQUE
/// (stock_code, date); `hotspots.ranking` its (date) index.
fn extra_indexes(table: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (\"date\", pct_chg DESC, stock_code)",
            quote_ident(&format!("{table}_date_pct_chg_idx")),
            quote_ident(table)
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (\"date\", industry)",
            quote_ident(&format!("{table}_date_industry_idx")),
            quote_ident(table)
        ),
    ]
}

/// Content hash of everything that decides the table's contents: the data
/// version, the generator parameters, the DDL and extra indexes, and the
/// generator's first 256 rows (so a generator change with the same
/// parameters is noticed too).
///
/// A vendor-style data set hashes its demo data set's hash, its own DDL and
/// the rounding of every double column.
fn content_hash(scale: Scale) -> String {
    let params = scale.params();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    fnv1a(&mut h, DATA_VERSION.as_bytes());
    if let Some(base) = scale.vendor_of() {
        fnv1a(&mut h, content_hash(base).as_bytes());
        fnv1a(&mut h, ddl(&scale.table()).as_bytes());
        for c in stockd::demo::reference_columns() {
            fnv1a(&mut h, vendor_expr(&c.name, &c.pg_type).as_bytes());
        }
        return format!("{h:016x}");
    }
    fnv1a(&mut h, format!("{params:?}").as_bytes());
    fnv1a(&mut h, ddl(&scale.table()).as_bytes());
    for s in extra_indexes(&scale.table()) {
        fnv1a(&mut h, s.as_bytes());
    }
    if let Some(first) = stockd::demo::copy_chunks(&params, 256).next() {
        fnv1a(&mut h, &first);
    }
    format!("{h:016x}")
}

/// The vendor data sets' value of a column: a `double precision` rounded
/// to [`Scale::vendor_decimals`] decimals and stored back as the double
/// nearest that decimal (NULL, NaN and ±Infinity stay), every other column
/// as it is.
fn vendor_expr(name: &str, pg_type: &str) -> String {
    let q = quote_ident(name);
    if pg_type == "double precision" {
        format!(
            "CASE WHEN {q} IN ('NaN', 'Infinity', '-Infinity') THEN {q} \
             ELSE round({q}::numeric, {})::float8 END",
            Scale::vendor_decimals(name)
        )
    } else {
        q
    }
}

/// Fills `quoted` (already created from the fixture) from the demo table
/// `from`, doubles rounded; the row count.
async fn fill_vendor(client: &Client, quoted: &str, from: &str) -> Result<u64> {
    let cols = stockd::demo::reference_columns();
    let names: Vec<String> = cols.iter().map(|c| quote_ident(&c.name)).collect();
    let exprs: Vec<String> = cols
        .iter()
        .map(|c| vendor_expr(&c.name, &c.pg_type))
        .collect();
    let sql = format!(
        "INSERT INTO {quoted} ({}) SELECT {} FROM {from} ORDER BY \"date\", stock_code",
        names.join(", "),
        exprs.join(", ")
    );
    client
        .execute(&sql, &[])
        .await
        .with_context(|| format!("filling {quoted} from {from}"))
}

/// Makes sure the scale's table exists with the expected contents, then
/// reads its columns and window.
pub async fn ensure_table(client: &Client, scale: Scale, force: bool) -> Result<DataSet> {
    let table = scale.table();
    let quoted = quote_ident(&table);
    let params = scale.params();
    let hash = content_hash(scale);
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS bench_meta (\
               table_name text PRIMARY KEY, content_hash text NOT NULL, params text NOT NULL, \
               rows bigint NOT NULL, generate_ms bigint, generated_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    let meta = client
        .query_opt(
            "SELECT content_hash, rows, generate_ms FROM bench_meta WHERE table_name = $1",
            &[&table],
        )
        .await?;
    let table_exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quoted])
        .await?
        .get::<_, bool>(0);
    let mut generate_ms = None;
    let mut reuse = false;
    if let (Some(m), true, false) = (&meta, table_exists, force) {
        let h: String = m.get(0);
        let rows: i64 = m.get(1);
        generate_ms = m.get::<_, Option<i64>>(2);
        if h == hash && rows as u64 == params.rows() {
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {quoted}"), &[])
                .await?
                .get(0);
            reuse = n as u64 == params.rows();
            if !reuse {
                eprintln!(
                    "stockd-bench: {table} has {n} rows, expected {}; rebuilding",
                    params.rows()
                );
            }
        } else {
            eprintln!("stockd-bench: {table} was built from other inputs (hash {h}, now {hash}); rebuilding");
        }
    }
    let generated = !reuse;
    if reuse {
        eprintln!(
            "stockd-bench: reusing {table} ({} rows, content hash {hash})",
            params.rows()
        );
    } else {
        eprintln!("stockd-bench: generating {table}: {}", params.describe());
        let started = Instant::now();
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {quoted} CASCADE"))
            .await?;
        client
            .batch_execute(&ddl(&table))
            .await
            .context("fixture DDL")?;
        let rows = match scale.vendor_of() {
            Some(base) => {
                let from = Box::pin(ensure_table(client, base, false)).await?;
                fill_vendor(client, &quoted, &from.quoted).await?
            }
            None => stockd::demo::fill_table(client, &quoted, &params)
                .await
                .context("filling the table")?,
        };
        if rows != params.rows() {
            bail!("fill_table wrote {rows} rows, expected {}", params.rows());
        }
        for s in extra_indexes(&table) {
            client.batch_execute(&s).await?;
        }
        client
            .batch_execute(&format!("VACUUM ANALYZE {quoted}"))
            .await?;
        let ms = started.elapsed().as_millis() as i64;
        generate_ms = Some(ms);
        client
            .execute(
                "INSERT INTO bench_meta (table_name, content_hash, params, rows, generate_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (table_name) DO UPDATE SET \
                 content_hash = EXCLUDED.content_hash, params = EXCLUDED.params, rows = EXCLUDED.rows, \
                 generate_ms = EXCLUDED.generate_ms, generated_at = now()",
                &[&table, &hash, &format!("{params:?}"), &(rows as i64), &ms],
            )
            .await?;
        eprintln!(
            "stockd-bench: generated {rows} rows in {:.1} s",
            ms as f64 / 1000.0
        );
    }
    // The index the README asks for on the change column, so a poll's
    // maximum and a new day's check of the rows held are index lookups.
    // Not part of the content hash (it changes no row); made on reuse too.
    client
        .batch_execute(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON {quoted} (updated_at)",
            quote_ident(&format!("{table}_updated_at_idx"))
        ))
        .await
        .with_context(|| format!("indexing {table} (updated_at)"))?;

    let columns = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typlen \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&quoted],
        )
        .await?
        .into_iter()
        .map(|r| {
            let len: i16 = r.get(2);
            PgCol {
                name: r.get(0),
                pg_type: r.get(1),
                fixed_len: (len > 0).then_some(len),
            }
        })
        .collect::<Vec<_>>();
    let window_days = scale.window_days();
    let w = client
        .query_one(
            &format!(
                "SELECT min(d)::text, min(d) - DATE '2000-01-01' FROM \
                 (SELECT DISTINCT \"date\" AS d FROM {quoted} ORDER BY 1 DESC LIMIT $1) w"
            ),
            &[&(window_days as i64)],
        )
        .await?;
    let indexes = client
        .query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname",
            &[&table],
        )
        .await?
        .into_iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    Ok(DataSet {
        scale,
        table,
        quoted,
        params: params.describe(),
        content_hash: hash,
        rows: params.rows(),
        generated,
        generate_ms,
        columns,
        window_days,
        window_start: w.get(0),
        window_start_days: w.get(1),
        indexes,
    })
}

pub async fn universe(client: &Client, ds: &DataSet) -> Result<Universe> {
    let rows = client
        .query(
            &format!(
                "SELECT stock_code::text, \"date\"::text, \"date\" - DATE '2000-01-01' FROM {} \
                 WHERE \"date\" >= DATE '{}' ORDER BY \"date\", stock_code",
                ds.quoted, ds.window_start
            ),
            &[],
        )
        .await?;
    let mut codes = Vec::new();
    let mut code_ix: HashMap<String, u32> = HashMap::new();
    let mut dates: Vec<DateKey> = Vec::new();
    let mut pairs = Vec::with_capacity(rows.len());
    for r in rows {
        let code: String = r.get(0);
        let days: i32 = r.get(2);
        if dates.last().map(|d| d.days) != Some(days) {
            dates.push(DateKey {
                text: r.get(1),
                days,
            });
        }
        let ci = *code_ix.entry(code.clone()).or_insert_with(|| {
            codes.push(code);
            (codes.len() - 1) as u32
        });
        pairs.push((ci, (dates.len() - 1) as u32));
    }
    if pairs.is_empty() {
        bail!("{} has no rows in the window", ds.table);
    }
    let industries = client
        .query(
            &format!(
                "SELECT DISTINCT industry::text FROM {} WHERE industry IS NOT NULL ORDER BY 1",
                ds.quoted
            ),
            &[],
        )
        .await?
        .into_iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    Ok(Universe {
        codes,
        dates,
        pairs,
        industries,
    })
}

/// The natural width of a row, per column and summed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NaturalWidth {
    /// Σ avg(pg_column_size(col)) over non-NULL values: a fixed-width type
    /// counts its size, a varlena (text, numeric) its average stored size
    /// (header included); NULLs do not lower the average.
    pub bytes_per_row: f64,
    /// The same with a NULL counted as 0 bytes (what the tuples really hold,
    /// before the tuple header, null bitmap and alignment padding).
    pub bytes_per_row_nulls_zero: f64,
    pub columns: Vec<(String, f64)>,
    /// PostgreSQL's own footprint of the table (heap, indexes).
    pub heap_bytes: i64,
    pub index_bytes: i64,
    pub total_bytes: i64,
}

pub async fn natural_width(client: &Client, ds: &DataSet) -> Result<NaturalWidth> {
    let mut exprs = Vec::new();
    for c in &ds.columns {
        let q = quote_ident(&c.name);
        exprs.push(format!("coalesce(avg(pg_column_size({q})), 0)::float8"));
        exprs.push(format!(
            "(sum(coalesce(pg_column_size({q}), 0))::float8 / greatest(count(*), 1))"
        ));
    }
    let sql = format!(
        "SELECT {} FROM {} WHERE \"date\" >= DATE '{}'",
        exprs.join(", "),
        ds.quoted,
        ds.window_start
    );
    let row = client.query_one(&sql, &[]).await?;
    let mut columns = Vec::new();
    let (mut a, mut b) = (0.0, 0.0);
    for (i, c) in ds.columns.iter().enumerate() {
        let x: f64 = row.get(2 * i);
        let y: f64 = row.get(2 * i + 1);
        a += x;
        b += y;
        columns.push((c.name.clone(), x));
    }
    let sizes = client
        .query_one(
            "SELECT pg_relation_size(to_regclass($1)), pg_indexes_size(to_regclass($1)), \
             pg_total_relation_size(to_regclass($1))",
            &[&ds.quoted],
        )
        .await?;
    Ok(NaturalWidth {
        bytes_per_row: a,
        bytes_per_row_nulls_zero: b,
        columns,
        heap_bytes: sizes.get(0),
        index_bytes: sizes.get(1),
        total_bytes: sizes.get(2),
    })
}

/// The plan PostgreSQL picks for `sql` with literal values, one line per
/// node, for the report (shows which index serves the query).
pub async fn explain(client: &Client, sql: &str) -> Result<Vec<String>> {
    let msgs = client.simple_query(&format!("EXPLAIN {sql}")).await?;
    let mut out = Vec::new();
    for m in msgs {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            if let Some(line) = r.get(0) {
                out.push(line.to_string());
            }
        }
    }
    Ok(out)
}

/// `SHOW name` as text.
pub async fn show(client: &Client, name: &str) -> Result<String> {
    let msgs = client.simple_query(&format!("SHOW {name}")).await?;
    for m in msgs {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            return Ok(r.get(0).unwrap_or_default().to_string());
        }
    }
    Ok(String::new())
}
