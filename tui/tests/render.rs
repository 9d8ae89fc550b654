//! Rendering tests: real results captured from a running daemon
//! (`tests/fixtures/*.json`, refreshed by `tests/fixtures/refresh.sh`) are
//! fed into the state and drawn into ratatui's `TestBackend` at 80×24 and
//! 120×40; the assertions read the screen's lines. Expected figures are
//! computed from the fixtures, so a refresh needs no test edits.

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde::de::DeserializeOwned;
use stockctl::conn::{Event, Failure, FeedMode, Reply, Request, StockLookup};
use stockctl::fmt;
use stockctl::input::{Action, BINDINGS};
use stockctl::state::{App, Pane, Tab};
use stockctl::view;
use stockd_api::{
    AdminStatus, HotspotsRanking, IndustryDetail, MarketInfo, StockHistory, StockRow, StockSignals,
};

fn fixture<T: DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} does not decode: {e}"))
}

fn status() -> AdminStatus {
    fixture("admin_status.json")
}

/// An app that is connected, subscribed, and has one status and the market.
fn app_with(status: AdminStatus) -> (App, Instant) {
    let t0 = Instant::now();
    let mut app = App::new("/run/stockd/stockd.sock".into(), t0);
    app.on_event(Event::Connected, t0);
    app.on_event(Event::Feed(FeedMode::Subscribed { interval_ms: 1000 }), t0);
    app.on_event(Event::Status(Box::new(status)), t0);
    app.on_event(
        Event::Reply(Box::new(Reply::Market {
            info: Ok(fixture::<MarketInfo>("market_info.json")),
            dates: Ok(fixture::<Vec<String>>("market_dates.json")),
        })),
        t0,
    );
    app.message = None;
    (app, t0)
}

fn render(app: &App, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| view::draw(f, app)).expect("draw");
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| {
            // A wide character covers two cells; the second holds a blank.
            let mut line = String::new();
            let mut x = 0;
            while x < w {
                let sym = buf[(x, y)].symbol();
                line.push_str(sym);
                x += (unicode_width::UnicodeWidthStr::width(sym) as u16).max(1);
            }
            line
        })
        .collect()
}

/// The first line holding every needle.
#[track_caller]
fn has_all(screen: &[String], needles: &[&str]) -> usize {
    screen
        .iter()
        .position(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with all of {needles:?}:\n{}", screen.join("\n")))
}

#[track_caller]
fn has(screen: &[String], needle: &str) -> usize {
    screen
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", screen.join("\n")))
}

#[track_caller]
fn lacks(screen: &[String], needle: &str) {
    assert!(
        !screen.iter().any(|l| l.contains(needle)),
        "{needle:?} unexpectedly on screen:\n{}",
        screen.join("\n")
    );
}

#[test]
fn overview_shows_the_figures_at_80x24() {
    let st = status();
    let (app, _) = app_with(st.clone());
    let s = render(&app, 80, 24);
    assert!(
        s[0].contains("1 Overview") && s[0].contains("4 Store"),
        "{}",
        s[0]
    );
    assert!(s[0].contains("● connected · live"), "{}", s[0]);
    has(
        &s,
        &format!("stockd {} · up {}", st.version, fmt::uptime(st.uptime_s)),
    );
    has(
        &s,
        &format!(
            "{} rows · {} stocks",
            fmt::count(st.store.rows),
            fmt::count(st.store.stocks)
        ),
    );
    has(
        &s,
        &format!(
            "{} dates · {} columns · gen {}",
            st.store.dates, st.store.columns, st.store.generation
        ),
    );
    has(
        &s,
        &format!(
            "{} · {:.1} B/row",
            fmt::bytes(st.store.bytes),
            st.store.bytes_per_row
        ),
    );
    has(&s, &format!("({})", fmt::millis(st.store.load_ms)));
    // Memory: RSS, budget, state and the gauge's percentage.
    let m = &st.memory;
    let rss = has(
        &s,
        &format!(
            "RSS     {} · peak {}",
            fmt::bytes(m.rss_bytes),
            fmt::bytes(m.peak_rss_bytes)
        ),
    );
    let budget = has(
        &s,
        &format!(
            "budget  {} · state {}",
            fmt::bytes(m.limit_bytes),
            m.state.to_uppercase()
        ),
    );
    assert_eq!(budget, rss + 1);
    let ratio = m.rss_bytes as f64 / m.limit_bytes as f64;
    has(&s, &format!("{} of budget", fmt::percent(ratio)));
    // Pool and source.
    let p = &st.pool;
    has(
        &s,
        &format!(
            "in use {} · idle {} · size {}/{}",
            p.in_use, p.idle, p.size, p.max_size
        ),
    );
    has(&s, &format!("{} · healthy", st.source.kind));
    // Requests: totals in the title, the busiest methods as rows.
    let total: u64 = st.requests.iter().map(|r| r.count).sum();
    let errors: u64 = st.requests.iter().map(|r| r.errors).sum();
    has(
        &s,
        &format!(
            "{} total · {} errors",
            fmt::count(total),
            fmt::count(errors)
        ),
    );
    let mut reqs = st.requests.clone();
    reqs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.method.cmp(&b.method)));
    let top = &reqs[0];
    let row = has(&s, &format!("│{}", top.method));
    for cell in [
        fmt::count(top.count),
        fmt::micros(top.p50_us),
        fmt::micros(top.p99_us),
    ] {
        assert!(s[row].contains(&cell), "{cell} not in {:?}", s[row]);
    }
    lacks(&s, "err%");
    // Nothing spills past the right edge or the bottom.
    assert!(s[23].contains("connected to /run/stockd/stockd.sock") || s[23].contains("help"));
}

