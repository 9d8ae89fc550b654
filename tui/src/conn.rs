//! Talking to the daemon. [`connect`] opens the Unix socket and speaks
//! WebSocket JSON-RPC over it through the generated `*Client` traits of
//! `stockd_api`; [`run`] is the console's connection task: it connects,
//! reconnects with capped backoff, keeps the status feed going
//! (`admin.subscribe_status`, else polling `admin.status`) and executes the
//! console's [`Request`]s, reporting everything as [`Event`]s. The console
//! never awaits the daemon itself, so a slow or dead daemon cannot freeze
//! drawing or input.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::client::{Error as ClientError, Subscription};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use stockd_api::limits::{MAX_STATUS_INTERVAL_MS, MIN_STATUS_INTERVAL_MS};
use stockd_api::{
    AdminStatus, CacheClearResult, CacheResizeResult, ErrorKind, HotspotsRanking, IndustryDetail,
    MarketInfo, ReloadResult, Size, StockHistory, StockList, StockRow, StockSignals, StockdClient,
    StockdSubscriptions, TrimResult,
};
use tokio::net::UnixStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::socket::likely_cause;

/// The client: WebSocket JSON-RPC over the Unix socket.
pub type Client = WsClient;

/// How long one call may take. `store.reload` waits for a whole load, which
/// can take minutes on a large table.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the WebSocket handshake may take once the socket is open.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The column charted in the stock view. The contract does not say which
/// table column is the semantic "close" (that is daemon config), so the
/// default of `[columns] close` is assumed; a table without it gets no chart.
pub const CLOSE_COLUMN: &str = "close";
/// How long a status call may take before the feed treats it as failed
/// (the status is cheap; a daemon that does not answer it is in trouble).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
/// While `admin.status` is refused, ask again this often (the daemon's
/// admin groups may change).
pub const REFUSED_RETRY: Duration = Duration::from_secs(5);

/// Why [`connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {}: {source}", socket.display())]
    Socket { socket: PathBuf, source: io::Error },
    #[error("connected to {} but the WebSocket handshake failed: {message}", socket.display())]
    Handshake { socket: PathBuf, message: String },
}

impl ConnectError {
    /// The likely cause, in words an operator can act on.
    pub fn cause(&self) -> String {
        match self {
            ConnectError::Socket { socket, source } => likely_cause(socket, source),
            ConnectError::Handshake { socket, .. } => format!(
                "something listens on {} but does not answer as stockd does: wrong path?",
                socket.display()
            ),
        }
    }
}

/// Opens `socket` and performs the WebSocket handshake.
pub async fn connect(socket: &Path) -> Result<Client, ConnectError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| ConnectError::Socket {
            socket: socket.to_path_buf(),
            source,
        })?;
    WsClientBuilder::default()
        .request_timeout(REQUEST_TIMEOUT)
        .connection_timeout(HANDSHAKE_TIMEOUT)
        .build_with_stream("ws://localhost", stream)
        .await
        .map_err(|e| ConnectError::Handshake {
            socket: socket.to_path_buf(),
            message: e.to_string(),
        })
}

/// A failed call: the daemon's error code and message, or what went wrong
/// on the way (then `code` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub code: Option<i32>,
    pub message: String,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            code: None,
            message: message.into(),
        }
    }

    /// Keeps the daemon's own message for JSON-RPC errors.
    pub fn from_client(e: &ClientError) -> Failure {
        match e {
            ClientError::Call(obj) => Failure {
                code: Some(obj.code()),
                message: obj.message().to_string(),
            },
            other => Failure::new(other.to_string()),
        }
    }

    pub fn not_connected(socket: &Path) -> Failure {
        Failure::new(format!("not connected to {}; retrying", socket.display()))
    }

    /// The application error kind, when the daemon gave one.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.code.and_then(ErrorKind::from_code)
    }

    /// The daemon refused an admin call (peer-credential rule).
    pub fn is_forbidden(&self) -> bool {
        self.kind() == Some(ErrorKind::Forbidden)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// True when the error means the connection is gone (not a refusal).
fn is_connection_error(e: &ClientError) -> bool {
    matches!(e, ClientError::RestartNeeded(_) | ClientError::Transport(_))
}

/// Sort order of `stock.top`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Desc,
    Asc,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Desc => "desc",
            Order::Asc => "asc",
        }
    }

    pub fn flip(self) -> Order {
        match self {
            Order::Desc => Order::Asc,
            Order::Asc => Order::Desc,
        }
    }
}

