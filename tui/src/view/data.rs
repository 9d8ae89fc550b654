//! Data: a stock (latest row, close chart, signals), the top-N by a column,
//! the hot-spot ranking and an industry drill-down.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState};
use ratatui::Frame;
use serde_json::Value;
use stockd_api::{Direction, HotspotsRanking, IndustryDetail, Member, StockRow};

use super::{block, notice, WIDE};
use crate::conn::StockLookup;
use crate::fmt;
use crate::state::{App, Loadable, Pane};

/// Columns of the reference layout shown next to a ranked row when the
/// table has them (the contract does not publish the semantic mapping).
const NAME: &str = "stock_name";
const INDUSTRY: &str = "industry";
const CLOSE: &str = "close";
const PCT: &str = "pct_chg";
const AMOUNT: &str = "amount";
const TURNOVER: &str = "turnover_rate";

pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let [bar, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    draw_pane_bar(f, bar, app);
    match app.data.pane {
        Pane::Stock => draw_stock(f, body, app),
        Pane::Top => draw_top(f, body, app),
        Pane::Hotspots => match &app.data.industry {
            Some((name, detail)) => draw_industry(f, body, name, detail),
            None => draw_hotspots(f, body, app),
        },
    }
}

fn draw_pane_bar(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = Vec::new();
    for (i, p) in Pane::ALL.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("│").dim());
        }
        let label = format!(" {} ", p.title());
        spans.push(if *p == app.data.pane {
            Span::styled(
                label,
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            )
        } else {
            Span::raw(label)
        });
    }
    spans.push(Span::raw(format!(
        "   date: {}",
        app.data.date.as_deref().unwrap_or("latest")
    )));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Loading / failed / idle notices shared by the panes.
fn pending<T>(f: &mut Frame, area: Rect, title: &str, what: &str, l: &Loadable<T>) -> bool {
    match l {
        Loadable::Ready(_) => false,
        Loadable::Loading => {
            notice(f, area, title, format!("loading {what}…"), Color::Yellow);
            true
        }
        Loadable::Failed(e) => {
            notice(f, area, title, format!("{what}: {e}"), Color::Red);
            true
        }
        Loadable::Idle => {
            notice(
                f,
                area,
                title,
                format!("{what}: not loaded (u to load)"),
                Color::Gray,
            );
            true
        }
    }
}

fn str_value(app: &App, row: &StockRow, col: &str) -> String {
    row.values
        .get(col)
        .map_or_else(|| "–".to_string(), |v| app.cell(col, v))
}

fn draw_stock(f: &mut Frame, area: Rect, app: &App) {
    let Some(code) = &app.data.code else {
        return notice(
            f,
            area,
            "Stock",
            "press / and type a stock code, or Enter on a row of Top".to_string(),
            Color::Gray,
        );
    };
    let what = format!("stock {code}");
    if pending(f, area, "Stock", &what, &app.data.stock) {
        return;
    }
    let Some(s) = app.data.stock.ready() else {
        return;
    };
    let left_w = if area.width >= WIDE { 44 } else { 34 };
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Min(10)]).areas(area);
    draw_row_values(f, left, app, s);
    let sig_h = (area.height / 3).clamp(4, 10);
    let [chart, sigs] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(sig_h)]).areas(right);
    draw_close_chart(f, chart, s);
    draw_signals(f, sigs, s);
}

fn draw_row_values(f: &mut Frame, area: Rect, app: &App, s: &StockLookup) {
    let row = &s.row;
    let name = row.values.get(NAME).and_then(Value::as_str).unwrap_or("");
    let title = format!(" {} {} · {} ", row.code, name, row.date);
    let key_w = row
        .values
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(8)
        .min(18) as u16;
    let values = app.ordered_values(row);
    let rows = values
        .into_iter()
        .skip(app.data.stock_scroll)
        .map(|(k, v)| {
            Row::new(vec![
                Line::from(k.to_string()).dim(),
                Line::from(app.cell(k, v)),
            ])
        });
    f.render_widget(
        Table::new(rows, [Constraint::Length(key_w), Constraint::Min(6)]).block(block(title)),
        area,
    );
}