#[test]
fn overview_gets_more_columns_at_120x40() {
    let st = status();
    let (app, _) = app_with(st.clone());
    let s = render(&app, 120, 40);
    let header = has(&s, "method");
    assert!(
        s[header].contains("rate") && s[header].contains("err%"),
        "{}",
        s[header]
    );
    // Every method fits at this height.
    for r in &st.requests {
        has(&s, &format!("│{}", r.method));
    }
    // The one error the fixture has (an unknown stock) shows as a share.
    if let Some(r) = st.requests.iter().find(|r| r.errors > 0) {
        let row = has(&s, &format!("│{} ", r.method));
        assert!(
            s[row].contains(&fmt::percent(r.errors as f64 / r.count as f64)),
            "{}",
            s[row]
        );
    }
}

#[test]
fn memory_state_source_health_and_history_are_drawn() {
    let mut st = status();
    st.memory.state = "critical".into();
    st.source.healthy = false;
    st.source.last_error = Some("connection refused (127.0.0.1:5432)".into());
    let (mut app, t0) = app_with(st.clone());
    // 20 s of RSS samples rising (fewer than the sparkline is wide): the
    // title shows their span and range.
    for i in 1..=19u64 {
        let mut next = st.clone();
        next.uptime_s = st.uptime_s + i;
        next.memory.rss_bytes = st.memory.rss_bytes + i * (1 << 20);
        app.on_event(Event::Status(Box::new(next)), t0 + Duration::from_secs(i));
    }
    let s = render(&app, 80, 24);
    has(&s, "state CRITICAL");
    has(&s, "UNHEALTHY · connection refused (127.0.0.1:5432)");
    has(
        &s,
        &format!(
            "Memory · 20s: {}–{}",
            fmt::bytes(st.memory.rss_bytes),
            fmt::bytes(st.memory.rss_bytes + 19 * (1 << 20))
        ),
    );
    // The sparkline rises from left to right: its last column is full.
    let spark_row = has(&s, "state CRITICAL") + 3;
    assert!(s[spark_row + 1].contains('█'), "{}", s[spark_row + 1]);
}

#[test]
fn caches_table_shows_fill_hit_rate_and_evictions() {
    let st = status();
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let (mut app, _) = app_with(st.clone());
        app.apply(Action::GoTab(Tab::Caches));
        let s = render(&app, w, h);
        let (bytes, caps) = st
            .caches
            .iter()
            .fold((0, 0), |(b, c), x| (b + x.bytes, c + x.max_bytes));
        has(
            &s,
            &format!(
                "Caches · {} of {} caps",
                fmt::bytes(bytes),
                fmt::bytes(caps)
            ),
        );
        for c in &st.caches {
            let row = has(&s, &format!(" {} ", c.name));
            let line = &s[row];
            let pct = format!("{:.0}%", 100.0 * c.bytes as f64 / c.max_bytes as f64);
            for cell in [
                fmt::count(c.entries),
                fmt::bytes(c.bytes),
                fmt::bytes(c.max_bytes),
                fmt::hit_rate(c.hits, c.misses),
                pct,
            ] {
                assert!(line.contains(&cell), "{cell:?} not in {line:?} at {w}x{h}");
            }
            assert!(line.contains('·'), "no gauge in {line:?}");
        }
        // The first cache is selected and described below.
        has(&s, &format!("▶ {}", st.caches[0].name));
        has(
            &s,
            &format!(
                "{}: {} entries",
                st.caches[0].name,
                fmt::count(st.caches[0].entries)
            ),
        );
        let header = has(&s, "entries");
        assert_eq!(s[header].contains("misses"), w >= 100, "{}", s[header]);
    }
}

