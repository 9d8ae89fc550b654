//! Redis as a user would lay this data out: one hash per (code, date) row
//! with every non-NULL column (field = column name, value = PostgreSQL's
//! text form), a sorted set per (date, column) for the ranked column
//! (`pct_chg`), and, for the industry views, a set of the codes of each date
//! and of each (date, industry). Loaded from the same rows (a text COPY of
//! the same window), in the benchmark's own database number and under the
//! key prefix [`PREFIX`]; only keys with that prefix are ever deleted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use futures_util::TryStreamExt;

use crate::ops::{
    many_codes, Request, GET8_FIELDS, HISTORY_FIELDS, HOTSPOTS_LEADERS, HOTSPOTS_N,
    INDUSTRY_MOVERS, TOP_BY, TOP_N, VIEW_FIELDS,
};
use crate::prepare::{DataSet, Universe};
use crate::resp::{RedisAddr, Resp, RespConn};
use crate::target::{CallError, Target, TargetClient};

/// Every key the benchmark writes starts with this.
pub const PREFIX: &str = "sb:";

fn row_key(code: &str, date: &str) -> String {
    format!("{PREFIX}h:{code}:{date}")
}
fn zset_key(date: &str) -> String {
    format!("{PREFIX}z:{date}:{TOP_BY}")
}
fn date_key(date: &str) -> String {
    format!("{PREFIX}d:{date}")
}
fn industry_key(date: &str, industry: &str) -> String {
    format!("{PREFIX}i:{date}:{industry}")
}

/// The server's facts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RedisInfo {
    pub version: String,
    pub pid: u32,
    pub used_memory: u64,
}

pub async fn info(c: &mut RespConn) -> Result<RedisInfo> {
    let text = c
        .call(&["INFO", "server"])
        .await?
        .into_string()?
        .unwrap_or_default();
    let mem = c
        .call(&["INFO", "memory"])
        .await?
        .into_string()?
        .unwrap_or_default();
    let field = |t: &str, k: &str| {
        t.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{k}:"))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    Ok(RedisInfo {
        version: field(&text, "redis_version"),
        pid: field(&text, "process_id").parse().unwrap_or(0),
        used_memory: field(&mem, "used_memory").parse().unwrap_or(0),
    })
}

