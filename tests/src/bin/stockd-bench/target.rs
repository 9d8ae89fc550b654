//! The systems measured. A [`Target`] makes clients; a [`TargetClient`]
//! executes one [`Request`] and returns how many rows it got back, having
//! fully read and decoded the answer. Redis (issue 6) is a third
//! implementation of the same two traits.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bb8_postgres::PostgresConnectionManager;
use serde_json::Value;
use tokio_postgres::{NoTls, Statement};

use crate::ops::{
    many_codes, Op, Request, GET8_FIELDS, HISTORY_FIELDS, HOTSPOTS_N, LIST_N, TOP_BY, TOP_N,
};
use crate::pgval::{decode_row, PgDate, PgValue};
use crate::prepare::Universe;
use crate::rpc::HttpConn;

/// What a client does with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decode {
    /// Decode everything: stockd's JSON into a `serde_json::Value`,
    /// PostgreSQL's rows column by column into owned values. The default,
    /// and what the targets are defined with.
    Full,
    /// Diagnostic: read the whole answer but do not decode it (stockd: the
    /// bytes are checked for `"result"` and no `"error"`; PostgreSQL: rows
    /// counted). Shows the servers' capacity without the client's decoding.
    None,
}

impl std::str::FromStr for Decode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Decode> {
        match s {
            "full" => Ok(Decode::Full),
            "none" => Ok(Decode::None),
            _ => anyhow::bail!("--decode must be full or none, not '{s}'"),
        }
    }
}

/// Why a request did not produce an answer.
#[derive(Debug)]
pub enum CallError {
    /// The system answered with an error (counted; the client goes on).
    Answer(String),
    /// Transport failure (the client stops).
    Transport(anyhow::Error),
}

pub trait Target: Send + Sync + 'static {
    type Client: TargetClient;
    /// `stockd`, `postgres`, `redis`.
    fn name(&self) -> &'static str;
    /// The server process whose CPU time is the target's (`None`: count
    /// the PostgreSQL backends).
    fn server_pid(&self) -> Option<u32>;
    /// One client: its own connection (stockd) or a handle on the shared
    /// pool (PostgreSQL).
    fn client(&self) -> impl Future<Output = Result<Self::Client>> + Send;
}

pub trait TargetClient: Send + 'static {
    fn execute(&mut self, req: Request) -> impl Future<Output = Result<usize, CallError>> + Send;
}

// ---------------------------------------------------------------- stockd

/// stockd over its Unix socket: one keep-alive HTTP/1.1 connection per
/// client; every response is parsed into a `serde_json::Value`.
pub struct StockdTarget {
    /// `stockd`, or `baseline` for the `--baseline` binary.
    pub name: &'static str,
    pub socket: PathBuf,
    pub pid: u32,
    pub universe: Arc<Universe>,
    pub decode: Decode,
}

pub struct StockdClient {
    conn: HttpConn,
    decode: Decode,
    universe: Arc<Universe>,
    body: Vec<u8>,
    out: Vec<u8>,
    id: u64,
}

impl Target for StockdTarget {
    type Client = StockdClient;

    fn name(&self) -> &'static str {
        self.name
    }

    fn server_pid(&self) -> Option<u32> {
        Some(self.pid)
    }

    async fn client(&self) -> Result<StockdClient> {
        Ok(StockdClient {
            conn: HttpConn::connect(&self.socket).await?,
            decode: self.decode,
            universe: self.universe.clone(),
            body: Vec::with_capacity(256),
            out: Vec::with_capacity(64 * 1024),
            id: 0,
        })
    }
}