#[test]
fn a_full_cache_fills_its_gauge() {
    let mut st = status();
    st.caches[0].bytes = st.caches[0].max_bytes;
    let (mut app, _) = app_with(st.clone());
    app.apply(Action::GoTab(Tab::Caches));
    let s = render(&app, 80, 24);
    let row = has(&s, &format!("▶ {}", st.caches[0].name));
    assert!(
        s[row].contains("████████") && s[row].contains("100%"),
        "{}",
        s[row]
    );
}

#[test]
fn disconnect_and_refusal_are_shown_not_crashed_on() {
    let (mut app, t0) = app_with(status());
    app.on_event(
        Event::Disconnected {
            reason: "connection lost: connection closed".into(),
            retry_in: Duration::from_secs(3),
        },
        t0,
    );
    let s = render(&app, 80, 24);
    assert!(s[0].contains("○ disconnected, retrying in 3s"), "{}", s[0]);
    assert!(s[23].contains("disconnected: connection lost"), "{}", s[23]);
    // The last known figures stay, marked with their age.
    app.tick(t0 + Duration::from_secs(5));
    let s = render(&app, 80, 24);
    assert!(s[0].contains("retrying now"), "{}", s[0]);
    has(&s, "last update 5s ago");

    // A refused admin.status: the daemon's message, on every admin tab.
    let t = Instant::now();
    let mut app = App::new("/run/stockd/stockd.sock".into(), t);
    app.on_event(Event::Connected, t);
    let msg = "admin.status is for root, uid 0 and the groups stockd-admin; uid 65534 gid 65534 is none of them";
    app.on_event(
        Event::StatusFailed(Failure {
            code: Some(1007),
            message: msg.into(),
        }),
        t,
    );
    for tab in [Tab::Overview, Tab::Caches, Tab::Store] {
        app.apply(Action::GoTab(tab));
        let s = render(&app, 80, 24);
        let text = s.join(" ");
        assert!(
            text.contains("admin.status refused by the daemon"),
            "{text}"
        );
        assert!(
            s[1].contains("admin.status refused"),
            "banner on {tab:?}: {}",
            s[1]
        );
    }
}

#[test]
fn help_lists_every_key_at_80x24() {
    let (mut app, _) = app_with(status());
    app.apply(Action::Help);
    let s = render(&app, 80, 24);
    has(&s, "Keys · ? or Esc to close");
    for b in BINDINGS {
        let needle = format!("{:<9} {}", b.label, b.help);
        has(&s, &needle);
    }
    for section in [
        "Everywhere",
        "Caches",
        "Data",
        "Store",
        "Confirm popup",
        "Prompt",
    ] {
        has(&s, section);
    }
}

#[test]
fn confirm_and_prompt_popups() {
    let st = status();
    let (mut app, _) = app_with(st.clone());
    app.apply(Action::GoTab(Tab::Caches));
    app.apply(Action::ClearCache);
    let s = render(&app, 80, 24);
    let c = &st.caches[0];
    has(&s, &format!("Clear cache '{}'?", c.name));
    has(
        &s,
        &format!(
            "drops {} entries, {}",
            fmt::count(c.entries),
            fmt::bytes(c.bytes)
        ),
    );
    has(&s, "y/Enter: yes    n/Esc: no");

    app.apply(Action::No);
    app.apply(Action::ResizeCache);
    for ch in "12XB".chars() {
        app.apply(Action::Input(ch));
    }
    app.apply(Action::Submit);
    let s = render(&app, 80, 24);
    has(&s, &format!("Resize cache '{}'", c.name));
    has(
        &s,
        &format!("now {}", stockctl::size::format_exact(c.max_bytes)),
    );
    has(&s, "> 12XB");
    has(&s, "unknown unit 'XB'");
}

fn loaded_data_app() -> App {
    let (mut app, t0) = app_with(status());
    let reqs = app.apply(Action::GoTab(Tab::Data));
    let Some(Request::Top(query)) = reqs.first().cloned() else {
        panic!("the Data tab asks for the top list: {reqs:?}");
    };
    app.on_event(
        Event::Reply(Box::new(Reply::Top {
            query,
            result: Ok(fixture::<Vec<StockRow>>("stock_top.json")),
        })),
        t0,
    );
    app
}

