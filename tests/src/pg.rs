//! Throwaway PostgreSQL databases: one per test, named
//! `stockd_test_<pid>_<counter>_<random>`, created through a maintenance
//! database and dropped `WITH (FORCE)` on drop, so a daemon still connected
//! never keeps it alive.
//!
//! The server: `STOCKD_TEST_PG` (a maintenance URL, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`) when set; otherwise the
//! test process starts its own private cluster on first use (`initdb` in a
//! temporary directory, its own port and socket directory; see
//! [`crate::cluster`]) and stops it when the process exits. So
//! `cargo test` needs PostgreSQL's server binaries installed, not a server
//! running.

use anyhow::{anyhow, Context, Result};
use std::sync::{Mutex, OnceLock};
use tokio_postgres::{Client, Row};

/// The maintenance database URL the tests use.
pub fn base_url() -> Result<String> {
    if let Some(url) = std::env::var("STOCKD_TEST_PG")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok(url);
    }
    private_cluster_url()
}

/// The private cluster of this test process, started once. Held in a
/// static so it outlives every test; an `atexit` hook stops it (PostgreSQL
/// would otherwise outlive the test binary).
static PRIVATE: Mutex<Option<crate::cluster::PgCluster>> = Mutex::new(None);
static PRIVATE_URL: OnceLock<std::result::Result<String, String>> = OnceLock::new();

/// Connections the private cluster accepts: tests run in parallel, each
/// daemon's pool takes up to four.
const PRIVATE_MAX_CONNECTIONS: u32 = 200;