/// One `stock.top` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopQuery {
    pub by: String,
    pub n: u64,
    pub order: Order,
    pub date: Option<String>,
}

/// What the console asks of the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `market.info` and `market.dates`.
    Market,
    ClearCache {
        name: Option<String>,
    },
    ResizeCache {
        name: String,
        max_bytes: u64,
    },
    TrimMemory,
    Reload,
    /// `stock.get`, the close history and `signals.stock` of one code.
    Stock {
        code: String,
        date: Option<String>,
    },
    Top(TopQuery),
    Hotspots {
        date: Option<String>,
        n: u64,
    },
    Industry {
        industry: String,
        date: Option<String>,
    },
}

impl Request {
    /// The reply this request gets when it cannot be sent.
    pub fn fail(self, f: Failure) -> Reply {
        match self {
            Request::Market => Reply::Market {
                info: Err(f.clone()),
                dates: Err(f),
            },
            Request::ClearCache { name } => Reply::Cleared {
                name,
                result: Err(f),
            },
            Request::ResizeCache { name, .. } => Reply::Resized {
                name,
                result: Err(f),
            },
            Request::TrimMemory => Reply::Trimmed(Err(f)),
            Request::Reload => Reply::Reloaded(Err(f)),
            Request::Stock { code, .. } => Reply::Stock {
                code,
                result: Err(f),
            },
            Request::Top(query) => Reply::Top {
                query,
                result: Err(f),
            },
            Request::Hotspots { date, .. } => Reply::Hotspots {
                date,
                result: Err(f),
            },
            Request::Industry { industry, .. } => Reply::Industry {
                industry,
                result: Err(f),
            },
        }
    }
}

/// A stock looked up: its row, the close series over the window and its
/// signals (the latter two may fail on their own without hiding the row).
#[derive(Debug, Clone, PartialEq)]
pub struct StockLookup {
    pub row: StockRow,
    pub history: Result<StockHistory, Failure>,
    pub signals: Result<StockSignals, Failure>,
}

impl StockLookup {
    /// `(date, close)` points of the chart; null closes are left out.
    pub fn closes(&self) -> Vec<(String, f64)> {
        let Ok(h) = &self.history else {
            return Vec::new();
        };
        let Some(serde_json::Value::Array(values)) = h.columns.get(CLOSE_COLUMN) else {
            return Vec::new();
        };
        h.dates
            .iter()
            .zip(values)
            .filter_map(|(d, v)| v.as_f64().map(|x| (d.clone(), x)))
            .collect()
    }
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Market {
        info: Result<MarketInfo, Failure>,
        dates: Result<Vec<String>, Failure>,
    },
    Cleared {
        name: Option<String>,
        result: Result<CacheClearResult, Failure>,
    },
    Resized {
        name: String,
        result: Result<CacheResizeResult, Failure>,
    },
    Trimmed(Result<TrimResult, Failure>),
    Reloaded(Result<ReloadResult, Failure>),
    Stock {
        code: String,
        result: Result<Box<StockLookup>, Failure>,
    },
    Top {
        query: TopQuery,
        result: Result<Vec<StockRow>, Failure>,
    },
    Hotspots {
        date: Option<String>,
        result: Result<HotspotsRanking, Failure>,
    },
    Industry {
        industry: String,
        result: Result<IndustryDetail, Failure>,
    },
}

impl Reply {
    /// A successful admin action: the status changed, fetch it now rather
    /// than at the next tick.
    fn changed_status(&self) -> bool {
        match self {
            Reply::Cleared { result, .. } => result.is_ok(),
            Reply::Resized { result, .. } => result.is_ok(),
            Reply::Trimmed(r) => r.is_ok(),
            Reply::Reloaded(r) => r.is_ok(),
            _ => false,
        }
    }
}

/// How status reaches us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedMode {
    Subscribed { interval_ms: u64 },
    Polling { interval_ms: u64, reason: String },
}