impl StockdClient {
    /// The JSON-RPC body of `req`.
    pub fn encode(&mut self, req: Request) {
        use std::io::Write;
        self.id += 1;
        let u = &self.universe;
        let id = self.id;
        let b = &mut self.body;
        b.clear();
        let fields = |f: &[&str]| {
            f.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = match req {
            Request::Get { code, date } => write!(
                b,
                r#"{{"jsonrpc":"2.0","id":{id},"method":"stock.get","params":{{"code":"{}","date":"{}"}}}}"#,
                u.codes[code as usize], u.dates[date as usize].text
            ),
            Request::Get8 { code, date } => write!(
                b,
                r#"{{"jsonrpc":"2.0","id":{id},"method":"stock.get","params":{{"code":"{}","date":"{}","fields":[{}]}}}}"#,
                u.codes[code as usize],
                u.dates[date as usize].text,
                fields(&GET8_FIELDS)
            ),
            Request::Many {
                date,
                first,
                columns,
            } => {
                let codes = many_codes(first, u.codes.len())
                    .map(|c| format!("\"{}\"", u.codes[c as usize]))
                    .collect::<Vec<_>>()
                    .join(",");
                write!(
                    b,
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"stock.many","params":{{"codes":[{codes}],"date":"{}"{}}}}}"#,
                    u.dates[date as usize].text,
                    layout(columns)
                )
            }
            Request::Top { date, columns } => write!(
                b,
                r#"{{"jsonrpc":"2.0","id":{id},"method":"stock.top","params":{{"by":"{TOP_BY}","n":{TOP_N},"order":"desc","date":"{}"{}}}}}"#,
                u.dates[date as usize].text,
                layout(columns)
            ),
            Request::History { code } => write!(
                b,
                r#"{{"jsonrpc":"2.0","id":{id},"method":"stock.history","params":{{"code":"{}","fields":[{}]}}}}"#,
                u.codes[code as usize],
                fields(&HISTORY_FIELDS)
            ),
            Request::Hotspots { date } => write!(
                b,
                r#"{{"jsonrpc":"2.0","id":{id},"method":"hotspots.ranking","params":{{"date":"{}","n":{HOTSPOTS_N}}}}}"#,
                u.dates[date as usize].text
            ),
            Request::Industry { industry, date } => write!(
                b,
                r#"{{"jsonrpc":"2.0","id":{id},"method":"industry.detail","params":{{"industry":{},"date":"{}"}}}}"#,
                Value::String(u.industries[industry as usize].clone()),
                u.dates[date as usize].text
            ),
            Request::List { industry } => write!(
                b,
                r#"{{"jsonrpc":"2.0","id":{id},"method":"stock.list","params":{{"industry":{},"limit":{LIST_N}}}}}"#,
                Value::String(u.industries[industry as usize].clone()),
            ),
        };
    }

    /// The raw answer to `req` (for the decode-cost measurement).
    pub async fn fetch_raw(&mut self, req: Request) -> Result<Vec<u8>> {
        self.encode(req);
        self.conn.post(&self.body, &mut self.out).await?;
        Ok(self.out.clone())
    }
}

/// The `layout` member of a row-list request's params.
fn layout(columns: bool) -> &'static str {
    if columns {
        r#","layout":"columns""#
    } else {
        ""
    }
}

/// Items in a stockd result: rows (get, many, top), dates (history),
/// industries (hotspots), 1 (industry.detail); `None` for another shape.
fn result_items(req: Request, r: Option<&Value>) -> Option<usize> {
    match (req, r?) {
        (Request::Get { .. } | Request::Get8 { .. }, Value::Object(r)) => match r.get("values") {
            Some(Value::Object(vals)) if !vals.is_empty() => Some(1),
            _ => Some(0),
        },
        // stock.many (both layouts) and stock.top in the columns layout:
        // an object whose "rows" is the row list.
        (Request::Many { .. } | Request::Top { columns: true, .. }, Value::Object(r)) => {
            r.get("rows")?.as_array().map(Vec::len)
        }
        (Request::Top { columns: false, .. }, Value::Array(a)) => Some(a.len()),
        (Request::History { .. }, Value::Object(r)) => r.get("dates")?.as_array().map(Vec::len),
        (Request::Hotspots { .. }, Value::Object(r)) => {
            r.get("industries")?.as_array().map(Vec::len)
        }
        (Request::Industry { .. }, Value::Object(_)) => Some(1),
        (Request::List { .. }, Value::Object(r)) => r.get("stocks")?.as_array().map(Vec::len),
        _ => None,
    }
}

impl TargetClient for StockdClient {
    async fn execute(&mut self, req: Request) -> Result<usize, CallError> {
        self.encode(req);
        let status = self
            .conn
            .post(&self.body, &mut self.out)
            .await
            .map_err(CallError::Transport)?;
        if self.decode == Decode::None {
            let head = &self.out[..self.out.len().min(64)];
            let has = |pat: &[u8], hay: &[u8]| hay.windows(pat.len()).any(|w| w == pat);
            if status != 200 || !has(b"\"result\"", head) || has(b"\"error\"", head) {
                return Err(CallError::Answer(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&self.out[..self.out.len().min(300)])
                )));
            }
            return Ok(req.op().expected_rows().unwrap_or(0));
        }
        let v: Value = serde_json::from_slice(&self.out).map_err(|e| {
            CallError::Answer(format!(
                "HTTP {status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&self.out[..self.out.len().min(300)])
            ))
        })?;
        if let Some(e) = v.get("error") {
            return Err(CallError::Answer(format!("HTTP {status}: error {e}")));
        }
        result_items(req, v.get("result")).ok_or_else(|| {
            CallError::Answer(format!(
                "HTTP {status}: unexpected result shape: {}",
                String::from_utf8_lossy(&self.out[..self.out.len().min(300)])
            ))
        })
    }
}

// -------------------------------------------------------------- postgres

/// A bb8 manager whose connections carry their prepared statements, so a
/// request is one round trip (Bind/Execute of a statement prepared once per
/// connection), as a careful application would do it.
pub struct PreparedManager {
    inner: PostgresConnectionManager<NoTls>,
    statements: Vec<(Op, String)>,
}

pub struct PgConn {
    pub client: tokio_postgres::Client,
    statements: HashMap<Op, Statement>,
}

impl bb8::ManageConnection for PreparedManager {
    type Connection = PgConn;
    type Error = tokio_postgres::Error;