fn private_cluster_url() -> Result<String> {
    PRIVATE_URL
        .get_or_init(|| {
            let cluster = crate::cluster::PgCluster::start_with(PRIVATE_MAX_CONNECTIONS)
                .map_err(|e| {
                    format!(
                        "cannot start a private PostgreSQL cluster for the tests ({e:#}); \
                         install PostgreSQL's server binaries (Debian: `apt-get install postgresql`) \
                         or set STOCKD_TEST_PG to a maintenance URL such as \
                         postgres://postgres@127.0.0.1:5432/postgres"
                    )
                })?;
            let url = cluster.url("postgres");
            eprintln!(
                "stockd-tests: private PostgreSQL cluster on 127.0.0.1:{} ({}), stopped at exit",
                cluster.port(),
                cluster.dir().display()
            );
            *PRIVATE.lock().map_err(|_| "poisoned".to_string())? = Some(cluster);
            // SAFETY: registering a plain `extern "C" fn` with no captured
            // state; it runs once at process exit.
            if unsafe { libc::atexit(stop_private_cluster) } != 0 {
                eprintln!("stockd-tests: cannot register the cluster's stop hook; it may outlive the tests");
            }
            Ok(url)
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

extern "C" fn stop_private_cluster() {
    if let Ok(mut guard) = PRIVATE.lock() {
        // Dropping stops the server (immediate) and removes its directory.
        drop(guard.take());
    }
}

/// Environment for a libpq client (psql, createdb, stockd with a
/// host-less URL) to reach the test server: `PGHOST`, `PGPORT`, `PGUSER`
/// taken from the maintenance URL.
pub fn libpq_env() -> Result<Vec<(&'static str, String)>> {
    let config: tokio_postgres::Config = base_url()?
        .parse()
        .context("parsing the test server's URL")?;
    let mut env = Vec::new();
    if let Some(host) = config.get_hosts().first() {
        let host = match host {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        };
        env.push(("PGHOST", host));
    }
    if let Some(port) = config.get_ports().first() {
        env.push(("PGPORT", port.to_string()));
    }
    if let Some(user) = config.get_user() {
        env.push(("PGUSER", user.to_string()));
    }
    Ok(env)
}

/// `url` with its database replaced by `db` (URL or key=value form).
pub fn with_dbname(url: &str, db: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let after = scheme_end + 3;
        let (main, query) = match url[after..].find('?') {
            Some(q) => (&url[..after + q], &url[after + q..]),
            None => (url, ""),
        };
        let host_end = main[after..]
            .find('/')
            .map(|i| after + i)
            .unwrap_or(main.len());
        format!("{}/{db}{query}", &main[..host_end])
    } else {
        format!("{url} dbname={db}")
    }
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub use crate::cluster::connect;

/// A database that exists for one test.
pub struct PgTestDb {
    name: String,
    url: String,
    base: String,
    client: Client,
}

impl PgTestDb {
    /// Creates the database and connects to it (session in UTC, ISO dates).
    pub async fn new() -> Result<PgTestDb> {
        PgTestDb::on(&base_url()?).await
    }

    /// [`PgTestDb::new`] on the server of maintenance URL `base`.
    pub async fn on(base: &str) -> Result<PgTestDb> {
        let base = base.to_string();
        let name = format!(
            "stockd_test_{}_{}_{:08x}",
            std::process::id(),
            crate::util::next_id(),
            crate::util::random_u64() as u32
        );
        let admin = connect(&base)
            .await
            .with_context(|| format!("connecting to the test PostgreSQL at {base}"))?;
        admin
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        drop(admin);
        let url = with_dbname(&base, &name);
        let client = connect(&url).await?;
        client
            .batch_execute(
                "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3",
            )
            .await?;
        Ok(PgTestDb {
            name,
            url,
            base,
            client,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection URL of this database (give it to `--database-url`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The harness's own connection.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A new connection to this database.
    pub async fn connect(&self) -> Result<Client> {
        connect(&self.url).await
    }

    /// Runs one or more statements.
    pub async fn execute(&self, sql: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .await
            .with_context(|| format!("executing: {}", abbreviate(sql)))
    }

    /// Runs a query with parameters.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        self.client
            .query(sql, params)
            .await
            .with_context(|| format!("query: {}", abbreviate(sql)))
    }

    /// Creates the reference table from the shared fixture DDL.
    pub async fn create_fixture_table(&self) -> Result<()> {
        let ddl = std::fs::read_to_string(crate::FIXTURE_SQL)
            .with_context(|| format!("reading the fixture DDL at {}", crate::FIXTURE_SQL))?;
        self.execute(&ddl).await
    }

    /// Fills a table of the reference layout with the daemon's deterministic
    /// demo data set (`stockd::demo::fill_table`); returns the rows written.
    pub async fn fill_demo(
        &self,
        quoted_table: &str,
        params: &stockd::demo::DemoParams,
    ) -> Result<u64> {
        stockd::demo::fill_table(&self.client, quoted_table, params)
            .await
            .with_context(|| format!("filling {quoted_table} with demo data"))
    }

    /// Fills the reference table with a small hand-made data set: `stocks`
    /// codes (`600000`, `600001`, …) on each of `dates`, with distinct
    /// closes and a few NULLs, for tests that need a quick load.
    pub async fn fill_small(&self, quoted_table: &str, stocks: u32, dates: &[&str]) -> Result<u64> {
        let mut total = 0;
        for (d, date) in dates.iter().enumerate() {
            let sql = format!(
                "INSERT INTO {quoted_table} (stock_code, stock_name, date, industry, close, pct_chg, pe, volume, rank, is_st)
                 SELECT lpad((600000 + i)::text, 6, '0'), 'Stock ' || i, DATE {date},
                        (ARRAY['Banking','Mining','Software'])[1 + i % 3],
                        round((10 + i * 0.37 + {d} * 0.01)::numeric, 2),
                        ((i * 7 + {d}) % 21 - 10)::real / 3,
                        CASE WHEN i % 5 = 0 THEN NULL ELSE (i * 1.5 + {d})::double precision END,
                        1000 * i + {d}, i, i % 7 = 0
                 FROM generate_series(0, {}) AS i",
                stocks - 1,
                date = quote_literal(date),
            );
            total += self
                .client
                .execute(&sql, &[])
                .await
                .with_context(|| format!("filling {quoted_table} for {date}"))?;
        }
        Ok(total)
    }

    /// Sends `NOTIFY channel`.
    pub async fn notify(&self, channel: &str) -> Result<()> {
        self.execute(&format!("NOTIFY {}", quote_ident(channel)))
            .await
    }
}

fn abbreviate(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 200 {
        format!("{}…", one_line.chars().take(200).collect::<String>())
    } else {
        one_line
    }
}

impl Drop for PgTestDb {
    /// Drops the database from a helper thread with its own runtime (this
    /// may run inside the test's runtime, which must not be blocked on).
    /// Never panics: a failure is printed and the database left behind.
    fn drop(&mut self) {
        let base = self.base.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return Err(format!("no runtime: {e}")),
            };
            rt.block_on(async {
                let admin = connect(&base).await.map_err(|e| format!("{e:#}"))?;
                admin
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quote_ident(&name)
                    ))
                    .await
                    .map_err(|e| e.to_string())
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbname_is_replaced() {
        assert_eq!(
            with_dbname("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_dbname("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_dbname("postgres://h:5", "x"), "postgres://h:5/x");
        assert_eq!(
            with_dbname("host=/tmp user=me", "x"),
            "host=/tmp user=me dbname=x"
        );
    }
}