/// What the connection task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Connecting {
        attempt: u32,
    },
    Connected,
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
    Feed(FeedMode),
    Status(Box<AdminStatus>),
    /// `admin.status` was refused (forbidden) or could not be read.
    StatusFailed(Failure),
    Reply(Box<Reply>),
}

/// Capped exponential backoff: `base`, doubling, never above `cap`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            next: base.min(cap),
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.cap);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.base.min(self.cap);
    }
}

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct Options {
    pub socket: PathBuf,
    /// Status interval (clamped to the contract's limits).
    pub interval: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Options {
    pub fn new(socket: PathBuf) -> Options {
        Options {
            socket,
            interval: Duration::from_secs(1),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(5),
        }
    }

    fn interval_ms(&self) -> u64 {
        (self.interval.as_millis() as u64).clamp(MIN_STATUS_INTERVAL_MS, MAX_STATUS_INTERVAL_MS)
    }
}

type Events = UnboundedSender<Event>;

/// The connection task. Ends when the request channel closes (the console
/// quit) or nobody listens to the events any more.
pub async fn run(opts: Options, mut requests: UnboundedReceiver<Request>, events: Events) {
    let mut backoff = Backoff::new(opts.backoff_base, opts.backoff_cap);
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        if events.send(Event::Connecting { attempt }).is_err() {
            return;
        }
        let reason = match connect(&opts.socket).await {
            Ok(client) => {
                backoff.reset();
                attempt = 0;
                if events.send(Event::Connected).is_err() {
                    return;
                }
                match session(Arc::new(client), &opts, &mut requests, &events).await {
                    Ended::Quit => return,
                    Ended::Lost(reason) => reason,
                }
            }
            Err(e) => format!("{e} ({})", e.cause()),
        };
        let retry_in = backoff.next_delay();
        if events
            .send(Event::Disconnected { reason, retry_in })
            .is_err()
        {
            return;
        }
        if !wait(retry_in, &opts.socket, &mut requests, &events).await {
            return;
        }
    }
}

/// Sleeps `d`, answering requests with "not connected" meanwhile. False
/// when the console has gone.
async fn wait(
    d: Duration,
    socket: &Path,
    requests: &mut UnboundedReceiver<Request>,
    events: &Events,
) -> bool {
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return true,
            r = requests.recv() => match r {
                None => return false,
                Some(r) => {
                    if events.send(Event::Reply(Box::new(r.fail(Failure::not_connected(socket))))).is_err() {
                        return false;
                    }
                }
            },
        }
    }
}

enum Ended {
    Quit,
    Lost(String),
}

enum Feed {
    Subscribed(Subscription<AdminStatus>),
    Polling(tokio::time::Interval),
}

enum FeedItem {
    Status(Box<AdminStatus>),
    Failed(Failure),
    /// The subscription ended while the connection stayed up.
    Ended,
    Lost(String),
}

fn polling(every: Duration) -> Feed {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Feed::Polling(tick)
}

async fn start_feed(client: &Client, interval_ms: u64, events: &Events) -> Feed {
    let subscribed = tokio::time::timeout(
        STATUS_TIMEOUT,
        StockdSubscriptions::subscribe_status(client, Some(interval_ms)),
    )
    .await
    .unwrap_or(Err(ClientError::RequestTimeout));
    match subscribed {
        Ok(sub) => {
            let _ = events.send(Event::Feed(FeedMode::Subscribed { interval_ms }));
            Feed::Subscribed(sub)
        }
        Err(e) => {
            let f = Failure::from_client(&e);
            let every = if f.is_forbidden() {
                let _ = events.send(Event::StatusFailed(f.clone()));
                REFUSED_RETRY
            } else {
                Duration::from_millis(interval_ms)
            };
            let _ = events.send(Event::Feed(FeedMode::Polling {
                interval_ms: every.as_millis() as u64,
                reason: f.message,
            }));
            polling(every)
        }
    }
}