#[test]
fn data_top_pane() {
    let rows: Vec<StockRow> = fixture("stock_top.json");
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let app = loaded_data_app();
        let s = render(&app, w, h);
        has(&s, "Top 20 by pct_chg (desc) · latest");
        let first = has(&s, &format!("▶   1 {}", rows[0].code));
        let pct = app.cell("pct_chg", &rows[0].values["pct_chg"]);
        assert!(s[first].contains(&pct), "{pct} not in {}", s[first]);
        has(&s, &format!("    2 {}", rows[1].code));
        let header = has(&s, "industry");
        assert_eq!(s[header].contains("amount"), w >= 100, "{}", s[header]);
    }
}

#[test]
fn data_stock_pane_with_chart_and_signals() {
    let mut app = loaded_data_app();
    let row: StockRow = fixture("stock_get.json");
    let reqs = app.apply(Action::Open);
    assert_eq!(
        reqs,
        vec![Request::Stock {
            code: fixture::<Vec<StockRow>>("stock_top.json")[0].code.clone(),
            date: None
        }]
    );
    let lookup = StockLookup {
        row: row.clone(),
        history: Ok(fixture::<StockHistory>("stock_history.json")),
        signals: Ok(fixture::<StockSignals>("signals_stock.json")),
    };
    let closes = lookup.closes();
    app.on_event(
        Event::Reply(Box::new(Reply::Stock {
            code: row.code.clone(),
            result: Ok(Box::new(lookup)),
        })),
        Instant::now(),
    );
    assert_eq!(app.data.pane, Pane::Stock);
    let s = render(&app, 80, 24);
    has(&s, &format!(" {} ", row.code));
    has(&s, &row.date);
    let (_, last) = closes.last().expect("closes");
    // The last close at the close column's scale (numeric(10,2): 2 decimals).
    let last = app.cell("close", &serde_json::Value::from(*last));
    assert_eq!(fmt::decimals(&last), 2, "{last}");
    has(&s, &format!("close · {} days · last {last}", closes.len()));
    // Values in table order: the first column of the table comes first.
    let info: MarketInfo = fixture("market_info.json");
    let first_col = &info.columns[0].name;
    has(&s, &format!("│{first_col}"));
    let signals: StockSignals = fixture("signals_stock.json");
    for sig in signals.signals.iter().take(3) {
        has(&s, &sig.name);
    }
}

#[test]
fn data_hotspots_and_industry_drill_down() {
    let mut app = loaded_data_app();
    let t = Instant::now();
    let reqs = app.apply(Action::NextPane);
    assert_eq!(
        reqs,
        vec![Request::Hotspots {
            date: None,
            n: stockctl::state::HOTSPOTS_N
        }]
    );
    let hot: HotspotsRanking = fixture("hotspots_ranking.json");
    app.on_event(
        Event::Reply(Box::new(Reply::Hotspots {
            date: None,
            result: Ok(hot.clone()),
        })),
        t,
    );
    let s = render(&app, 80, 24);
    // 24 lines: header, pane bar, border, table header, border, footer
    // leave 18 rows.
    let fit = 18.min(hot.industries.len());
    has(
        &s,
        &format!(
            "Hotspots · {} · 1–{fit} of {} industries",
            hot.date, hot.total_industries
        ),
    );
    let first = &hot.industries[0];
    let row = has(&s, &format!("▶   1 {}", first.industry));
    let heat = fmt::opt_f64(first.stats.heat, 2);
    assert!(s[row].contains(&heat), "{heat} not in {}", s[row]);

    let detail: IndustryDetail = fixture("industry_detail.json");
    let reqs = app.apply(Action::Open);
    assert_eq!(
        reqs,
        vec![Request::Industry {
            industry: first.industry.clone(),
            date: None
        }]
    );
    app.on_event(
        Event::Reply(Box::new(Reply::Industry {
            industry: first.industry.clone(),
            result: Ok(detail.clone()),
        })),
        t,
    );
    let s = render(&app, 80, 24);
    has(
        &s,
        &format!("{} members · Backspace: back", detail.stats.members),
    );
    has(
        &s,
        &format!(
            "up {} · flat {} · down {} · limit up {}",
            detail.stats.up, detail.stats.flat, detail.stats.down, detail.stats.limit_up
        ),
    );
    if let Some(g) = detail.gainers.first() {
        has(&s, &g.code);
    }
    if let Some(l) = detail.losers.first() {
        has(&s, &l.code);
    }
    app.apply(Action::Back);
    let s = render(&app, 80, 24);
    has(&s, "Enter: detail");
}

