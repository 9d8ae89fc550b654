//! Caches: every cache with its fill against its cap as a gauge, hit rate
//! and evictions; the selected one is the target of clear and resize.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{block, no_status, notice, state_colour, WIDE};
use crate::fmt;
use crate::state::App;

/// Marks the selected row; the tmux test looks for it.
pub const SELECTED: &str = "▶ ";

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(st) = &app.status else {
        let (text, colour) = no_status(app);
        return notice(f, area, "Caches", text, colour);
    };
    let [table_area, detail] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(5)]).areas(area);
    let wide = area.width >= WIDE;

    let (bytes, caps): (u64, u64) = st
        .caches
        .iter()
        .fold((0, 0), |(b, c), x| (b + x.bytes, c + x.max_bytes));
    let title = format!(
        " Caches · {} of {} caps ",
        fmt::bytes(bytes),
        fmt::bytes(caps)
    );
    let mut widths = vec![
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Fill(1),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(7),
    ];
    let mut header = vec![
        "name",
        "entries",
        "bytes / cap",
        "bytes",
        "cap",
        "hit%",
        "evicted",
    ];
    if wide {
        widths.extend([Constraint::Length(9), Constraint::Length(9)]);
        header.extend(["hits", "misses"]);
    }
    // The gauge column's width, to size the text bar inside it.
    let inner_w = table_area
        .width
        .saturating_sub(2 + SELECTED.chars().count() as u16);
    let cols = Layout::horizontal(widths.clone())
        .spacing(1)
        .split(Rect::new(0, 0, inner_w, 1));
    let gauge_w = (cols[2].width as usize).saturating_sub(7).max(1);

    let rows = st.caches.iter().map(|c| {
        let ratio = fmt::ratio(c.bytes, c.max_bytes).unwrap_or(0.0);
        let colour = if ratio >= 0.95 {
            Color::Yellow
        } else {
            Color::Green
        };
        let mut cells = vec![
            Line::from(c.name.clone()),
            Line::from(fmt::count(c.entries)).right_aligned(),
            Line::from(vec![
                Span::styled(fmt::bar(ratio, gauge_w), Style::new().fg(colour)),
                Span::raw(format!(" {:>5}", format!("{:.0}%", ratio * 100.0))),
            ]),
            Line::from(fmt::bytes(c.bytes)).right_aligned(),
            Line::from(fmt::bytes(c.max_bytes)).right_aligned(),
            Line::from(fmt::hit_rate(c.hits, c.misses)).right_aligned(),
            Line::from(fmt::count(c.evictions)).right_aligned(),
        ];
        if wide {
            cells.push(Line::from(fmt::count(c.hits)).right_aligned());
            cells.push(Line::from(fmt::count(c.misses)).right_aligned());
        }
        Row::new(cells)
    });
    let header = Row::new(header.into_iter().enumerate().map(|(i, h)| {
        if i == 0 || i == 2 {
            Line::from(h)
        } else {
            Line::from(h).right_aligned()
        }
    }))
    .style(Style::new().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(block(title))
        .highlight_symbol(SELECTED)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut ts =
        TableState::default().with_selected((!st.caches.is_empty()).then_some(app.caches_sel));
    f.render_stateful_widget(table, table_area, &mut ts);

    let mut lines = Vec::new();
    match app.selected_cache() {
        Some(c) => {
            lines.push(Line::from(vec![
                Span::raw(c.name.clone()).bold(),
                Span::raw(format!(
                    ": {} entries · {} of {} ({}) · hits {} · misses {} · evicted {}",
                    fmt::count(c.entries),
                    fmt::bytes(c.bytes),
                    fmt::bytes(c.max_bytes),
                    fmt::ratio(c.bytes, c.max_bytes).map_or_else(|| "–".to_string(), fmt::percent),
                    fmt::count(c.hits),
                    fmt::count(c.misses),
                    fmt::count(c.evictions)
                )),
            ]));
        }
        None => lines.push(Line::from("the daemon reports no caches").dim()),
    }
    let m = &st.memory;
    lines.push(Line::from(vec![
        Span::raw(format!(
            "RSS {} of budget {} · state ",
            fmt::bytes(m.rss_bytes),
            fmt::bytes(m.limit_bytes)
        )),
        Span::styled(
            m.state.to_uppercase(),
            Style::new().fg(state_colour(&m.state)).bold(),
        ),
    ]));
    lines.push(Line::from("c clear · C clear all · r resize cap · m trim memory").dim());
    f.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block(" Selected ")),
        detail,
    );
}