async fn next_status(feed: &mut Feed, client: &Client) -> FeedItem {
    match feed {
        Feed::Subscribed(sub) => match sub.next().await {
            Some(Ok(s)) => FeedItem::Status(Box::new(s)),
            Some(Err(e)) => {
                FeedItem::Failed(Failure::new(format!("cannot read the status update: {e}")))
            }
            None => FeedItem::Ended,
        },
        Feed::Polling(tick) => {
            tick.tick().await;
            let status = tokio::time::timeout(STATUS_TIMEOUT, StockdClient::status(client))
                .await
                .unwrap_or(Err(ClientError::RequestTimeout));
            match status {
                Ok(s) => FeedItem::Status(Box::new(s)),
                Err(e) if is_connection_error(&e) => FeedItem::Lost(e.to_string()),
                Err(e) => FeedItem::Failed(Failure::from_client(&e)),
            }
        }
    }
}

async fn session(
    client: Arc<Client>,
    opts: &Options,
    requests: &mut UnboundedReceiver<Request>,
    events: &Events,
) -> Ended {
    tokio::spawn(handle(client.clone(), Request::Market, events.clone()));
    let interval_ms = opts.interval_ms();
    let mut feed = start_feed(&client, interval_ms, events).await;
    let disconnected = client.on_disconnect();
    tokio::pin!(disconnected);
    loop {
        tokio::select! {
            biased;
            e = &mut disconnected => return Ended::Lost(format!("connection lost: {e}")),
            r = requests.recv() => match r {
                None => return Ended::Quit,
                Some(r) => {
                    tokio::spawn(handle(client.clone(), r, events.clone()));
                }
            },
            item = next_status(&mut feed, &client) => {
                let ev = match item {
                    FeedItem::Status(s) => Event::Status(s),
                    FeedItem::Failed(f) => Event::StatusFailed(f),
                    FeedItem::Lost(reason) => return Ended::Lost(format!("connection lost: {reason}")),
                    FeedItem::Ended => {
                        if !client.is_connected() {
                            return Ended::Lost("connection closed by the daemon".to_string());
                        }
                        feed = polling(Duration::from_millis(interval_ms));
                        Event::Feed(FeedMode::Polling {
                            interval_ms,
                            reason: "the daemon ended the status subscription".to_string(),
                        })
                    }
                };
                if events.send(ev).is_err() {
                    return Ended::Quit;
                }
            }
        }
    }
}

/// Runs one request and reports its reply; after a successful admin
/// action also the fresh status, so the console shows the effect at once.
async fn handle(client: Arc<Client>, req: Request, events: Events) {
    let reply = execute(&client, req).await;
    let refresh = reply.changed_status();
    if events.send(Event::Reply(Box::new(reply))).is_err() {
        return;
    }
    if refresh {
        if let Ok(Ok(s)) =
            tokio::time::timeout(STATUS_TIMEOUT, StockdClient::status(&*client)).await
        {
            let _ = events.send(Event::Status(Box::new(s)));
        }
    }
}

fn fail(e: ClientError) -> Failure {
    Failure::from_client(&e)
}

/// Runs one request.
pub async fn execute(c: &Client, req: Request) -> Reply {
    match req {
        Request::Market => {
            let (info, dates) = tokio::join!(StockdClient::info(c), StockdClient::dates(c));
            Reply::Market {
                info: info.map_err(fail),
                dates: dates.map_err(fail),
            }
        }
        Request::ClearCache { name } => {
            let result = StockdClient::cache_clear(c, name.clone())
                .await
                .map_err(fail);
            Reply::Cleared { name, result }
        }
        Request::ResizeCache { name, max_bytes } => {
            let result = StockdClient::cache_resize(c, name.clone(), Size::Bytes(max_bytes))
                .await
                .map_err(fail);
            Reply::Resized { name, result }
        }
        Request::TrimMemory => Reply::Trimmed(StockdClient::memory_trim(c).await.map_err(fail)),
        Request::Reload => Reply::Reloaded(StockdClient::store_reload(c).await.map_err(fail)),
        Request::Stock { code, date } => {
            let result = stock_lookup(c, &code, date).await;
            Reply::Stock { code, result }
        }
        Request::Top(query) => {
            let result = stock_top(c, &query).await.map_err(fail);
            Reply::Top { query, result }
        }
        Request::Hotspots { date, n } => {
            let result = hotspots(c, date.clone(), n).await.map_err(fail);
            Reply::Hotspots { date, result }
        }
        Request::Industry { industry, date } => {
            let result = industry_detail(c, industry.clone(), date)
                .await
                .map_err(fail);
            Reply::Industry { industry, result }
        }
    }
}