#[test]
fn store_tab_shows_a_new_generation_arriving() {
    let st = status();
    let (mut app, t0) = app_with(st.clone());
    app.apply(Action::GoTab(Tab::Store));
    let s = render(&app, 80, 24);
    has(&s, &format!("generation {} · loaded", st.store.generation));
    has(&s, "no new generation since this console started");
    let info: MarketInfo = fixture("market_info.json");
    has(&s, &format!("window_days {}", info.window_days));

    let reqs = app.apply(Action::Reload);
    assert_eq!(reqs, vec![Request::Reload]);
    let s = render(&app, 80, 24);
    has(&s, "reloading…");
    let mut next = st.clone();
    next.store.generation += 1;
    next.store.load_ms = 4321;
    app.on_event(Event::Status(Box::new(next)), t0 + Duration::from_secs(2));
    app.on_event(
        Event::Reply(Box::new(Reply::Reloaded(Ok(stockd_api::ReloadResult {
            generation: st.store.generation + 1,
            rows: st.store.rows,
            duration_ms: 4400,
        })))),
        t0 + Duration::from_secs(2),
    );
    app.tick(t0 + Duration::from_secs(7));
    let s = render(&app, 80, 24);
    has_all(
        &s,
        &[
            &format!("generation {}", st.store.generation + 1),
            "5s ago",
            "4.3 s",
        ],
    );
    has(
        &s,
        &format!("reloaded: generation {}", st.store.generation + 1),
    );
    lacks(&s, "reloading…");
}

#[test]
fn store_tab_lists_the_columns_most_expensive_first() {
    let st = status();
    assert!(
        st.store.column_bytes.len() >= 3,
        "the fixture has per-column figures (tests/fixtures/refresh.sh)"
    );
    let (mut app, _) = app_with(st.clone());
    app.apply(Action::GoTab(Tab::Store));
    let s = render(&app, 120, 40);
    has(&s, &format!("indexes {}", fmt::bytes(st.store.index_bytes)));
    let mut cols = st.store.column_bytes.clone();
    cols.sort_by_key(|c| std::cmp::Reverse(c.bytes + c.null_bytes));
    let header = has_all(&s, &["column", "bits/val", "layout"]);
    // The rows under the header, in order, as many as the panel holds.
    let first = has_all(
        &s,
        &[
            &format!("{} ", cols[0].name),
            &fmt::bytes(cols[0].bytes + cols[0].null_bytes),
            &format!("{:.2}", cols[0].bits_per_value),
            &cols[0].layout,
        ],
    );
    assert_eq!(first, header + 1, "{}", s.join("\n"));
    let cheapest = cols.last().map(|c| c.name.clone()).unwrap_or_default();
    // 40 lines cannot hold every column of the fixture: the cheapest is
    // the one left out.
    if cols.len() > 30 {
        lacks(&s, &format!("│{cheapest} "));
    }
}

/// The hot-spot ranking as the daemon answers the console's request
/// (`n` = HOTSPOTS_N): the fixture, grown to its `total_industries` with
/// copies under other names if it was captured with a smaller `n`.
fn all_industries() -> HotspotsRanking {
    let mut hot: HotspotsRanking = fixture("hotspots_ranking.json");
    let base = hot.industries.clone();
    let mut k = 0;
    while (hot.industries.len() as u64) < hot.total_industries {
        let mut extra = base[k % base.len()].clone();
        extra.industry = format!("{}{}", extra.industry, k + 2);
        hot.industries.push(extra);
        k += 1;
    }
    hot
}

fn hotspots_app(hot: HotspotsRanking) -> App {
    let mut app = loaded_data_app();
    let reqs = app.apply(Action::NextPane);
    assert_eq!(
        reqs,
        vec![Request::Hotspots {
            date: None,
            n: stockd_api::HOTSPOTS_MAX_N
        }],
        "the console asks for every industry the daemon gives"
    );
    app.on_event(
        Event::Reply(Box::new(Reply::Hotspots {
            date: None,
            result: Ok(hot),
        })),
        Instant::now(),
    );
    app
}

