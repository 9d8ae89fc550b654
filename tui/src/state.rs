//! The console's state: what the daemon last reported, what the user is
//! looking at, and the popup in front. It changes only through
//! [`App::on_event`] (the daemon spoke), [`App::apply`] (the user acted) and
//! [`App::tick`] (time passed); all three are pure — they take the time as
//! an argument and return the [`Request`]s to send instead of sending them —
//! so tests drive the whole console without a terminal or a daemon.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use stockd_api::limits::{MAX_NAME_LEN, MAX_TOP_N};
use stockd_api::{AdminStatus, CacheStatus, HotspotsRanking, IndustryDetail, MarketInfo, StockRow};

use crate::conn::{Event, FeedMode, Order, Reply, Request, StockLookup, TopQuery};
use crate::fmt;
pub use crate::input::Tab;
use crate::input::{Action, Mode};
use crate::size;

/// RSS samples kept for the sparkline (10 minutes at one a second).
pub const RSS_HISTORY: usize = 600;
/// Request rates are averaged over this window.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Store generations remembered on the Store tab.
pub const STORE_EVENTS: usize = 50;
/// Rows asked of `hotspots.ranking`: as many as the daemon gives, so the
/// pane can fill any height and scroll through the rest.
pub const HOTSPOTS_N: u64 = stockd_api::HOTSPOTS_MAX_N;
/// `admin.status` reports the daemon's uptime in whole seconds, not its pid
/// or start time; the start time is derived as `received - uptime`. When
/// that moves later by more than this (or the uptime goes backwards, or the
/// version changes), the daemon behind the socket is a new process.
pub const RESTART_SLACK: Duration = Duration::from_secs(3);
/// The column `stock.top` ranks by until the user picks one (the default
/// of `[columns] pct_change`).
pub const DEFAULT_TOP_BY: &str = "pct_chg";
/// Rows asked of `stock.top` until the user picks a count.
pub const DEFAULT_TOP_N: u64 = 20;

/// The Data tab's panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Stock,
    Top,
    Hotspots,
}

impl Pane {
    pub const ALL: [Pane; 3] = [Pane::Stock, Pane::Top, Pane::Hotspots];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Stock => "Stock",
            Pane::Top => "Top",
            Pane::Hotspots => "Hotspots",
        }
    }

    fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// The connection as the console sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting { attempt: u32 },
    Connected,
    Disconnected { reason: String, retry_at: Instant },
}

/// Data that is asked for and arrives later.
#[derive(Debug, Clone, PartialEq)]
pub enum Loadable<T> {
    Idle,
    Loading,
    Ready(T),
    Failed(String),
}

impl<T> Loadable<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Loadable::Ready(t) => Some(t),
            _ => None,
        }
    }
}

/// An action that waits for "yes".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmable {
    ClearCache(String),
    ClearAll,
    Trim,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub action: Confirmable,
    pub question: String,
    pub detail: String,
}

/// What a prompt asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKind {
    Resize { cache: String, cap: u64 },
    Code,
    By,
    Count,
    Date,
}

impl PromptKind {
    pub fn title(&self) -> String {
        match self {
            PromptKind::Resize { cache, .. } => format!("Resize cache '{cache}'"),
            PromptKind::Code => "Look up a stock".to_string(),
            PromptKind::By => "Rank by column".to_string(),
            PromptKind::Count => "Rows in the top list".to_string(),
            PromptKind::Date => "Date".to_string(),
        }
    }

    /// The line under the title: what is expected.
    pub fn hint(&self) -> String {
        match self {
            PromptKind::Resize { cap, .. } => format!(
                "new cap with a unit B, KiB, MiB, GiB (now {}, max 4GiB)",
                size::format_exact(*cap)
            ),
            PromptKind::Code => "stock code, e.g. 600000".to_string(),
            PromptKind::By => "a numeric column, e.g. pct_chg, amount, close".to_string(),
            PromptKind::Count => format!("1 to {MAX_TOP_N}"),
            PromptKind::Date => "YYYY-MM-DD, empty for the latest".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
    /// Why the last Enter was refused.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    Confirm(Confirm),
    Prompt(Prompt),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// The footer's message: the outcome of the last action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub level: Level,
    pub text: String,
    /// When it was set; the footer drops it after [`Message::ttl`].
    pub at: Instant,
}

impl Message {
    /// How long the footer shows it: errors longer than news.
    pub fn ttl(&self) -> Duration {
        match self.level {
            Level::Info => Duration::from_secs(10),
            Level::Error => Duration::from_secs(60),
        }
    }
}

/// A store generation seen arriving.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreEvent {
    pub generation: u64,
    pub rows: u64,
    pub load_ms: u64,
    pub loaded_at: Option<String>,
    pub seen: Instant,
}

type Counts = BTreeMap<String, u64>;

/// Request counters over the last [`RATE_WINDOW`], for rates.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    samples: VecDeque<(Instant, Counts)>,
}