/// Deletes every key with [`PREFIX`] in the selected database (SCAN +
/// UNLINK); returns how many.
pub async fn clear(c: &mut RespConn) -> Result<u64> {
    let pattern = format!("{PREFIX}*");
    let mut cursor = "0".to_string();
    let mut deleted = 0;
    loop {
        let r = c
            .call(&[
                "SCAN",
                cursor.as_str(),
                "MATCH",
                pattern.as_str(),
                "COUNT",
                "10000",
            ])
            .await?
            .into_array()?;
        let mut it = r.into_iter();
        cursor = it
            .next()
            .context("SCAN without cursor")?
            .into_string()?
            .unwrap_or_default();
        let keys = it.next().context("SCAN without keys")?.into_array()?;
        if !keys.is_empty() {
            let mut args: Vec<Vec<u8>> = vec![b"UNLINK".to_vec()];
            for k in keys {
                if let Resp::Bulk(Some(k)) = k {
                    args.push(k);
                }
            }
            if let Resp::Int(n) = c.call(&args).await? {
                deleted += n as u64;
            }
        }
        if cursor == "0" {
            return Ok(deleted);
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RedisLoad {
    pub rows: u64,
    pub commands: u64,
    pub load_ms: f64,
    /// used_memory before loading (our keys deleted) and after.
    pub used_memory_before: u64,
    pub used_memory_after: u64,
    /// after − before: what the rows cost.
    pub used_memory_delta: u64,
    pub keys_deleted_before: u64,
}

/// Unescapes PostgreSQL's text COPY field.
fn unescape(f: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(f.len());
    let mut i = 0;
    while i < f.len() {
        if f[i] == b'\\' && i + 1 < f.len() {
            out.push(match f[i + 1] {
                b't' => b'\t',
                b'n' => b'\n',
                b'r' => b'\r',
                b'b' => 8,
                b'f' => 12,
                b'v' => 11,
                c => c,
            });
            i += 2;
        } else {
            out.push(f[i]);
            i += 1;
        }
    }
    out
}

/// Loads the window of `ds` into Redis (after deleting the benchmark's
/// keys), pipelined in batches of about 1 MiB.
pub async fn load(pg_url: &str, ds: &DataSet, addr: &RedisAddr, db: u32) -> Result<RedisLoad> {
    let mut c = RespConn::connect(addr, db).await?;
    let keys_deleted_before = clear(&mut c).await?;
    let before = info(&mut c).await?.used_memory;
    let names: Vec<&str> = ds.columns.iter().map(|c| c.name.as_str()).collect();
    let pos = |n: &str| {
        names
            .iter()
            .position(|c| *c == n)
            .with_context(|| format!("the table has no column {n}"))
    };
    let (i_code, i_date, i_pct, i_ind) = (
        pos("stock_code")?,
        pos("date")?,
        pos(TOP_BY)?,
        pos("industry")?,
    );
    let sql = format!(
        "COPY (SELECT {} FROM {} WHERE \"date\" >= DATE '{}') TO STDOUT",
        ds.column_list(),
        ds.quoted,
        ds.window_start
    );
    let pg = crate::prepare::connect(pg_url).await?;
    let t0 = Instant::now();
    let stream = pg.copy_out(sql.as_str()).await?;
    futures_util::pin_mut!(stream);
    let mut pending: Vec<u8> = Vec::new();
    let (mut rows, mut commands) = (0u64, 0u64);
    let mut outstanding = 0usize;
    let mut args: Vec<Vec<u8>> = Vec::with_capacity(2 + 2 * names.len());
    let mut fields: Vec<Vec<u8>> = Vec::with_capacity(names.len());
    loop {
        let chunk = stream.try_next().await?;
        let done = chunk.is_none();
        if let Some(ch) = chunk {
            pending.extend_from_slice(&ch);
        }
        let mut used = 0;
        while let Some(nl) = pending[used..].iter().position(|&b| b == b'\n') {
            let line = &pending[used..used + nl];
            used += nl + 1;
            fields.clear();
            fields.extend(line.split(|&b| b == b'\t').map(unescape));
            if fields.len() != names.len() {
                bail!(
                    "COPY line with {} fields, expected {}",
                    fields.len(),
                    names.len()
                );
            }
            let code = String::from_utf8_lossy(&fields[i_code]).into_owned();
            let date = String::from_utf8_lossy(&fields[i_date]).into_owned();
            args.clear();
            args.push(b"HSET".to_vec());
            args.push(row_key(&code, &date).into_bytes());
            for (n, v) in names.iter().zip(&fields) {
                if v.as_slice() != b"\\N" {
                    args.push(n.as_bytes().to_vec());
                    args.push(v.clone());
                }
            }
            c.queue(&args);
            let pct = &fields[i_pct];
            if pct.as_slice() != b"\\N" && pct.as_slice() != b"NaN" {
                c.queue(&[
                    b"ZADD".as_slice(),
                    zset_key(&date).as_bytes(),
                    pct.as_slice(),
                    code.as_bytes(),
                ]);
                commands += 1;
            }
            c.queue(&["SADD", date_key(&date).as_str(), code.as_str()]);
            let ind = &fields[i_ind];
            if ind.as_slice() != b"\\N" {
                c.queue(&[
                    b"SADD".as_slice(),
                    industry_key(&date, &String::from_utf8_lossy(ind)).as_bytes(),
                    code.as_bytes(),
                ]);
                commands += 1;
            }
            commands += 2;
            rows += 1;
        }
        pending.drain(..used);
        if c.queued_bytes() > (1 << 20) || done {
            // Send this batch, then read the previous one's replies: Redis
            // works on one batch while the next is parsed and encoded.
            let n = c.flush().await?;
            for _ in 0..outstanding {
                if let Resp::Error(e) = c.read().await? {
                    bail!("Redis refused a load command: {e}");
                }
            }
            outstanding = n;
        }
        if done {
            break;
        }
    }
    for _ in 0..outstanding {
        if let Resp::Error(e) = c.read().await? {
            bail!("Redis refused a load command: {e}");
        }
    }
    let load_ms = t0.elapsed().as_secs_f64() * 1000.0;
    if rows != ds.rows {
        bail!("loaded {rows} rows into Redis, the table has {}", ds.rows);
    }
    let after = info(&mut c).await?.used_memory;
    Ok(RedisLoad {
        rows,
        commands,
        load_ms,
        used_memory_before: before,
        used_memory_after: after,
        used_memory_delta: after.saturating_sub(before),
        keys_deleted_before,
    })
}

pub struct RedisTarget {
    pub addr: RedisAddr,
    pub db: u32,
    pub pid: u32,
    pub universe: Arc<Universe>,
}

pub struct RedisClient {
    conn: RespConn,
    universe: Arc<Universe>,
    /// Owned values of the last answer, kept so decoding is not optimized
    /// away.
    pairs: Vec<(String, String)>,
    values: Vec<Option<String>>,
}

impl Target for RedisTarget {
    type Client = RedisClient;

    fn name(&self) -> &'static str {
        "redis"
    }

    fn server_pid(&self) -> Option<u32> {
        Some(self.pid)
    }

    async fn client(&self) -> Result<RedisClient> {
        Ok(RedisClient {
            conn: RespConn::connect(&self.addr, self.db).await?,
            universe: self.universe.clone(),
            pairs: Vec::with_capacity(TOP_N * 100),
            values: Vec::with_capacity(1024),
        })
    }
}

/// One member row as the industry views read it: every field decoded into
/// an owned value (the mover lists carry name, close, amount and volume
/// ratio, as the daemon's answers do), though the statistics read only some.
#[allow(dead_code)]
struct MemberRow {
    code: String,
    name: Option<String>,
    pct: Option<f64>,
    close: Option<f64>,
    limit_up: bool,
    limit_down: bool,
    amount: Option<f64>,
    net: Option<f64>,
    volume_ratio: Option<f64>,
}

/// What the industry views compute for one industry (the daemon's
/// definitions, see README "Methods").
/// Computed in full like the other targets' answers (kept through
/// `black_box`), though nothing reads every field back.
#[allow(dead_code)]
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub members: u64,
    pub avg: Option<f64>,
    pub median: Option<f64>,
    pub up: u64,
    pub flat: u64,
    pub down: u64,
    pub limit_up: u64,
    pub limit_down: u64,
    pub amount: Option<f64>,
    pub net_inflow: Option<f64>,
    pub heat: Option<f64>,
}

fn add(sum: &mut Option<f64>, v: Option<f64>) {
    if let Some(v) = v {
        *sum = Some(sum.unwrap_or(0.0) + v);
    }
}

/// Statistics of `rows`; sorts the rows by pct desc (None last), ties by code.
fn stats(rows: &mut [MemberRow]) -> Stats {
    rows.sort_by(|a, b| match (a.pct, b.pct) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.code.cmp(&b.code)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.code.cmp(&b.code),
    });
    let mut s = Stats {
        members: rows.len() as u64,
        ..Default::default()
    };
    let moves: Vec<f64> = rows.iter().filter_map(|r| r.pct).collect();
    for r in rows.iter() {
        s.limit_up += u64::from(r.limit_up);
        s.limit_down += u64::from(r.limit_down);
        add(&mut s.amount, r.amount);
        add(&mut s.net_inflow, r.net);
    }
    for &p in &moves {
        if p > 0.0 {
            s.up += 1;
        } else if p < 0.0 {
            s.down += 1;
        } else {
            s.flat += 1;
        }
    }
    let n = moves.len();
    if n > 0 {
        let avg = moves.iter().sum::<f64>() / n as f64;
        s.avg = Some(avg);
        s.median = Some(if n % 2 == 1 {
            moves[n / 2]
        } else {
            (moves[n / 2 - 1] + moves[n / 2]) / 2.0
        });
        s.heat = Some(
            avg + 5.0 * (s.up as f64 - s.down as f64) / n as f64 + 2.0 * s.limit_up as f64
                - 2.0 * s.limit_down as f64,
        );
    }
    s
}

