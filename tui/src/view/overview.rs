//! Overview: the daemon, its store, memory (with an RSS sparkline), pool,
//! source and requests.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Row, Sparkline, Table};
use ratatui::Frame;
use stockd_api::AdminStatus;

use super::{block, kv, no_status, notice, state_colour, TALL, WIDE};
use crate::fmt;
use crate::state::App;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(st) = &app.status else {
        let (text, colour) = no_status(app);
        return notice(f, area, "Overview", text, colour);
    };
    let top_h = if area.height + 2 >= TALL { 12 } else { 8 };
    let [top, pool, reqs] = Layout::vertical([
        Constraint::Length(top_h),
        Constraint::Length(4),
        Constraint::Min(3),
    ])
    .areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    draw_store(f, left, app, st);
    draw_memory(f, right, app, st);
    draw_pool(f, pool, st);
    draw_requests(f, reqs, app, st);
}

const L: usize = 8;

fn draw_store(f: &mut Frame, area: Rect, app: &App, st: &AdminStatus) {
    let s = &st.store;
    let mut title = format!(" stockd {} · up {} ", st.version, fmt::uptime(st.uptime_s));
    if !app.connected() {
        if let Some(at) = app.status_at {
            title = format!(
                " stockd {} · last update {} ago ",
                st.version,
                fmt::uptime(app.now.saturating_duration_since(at).as_secs())
            );
        }
    }
    let mut lines = vec![
        kv(
            "store",
            L,
            vec![Span::raw(format!(
                "{} rows · {} stocks",
                fmt::count(s.rows),
                fmt::count(s.stocks)
            ))],
        ),
        kv(
            "",
            L,
            vec![
                Span::raw(format!("{} dates · {} columns · ", s.dates, s.columns)),
                Span::raw(format!("gen {}", s.generation)).bold(),
            ],
        ),
        kv(
            "size",
            L,
            vec![Span::raw(format!(
                "{} · {:.1} B/row",
                fmt::bytes(s.bytes),
                s.bytes_per_row
            ))],
        ),
        kv(
            "loaded",
            L,
            vec![Span::raw(match (&s.loaded_at, s.loaded) {
                (Some(at), true) => format!("{} ({})", fmt::timestamp(at), fmt::millis(s.load_ms)),
                _ => "not yet".to_string(),
            })],
        ),
        kv(
            "stale",
            L,
            vec![if s.stale {
                Span::styled("yes: serving an old store", Style::new().fg(Color::Yellow))
            } else {
                Span::raw("no")
            }],
        ),
    ];
    if let Some(m) = &app.market {
        lines.push(kv(
            "window",
            L,
            vec![Span::raw(format!(
                "{} → {}",
                m.dates.first.as_deref().unwrap_or("–"),
                m.dates.last.as_deref().unwrap_or("–")
            ))],
        ));
    }
    f.render_widget(Paragraph::new(lines).block(block(title)), area);
}

fn draw_memory(f: &mut Frame, area: Rect, app: &App, st: &AdminStatus) {
    let m = &st.memory;
    let colour = state_colour(&m.state);
    // The sparkline shows the last `width` samples of the running daemon,
    // scaled between their minimum (a one-eighth baseline) and maximum.
    let width = area.width.saturating_sub(2) as usize;
    let skip = app.rss.len().saturating_sub(width);
    let shown: Vec<u64> = app.rss.iter().skip(skip).copied().collect();
    let lo = shown.iter().copied().min().unwrap_or(0);
    let hi = shown.iter().copied().max().unwrap_or(0);
    let title = if shown.len() > 1 {
        let span = fmt::uptime(shown.len() as u64 * app.feed_interval_ms() / 1000);
        if lo == hi {
            format!(" Memory · {span}: flat at {} ", fmt::bytes(lo))
        } else {
            format!(" Memory · {span}: {}–{} ", fmt::bytes(lo), fmt::bytes(hi))
        }
    } else {
        " Memory ".to_string()
    };
    let outer = block(title);
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let [text, gauge, spark] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let cgroup = match (m.cgroup_usage_bytes, m.cgroup_limit_bytes) {
        (Some(u), Some(l)) => format!("cgroup {} / {}", fmt::bytes(u), fmt::bytes(l)),
        (Some(u), None) => format!("cgroup {}", fmt::bytes(u)),
        _ => "no cgroup".to_string(),
    };
    let psi = m
        .psi_some_avg10
        .map_or_else(|| "–".to_string(), |p| format!("{p:.2}%"));
    let lines = vec![
        kv(
            "RSS",
            L,
            vec![
                Span::raw(fmt::bytes(m.rss_bytes)).bold(),
                Span::raw(format!(" · peak {}", fmt::bytes(m.peak_rss_bytes))),
            ],
        ),
        kv(
            "budget",
            L,
            vec![
                Span::raw(format!("{} · state ", fmt::bytes(m.limit_bytes))),
                Span::styled(m.state.to_uppercase(), Style::new().fg(colour).bold()),
            ],
        ),
        kv("PSI", L, vec![Span::raw(format!("{psi} · {cgroup}"))]),
    ];
    f.render_widget(Paragraph::new(lines), text);
    let ratio = fmt::ratio(m.rss_bytes, m.limit_bytes).unwrap_or(0.0);
    f.render_widget(
        Gauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .label(format!("{} of budget", fmt::percent(ratio)))
            .gauge_style(Style::new().fg(colour).bg(Color::DarkGray))
            .use_unicode(true),
        gauge,
    );
    let levels = u64::from(spark.height) * 8;
    let data = fmt::spark_levels(&shown, levels);
    f.render_widget(
        Sparkline::default()
            .data(&data)
            .max(levels.max(1))
            .style(Style::new().fg(colour)),
        spark,
    );
}