impl Rates {
    /// Records the counters of `status`, received at `at`.
    pub fn push(&mut self, at: Instant, status: &AdminStatus) {
        let counts: BTreeMap<String, u64> = status
            .requests
            .iter()
            .map(|r| (r.method.clone(), r.count))
            .collect();
        // A counter that went down means the daemon restarted.
        if let Some((_, last)) = self.samples.back() {
            if last
                .iter()
                .any(|(m, c)| counts.get(m).is_none_or(|n| n < c))
            {
                self.samples.clear();
            }
        }
        self.samples.push_back((at, counts));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| at.duration_since(*t) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Seconds between the oldest and newest sample, and those samples.
    fn span(&self) -> Option<(f64, &Counts, &Counts)> {
        let (t0, first) = self.samples.front()?;
        let (t1, last) = self.samples.back()?;
        let dt = t1.duration_since(*t0).as_secs_f64();
        (dt >= 0.1).then_some((dt, first, last))
    }

    /// Requests per second, all methods.
    pub fn total(&self) -> Option<f64> {
        let (dt, first, last) = self.span()?;
        let sum = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
        Some(sum(last).saturating_sub(sum(first)) as f64 / dt)
    }

    /// Requests per second of one method.
    pub fn method(&self, method: &str) -> Option<f64> {
        let (dt, first, last) = self.span()?;
        let n = last.get(method).copied().unwrap_or(0);
        let n0 = first.get(method).copied().unwrap_or(0);
        Some(n.saturating_sub(n0) as f64 / dt)
    }
}

/// The Data tab.
#[derive(Debug, Clone)]
pub struct DataState {
    pub pane: Pane,
    /// The date of every pane; `None` = the latest.
    pub date: Option<String>,
    pub code: Option<String>,
    pub stock: Loadable<Box<StockLookup>>,
    pub stock_scroll: usize,
    pub top_query: TopQuery,
    pub top: Loadable<Vec<StockRow>>,
    pub top_sel: usize,
    pub hotspots: Loadable<HotspotsRanking>,
    pub hot_sel: usize,
    /// The industry drilled into from the hotspots.
    pub industry: Option<(String, Loadable<IndustryDetail>)>,
}

impl Default for DataState {
    fn default() -> Self {
        DataState {
            pane: Pane::Top,
            date: None,
            code: None,
            stock: Loadable::Idle,
            stock_scroll: 0,
            top_query: TopQuery {
                by: DEFAULT_TOP_BY.to_string(),
                n: DEFAULT_TOP_N,
                order: Order::Desc,
                date: None,
            },
            top: Loadable::Idle,
            top_sel: 0,
            hotspots: Loadable::Idle,
            hot_sel: 0,
            industry: None,
        }
    }
}

/// The console's whole state.
#[derive(Debug, Clone)]
pub struct App {
    pub socket: PathBuf,
    /// The time of the latest event or tick; drawing reads it.
    pub now: Instant,
    pub link: Link,
    pub feed: Option<FeedMode>,
    pub status: Option<AdminStatus>,
    pub status_at: Option<Instant>,
    /// Why `admin.status` is not coming (forbidden, unreadable).
    pub status_error: Option<String>,
    /// RSS samples of the daemon process now running (reset when it restarts).
    pub rss: VecDeque<u64>,
    /// When the running daemon started, as derived from its uptime (the
    /// earliest estimate seen: later ones carry more delivery delay).
    pub daemon_started: Option<Instant>,
    pub rates: Rates,
    pub market: Option<MarketInfo>,
    /// How each column's numbers are written (from `market`).
    pub columns: fmt::ColumnKinds,
    pub dates: Vec<String>,
    pub tab: Tab,
    pub help: bool,
    pub popup: Option<Popup>,
    pub message: Option<Message>,
    pub caches_sel: usize,
    pub requests_scroll: usize,
    pub data: DataState,
    /// Set while a `store.reload` asked from here runs.
    pub reloading: Option<Instant>,
    pub store_events: VecDeque<StoreEvent>,
    /// A `market.info` request is out.
    market_pending: bool,
    pub quit: bool,
}

fn numeric_type(ty: &str) -> bool {
    fmt::ColumnKind::of(ty) != fmt::ColumnKind::Other
}

impl App {
    pub fn new(socket: PathBuf, now: Instant) -> App {
        App {
            socket,
            now,
            link: Link::Connecting { attempt: 1 },
            feed: None,
            status: None,
            status_at: None,
            status_error: None,
            rss: VecDeque::with_capacity(RSS_HISTORY),
            daemon_started: None,
            rates: Rates::default(),
            market: None,
            columns: fmt::ColumnKinds::default(),
            dates: Vec::new(),
            tab: Tab::Overview,
            help: false,
            popup: None,
            message: None,
            caches_sel: 0,
            requests_scroll: 0,
            data: DataState::default(),
            reloading: None,
            store_events: VecDeque::new(),
            market_pending: false,
            quit: false,
        }
    }