// The data traits are generic over their result documents; these helpers
// pin the typed clients (`StockdClient`, `StockdClient`) so the
// calls decode into the contract's structs.

pub async fn stock_get<C: StockdClient + Sync>(
    c: &C,
    code: String,
    date: Option<String>,
    fields: Option<Vec<String>>,
) -> Result<StockRow, ClientError> {
    c.get(code, date, fields).await
}

pub async fn stock_history<C: StockdClient + Sync>(
    c: &C,
    code: String,
    fields: Option<Vec<String>>,
) -> Result<StockHistory, ClientError> {
    c.history(code, None, None, fields).await
}

pub async fn stock_top<C: StockdClient + Sync>(
    c: &C,
    q: &TopQuery,
) -> Result<Vec<StockRow>, ClientError> {
    c.top(
        q.by.clone(),
        Some(q.n),
        Some(q.order.as_str().to_string()),
        q.date.clone(),
        None,
        None,
        None,
    )
    .await
    .map(|t| t.0)
}

/// One `stockctl search`: `text` matches a code prefix or a name
/// substring; `industry` and `prefix` narrow both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    pub text: Option<String>,
    pub industry: Option<String>,
    pub prefix: Option<String>,
    /// Stocks to return at most (the page size of `stock.list`).
    pub n: u64,
}

impl SearchQuery {
    /// The code prefix of the code-prefix branch: `text` and `prefix` must
    /// both hold, so the longer one if one extends the other, else none
    /// (no code can start with both).
    fn code_prefix(&self, text: &str) -> Option<String> {
        match self.prefix.as_deref() {
            None => Some(text.to_string()),
            Some(p) if text.starts_with(p) => Some(text.to_string()),
            Some(p) if p.starts_with(text) => Some(p.to_string()),
            Some(_) => None,
        }
    }
}

/// `stock.list` pinned to the typed client.
async fn list_page<C: StockdClient + Sync>(
    c: &C,
    industry: &Option<String>,
    prefix: Option<String>,
    name: Option<String>,
    limit: u64,
) -> Result<StockList, ClientError> {
    c.list(industry.clone(), prefix, name, None, Some(limit))
        .await
}

/// An empty list (a branch that cannot match).
fn no_stocks(limit: u64) -> StockList {
    StockList {
        total: 0,
        offset: 0,
        limit,
        next_offset: None,
        stocks: Vec::new(),
        missing_columns: Vec::new(),
    }
}

/// `stockctl search`: with `text`, the stocks whose code starts with it
/// plus those whose name contains it, by code, the first `n`; `total` is
/// the exact size of that union (code matches + name matches − stocks
/// matching both, the last asked of the daemon as a third list). A table
/// without a name column matches codes only.
pub async fn search<C: StockdClient + Sync>(
    c: &C,
    q: &SearchQuery,
) -> Result<StockList, ClientError> {
    let Some(text) = q.text.clone() else {
        return list_page(c, &q.industry, q.prefix.clone(), None, q.n).await;
    };
    let code_prefix = q.code_prefix(&text);
    let by_code = match &code_prefix {
        Some(p) => list_page(c, &q.industry, Some(p.clone()), None, q.n).await?,
        None => no_stocks(q.n),
    };
    let by_name = list_page(c, &q.industry, q.prefix.clone(), Some(text.clone()), q.n).await;
    let by_name = match by_name {
        Err(ClientError::Call(e)) if e.code() == ErrorKind::MissingColumn.code() => {
            return Ok(by_code);
        }
        other => other?,
    };
    let both = match code_prefix {
        Some(p) if by_code.total > 0 && by_name.total > 0 => {
            list_page(c, &q.industry, Some(p), Some(text), 1)
                .await?
                .total
        }
        _ => 0,
    };
    Ok(merge(by_code, by_name, both, q.n))
}

