//! Running under systemd: sd_notify messages (READY, STATUS, STOPPING,
//! EXTEND_TIMEOUT, WATCHDOG), the health-checked watchdog task, socket
//! activation (LISTEN_FDS), the one-line STATUS text, and journald-aware
//! log formatting.
//!
//! Everything here is a no-op outside systemd: with no `NOTIFY_SOCKET` the
//! notify calls send nothing, with no `WATCHDOG_USEC` there is no watchdog,
//! with no `LISTEN_FDS` for this pid the caller binds its own socket. The
//! notify environment is never unset (that would need `std::env::remove_var`
//! in a threaded process).
//!
//! Start-up order (main): config → logging ([`journald_stream`] picks
//! [`JournaldFormat`]) → socket ([`listen_fds`], else bind) → watchdog
//! ([`watchdog_interval`], [`watchdog_task`]) → load (wrapped in
//! [`extend_timeout_while`]) → [`notify_ready`] → [`status_task`]; on
//! shutdown [`notify_stopping`].
//!
//! Test-only fault hook: `STOCKD_TEST_STALL_AFTER_MS=N` makes
//! [`spawn_test_stall_hook`] block every runtime worker thread N ms after
//! start, so the watchdog pings stop (tests/tests/notify.rs). Never set it
//! in production: the daemon stops answering and systemd kills it.

use std::fmt::Write as _;
use std::os::fd::{BorrowedFd, FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sd_notify::NotifyState;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The environment variable of the test-only stall hook.
pub const TEST_STALL_ENV: &str = "STOCKD_TEST_STALL_AFTER_MS";

/// First file descriptor passed by socket activation (SD_LISTEN_FDS_START).
const LISTEN_FDS_START: RawFd = 3;

// ---------------------------------------------------------------------------
// sd_notify

/// Sends `states`; a failure is logged, never fatal (systemd would notice a
/// missing READY or WATCHDOG on its own). Returns whether it was sent (or
/// there is no NOTIFY_SOCKET, in which case nothing is to be sent).
fn send(states: &[NotifyState<'_>]) -> bool {
    match sd_notify::notify(states) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("sd_notify {:?} failed: {e}", states);
            false
        }
    }
}

/// Whether `NOTIFY_SOCKET` is set (we run under a service manager).
pub fn under_service_manager() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// `READY=1`: send once the socket answers and a store is loaded (or a
/// snapshot restored, or neither is possible and the daemon serves "store
/// not loaded" while it retries). Also after a reload announced with
/// [`notify_reloading`].
pub fn notify_ready() {
    send(&[NotifyState::Ready]);
}

/// `STATUS=line` (newlines are replaced: STATUS is one line).
pub fn notify_status(line: &str) {
    let line = line.replace(['\n', '\r'], " ");
    send(&[NotifyState::Status(&line)]);
}

/// `STOPPING=1`: send when shutdown starts (before draining).
pub fn notify_stopping() {
    send(&[NotifyState::Stopping]);
}

/// `RELOADING=1` with `MONOTONIC_USEC` (optional, for SIGHUP): systemd shows
/// "reloading" until the next [`notify_ready`].
pub fn notify_reloading() {
    match sd_notify::NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    };
}

/// `EXTEND_TIMEOUT_USEC=…`: asks systemd for `by` more time from now in the
/// current start-up (or stop) phase; send again before it runs out.
pub fn notify_extend_timeout(by: Duration) {
    let usec = u32::try_from(by.as_micros()).unwrap_or(u32::MAX);
    send(&[NotifyState::ExtendTimeoutUsec(usec)]);
}

/// Runs `fut` (a long load before READY) and, while it runs, asks systemd
/// every `step` for `2 × step` more start-up time, so TimeoutStartSec= only
/// bounds the parts that are not reported. Without NOTIFY_SOCKET this is
/// just `fut.await`.
pub async fn extend_timeout_while<F: std::future::Future>(step: Duration, fut: F) -> F::Output {
    if !under_service_manager() {
        return fut.await;
    }
    let step = step.max(Duration::from_millis(100));
    let mut fut = std::pin::pin!(fut);
    let mut tick = tokio::time::interval(step);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = tick.tick() => notify_extend_timeout(step * 2),
        }
    }
}

/// Sends `STATUS=` with `figures()` formatted by [`status_line`] every
/// `every`, forever (spawn it; it ends with the runtime).
pub async fn status_task(every: Duration, mut figures: impl FnMut() -> StatusFigures + Send) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        notify_status(&status_line(&figures()));
    }
}