    /// Which keys apply now.
    pub fn mode(&self) -> Mode {
        match (&self.popup, self.help) {
            (Some(Popup::Confirm(_)), _) => Mode::Confirm,
            (Some(Popup::Prompt(_)), _) => Mode::Prompt,
            (None, true) => Mode::Help,
            (None, false) => Mode::Normal(self.tab),
        }
    }

    /// Milliseconds between status updates (1000 until the feed says).
    pub fn feed_interval_ms(&self) -> u64 {
        match &self.feed {
            Some(FeedMode::Subscribed { interval_ms } | FeedMode::Polling { interval_ms, .. }) => {
                *interval_ms
            }
            None => 1000,
        }
    }

    pub fn connected(&self) -> bool {
        self.link == Link::Connected
    }

    pub fn caches(&self) -> &[CacheStatus] {
        self.status.as_ref().map_or(&[], |s| s.caches.as_slice())
    }

    pub fn selected_cache(&self) -> Option<&CacheStatus> {
        self.caches().get(self.caches_sel)
    }

    /// Numeric columns of the table, when `market.info` has arrived.
    pub fn numeric_columns(&self) -> Option<Vec<&str>> {
        self.market.as_ref().map(|m| {
            m.columns
                .iter()
                .filter(|c| numeric_type(&c.ty))
                .map(|c| c.name.as_str())
                .collect()
        })
    }

    /// A row's values in table order (as `market.info` lists the columns),
    /// then any the market does not know.
    pub fn ordered_values<'a>(&self, row: &'a StockRow) -> Vec<(&'a str, &'a serde_json::Value)> {
        let mut out = Vec::with_capacity(row.values.len());
        if let Some(m) = &self.market {
            for c in &m.columns {
                if let Some((k, v)) = row.values.get_key_value(&c.name) {
                    out.push((k.as_str(), v));
                }
            }
        }
        for (k, v) in &row.values {
            if !out.iter().any(|(o, _)| *o == k.as_str()) {
                out.push((k.as_str(), v));
            }
        }
        out
    }

    /// A cell of a row as shown: numbers at their column's scale
    /// (`numeric(10,2)` → `20.00`, `real` → shortest form).
    pub fn cell(&self, column: &str, v: &serde_json::Value) -> String {
        self.columns.cell(column, v)
    }