/// The union of two lists by code, cut to `n`; `both` = stocks in both
/// (over all pages). Each list holds its first `n` by code, so the first
/// `n` of the union are among them.
pub fn merge(a: StockList, b: StockList, both: u64, n: u64) -> StockList {
    let total = (a.total + b.total).saturating_sub(both);
    let mut missing = a.missing_columns;
    for m in b.missing_columns {
        if !missing.contains(&m) {
            missing.push(m);
        }
    }
    let mut stocks = a.stocks;
    stocks.extend(b.stocks);
    stocks.sort_by(|x, y| x.code.cmp(&y.code));
    stocks.dedup_by(|x, y| x.code == y.code);
    stocks.truncate(n as usize);
    let shown = stocks.len() as u64;
    StockList {
        total,
        offset: 0,
        limit: n,
        next_offset: (shown < total).then_some(shown),
        stocks,
        missing_columns: missing,
    }
}

pub async fn hotspots<C: StockdClient + Sync>(
    c: &C,
    date: Option<String>,
    n: u64,
) -> Result<HotspotsRanking, ClientError> {
    c.hotspots(date, Some(n)).await
}

pub async fn industry_detail<C: StockdClient + Sync>(
    c: &C,
    industry: String,
    date: Option<String>,
) -> Result<IndustryDetail, ClientError> {
    c.industry(industry, date).await
}

pub async fn signals<C: StockdClient + Sync>(
    c: &C,
    code: String,
    date: Option<String>,
) -> Result<StockSignals, ClientError> {
    c.signals(code, date).await
}

async fn stock_lookup(
    c: &Client,
    code: &str,
    date: Option<String>,
) -> Result<Box<StockLookup>, Failure> {
    let (row, history, signals) = tokio::join!(
        stock_get(c, code.to_string(), date.clone(), None),
        stock_history(c, code.to_string(), Some(vec![CLOSE_COLUMN.to_string()])),
        signals(c, code.to_string(), date),
    );
    Ok(Box::new(StockLookup {
        row: row.map_err(fail)?,
        history: history.map_err(fail),
        signals: signals.map_err(fail),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(2));
        let seq: Vec<u64> = (0..6).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(seq, [250, 500, 1000, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(250));
    }

    #[test]
    fn failures_keep_the_daemon_message_and_kind() {
        let obj = jsonrpsee::types::ErrorObjectOwned::owned(
            1007,
            "admin.status is for root, the daemon's uid and admin groups",
            None::<()>,
        );
        let f = Failure::from_client(&ClientError::Call(obj));
        assert!(f.is_forbidden());
        assert_eq!(
            f.to_string(),
            "admin.status is for root, the daemon's uid and admin groups"
        );
        assert!(!Failure::new("x").is_forbidden());
    }

    fn listed(codes: &[&str], total: u64) -> StockList {
        StockList {
            total,
            offset: 0,
            limit: 3,
            next_offset: None,
            stocks: codes
                .iter()
                .map(|c| stockd_api::ListedStock {
                    code: c.to_string(),
                    name: None,
                    industry: None,
                    board: None,
                    list_date: None,
                    date: "2024-01-02".into(),
                })
                .collect(),
            missing_columns: vec!["board (board)".into()],
        }
    }

    #[test]
    fn search_merges_code_and_name_matches_by_code() {
        let a = listed(&["600000", "600036", "600519"], 40);
        let b = listed(&["000001", "600036", "601398"], 5);
        let m = merge(a, b, 2, 3);
        let codes: Vec<&str> = m.stocks.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(codes, ["000001", "600000", "600036"]);
        assert_eq!((m.total, m.next_offset), (43, Some(3)));
        assert_eq!(m.missing_columns, ["board (board)"]);
        let m = merge(listed(&["1"], 1), listed(&["1"], 1), 1, 3);
        assert_eq!((m.stocks.len(), m.total, m.next_offset), (1, 1, None));
    }

    #[test]
    fn search_prefixes_must_agree() {
        let q = |prefix: Option<&str>| SearchQuery {
            prefix: prefix.map(str::to_string),
            ..SearchQuery::default()
        };
        assert_eq!(q(None).code_prefix("60"), Some("60".into()));
        assert_eq!(q(Some("6")).code_prefix("600"), Some("600".into()));
        assert_eq!(q(Some("6005")).code_prefix("60"), Some("6005".into()));
        assert_eq!(q(Some("000")).code_prefix("60"), None);
    }

    #[test]
    fn interval_is_clamped_to_the_contract() {
        let mut o = Options::new("/x".into());
        o.interval = Duration::from_millis(10);
        assert_eq!(o.interval_ms(), MIN_STATUS_INTERVAL_MS);
    }
}