fn draw_close_chart(f: &mut Frame, area: Rect, s: &StockLookup) {
    let points = s.closes();
    if points.is_empty() {
        let why = match &s.history {
            Err(e) => format!("no close history: {e}"),
            Ok(_) => format!("no '{}' values to chart", crate::conn::CLOSE_COLUMN),
        };
        return notice(f, area, "close", why, Color::Gray);
    }
    let data: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, (_, c))| (i as f64, *c))
        .collect();
    let (lo, hi) = data
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, y)| {
            (lo.min(*y), hi.max(*y))
        });
    let pad = ((hi - lo) * 0.05).max(0.01);
    let first = points.first().map_or("", |p| p.0.as_str()).to_string();
    let last_date = points.last().map_or("", |p| p.0.as_str()).to_string();
    let last = points.last().map_or(0.0, |p| p.1);
    let title = format!(" close · {} days · last {last} ", points.len());
    let chart = Chart::new(vec![Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::new().fg(Color::Cyan))
        .data(&data)])
    .block(block(title))
    .x_axis(
        Axis::default()
            .bounds([0.0, (data.len().max(2) - 1) as f64])
            .labels([first, last_date]),
    )
    .y_axis(
        Axis::default()
            .bounds([lo - pad, hi + pad])
            .labels([format!("{lo:.2}"), format!("{hi:.2}")]),
    );
    f.render_widget(chart, area);
}