fn draw_pool(f: &mut Frame, area: Rect, st: &AdminStatus) {
    let p = &st.pool;
    let src = &st.source;
    let health = if src.healthy {
        Span::styled("healthy", Style::new().fg(Color::Green))
    } else {
        Span::styled("UNHEALTHY", Style::new().fg(Color::Red).bold())
    };
    let mut source = vec![Span::raw(format!("{} · ", src.kind)), health];
    if let Some(e) = &src.last_error {
        source.push(Span::styled(format!(" · {e}"), Style::new().fg(Color::Red)));
    }
    let lines = vec![
        kv(
            "pool",
            L,
            vec![Span::raw(format!(
                "in use {} · idle {} · size {}/{} · waits {} · timeouts {} · errors {}",
                p.in_use, p.idle, p.size, p.max_size, p.waits, p.timeouts, p.errors
            ))],
        ),
        kv("source", L, source),
    ];
    f.render_widget(Paragraph::new(lines).block(block(" Pool · source ")), area);
}

fn draw_requests(f: &mut Frame, area: Rect, app: &App, st: &AdminStatus) {
    let wide = area.width >= WIDE;
    let total: u64 = st.requests.iter().map(|r| r.count).sum();
    let errors: u64 = st.requests.iter().map(|r| r.errors).sum();
    let rate = app
        .rates
        .total()
        .map_or_else(|| "–/s".to_string(), |r| format!("{r:.1}/s"));
    let title = format!(
        " Requests · {rate} · {} total · {} errors ",
        fmt::count(total),
        fmt::count(errors)
    );
    let mut reqs: Vec<_> = st.requests.iter().collect();
    reqs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.method.cmp(&b.method)));
    let mut header = vec!["method", "count", "errors", "p50", "p99"];
    let mut widths = vec![
        Constraint::Min(18),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    if wide {
        header.extend(["rate", "err%"]);
        widths.extend([Constraint::Length(8), Constraint::Length(7)]);
    }
    let rows = reqs.iter().skip(app.requests_scroll).map(|r| {
        let err_style = if r.errors > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        let mut cells = vec![
            Line::from(r.method.clone()),
            Line::from(fmt::count(r.count)).right_aligned(),
            Line::from(fmt::count(r.errors))
                .style(err_style)
                .right_aligned(),
            Line::from(fmt::micros(r.p50_us)).right_aligned(),
            Line::from(fmt::micros(r.p99_us)).right_aligned(),
        ];
        if wide {
            let rate = app
                .rates
                .method(&r.method)
                .map_or_else(|| "–".to_string(), |x| format!("{x:.1}/s"));
            cells.push(Line::from(rate).right_aligned());
            cells.push(
                Line::from(
                    fmt::ratio(r.errors, r.count).map_or_else(|| "–".to_string(), fmt::percent),
                )
                .right_aligned(),
            );
        }
        Row::new(cells)
    });
    let header = Row::new(header.into_iter().enumerate().map(|(i, h)| {
        if i == 0 {
            Line::from(h)
        } else {
            Line::from(h).right_aligned()
        }
    }))
    .style(Style::new().add_modifier(Modifier::BOLD));
    if st.requests.is_empty() {
        f.render_widget(
            Paragraph::new(Line::from("no requests yet").dim()).block(block(title)),
            area,
        );
    } else {
        f.render_widget(
            Table::new(rows, widths).header(header).block(block(title)),
            area,
        );
    }
}