// ---------------------------------------------------------------------------
// Watchdog

static WATCHDOG_PINGS: AtomicU64 = AtomicU64::new(0);
static LAST_PING_MS: AtomicU64 = AtomicU64::new(0);

/// The watchdog interval systemd expects pings within (`WatchdogSec=`),
/// from `WATCHDOG_USEC` when `WATCHDOG_PID` is unset or is our pid. The
/// environment is left as it is.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// [`watchdog_interval`] on given values (sd_watchdog_enabled(3) rules: a
/// zero, malformed or foreign-pid value means no watchdog).
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid {
        let pid: u32 = pid.trim().parse().ok()?;
        if pid != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// Watchdog pings sent so far.
pub fn watchdog_pings() -> u64 {
    WATCHDOG_PINGS.load(Ordering::Relaxed)
}

/// When the last watchdog ping was sent (for `admin.status`).
pub fn last_watchdog_ping() -> Option<SystemTime> {
    match LAST_PING_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
    }
}

/// Pings `WATCHDOG=1` every `interval / 2`, each time only after the health
/// check passes: the runtime must run a freshly spawned task within a
/// quarter of the interval (a saturated or stalled runtime fails; a fully
/// stalled one cannot even run this task), then `health()` must hold (the
/// caller's: store readable, accept loop alive). A failed check skips the
/// ping and is logged once per episode; systemd kills the daemon after
/// `WatchdogSec=` without pings. Spawn it on the runtime (never on a
/// dedicated thread: that would keep pinging through a stalled runtime).
/// `health` must be quick and must not block.
pub async fn watchdog_task(interval: Duration, health: impl Fn() -> bool + Send + 'static) {
    let period = (interval / 2).max(Duration::from_millis(10));
    let probe_deadline = (interval / 4).max(Duration::from_millis(5));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(
        interval_ms = interval.as_millis() as u64,
        "watchdog: pinging every {} ms while healthy",
        period.as_millis()
    );
    let mut failing: Option<&'static str> = None;
    loop {
        tick.tick().await;
        let verdict = if !runtime_answers(probe_deadline).await {
            Err("the runtime did not run a probe task in time")
        } else if !health() {
            Err("the health check failed (store or accept loop)")
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => {
                if send(&[NotifyState::Watchdog]) {
                    WATCHDOG_PINGS.fetch_add(1, Ordering::Relaxed);
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(1, |d| d.as_millis() as u64);
                    LAST_PING_MS.store(now, Ordering::Relaxed);
                }
                if let Some(why) = failing.take() {
                    tracing::info!("watchdog: healthy again ({why} before); pinging");
                }
            }
            Err(why) => {
                if failing.replace(why) != Some(why) {
                    tracing::warn!("watchdog: not pinging: {why}");
                }
            }
        }
    }
}

/// Whether a newly spawned task runs (and its result comes back) within
/// `deadline`.
async fn runtime_answers(deadline: Duration) -> bool {
    let probe = tokio::spawn(async {
        tokio::task::yield_now().await;
    });
    matches!(tokio::time::timeout(deadline, probe).await, Ok(Ok(())))
}

/// Test-only fault hook. If `STOCKD_TEST_STALL_AFTER_MS` is set, spawns a
/// task that, after that many milliseconds, blocks every worker thread of
/// the current runtime (tasks that `std::thread::sleep` for an hour), so
/// the watchdog pings stop as they would in a real hang. Returns whether
/// the hook is armed. Call from inside the runtime, after the watchdog
/// task is spawned. Not for production: the daemon stops answering.
pub fn spawn_test_stall_hook() -> bool {
    let Some(raw) = std::env::var_os(TEST_STALL_ENV) else {
        return false;
    };
    let Some(after) = raw.to_str().and_then(|s| s.trim().parse::<u64>().ok()) else {
        tracing::error!("{TEST_STALL_ENV}={raw:?} is not a number of milliseconds; hook not armed");
        return false;
    };
    let workers = tokio::runtime::Handle::current()
        .metrics()
        .num_workers()
        .max(1);
    tracing::warn!(
        "TEST FAULT HOOK ARMED ({TEST_STALL_ENV}={after}): all {workers} runtime workers will \
         block in {after} ms"
    );
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(after)).await;
        tracing::error!("TEST FAULT HOOK: stalling all {workers} runtime workers now");
        // More blockers than workers: whichever worker is free picks the
        // next one up, until none is.
        for _ in 0..2 * workers + 1 {
            tokio::spawn(async { std::thread::sleep(Duration::from_secs(3600)) });
        }
        std::thread::sleep(Duration::from_secs(3600));
    });
    true
}