/// The rows of the table between its header and its bottom border.
fn table_body(s: &[String], header_needle: &str) -> Vec<String> {
    let header = has(s, header_needle);
    s[header + 1..]
        .iter()
        .take_while(|l| !l.starts_with('└'))
        .cloned()
        .collect()
}

#[test]
fn hotspots_fill_the_pane_and_say_which_rows_they_show() {
    let hot = all_industries();
    let m = hot.total_industries;
    assert!(m > 18, "the fixture has more industries than fit at 80x24");
    // 80x24: 18 rows fit; every one is filled and the title says 1–18.
    let mut app = hotspots_app(hot.clone());
    let s = render(&app, 80, 24);
    has(&s, &format!("· 1–18 of {m} industries ·"));
    let body = table_body(&s, "leaders");
    assert_eq!(body.len(), 18, "{}", s.join("\n"));
    for (i, line) in body.iter().enumerate() {
        let rank = format!(
            "{:>3} {}",
            i + 1,
            fmt::clip(&hot.industries[i].industry, 16)
        );
        assert!(line.contains(&rank), "row {i}: {rank:?} not in {line:?}");
    }
    // Scrolling down to the 26th keeps it visible and the title truthful.
    for _ in 0..25 {
        app.apply(Action::Down);
    }
    let s = render(&app, 80, 24);
    has(&s, &format!("· 9–26 of {m} industries ·"));
    has(
        &s,
        &format!("▶  26 {}", fmt::clip(&hot.industries[25].industry, 16)),
    );
    // Taller: the pane grows with the terminal (6 lines go to the header,
    // pane bar, borders, table header and footer); once all fit, the title
    // says so and no row is left empty above the border.
    for h in [40u16, 6 + m as u16, 60] {
        let app = hotspots_app(hot.clone());
        let s = render(&app, 120, h);
        let fit = (h as u64 - 6).min(m);
        let title = if fit == m {
            format!("· {m} of {m} industries ·")
        } else {
            format!("· 1–{fit} of {m} industries ·")
        };
        has(&s, &title);
        let body = table_body(&s, "leaders");
        let filled = body
            .iter()
            .filter(|l| !l.trim_matches(['│', ' ']).is_empty())
            .count();
        assert_eq!(filled as u64, fit, "{}", s.join("\n"));
        assert_eq!(body.len() as u64, (h as u64 - 6), "{}", s.join("\n"));
    }
}

/// Every screen line is exactly as wide as the terminal: nothing spills
/// over a border, no wide character is cut in two.
#[track_caller]
fn lines_fit(s: &[String], w: usize) {
    for (y, l) in s.iter().enumerate() {
        assert_eq!(
            fmt::width(l),
            w,
            "line {y} is {} wide: {l:?}",
            fmt::width(l)
        );
    }
}

#[test]
fn chinese_names_are_clipped_by_display_width_never_inside_a_name() {
    let mut hot = all_industries();
    hot.industries[0].industry = "超长的行业名称用于测试显示宽度".to_string();
    let names = ["广西有色金属集团", "山东黄金矿业股份", "云南铜业集团公司"];
    for (m, n) in hot.industries[0].leaders.iter_mut().zip(names) {
        m.name = Some(n.to_string());
    }
    let first_pct = {
        let mut v: Vec<String> = hot
            .industries
            .iter()
            .flat_map(|i| i.leaders.iter().map(|m| fmt::real(m.pct_change)))
            .collect();
        fmt::align_decimals(&mut v);
        v.remove(0)
    };
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let app = hotspots_app(hot.clone());
        let s = render(&app, w, h);
        // No line spills over its border; a wide character is never split.
        lines_fit(&s, w as usize);
        let row = has(&s, "▶   1 ");
        let line = &s[row];
        // The industry is cut to its 16-cell column, marked.
        assert!(line.contains("超长的行业名称…"), "{line}");
        // The first leader's figure is never cut, its name only if need be.
        assert!(line.contains(&format!(" +{first_pct}%")), "{line}");
        // A leader shown is shown whole; those left out are marked.
        for n in &names[1..] {
            let head: String = n.chars().take(1).collect();
            assert!(
                line.contains(n) || !line.contains(&head),
                "{n} cut inside the name: {line}"
            );
        }
        // 80 columns hold the first leader exactly; 120 also mark the rest.
        assert!(
            line.contains(&format!("{} +{first_pct}%", names[0])),
            "{line}"
        );
        if w >= 120 {
            assert!(line.trim_end_matches(['│', ' ']).ends_with("· …"), "{line}");
        }
    }
    // Narrower still (a 70-column terminal): the name gives way, marked,
    // and the figure stays whole.
    let app = hotspots_app(hot.clone());
    let s = render(&app, 70, 24);
    lines_fit(&s, 70);
    let line = &s[has(&s, "▶   1 ")];
    assert!(line.contains(&format!("… +{first_pct}%")), "{line}");
    // The Top pane clips a long name the same way.
    let mut rows: Vec<StockRow> = fixture("stock_top.json");
    rows[0].values["stock_name"] = serde_json::json!("中华人民共和国长名称股份");
    let (mut app, t0) = app_with(status());
    let reqs = app.apply(Action::GoTab(Tab::Data));
    let Some(Request::Top(query)) = reqs.first().cloned() else {
        panic!("{reqs:?}");
    };
    app.on_event(
        Event::Reply(Box::new(Reply::Top {
            query,
            result: Ok(rows.clone()),
        })),
        t0,
    );
    let s = render(&app, 80, 24);
    lines_fit(&s, 80);
    let line = &s[has(&s, &format!("▶   1 {}", rows[0].code))];
    // The name column is 12 cells: five characters and the mark.
    assert!(line.contains("中华人民共… "), "{line}");
}

