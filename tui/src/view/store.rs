//! Store: what is loaded, from where, the generations seen arriving, and
//! where the store's memory goes, column by column; `r` reloads and the new
//! generation shows up here.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{block, kv, no_status, notice};
use crate::fmt;
use crate::state::App;

const L: usize = 11;

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(st) = &app.status else {
        let (text, colour) = no_status(app);
        return notice(f, area, "Store", text, colour);
    };
    let s = &st.store;
    let [top, bottom] = Layout::vertical([Constraint::Length(10), Constraint::Min(3)]).areas(area);
    let mut lines = vec![
        kv(
            "generation",
            L,
            vec![
                Span::raw(s.generation.to_string()).bold(),
                Span::raw(if s.loaded {
                    " · loaded"
                } else {
                    " · not loaded yet"
                }),
                if s.stale {
                    Span::styled(" · STALE", Style::new().fg(Color::Yellow).bold())
                } else {
                    Span::raw(" · fresh")
                },
            ],
        ),
        kv(
            "rows",
            L,
            vec![Span::raw(format!(
                "{} · {} stocks · {} dates · {} columns",
                fmt::count(s.rows),
                fmt::count(s.stocks),
                s.dates,
                s.columns
            ))],
        ),
        kv(
            "bytes",
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
            vec![Span::raw(match &s.loaded_at {
                Some(at) if s.read_kind.is_empty() => {
                    format!("{} in {}", fmt::timestamp(at), fmt::millis(s.load_ms))
                }
                Some(at) => format!(
                    "{} in {} · {}: {} rows, {} dates read{}{}{}",
                    fmt::timestamp(at),
                    fmt::millis(s.load_ms),
                    s.read_kind,
                    fmt::count(s.read_rows),
                    s.read_dates,
                    match s.read_reread_dates {
                        0 => String::new(),
                        n => format!(" ({n} again)"),
                    },
                    match s.read_dropped_dates {
                        0 => String::new(),
                        n => format!(", {n} dropped"),
                    },
                    match s.retired_rows {
                        0 => String::new(),
                        n => format!(" · {} rows retired", fmt::count(n)),
                    },
                ),
                None => "never".to_string(),
            })],
        ),
        kv(
            "source",
            L,
            vec![Span::raw(format!(
                "{} · {}",
                st.source.kind,
                if st.source.healthy {
                    "healthy"
                } else {
                    "unhealthy"
                }
            ))],
        ),
    ];
    if let Some(m) = &app.market {
        lines.push(kv("", L, vec![Span::raw(m.source.detail.clone()).dim()]));
        lines.push(kv(
            "window",
            L,
            vec![Span::raw(format!(
                "{} → {} · {} dates (window_days {})",
                m.dates.first.as_deref().unwrap_or("–"),
                m.dates.last.as_deref().unwrap_or("–"),
                m.dates.count,
                m.window_days
            ))],
        ));
        let skipped = if m.skipped_columns.is_empty() {
            "none".to_string()
        } else {
            m.skipped_columns
                .iter()
                .map(|c| format!("{} ({})", c.name, c.ty))
                .collect::<Vec<_>>()
                .join(", ")
        };
        lines.push(kv("skipped", L, vec![Span::raw(skipped)]));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(" Store · r: reload now ")),
        top,
    );

    let mut events = Vec::new();
    if let Some(since) = app.reloading {
        events.push(
            Line::from(format!(
                "reloading… {}s",
                app.now.saturating_duration_since(since).as_secs()
            ))
            .style(Style::new().fg(Color::Yellow)),
        );
    }
    for e in &app.store_events {
        events.push(Line::from(vec![
            Span::raw(format!("generation {:<4}", e.generation)).bold(),
            Span::raw(format!(
                " {:>8} ago  {:>9} rows  {:>8}  {}",
                fmt::uptime(app.now.saturating_duration_since(e.seen).as_secs()),
                fmt::count(e.rows),
                fmt::millis(e.load_ms),
                e.loaded_at
                    .as_deref()
                    .map(fmt::timestamp)
                    .unwrap_or_default()
            )),
        ]));
    }
    if events.is_empty() {
        events.push(
            Line::from(format!(
                "no new generation since this console started (generation {} in service)",
                s.generation
            ))
            .dim(),
        );
    }
    let shown = events.len().min(6) as u16 + 2;
    let [generations, columns] =
        Layout::vertical([Constraint::Length(shown), Constraint::Min(3)]).areas(bottom);
    f.render_widget(
        Paragraph::new(events).block(block(" Generations ")),
        generations,
    );
    draw_columns(f, columns, s);
}

/// The most expensive columns first, as many as fit, and the indexes.
fn draw_columns(f: &mut Frame, area: Rect, s: &stockd_api::StoreStatus) {
    let title = format!(
        " Columns by bytes · indexes {} · stockctl columns lists all ",
        fmt::bytes(s.index_bytes)
    );
    let (cols, name_w) = fmt::columns_by_cost(s, 6, 24);
    let mut lines = Vec::new();
    if cols.is_empty() {
        lines.push(Line::from("no per-column figures (no store loaded yet)").dim());
    } else {
        lines.push(
            Line::from(format!(
                "{:<name_w$} {:>10} {:>8} {:>6}  layout",
                "column", "bytes", "bits/val", "share"
            ))
            .bold(),
        );
    }
    for c in cols {
        let total = c.bytes + c.null_bytes;
        let share = if s.bytes == 0 {
            0.0
        } else {
            total as f64 * 100.0 / s.bytes as f64
        };
        let name: String = c.name.chars().take(name_w).collect();
        lines.push(Line::from(vec![
            Span::raw(format!(
                "{name:<name_w$} {:>10} {:>8.2} {:>5.1}%  ",
                fmt::bytes(total),
                c.bits_per_value,
                share
            )),
            Span::raw(c.layout.clone()).dim(),
        ]));
    }
    f.render_widget(Paragraph::new(lines).block(block(title)), area);
}