/// A heartbeat the accept loop beats and the watchdog's health check reads
/// (milliseconds on a monotonic clock since the heartbeat was made).
#[derive(Debug)]
pub struct Heartbeat {
    origin: std::time::Instant,
    last_ms: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::new()
    }
}

impl Heartbeat {
    pub fn new() -> Heartbeat {
        Heartbeat {
            origin: std::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Records "alive now".
    pub fn beat(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last beat (or since creation).
    pub fn age(&self) -> Duration {
        let now = self.origin.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

// ---------------------------------------------------------------------------
// Socket activation

static LISTEN_TAKEN: AtomicBool = AtomicBool::new(false);

/// The listening socket passed by socket activation (stockd.socket), if
/// `LISTEN_PID` is our pid and `LISTEN_FDS` ≥ 1: fd 3, checked to be a
/// listening Unix stream socket, with CLOEXEC set (on every passed fd).
/// `None` when not activated (bind the configured path instead), or when
/// the passed fd is unusable (logged as an error). Takes ownership of fd 3:
/// the second call returns `None`. The environment is left as it is.
/// For tokio: `set_nonblocking(true)` then `tokio::net::UnixListener::from_std`.
pub fn listen_fds() -> Option<UnixListener> {
    let count = match listen_fds_count(
        std::env::var("LISTEN_PID").ok().as_deref(),
        std::env::var("LISTEN_FDS").ok().as_deref(),
        std::process::id(),
    ) {
        Ok(0) => return None,
        Ok(n) => n,
        Err(e) => {
            tracing::error!("socket activation: {e}; binding the configured socket instead");
            return None;
        }
    };
    if LISTEN_TAKEN.swap(true, Ordering::SeqCst) {
        return None;
    }
    if count > 1 {
        tracing::warn!("socket activation passed {count} sockets; using the first (fd 3)");
    }
    for fd in LISTEN_FDS_START..LISTEN_FDS_START + count as RawFd {
        // SAFETY: systemd passed fds 3..3+count open; they are only borrowed
        // for the fcntl call.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        if let Err(e) = nix::fcntl::fcntl(
            borrowed,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        ) {
            tracing::error!("socket activation: fd {fd} is not open ({e}); binding instead");
            return None;
        }
    }
    if let Err(why) = check_listening_unix_stream(LISTEN_FDS_START) {
        tracing::error!("socket activation: fd 3 {why}; binding the configured socket instead");
        return None;
    }
    // SAFETY: fd 3 is open, a listening Unix stream socket passed to this
    // process, and owned by nothing else (guarded by LISTEN_TAKEN).
    Some(unsafe { UnixListener::from_raw_fd(LISTEN_FDS_START) })
}

/// How many fds socket activation passed, from `LISTEN_PID`/`LISTEN_FDS`
/// (sd_listen_fds(3) rules): 0 when not activated or meant for another
/// process; an error for malformed values.
pub fn listen_fds_count(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    own_pid: u32,
) -> Result<u32, String> {
    let Some(pid) = listen_pid else {
        return Ok(0);
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_PID={pid:?} is not a pid"))?;
    if pid != own_pid {
        return Ok(0);
    }
    let Some(fds) = listen_fds else {
        return Ok(0);
    };
    let n: u32 = fds
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_FDS={fds:?} is not a count"))?;
    if n > 1024 {
        return Err(format!("LISTEN_FDS={n} is implausible"));
    }
    Ok(n)
}

fn check_listening_unix_stream(fd: RawFd) -> Result<(), String> {
    use nix::sys::socket::{
        getsockname, getsockopt, sockopt, AddressFamily, SockType, SockaddrLike, SockaddrStorage,
    };
    // SAFETY: borrowed for the duration of the checks only.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let addr: SockaddrStorage = getsockname(fd).map_err(|e| format!("is not a socket ({e})"))?;
    if addr.family() != Some(AddressFamily::Unix) {
        return Err(format!("is not a Unix socket ({:?})", addr.family()));
    }
    match getsockopt(&borrowed, sockopt::SockType) {
        Ok(SockType::Stream) => {}
        Ok(t) => return Err(format!("is a {t:?} socket, not a stream socket")),
        Err(e) => return Err(format!("socket type unknown ({e})")),
    }
    match getsockopt(&borrowed, sockopt::AcceptConn) {
        Ok(true) => Ok(()),
        Ok(false) => Err("is not listening".into()),
        Err(e) => Err(format!("listening state unknown ({e})")),
    }
}

// ---------------------------------------------------------------------------
// STATUS line

/// Where the data comes from, for the STATUS line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSource {
    /// The embedded demo data set (no pool).
    Demo,
    /// PostgreSQL, with the pool's connections in use and its size.
    Postgres { in_use: u32, size: u32 },
}

/// The plain figures of one STATUS line.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusFigures {
    /// Whether a store is being served (loaded, or restored from a snapshot).
    pub loaded: bool,
    pub rows: u64,
    /// Trading dates held.
    pub dates: u64,
    pub rss_bytes: u64,
    /// Bytes held by all derived-result caches, and the sum of their caps.
    pub cache_bytes: u64,
    pub cache_cap_bytes: u64,
    pub source: StatusSource,
    /// The memory governor's state: "ok", "high" or "critical".
    pub memory_state: &'static str,
    /// Whether the last contact with PostgreSQL succeeded (ignored for demo).
    pub source_healthy: bool,
    /// Serving a snapshot that PostgreSQL has not confirmed yet.
    pub stale: bool,
}

/// The one-line STATUS text an admin reads in `systemctl status`, e.g.
/// `serving 86836 rows · 30 days · rss 41 MiB · caches 3.2/64 MiB · pg 1/4 · ok`.
/// The last part is "ok", or what is wrong: "memory high", "stale",
/// "source down" (several joined by " · ").
pub fn status_line(f: &StatusFigures) -> String {
    let mut s = String::with_capacity(96);
    if f.loaded {
        let _ = write!(
            s,
            "serving {} rows · {} {}",
            f.rows,
            f.dates,
            if f.dates == 1 { "day" } else { "days" }
        );
    } else {
        s.push_str("store not loaded");
    }
    let _ = write!(
        s,
        " · rss {} MiB · caches {}/{} MiB",
        mib(f.rss_bytes),
        mib(f.cache_bytes),
        mib(f.cache_cap_bytes)
    );
    match f.source {
        StatusSource::Demo => s.push_str(" · demo"),
        StatusSource::Postgres { in_use, size } => {
            let _ = write!(s, " · pg {in_use}/{size}");
        }
    }
    let mut problems = Vec::new();
    if !f.memory_state.is_empty() && f.memory_state != "ok" {
        problems.push(format!("memory {}", f.memory_state));
    }
    if f.stale {
        problems.push("stale".into());
    }
    if !f.source_healthy && f.source != StatusSource::Demo {
        problems.push("source down".into());
    }
    if problems.is_empty() {
        s.push_str(" · ok");
    } else {
        for p in problems {
            s.push_str(" · ");
            s.push_str(&p);
        }
    }
    s
}

/// Bytes as MiB: one decimal below 10 MiB unless whole ("3.2", "0", "64"),
/// whole numbers above.
fn mib(bytes: u64) -> String {
    let m = bytes as f64 / 1_048_576.0;
    if m >= 10.0 {
        format!("{}", m.round() as u64)
    } else {
        let tenths = (m * 10.0).round() as u64;
        let (whole, frac) = (tenths / 10, tenths % 10);
        if frac == 0 {
            format!("{whole}")
        } else {
            format!("{whole}.{frac}")
        }
    }
}

// ---------------------------------------------------------------------------
// journald

/// Whether stderr is connected to the journal: `JOURNAL_STREAM` is set and
/// names stderr's device and inode (systemd.exec(5)); a redirected stderr
/// (e.g. `stockd 2>file` from a service's shell) does not count.
pub fn journald_stream() -> bool {
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        // st_dev/st_ino are not u64 on every target.
        #[allow(clippy::unnecessary_cast)]
        Ok(st) => journal_stream_matches(&value, st.st_dev as u64, st.st_ino as u64),
        Err(_) => false,
    }
}

/// Whether a `JOURNAL_STREAM` value `"DEV:INODE"` names `dev`/`ino`.
pub fn journal_stream_matches(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.trim().split_once(':') else {
        return false;
    };
    matches!((d.parse::<u64>(), i.parse::<u64>()), (Ok(d), Ok(i)) if d == dev && i == ino)
}

/// The sd-daemon(3) priority prefix for a level: `<3>` error, `<4>` warn,
/// `<6>` info, `<7>` debug and trace.
pub fn priority_prefix(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "<3>",
        Level::WARN => "<4>",
        Level::INFO => "<6>",
        Level::DEBUG | Level::TRACE => "<7>",
    }
}

/// Log lines for journald: `<P>spans: target: message fields`, with the
/// sd-daemon priority prefix, no timestamp (the journal adds its own) and
/// no colours; a multi-line message repeats the prefix on every line so
/// each journal entry keeps its priority. Install with
/// `tracing_subscriber::fmt().with_ansi(false).event_format(JournaldFormat)`
/// (`with_ansi(false)` first: span fields are formatted by the layer).
#[derive(Debug, Clone, Copy, Default)]
pub struct JournaldFormat;

impl<S, N> FormatEvent<S, N> for JournaldFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut body = String::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                body.push_str(span.name());
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        let _ = write!(body, "{{{fields}}}");
                    }
                }
                body.push_str(": ");
            }
        }
        body.push_str(meta.target());
        body.push_str(": ");
        ctx.format_fields(Writer::new(&mut body), event)?;
        let prefix = priority_prefix(meta.level());
        for line in body.lines() {
            writer.write_str(prefix)?;
            writer.write_str(line)?;
            writer.write_char('\n')?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn figures() -> StatusFigures {
        StatusFigures {
            loaded: true,
            rows: 86836,
            dates: 30,
            rss_bytes: 41 * 1048576 + 300_000,
            cache_bytes: 3_355_443,
            cache_cap_bytes: 64 << 20,
            source: StatusSource::Postgres { in_use: 1, size: 4 },
            memory_state: "ok",
            source_healthy: true,
            stale: false,
        }
    }

    #[test]
    fn status_line_healthy_pg() {
        assert_eq!(
            status_line(&figures()),
            "serving 86836 rows · 30 days · rss 41 MiB · caches 3.2/64 MiB · pg 1/4 · ok"
        );
    }

    #[test]
    fn status_line_demo_and_problems() {
        let mut f = figures();
        f.source = StatusSource::Demo;
        f.source_healthy = false; // ignored for demo data
        assert!(
            status_line(&f).ends_with(" · demo · ok"),
            "{}",
            status_line(&f)
        );

        let mut f = figures();
        f.stale = true;
        f.source_healthy = false;
        f.memory_state = "high";
        f.source = StatusSource::Postgres { in_use: 0, size: 4 };
        assert_eq!(
            status_line(&f),
            "serving 86836 rows · 30 days · rss 41 MiB · caches 3.2/64 MiB · pg 0/4 · memory high · stale \
             · source down"
        );

        let mut f = figures();
        f.loaded = false;
        f.rows = 0;
        f.dates = 1;
        f.cache_bytes = 0;
        f.source_healthy = false;
        assert_eq!(
            status_line(&f),
            "store not loaded · rss 41 MiB · caches 0/64 MiB · pg 1/4 · source down"
        );
        f.loaded = true;
        f.rows = 10;
        assert!(status_line(&f).starts_with("serving 10 rows · 1 day · "));
    }

    #[test]
    fn mib_formatting() {
        assert_eq!(mib(0), "0");
        assert_eq!(mib(1 << 20), "1");
        assert_eq!(mib(1572864), "1.5");
        assert_eq!(mib(10 << 20), "10");
        assert_eq!(mib(1536 << 20), "1536");
        assert_eq!(mib(9_999_999), "9.5");
        assert_eq!(mib(10_380_902), "9.9");
        assert_eq!(mib(10_433_332), "10");
        assert_eq!(mib(10_433_333), "10");
    }

    #[test]
    fn watchdog_env_parsing() {
        assert_eq!(
            watchdog_interval_from(Some("1000000"), None, 42),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("42"), 42),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("41"), 42),
            None
        );
        assert_eq!(watchdog_interval_from(Some("0"), None, 42), None);
        assert_eq!(watchdog_interval_from(Some("soon"), None, 42), None);
        assert_eq!(watchdog_interval_from(Some("100"), Some("x"), 42), None);
        assert_eq!(watchdog_interval_from(None, Some("42"), 42), None);
    }

    #[test]
    fn listen_fds_env_parsing() {
        assert_eq!(listen_fds_count(None, None, 7), Ok(0));
        assert_eq!(listen_fds_count(None, Some("1"), 7), Ok(0));
        assert_eq!(listen_fds_count(Some("7"), Some("1"), 7), Ok(1));
        assert_eq!(listen_fds_count(Some("7"), Some("2"), 7), Ok(2));
        assert_eq!(
            listen_fds_count(Some("8"), Some("1"), 7),
            Ok(0),
            "another process's fds"
        );
        assert_eq!(listen_fds_count(Some("7"), None, 7), Ok(0));
        assert_eq!(listen_fds_count(Some("7"), Some("0"), 7), Ok(0));
        assert!(listen_fds_count(Some("seven"), Some("1"), 7).is_err());
        assert!(listen_fds_count(Some("7"), Some("one"), 7).is_err());
        assert!(listen_fds_count(Some("7"), Some("99999"), 7).is_err());
    }

    #[test]
    fn not_activated_without_env() {
        // The test process has no LISTEN_PID of its own pid.
        if std::env::var("LISTEN_PID").ok() != Some(std::process::id().to_string()) {
            assert!(listen_fds().is_none());
        }
    }

    #[test]
    fn checks_the_activated_socket() {
        let dir = std::env::temp_dir().join(format!("stockd-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        use std::os::fd::AsRawFd;
        assert_eq!(check_listening_unix_stream(listener.as_raw_fd()), Ok(()));
        let dgram = std::os::unix::net::UnixDatagram::unbound().unwrap();
        assert!(check_listening_unix_stream(dgram.as_raw_fd()).is_err());
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(check_listening_unix_stream(file.as_raw_fd())
            .unwrap_err()
            .contains("not a socket"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn journal_stream_value() {
        assert!(journal_stream_matches("8:1234", 8, 1234));
        assert!(journal_stream_matches("8:1234\n", 8, 1234));
        assert!(!journal_stream_matches("8:1235", 8, 1234));
        assert!(!journal_stream_matches("9:1234", 8, 1234));
        assert!(!journal_stream_matches("garbage", 8, 1234));
        assert!(!journal_stream_matches("", 8, 1234));
    }

    #[test]
    fn heartbeat_ages() {
        let hb = Heartbeat::new();
        std::thread::sleep(Duration::from_millis(20));
        assert!(hb.age() >= Duration::from_millis(20));
        hb.beat();
        assert!(hb.age() < Duration::from_millis(20));
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    #[test]
    fn journald_lines_have_priority_prefixes_and_no_timestamps() {
        let out = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(JournaldFormat)
            .with_max_level(Level::TRACE)
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(code = 7, "broken");
            tracing::warn!("careful");
            let span = tracing::info_span!("load", table = "daily");
            let _g = span.enter();
            tracing::info!(rows = 3, "loaded");
            tracing::debug!("detail");
            tracing::trace!("first\nsecond");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let t = module_path!();
        assert_eq!(
            lines,
            vec![
                format!("<3>{t}: broken code=7"),
                format!("<4>{t}: careful"),
                format!("<6>load{{table=\"daily\"}}: {t}: loaded rows=3"),
                format!("<7>load{{table=\"daily\"}}: {t}: detail"),
                format!("<7>load{{table=\"daily\"}}: {t}: first"),
                "<7>second".to_string(),
            ],
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "no ANSI escapes");
    }

    #[test]
    fn prefixes() {
        assert_eq!(priority_prefix(&Level::ERROR), "<3>");
        assert_eq!(priority_prefix(&Level::WARN), "<4>");
        assert_eq!(priority_prefix(&Level::INFO), "<6>");
        assert_eq!(priority_prefix(&Level::DEBUG), "<7>");
        assert_eq!(priority_prefix(&Level::TRACE), "<7>");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watchdog_pings_only_while_healthy() {
        // No NOTIFY_SOCKET in unit tests: sending is a no-op that succeeds,
        // so the counter shows whether the task decided to ping.
        if under_service_manager() {
            return;
        }
        let healthy = Arc::new(AtomicBool::new(true));
        let h = healthy.clone();
        let before = watchdog_pings();
        let task = tokio::spawn(watchdog_task(Duration::from_millis(100), move || {
            h.load(Ordering::Relaxed)
        }));
        tokio::time::sleep(Duration::from_millis(280)).await;
        let healthy_pings = watchdog_pings() - before;
        assert!(
            healthy_pings >= 3,
            "{healthy_pings} pings in 280 ms at 50 ms"
        );
        assert!(last_watchdog_ping().is_some());
        healthy.store(false, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let at_fail = watchdog_pings();
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(watchdog_pings(), at_fail, "no pings while unhealthy");
        healthy.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(watchdog_pings() > at_fail, "pings resume");
        task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn extend_timeout_while_returns_the_output() {
        let v = extend_timeout_while(Duration::from_millis(10), async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            7
        })
        .await;
        assert_eq!(v, 7);
    }
}