#[test]
fn numbers_are_shown_at_their_column_scale() {
    // pct_chg is real, close numeric(10,2), amount numeric(20,2).
    let mut rows: Vec<StockRow> = fixture("stock_top.json");
    rows[0].values["pct_chg"] = serde_json::json!(20.09);
    rows[1].values["pct_chg"] = serde_json::json!(20.0);
    rows[1].values["close"] = serde_json::json!(5.1);
    rows[2].values["amount"] = serde_json::json!(4681536.0);
    let (mut app, t0) = app_with(status());
    let reqs = app.apply(Action::GoTab(Tab::Data));
    let Some(Request::Top(query)) = reqs.first().cloned() else {
        panic!("{reqs:?}");
    };
    app.on_event(
        Event::Reply(Box::new(Reply::Top {
            query,
            result: Ok(rows.clone()),
        })),
        t0,
    );
    let s = render(&app, 120, 40);
    let r0 = &s[has(&s, &format!("▶   1 {}", rows[0].code))];
    let r1 = &s[has(&s, &format!("    2 {}", rows[1].code))];
    let r2 = &s[has(&s, &format!("    3 {}", rows[2].code))];
    assert!(r0.contains(" 20.09 "), "{r0}");
    assert!(r1.contains(" 20.00 ") && !r1.contains(" 20.0 "), "{r1}");
    assert!(r1.contains(" 5.10 "), "{r1}");
    assert!(r2.contains(" 4681536.00 "), "{r2}");
    // The ranked column lines up: the same text width on every row.
    let col = |l: &str| fmt::width(&l[..l.find(" 20.0").expect("pct column")]);
    assert_eq!(col(r0), col(r1), "{r0}\n{r1}");

    // One-shot `top` and `get` write them the same way.
    let info: MarketInfo = fixture("market_info.json");
    let kinds = fmt::ColumnKinds::new(&info.columns);
    let q = stockctl::conn::TopQuery {
        by: "pct_chg".into(),
        n: 3,
        order: stockctl::conn::Order::Desc,
        date: None,
    };
    let top = stockctl::oneshot::top_text(&q, &rows[..3], &kinds);
    let lines: Vec<&str> = top.lines().collect();
    assert!(
        lines[1].contains(" 20.09 ") && lines[2].contains(" 20.00 "),
        "{top}"
    );
    assert!(!top.contains(" 20.0 "), "{top}");
    let get = stockctl::oneshot::row_text(&rows[1], &kinds);
    assert!(
        get.lines()
            .any(|l| l.contains("close") && l.ends_with(" 5.10")),
        "{get}"
    );
    assert!(
        get.lines()
            .any(|l| l.contains("pct_chg") && l.ends_with(" 20")),
        "{get}"
    );
}

#[test]
fn cache_list_prints_sizes_like_status() {
    let st = status();
    let text = stockctl::oneshot::caches_text(&st.caches);
    let summary = stockctl::oneshot::status_summary(&st);
    for c in &st.caches {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{} ", c.name)))
            .unwrap_or_else(|| panic!("{} missing:\n{text}", c.name));
        for size in [fmt::bytes(c.bytes), fmt::bytes(c.max_bytes)] {
            assert!(line.contains(&size), "{size} not in {line}");
            assert!(summary.contains(&size), "{size} not in status:\n{summary}");
        }
        if c.max_bytes >= 1024 {
            assert!(
                !line.contains(&c.max_bytes.to_string()),
                "raw byte count in {line}"
            );
        }
    }
}