    fn info(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            level: Level::Info,
            text: text.into(),
            at: self.now,
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            level: Level::Error,
            text: text.into(),
            at: self.now,
        });
    }

    /// Time passed.
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
    }

    /// The daemon (or the connection task) reported something.
    pub fn on_event(&mut self, ev: Event, now: Instant) -> Vec<Request> {
        self.now = now;
        match ev {
            Event::Connecting { attempt } => {
                if !matches!(self.link, Link::Disconnected { .. }) {
                    self.link = Link::Connecting { attempt };
                }
                Vec::new()
            }
            Event::Connected => {
                self.link = Link::Connected;
                // The connection task asks for the market on every connect.
                self.market_pending = true;
                self.info(format!("connected to {}", self.socket.display()));
                // Whatever failed while we were away is worth another try.
                let d = &mut self.data;
                if matches!(d.top, Loadable::Failed(_)) {
                    d.top = Loadable::Idle;
                }
                if matches!(d.hotspots, Loadable::Failed(_)) {
                    d.hotspots = Loadable::Idle;
                }
                self.ensure_loaded()
            }
            Event::Disconnected { reason, retry_in } => {
                self.link = Link::Disconnected {
                    reason: reason.clone(),
                    retry_at: now + retry_in,
                };
                self.feed = None;
                self.reloading = None;
                self.market_pending = false;
                self.error(format!("disconnected: {reason}"));
                Vec::new()
            }
            Event::Feed(mode) => {
                self.feed = Some(mode);
                Vec::new()
            }
            Event::Status(status) => {
                self.on_status(*status, now);
                // A new generation (a reload, a refresh from the source):
                // the market and the data views need asking again.
                let behind = self.status.as_ref().is_some_and(|s| {
                    s.store.loaded
                        && self
                            .market
                            .as_ref()
                            .is_none_or(|m| m.generation != s.store.generation)
                });
                if behind && !self.market_pending && self.connected() {
                    self.market_pending = true;
                    return vec![Request::Market];
                }
                Vec::new()
            }
            Event::StatusFailed(f) => {
                self.status_error = Some(if f.is_forbidden() {
                    format!("admin.status refused by the daemon: {}", f.message)
                } else {
                    format!("admin.status failed: {}", f.message)
                });
                Vec::new()
            }
            Event::Reply(reply) => self.on_reply(*reply),
        }
    }

    /// Whether `status` comes from another daemon process than the last
    /// one: its derived start time moved later, its uptime went back, or its
    /// version changed. (admin.status carries no pid or start time.)
    fn restarted(&self, status: &AdminStatus, now: Instant) -> bool {
        let Some(prev) = &self.status else {
            return false;
        };
        if status.uptime_s < prev.uptime_s || status.version != prev.version {
            return true;
        }
        let started = now.checked_sub(Duration::from_secs(status.uptime_s));
        match (self.daemon_started, started) {
            (Some(before), Some(s)) => s.saturating_duration_since(before) > RESTART_SLACK,
            _ => false,
        }
    }

    fn on_status(&mut self, status: AdminStatus, now: Instant) {
        if self.restarted(&status, now) {
            // Another process: its memory and counters start from nothing,
            // and its generations count from 1 again.
            self.info(format!(
                "stockd restarted (up {}): memory history and rates start again",
                fmt::uptime(status.uptime_s)
            ));
            self.rss.clear();
            self.daemon_started = None;
            self.rates = Rates::default();
            self.store_events.clear();
            self.status = None;
        }
        let started = now.checked_sub(Duration::from_secs(status.uptime_s));
        self.daemon_started = match (self.daemon_started, started) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(prev) = &self.status {
            if prev.store.generation != status.store.generation {
                let s = &status.store;
                self.store_events.push_front(StoreEvent {
                    generation: s.generation,
                    rows: s.rows,
                    load_ms: s.load_ms,
                    loaded_at: s.loaded_at.clone(),
                    seen: now,
                });
                self.store_events.truncate(STORE_EVENTS);
            }
        }
        if self.rss.len() == RSS_HISTORY {
            self.rss.pop_front();
        }
        self.rss.push_back(status.memory.rss_bytes);
        self.rates.push(now, &status);
        self.caches_sel = self.caches_sel.min(status.caches.len().saturating_sub(1));
        self.requests_scroll = self
            .requests_scroll
            .min(status.requests.len().saturating_sub(1));
        self.status = Some(status);
        self.status_at = Some(now);
        self.status_error = None;
    }

    fn on_reply(&mut self, reply: Reply) -> Vec<Request> {
        match reply {
            Reply::Market { info, dates } => {
                self.market_pending = false;
                if let Ok(d) = dates {
                    self.dates = d;
                }
                match info {
                    Ok(i) => {
                        let newer = self
                            .market
                            .as_ref()
                            .is_some_and(|m| m.generation != i.generation);
                        self.columns = fmt::ColumnKinds::new(&i.columns);
                        self.market = Some(i);
                        if newer {
                            // Views computed from the old generation.
                            let d = &mut self.data;
                            d.top = Loadable::Idle;
                            d.hotspots = Loadable::Idle;
                            d.industry = None;
                            return self.ensure_loaded();
                        }
                    }
                    Err(f) => self.error(format!("market.info failed: {f}")),
                }
            }
            Reply::Cleared { name, result } => {
                let what = name
                    .as_deref()
                    .map_or("all caches".to_string(), |n| format!("cache '{n}'"));
                match result {
                    Ok(r) => {
                        let entries: u64 = r.dropped.iter().map(|d| d.entries).sum();
                        let bytes: u64 = r.dropped.iter().map(|d| d.bytes).sum();
                        self.info(format!(
                            "cleared {what}: {} entries, {} dropped",
                            fmt::count(entries),
                            fmt::bytes(bytes)
                        ));
                    }
                    Err(f) => self.error(format!("clearing {what} failed: {f}")),
                }
            }
            Reply::Resized { name, result } => match result {
                Ok(r) => self.info(format!(
                    "cache '{name}' cap is now {} ({} entries, {} evicted)",
                    fmt::bytes(r.max_bytes),
                    fmt::count(r.evicted_entries),
                    fmt::bytes(r.evicted_bytes)
                )),
                Err(f) => self.error(format!("resizing cache '{name}' failed: {f}")),
            },
            Reply::Trimmed(result) => match result {
                Ok(r) => self.info(format!(
                    "memory trimmed: RSS {} → {}, {} of cache dropped",
                    fmt::bytes(r.rss_before),
                    fmt::bytes(r.rss_after),
                    fmt::bytes(r.cache_bytes_dropped)
                )),
                Err(f) => self.error(format!("memory trim failed: {f}")),
            },
            Reply::Reloaded(result) => {
                self.reloading = None;
                match result {
                    Ok(r) => {
                        self.info(format!(
                            "reloaded: generation {}, {} rows in {}",
                            r.generation,
                            fmt::count(r.rows),
                            fmt::millis(r.duration_ms)
                        ));
                    }
                    Err(f) => self.error(format!("reload failed: {f}")),
                }
            }
            Reply::Stock { code, result } => {
                if self.data.code.as_deref() == Some(code.as_str()) {
                    self.data.stock = match result {
                        Ok(s) => Loadable::Ready(s),
                        Err(f) => Loadable::Failed(f.message),
                    };
                }
            }
            Reply::Top { query, result } => {
                if query == self.current_top_query() {
                    self.data.top = match result {
                        Ok(rows) => {
                            self.data.top_sel = self.data.top_sel.min(rows.len().saturating_sub(1));
                            Loadable::Ready(rows)
                        }
                        Err(f) => Loadable::Failed(f.message),
                    };
                }
            }
            Reply::Hotspots { date, result } => {
                if date == self.data.date {
                    self.data.hotspots = match result {
                        Ok(h) => {
                            self.data.hot_sel =
                                self.data.hot_sel.min(h.industries.len().saturating_sub(1));
                            Loadable::Ready(h)
                        }
                        Err(f) => Loadable::Failed(f.message),
                    };
                }
            }
            Reply::Industry { industry, result } => {
                if let Some((name, slot)) = &mut self.data.industry {
                    if *name == industry {
                        *slot = match result {
                            Ok(d) => Loadable::Ready(d),
                            Err(f) => Loadable::Failed(f.message),
                        };
                    }
                }
            }
        }
        Vec::new()
    }

    fn current_top_query(&self) -> TopQuery {
        TopQuery {
            date: self.data.date.clone(),
            ..self.data.top_query.clone()
        }
    }

    /// Requests for the visible Data pane if it has nothing yet.
    fn ensure_loaded(&mut self) -> Vec<Request> {
        if self.tab != Tab::Data || !self.connected() {
            return Vec::new();
        }
        let date = self.data.date.clone();
        match self.data.pane {
            Pane::Stock => Vec::new(),
            Pane::Top if self.data.top == Loadable::Idle => {
                self.data.top = Loadable::Loading;
                vec![Request::Top(self.current_top_query())]
            }
            Pane::Hotspots if self.data.hotspots == Loadable::Idle => {
                self.data.hotspots = Loadable::Loading;
                vec![Request::Hotspots {
                    date,
                    n: HOTSPOTS_N,
                }]
            }
            _ => Vec::new(),
        }
    }

    fn lookup(&mut self, code: String) -> Vec<Request> {
        self.tab = Tab::Data;
        self.data.pane = Pane::Stock;
        self.data.code = Some(code.clone());
        self.data.stock = Loadable::Loading;
        self.data.stock_scroll = 0;
        vec![Request::Stock {
            code,
            date: self.data.date.clone(),
        }]
    }

    fn go(&mut self, tab: Tab) -> Vec<Request> {
        self.tab = tab;
        self.ensure_loaded()
    }

    /// The user acted.
    pub fn apply(&mut self, action: Action) -> Vec<Request> {
        match action {
            Action::Quit => {
                self.quit = true;
                Vec::new()
            }
            Action::Help => {
                self.help = !self.help;
                Vec::new()
            }
            Action::NextTab => self.go(self.tab.next()),
            Action::PrevTab => self.go(self.tab.prev()),
            Action::GoTab(t) => self.go(t),
            Action::Up => {
                self.scroll(-1);
                Vec::new()
            }
            Action::Down => {
                self.scroll(1);
                Vec::new()
            }
            Action::Search => {
                self.open_prompt(PromptKind::Code);
                Vec::new()
            }
            Action::ClearCache => {
                match self.selected_cache().cloned() {
                    Some(c) => {
                        self.popup = Some(Popup::Confirm(Confirm {
                            question: format!("Clear cache '{}'?", c.name),
                            detail: format!(
                                "drops {} entries, {}",
                                fmt::count(c.entries),
                                fmt::bytes(c.bytes)
                            ),
                            action: Confirmable::ClearCache(c.name),
                        }))
                    }
                    None => self.error("no cache to clear (no status yet)"),
                }
                Vec::new()
            }
            Action::ClearAllCaches => {
                if self.caches().is_empty() {
                    self.error("no cache to clear (no status yet)");
                } else {
                    let entries: u64 = self.caches().iter().map(|c| c.entries).sum();
                    let bytes: u64 = self.caches().iter().map(|c| c.bytes).sum();
                    self.popup = Some(Popup::Confirm(Confirm {
                        action: Confirmable::ClearAll,
                        question: format!("Clear all {} caches?", self.caches().len()),
                        detail: format!(
                            "drops {} entries, {}",
                            fmt::count(entries),
                            fmt::bytes(bytes)
                        ),
                    }));
                }
                Vec::new()
            }
            Action::ResizeCache => {
                match self.selected_cache().cloned() {
                    Some(c) => self.open_prompt(PromptKind::Resize {
                        cache: c.name,
                        cap: c.max_bytes,
                    }),
                    None => self.error("no cache to resize (no status yet)"),
                }
                Vec::new()
            }
            Action::TrimMemory => {
                let cache_bytes: u64 = self.caches().iter().map(|c| c.bytes).sum();
                self.popup = Some(Popup::Confirm(Confirm {
                    action: Confirmable::Trim,
                    question: "Trim memory?".to_string(),
                    detail: format!(
                        "sheds every cache to half its cap ({} cached now) and returns freed memory to the OS",
                        fmt::bytes(cache_bytes)
                    ),
                }));
                Vec::new()
            }
            Action::Reload => {
                if self.reloading.is_some() {
                    self.error("a reload is already running");
                    return Vec::new();
                }
                if !self.connected() {
                    self.error(format!("not connected to {}", self.socket.display()));
                    return Vec::new();
                }
                self.reloading = Some(self.now);
                self.info("reloading the store…");
                vec![Request::Reload]
            }
            Action::PrevPane | Action::NextPane => {
                let n = Pane::ALL.len();
                let step = if action == Action::NextPane { 1 } else { n - 1 };
                self.data.pane = Pane::ALL[(self.data.pane.index() + step) % n];
                self.ensure_loaded()
            }
            Action::Open => self.open(),
            Action::Back => {
                if self.data.pane == Pane::Hotspots {
                    self.data.industry = None;
                }
                Vec::new()
            }
            Action::SetBy => {
                self.open_prompt(PromptKind::By);
                Vec::new()
            }
            Action::ToggleOrder => {
                self.data.top_query.order = self.data.top_query.order.flip();
                self.data.pane = Pane::Top;
                self.data.top = Loadable::Idle;
                self.ensure_loaded()
            }
            Action::SetCount => {
                self.open_prompt(PromptKind::Count);
                Vec::new()
            }
            Action::SetDate => {
                self.open_prompt(PromptKind::Date);
                Vec::new()
            }
            Action::Refresh => self.refresh(),
            Action::Yes => self.confirm(true),
            Action::No => self.confirm(false),
            Action::Input(ch) => {
                if let Some(Popup::Prompt(p)) = &mut self.popup {
                    if p.input.chars().count() < MAX_NAME_LEN && !ch.is_control() {
                        p.input.push(ch);
                    }
                    p.error = None;
                }
                Vec::new()
            }
            Action::Erase => {
                if let Some(Popup::Prompt(p)) = &mut self.popup {
                    p.input.pop();
                    p.error = None;
                }
                Vec::new()
            }
            Action::Cancel => {
                self.popup = None;
                Vec::new()
            }
            Action::Submit => self.submit(),
        }
    }

    fn open_prompt(&mut self, kind: PromptKind) {
        self.popup = Some(Popup::Prompt(Prompt {
            kind,
            input: String::new(),
            error: None,
        }));
    }

    fn scroll(&mut self, delta: isize) {
        let step = |v: &mut usize, len: usize| {
            *v = v.saturating_add_signed(delta).min(len.saturating_sub(1));
        };
        match self.tab {
            Tab::Overview => {
                let n = self.status.as_ref().map_or(0, |s| s.requests.len());
                step(&mut self.requests_scroll, n);
            }
            Tab::Caches => {
                let n = self.caches().len();
                step(&mut self.caches_sel, n);
            }
            Tab::Data => match self.data.pane {
                Pane::Stock => {
                    let n = self.data.stock.ready().map_or(0, |s| s.row.values.len());
                    step(&mut self.data.stock_scroll, n);
                }
                Pane::Top => {
                    let n = self.data.top.ready().map_or(0, Vec::len);
                    step(&mut self.data.top_sel, n);
                }
                Pane::Hotspots => {
                    if self.data.industry.is_none() {
                        let n = self.data.hotspots.ready().map_or(0, |h| h.industries.len());
                        step(&mut self.data.hot_sel, n);
                    }
                }
            },
            Tab::Store => {}
        }
    }

    fn open(&mut self) -> Vec<Request> {
        match self.data.pane {
            Pane::Top => {
                let code = self
                    .data
                    .top
                    .ready()
                    .and_then(|rows| rows.get(self.data.top_sel))
                    .map(|r| r.code.clone());
                code.map_or_else(Vec::new, |c| self.lookup(c))
            }
            Pane::Hotspots if self.data.industry.is_none() => {
                let industry = self
                    .data
                    .hotspots
                    .ready()
                    .and_then(|h| h.industries.get(self.data.hot_sel))
                    .map(|i| i.industry.clone());
                match industry {
                    Some(name) => {
                        self.data.industry = Some((name.clone(), Loadable::Loading));
                        vec![Request::Industry {
                            industry: name,
                            date: self.data.date.clone(),
                        }]
                    }
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn refresh(&mut self) -> Vec<Request> {
        if self.tab != Tab::Data {
            return Vec::new();
        }
        match self.data.pane {
            Pane::Stock => match self.data.code.clone() {
                Some(code) => self.lookup(code),
                None => Vec::new(),
            },
            Pane::Top => {
                self.data.top = Loadable::Idle;
                self.ensure_loaded()
            }
            Pane::Hotspots => {
                if let Some((name, slot)) = &mut self.data.industry {
                    *slot = Loadable::Loading;
                    return vec![Request::Industry {
                        industry: name.clone(),
                        date: self.data.date.clone(),
                    }];
                }
                self.data.hotspots = Loadable::Idle;
                self.ensure_loaded()
            }
        }
    }

    fn confirm(&mut self, yes: bool) -> Vec<Request> {
        let Some(Popup::Confirm(c)) = self.popup.take() else {
            return Vec::new();
        };
        if !yes {
            self.info("cancelled");
            return Vec::new();
        }
        let req = match c.action {
            Confirmable::ClearCache(name) => {
                self.info(format!("clearing cache '{name}'…"));
                Request::ClearCache { name: Some(name) }
            }
            Confirmable::ClearAll => {
                self.info("clearing all caches…");
                Request::ClearCache { name: None }
            }
            Confirmable::Trim => {
                self.info("trimming memory…");
                Request::TrimMemory
            }
        };
        vec![req]
    }

    fn submit(&mut self) -> Vec<Request> {
        let Some(Popup::Prompt(p)) = &self.popup else {
            return Vec::new();
        };
        let input = p.input.trim().to_string();
        let outcome = match &p.kind {
            PromptKind::Resize { cache, .. } => size::parse_cache_cap(&input)
                .map(|max_bytes| Submitted::Resize(cache.clone(), max_bytes))
                .map_err(|e| e.to_string()),
            PromptKind::Code => {
                if input.is_empty() {
                    Err("type a stock code".to_string())
                } else {
                    Ok(Submitted::Code(input))
                }
            }
            PromptKind::By => self.check_column(&input).map(|()| Submitted::By(input)),
            PromptKind::Count => match input.parse::<u64>() {
                Ok(n) if (1..=MAX_TOP_N).contains(&n) => Ok(Submitted::Count(n)),
                _ => Err(format!(
                    "'{input}' is not a count; give a whole number from 1 to {MAX_TOP_N}"
                )),
            },
            PromptKind::Date => self.check_date(&input).map(Submitted::Date),
        };
        let submitted = match outcome {
            Ok(s) => s,
            Err(e) => {
                if let Some(Popup::Prompt(p)) = &mut self.popup {
                    p.error = Some(e);
                }
                return Vec::new();
            }
        };
        self.popup = None;
        match submitted {
            Submitted::Resize(name, max_bytes) => {
                self.info(format!(
                    "resizing cache '{name}' to {}…",
                    size::format_exact(max_bytes)
                ));
                vec![Request::ResizeCache { name, max_bytes }]
            }
            Submitted::Code(code) => self.lookup(code),
            Submitted::By(by) => {
                self.data.top_query.by = by;
                self.data.top_sel = 0;
                self.show_top()
            }
            Submitted::Count(n) => {
                self.data.top_query.n = n;
                self.show_top()
            }
            Submitted::Date(date) => {
                let d = &mut self.data;
                d.date = date;
                d.top = Loadable::Idle;
                d.hotspots = Loadable::Idle;
                d.industry = None;
                let mut reqs = self.ensure_loaded();
                if self.data.pane == Pane::Stock {
                    reqs.extend(self.refresh());
                }
                reqs
            }
        }
    }

    fn show_top(&mut self) -> Vec<Request> {
        self.data.pane = Pane::Top;
        self.data.top = Loadable::Idle;
        self.ensure_loaded()
    }

    fn check_column(&self, name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("type a column name".to_string());
        }
        let Some(numeric) = self.numeric_columns() else {
            return Ok(()); // not known yet: the daemon will say
        };
        if numeric.contains(&name) {
            return Ok(());
        }
        let known = self
            .market
            .as_ref()
            .is_some_and(|m| m.columns.iter().any(|c| c.name == name));
        let examples: Vec<&str> = numeric.iter().copied().take(6).collect();
        Err(if known {
            format!("'{name}' is not numeric; try {}", examples.join(", "))
        } else {
            format!(
                "no column '{name}'; numeric columns include {}",
                examples.join(", ")
            )
        })
    }

    fn check_date(&self, input: &str) -> Result<Option<String>, String> {
        if input.is_empty() || input == "latest" {
            return Ok(None);
        }
        let shape = input.len() == 10
            && input.char_indices().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if !shape {
            return Err(format!("'{input}' is not a date; expected YYYY-MM-DD"));
        }
        if !self.dates.is_empty() && !self.dates.iter().any(|d| d == input) {
            return Err(format!(
                "{input} is not a trading date held; dates run {} to {} ({} dates)",
                self.dates.first().map_or("?", String::as_str),
                self.dates.last().map_or("?", String::as_str),
                self.dates.len()
            ));
        }
        Ok(Some(input.to_string()))
    }
}

enum Submitted {
    Resize(String, u64),
    Code(String),
    By(String),
    Count(u64),
    Date(Option<String>),
}