fn draw_signals(f: &mut Frame, area: Rect, s: &StockLookup) {
    let lines: Vec<Line> = match &s.signals {
        Err(e) => vec![Line::from(format!("signals: {e}")).style(Style::new().fg(Color::Red))],
        Ok(sig) if sig.signals.is_empty() => vec![Line::from(format!(
            "no signal active on {} ({} checked, {} skipped)",
            sig.date,
            sig.checked.len(),
            sig.skipped.len()
        ))
        .dim()],
        Ok(sig) => sig
            .signals
            .iter()
            .map(|x| {
                let (mark, colour) = match x.direction {
                    Direction::Bullish => ("▲", Color::Red),
                    Direction::Bearish => ("▼", Color::Green),
                    Direction::Neutral => ("•", Color::Gray),
                };
                let values: Vec<String> = x
                    .values
                    .iter()
                    .map(|(k, v)| format!("{k} {}", trim_float(*v)))
                    .collect();
                Line::from(vec![
                    Span::styled(format!("{mark} {}", x.name), Style::new().fg(colour).bold()),
                    Span::raw(format!("  {}", values.join(" · "))).dim(),
                ])
            })
            .collect(),
    };
    f.render_widget(Paragraph::new(lines).block(block(" Signals ")), area);
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn draw_top(f: &mut Frame, area: Rect, app: &App) {
    let q = &app.data.top_query;
    let title = format!(
        " Top {} by {} ({}) · {} ",
        q.n,
        q.by,
        q.order.as_str(),
        app.data.date.as_deref().unwrap_or("latest")
    );
    if pending(f, area, "Top", &format!("top by {}", q.by), &app.data.top) {
        return;
    }
    let Some(rows) = app.data.top.ready() else {
        return;
    };
    if rows.is_empty() {
        return notice(
            f,
            area,
            "Top",
            "no rows ranked (all NULL?)".to_string(),
            Color::Gray,
        );
    }
    let wide = area.width >= WIDE;
    let mut cols: Vec<(&str, Constraint)> = vec![
        ("#", Constraint::Length(3)),
        ("code", Constraint::Length(8)),
        ("name", Constraint::Length(10)),
        (q.by.as_str(), Constraint::Length(12)),
    ];
    for (c, w) in [(CLOSE, 9), (PCT, 8)] {
        if c != q.by {
            cols.push((c, Constraint::Length(w)));
        }
    }
    if wide {
        for (c, w) in [(AMOUNT, 14), (TURNOVER, 13)] {
            if c != q.by {
                cols.push((c, Constraint::Length(w)));
            }
        }
    }
    cols.push((INDUSTRY, Constraint::Min(6)));
    let table_rows = rows.iter().enumerate().map(|(i, r)| {
        let cells = cols.iter().map(|(c, _)| match *c {
            "#" => Line::from((i + 1).to_string()).right_aligned(),
            "code" => Line::from(r.code.clone()),
            "name" => Line::from(str_value(app, r, NAME)),
            INDUSTRY => Line::from(str_value(app, r, INDUSTRY)),
            other => {
                let cell = Line::from(str_value(app, r, other)).right_aligned();
                if other == q.by {
                    cell.bold()
                } else {
                    cell
                }
            }
        });
        Row::new(cells.collect::<Vec<_>>())
    });
    let header = Row::new(cols.iter().map(|(c, _)| Line::from(*c))).bold();
    let widths: Vec<Constraint> = cols.iter().map(|(_, w)| *w).collect();
    let table = Table::new(table_rows, widths)
        .header(header)
        .block(block(title))
        .highlight_symbol("▶ ")
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut ts = TableState::default().with_selected(Some(app.data.top_sel));
    f.render_stateful_widget(table, area, &mut ts);
}

fn draw_hotspots(f: &mut Frame, area: Rect, app: &App) {
    if pending(f, area, "Hotspots", "hot-spot ranking", &app.data.hotspots) {
        return;
    }
    let Some(h) = app.data.hotspots.ready() else {
        return;
    };
    hotspots_table(f, area, app, h);
}

fn hotspots_table(f: &mut Frame, area: Rect, app: &App, h: &HotspotsRanking) {
    let wide = area.width >= WIDE;
    let title = format!(
        " Hotspots · {} · {} of {} industries · Enter: detail ",
        h.date,
        h.industries.len(),
        h.total_industries
    );
    let mut header = vec!["#", "industry", "heat", "avg%", "up", "down", "lim↑"];
    let mut widths = vec![
        Constraint::Length(3),
        Constraint::Length(12),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
    ];
    if wide {
        header.extend(["members", "amount", "net in"]);
        widths.extend([
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(9),
        ]);
    }
    header.push("leaders");
    widths.push(Constraint::Min(8));
    let rows = h.industries.iter().enumerate().map(|(i, ind)| {
        let s = &ind.stats;
        let mut cells = vec![
            Line::from((i + 1).to_string()).right_aligned(),
            Line::from(ind.industry.clone()),
            Line::from(fmt::opt_f64(s.heat, 2)).right_aligned(),
            Line::from(fmt::pct_change(s.avg_pct_change)).right_aligned(),
            Line::from(s.up.to_string()).right_aligned(),
            Line::from(s.down.to_string()).right_aligned(),
            Line::from(s.limit_up.to_string()).right_aligned(),
        ];
        if wide {
            cells.push(Line::from(s.members.to_string()).right_aligned());
            cells.push(Line::from(fmt::amount(s.amount)).right_aligned());
            cells.push(Line::from(fmt::amount(s.net_inflow)).right_aligned());
        }
        let leaders: Vec<String> = ind.leaders.iter().map(member_short).collect();
        cells.push(Line::from(leaders.join(" · ")));
        Row::new(cells)
    });
    let table = Table::new(rows, widths)
        .header(Row::new(header).bold())
        .block(block(title))
        .highlight_symbol("▶ ")
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut ts = TableState::default().with_selected(Some(app.data.hot_sel));
    f.render_stateful_widget(table, area, &mut ts);
}

fn member_short(m: &Member) -> String {
    let name = m.name.as_deref().unwrap_or(&m.code);
    format!("{name} {:+.2}%", m.pct_change)
}

fn draw_industry(f: &mut Frame, area: Rect, name: &str, detail: &Loadable<IndustryDetail>) {
    if pending(f, area, "Industry", &format!("industry {name}"), detail) {
        return;
    }
    let Some(d) = detail.ready() else {
        return;
    };
    let s = &d.stats;
    let [stats, movers] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let title = format!(
        " {} · {} · {} members · Backspace: back ",
        d.industry, d.date, s.members
    );
    let mut lines = vec![
        Line::from(format!(
            "avg {} · median {} · heat {}",
            fmt::pct_change(s.avg_pct_change),
            fmt::pct_change(s.median_pct_change),
            fmt::opt_f64(s.heat, 2)
        )),
        Line::from(format!(
            "up {} · flat {} · down {} · limit up {} · limit down {}",
            s.up, s.flat, s.down, s.limit_up, s.limit_down
        )),
        Line::from(format!(
            "amount {} · net inflow {}",
            fmt::amount(s.amount),
            fmt::amount(s.net_inflow)
        )),
    ];
    if !d.missing_columns.is_empty() {
        lines.push(Line::from(format!("missing: {}", d.missing_columns.join(", "))).dim());
    }
    f.render_widget(Paragraph::new(lines).block(block(title)), stats);
    let [g, l] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(movers);
    members_table(f, g, " Gainers ", &d.gainers);
    members_table(f, l, " Losers ", &d.losers);
}

fn members_table(f: &mut Frame, area: Rect, title: &str, members: &[Member]) {
    let rows = members.iter().map(|m| {
        Row::new(vec![
            Line::from(m.code.clone()),
            Line::from(m.name.clone().unwrap_or_default()),
            Line::from(format!("{:+.2}%", m.pct_change)).right_aligned(),
            Line::from(fmt::opt_f64(m.close, 2)).right_aligned(),
        ])
    });
    let widths = [
        Constraint::Length(7),
        Constraint::Min(4),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(["code", "name", "pct", "close"]).bold())
            .block(block(title.to_string())),
        area,
    );
}