/// The rows of the memory sparkline (below the gauge, inside the pane).
fn sparkline(s: &[String]) -> Vec<String> {
    let gauge = has(s, "of budget");
    s[gauge + 1..]
        .iter()
        .take_while(|l| !l.contains('└'))
        .map(|l| {
            // The memory pane starts after the third border bar.
            let cells: Vec<char> = l.chars().collect();
            let start = cells
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == '│')
                .nth(2)
                .map_or(0, |(i, _)| i + 1);
            cells[start..].iter().filter(|c| **c != '│').collect()
        })
        .collect()
}

#[test]
fn a_flat_rss_draws_a_low_line_and_a_rise_spans_the_height() {
    let st = status();
    let (mut app, t0) = app_with(st.clone());
    for i in 1..30u64 {
        let mut next = st.clone();
        next.uptime_s = st.uptime_s + i;
        app.on_event(Event::Status(Box::new(next)), t0 + Duration::from_secs(i));
    }
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let s = render(&app, w, h);
        has(
            &s,
            &format!("Memory · 30s: flat at {}", fmt::bytes(st.memory.rss_bytes)),
        );
        let rows = sparkline(&s);
        assert!(rows.len() >= 2, "{}", s.join("\n"));
        let last = rows.last().expect("rows");
        assert_eq!(last.matches('▁').count(), 30, "{w}x{h}: {last:?}");
        for r in &rows {
            assert!(
                !r.contains('█'),
                "{w}x{h}: full blocks in a flat series: {r:?}"
            );
        }
    }
    // A rise over 10 MiB: the lowest sample sits on the baseline, the
    // highest reaches the top row.
    for i in 30..40u64 {
        let mut next = st.clone();
        next.uptime_s = st.uptime_s + i;
        next.memory.rss_bytes = st.memory.rss_bytes + (i - 29) * (1 << 20);
        app.on_event(Event::Status(Box::new(next)), t0 + Duration::from_secs(i));
    }
    let s = render(&app, 80, 24);
    let rows = sparkline(&s);
    let top = rows.first().expect("rows");
    let bottom = rows.last().expect("rows");
    assert!(bottom.starts_with('▁'), "{bottom:?}");
    assert_eq!(top.trim_end().chars().last(), Some('█'), "{top:?}");
}

#[test]
fn a_daemon_restart_starts_the_history_again() {
    let st = status();
    let (mut app, t0) = app_with(st.clone());
    // 100 s of one daemon at a high RSS, with the uptime rounding and
    // delivery jitter of real updates: never taken for a restart.
    for i in 1..100u64 {
        let mut next = st.clone();
        next.uptime_s = st.uptime_s + i - (i % 3 == 0) as u64;
        next.memory.rss_bytes = 200 << 20;
        let jitter = Duration::from_millis((i * 370) % 900);
        app.on_event(
            Event::Status(Box::new(next)),
            t0 + Duration::from_secs(i) + jitter,
        );
    }
    assert_eq!(app.rss.len(), 100);
    // Restarted: the uptime went back to 2 s.
    let at = t0 + Duration::from_secs(110);
    for i in 0..5u64 {
        let mut next = st.clone();
        next.uptime_s = 2 + i;
        next.memory.rss_bytes = (40 << 20) + i * (1 << 20);
        app.on_event(Event::Status(Box::new(next)), at + Duration::from_secs(i));
    }
    assert_eq!(app.rss.len(), 5, "only the new process's samples");
    let s = render(&app, 80, 24);
    has(
        &s,
        &format!(
            "Memory · 5s: {}–{}",
            fmt::bytes(40 << 20),
            fmt::bytes((40 << 20) + 4 * (1 << 20))
        ),
    );
    lacks(&s, &fmt::bytes(200 << 20));
    has(&s, "stockd restarted");

    // A restart the uptime alone would miss: the console was away 60 s,
    // the new process has been up 30 s, longer than the old one had been.
    let (mut app, t0) = app_with(st.clone());
    let mut later = st.clone();
    later.uptime_s = st.uptime_s + 30;
    app.on_event(Event::Status(Box::new(later)), t0 + Duration::from_secs(60));
    assert_eq!(
        app.rss.len(),
        1,
        "start time moved 26 s later: a new process"
    );
}