fn num(v: &Option<String>) -> Option<f64> {
    v.as_deref()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| !f.is_nan())
}

fn ans<T>(r: Result<T>) -> Result<T, CallError> {
    r.map_err(|e| {
        let msg = format!("{e:#}");
        if msg.contains("redis error") {
            CallError::Answer(msg)
        } else {
            CallError::Transport(e)
        }
    })
}

impl RedisClient {
    /// HGETALL reply → owned (field, value) pairs appended to `pairs`;
    /// returns whether the row exists.
    fn take_hash(&mut self, r: Resp) -> Result<bool> {
        let items = r.into_array()?;
        let found = !items.is_empty();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            self.pairs.push((
                k.into_string()?.unwrap_or_default(),
                v.into_string()?.unwrap_or_default(),
            ));
        }
        Ok(found)
    }

    /// HMGET reply → owned optional values appended to `values`; returns
    /// whether any was present.
    fn take_values(&mut self, r: Resp) -> Result<bool> {
        let mut any = false;
        for v in r.into_array()? {
            let v = v.into_string()?;
            any |= v.is_some();
            self.values.push(v);
        }
        Ok(any)
    }

    /// SMEMBERS `key`, then HMGET of [`VIEW_FIELDS`] for each member on
    /// `date`: the member rows of an industry view (two round trips).
    async fn members(&mut self, key: &str, date: &str) -> Result<Vec<MemberRow>> {
        let codes: Vec<String> = self
            .conn
            .call(&["SMEMBERS", key])
            .await?
            .into_array()?
            .into_iter()
            .map(|c| c.into_string().map(Option::unwrap_or_default))
            .collect::<Result<_>>()?;
        for code in &codes {
            let k = row_key(code, date);
            let mut args = vec!["HMGET", k.as_str()];
            args.extend_from_slice(&VIEW_FIELDS);
            self.conn.queue(&args);
        }
        self.conn.flush().await?;
        let mut rows = Vec::with_capacity(codes.len());
        for code in codes {
            let v: Vec<Option<String>> = self
                .conn
                .read()
                .await?
                .into_array()?
                .into_iter()
                .map(Resp::into_string)
                .collect::<Result<_>>()?;
            if v.len() != VIEW_FIELDS.len() {
                bail!("HMGET answered {} values", v.len());
            }
            let close = num(&v[3]);
            rows.push(MemberRow {
                code,
                name: v[1].clone(),
                pct: num(&v[2]),
                close,
                limit_up: matches!((close, num(&v[4])), (Some(c), Some(u)) if c >= u),
                limit_down: matches!((close, num(&v[5])), (Some(c), Some(d)) if c <= d),
                amount: num(&v[6]),
                net: num(&v[7]),
                volume_ratio: num(&v[8]),
            });
            // The industry column decides the group (hotspots).
            if let Some(ind) = &v[0] {
                self.pairs.push((String::new(), ind.clone()));
            } else {
                self.pairs.push((String::new(), String::new()));
            }
        }
        Ok(rows)
    }

    async fn run(&mut self, req: Request) -> Result<usize> {
        self.pairs.clear();
        self.values.clear();
        let u = self.universe.clone();
        Ok(match req {
            Request::Get { code, date } => {
                let k = row_key(&u.codes[code as usize], &u.dates[date as usize].text);
                let r = self.conn.call(&["HGETALL", k.as_str()]).await?;
                usize::from(self.take_hash(r)?)
            }
            Request::Get8 { code, date } => {
                let k = row_key(&u.codes[code as usize], &u.dates[date as usize].text);
                let mut args = vec!["HMGET", k.as_str()];
                args.extend_from_slice(&GET8_FIELDS);
                let r = self.conn.call(&args).await?;
                usize::from(self.take_values(r)?)
            }
            Request::Many { date, first, .. } => {
                let d = &u.dates[date as usize].text;
                for c in many_codes(first, u.codes.len()) {
                    self.conn
                        .queue(&["HGETALL", row_key(&u.codes[c as usize], d).as_str()]);
                }
                let n = self.conn.flush().await?;
                let mut found = 0;
                for _ in 0..n {
                    let r = self.conn.read().await?;
                    found += usize::from(self.take_hash(r)?);
                }
                found
            }
            Request::Top { date, .. } => {
                let d = &u.dates[date as usize].text;
                let top = (TOP_N - 1).to_string();
                let codes = self
                    .conn
                    .call(&["ZREVRANGE", zset_key(d).as_str(), "0", top.as_str()])
                    .await?
                    .into_array()?;
                for c in codes {
                    let c = c.into_string()?.unwrap_or_default();
                    self.conn.queue(&["HGETALL", row_key(&c, d).as_str()]);
                }
                let n = self.conn.flush().await?;
                let mut found = 0;
                for _ in 0..n {
                    let r = self.conn.read().await?;
                    found += usize::from(self.take_hash(r)?);
                }
                found
            }
            Request::History { code } => {
                let c = &u.codes[code as usize];
                for d in &u.dates {
                    let k = row_key(c, &d.text);
                    let mut args = vec!["HMGET", k.as_str()];
                    args.extend_from_slice(&HISTORY_FIELDS);
                    self.conn.queue(&args);
                }
                let n = self.conn.flush().await?;
                let mut found = 0;
                for _ in 0..n {
                    let r = self.conn.read().await?;
                    found += usize::from(self.take_values(r)?);
                }
                found
            }
            Request::Hotspots { date } => {
                let d = &u.dates[date as usize].text;
                let rows = self.members(&date_key(d), d).await?;
                let inds: Vec<String> = self.pairs.drain(..).map(|(_, i)| i).collect();
                let mut groups: HashMap<String, Vec<MemberRow>> = HashMap::new();
                for (row, ind) in rows.into_iter().zip(inds) {
                    if !ind.is_empty() {
                        groups.entry(ind).or_default().push(row);
                    }
                }
                let mut ranked: Vec<(String, Stats, Vec<MemberRow>)> = groups
                    .into_iter()
                    .map(|(name, mut rows)| {
                        let s = stats(&mut rows);
                        rows.truncate(HOTSPOTS_LEADERS);
                        rows.retain(|r| r.pct.is_some());
                        (name, s, rows)
                    })
                    .collect();
                ranked.sort_by(|a, b| match (a.1.heat, b.1.heat) {
                    (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.0.cmp(&b.0)),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => a.0.cmp(&b.0),
                });
                ranked.truncate(HOTSPOTS_N);
                let n = ranked.len();
                std::hint::black_box(ranked);
                n
            }
            Request::Industry { industry, date } => {
                let d = &u.dates[date as usize].text;
                let name = &u.industries[industry as usize];
                let mut rows = self.members(&industry_key(d, name), d).await?;
                let s = stats(&mut rows);
                let gainers: Vec<&MemberRow> = rows
                    .iter()
                    .filter(|r| r.pct.is_some_and(|p| p > 0.0))
                    .take(INDUSTRY_MOVERS)
                    .collect();
                let losers: Vec<&MemberRow> = rows
                    .iter()
                    .rev()
                    .filter(|r| r.pct.is_some_and(|p| p < 0.0))
                    .take(INDUSTRY_MOVERS)
                    .collect();
                std::hint::black_box((s, gainers, losers));
                1
            }
            Request::List { .. } => {
                bail!("stock.list has no Redis equivalent (see Op::has_redis)")
            }
        })
    }
}

impl TargetClient for RedisClient {
    async fn execute(&mut self, req: Request) -> Result<usize, CallError> {
        let r = self.run(req).await;
        ans(r)
    }
}