    async fn connect(&self) -> Result<PgConn, tokio_postgres::Error> {
        let client = self.inner.connect().await?;
        let mut statements = HashMap::new();
        for (op, sql) in &self.statements {
            statements.insert(*op, client.prepare(sql).await?);
        }
        Ok(PgConn { client, statements })
    }

    async fn is_valid(&self, conn: &mut PgConn) -> Result<(), tokio_postgres::Error> {
        conn.client.simple_query("").await.map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// PostgreSQL through a bb8 pool of `size` connections (all kept open; no
/// test query on checkout, so a request costs exactly its statement).
pub struct PostgresTarget {
    pub pool: bb8::Pool<PreparedManager>,
    pub universe: Arc<Universe>,
    pub decode: Decode,
}

impl PostgresTarget {
    pub async fn new(
        url: &str,
        size: u32,
        quoted_table: &str,
        ops: &[Op],
        universe: Arc<Universe>,
        decode: Decode,
    ) -> Result<Self> {
        let inner = PostgresConnectionManager::new(url.parse().context("PostgreSQL URL")?, NoTls);
        let statements = ops.iter().map(|op| (*op, op.sql(quoted_table))).collect();
        let pool = bb8::Pool::builder()
            .max_size(size)
            .min_idle(Some(size))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .build(PreparedManager { inner, statements })
            .await
            .context("building the PostgreSQL pool")?;
        // Open every connection (and prepare) before measuring.
        let mut held = Vec::new();
        for _ in 0..size {
            held.push(
                pool.get()
                    .await
                    .map_err(|e| anyhow::anyhow!("pool: {e:?}"))?,
            );
        }
        drop(held);
        Ok(PostgresTarget {
            pool,
            universe,
            decode,
        })
    }
}

pub struct PostgresClient {
    pool: bb8::Pool<PreparedManager>,
    decode: Decode,
    universe: Arc<Universe>,
    values: Vec<PgValue>,
}

impl Target for PostgresTarget {
    type Client = PostgresClient;

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn server_pid(&self) -> Option<u32> {
        None
    }

    async fn client(&self) -> Result<PostgresClient> {
        Ok(PostgresClient {
            pool: self.pool.clone(),
            decode: self.decode,
            universe: self.universe.clone(),
            values: Vec::with_capacity(TOP_N * 100),
        })
    }
}

impl PostgresClient {
    /// Runs `req` and decodes every column of every row into `values`.
    pub async fn rows(&mut self, req: Request) -> Result<Vec<tokio_postgres::Row>, CallError> {
        let conn = self
            .pool
            .get()
            .await
            .map_err(|e| CallError::Transport(anyhow::anyhow!("pool checkout: {e:?}")))?;
        let stmt = conn
            .statements
            .get(&req.op())
            .ok_or_else(|| CallError::Transport(anyhow::anyhow!("{} not prepared", req.op())))?;
        let u = &self.universe;
        let date = |d: u32| PgDate(u.dates[d as usize].days);
        let c = &conn.client;
        let r = match req {
            Request::Get { code, date: d } | Request::Get8 { code, date: d } => {
                c.query(stmt, &[&u.codes[code as usize], &date(d)]).await
            }
            Request::Many { date: d, first, .. } => {
                let codes: Vec<&str> = many_codes(first, u.codes.len())
                    .map(|i| u.codes[i as usize].as_str())
                    .collect();
                c.query(stmt, &[&date(d), &codes]).await
            }
            Request::Top { date: d, .. } | Request::Hotspots { date: d } => {
                c.query(stmt, &[&date(d)]).await
            }
            Request::History { code } => c.query(stmt, &[&u.codes[code as usize]]).await,
            Request::Industry { industry, date: d } => {
                c.query(stmt, &[&date(d), &u.industries[industry as usize]])
                    .await
            }
            Request::List { industry } => {
                c.query(stmt, &[&date(0), &u.industries[industry as usize]])
                    .await
            }
        };
        r.map_err(|e| {
            if e.is_closed() {
                CallError::Transport(e.into())
            } else {
                CallError::Answer(e.to_string())
            }
        })
    }
}

impl TargetClient for PostgresClient {
    async fn execute(&mut self, req: Request) -> Result<usize, CallError> {
        let rows = self.rows(req).await?;
        if self.decode == Decode::None {
            return Ok(pg_items(req, &rows));
        }
        self.values.clear();
        for row in &rows {
            decode_row(row, &mut self.values).map_err(|e| CallError::Answer(e.to_string()))?;
        }
        Ok(pg_items(req, &rows))
    }
}

/// Items in a PostgreSQL answer, counted like [`result_items`]: rows, but
/// industries for hotspots (one row per leader) and 1 for industry.detail.
fn pg_items(req: Request, rows: &[tokio_postgres::Row]) -> usize {
    match req {
        Request::Hotspots { .. } => {
            let mut n = 0;
            let mut last: Option<&str> = None;
            for r in rows {
                let ind: Option<&str> = r.try_get("industry").ok();
                if ind != last {
                    n += 1;
                    last = ind;
                }
            }
            n
        }
        Request::Industry { .. } => usize::from(!rows.is_empty()),
        _ => rows.len(),
    }
}
