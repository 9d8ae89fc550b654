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

use super::{block, notice, table_widths, WIDE};
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
            Some((name, detail)) => draw_industry(f, body, app, name, detail),
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

/// Marks the selected row of the Top and Hotspots tables.
const SELECTED: &str = "▶ ";

/// The column the table maps to semantic `key` (`close` → `close`),
/// from `market.info`, else the reference layout's `default`.
fn semantic<'a>(app: &'a App, key: &str, default: &'a str) -> &'a str {
    app.market
        .as_ref()
        .and_then(|m| m.semantic_columns.get(key))
        .map_or(default, String::as_str)
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
    draw_close_chart(f, chart, app, s);
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
    let widths = [Constraint::Length(key_w), Constraint::Min(6)];
    let w = table_widths(area, "", &widths);
    let rows = values
        .into_iter()
        .skip(app.data.stock_scroll)
        .map(|(k, v)| {
            Row::new(vec![
                Line::from(fmt::clip(k, w[0])).dim(),
                Line::from(fmt::clip(&app.cell(k, v), w[1])),
            ])
        });
    let title = fmt::clip(&title, usize::from(area.width.saturating_sub(2)));
    f.render_widget(Table::new(rows, widths).block(block(title)), area);
}

fn draw_close_chart(f: &mut Frame, area: Rect, app: &App, s: &StockLookup) {
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
    let last = app.cell(crate::conn::CLOSE_COLUMN, &Value::from(last));
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
    let (name_col, industry_col) = (
        semantic(app, "name", NAME),
        semantic(app, "industry", INDUSTRY),
    );
    let mut numeric: Vec<&str> = vec![q.by.as_str()];
    for c in [
        semantic(app, "close", CLOSE),
        semantic(app, "pct_change", PCT),
    ] {
        if c != q.by {
            numeric.push(c);
        }
    }
    if wide {
        for c in [semantic(app, "amount", AMOUNT), TURNOVER] {
            if c != q.by {
                numeric.push(c);
            }
        }
    }
    // Every numeric column at its scale, its values aligned on one number
    // of decimals, and as wide as its widest text.
    let texts: Vec<Vec<String>> = numeric
        .iter()
        .map(|c| app.columns.column(c, rows.iter().map(|r| r.values.get(*c))))
        .collect();
    let text_of = |r: &StockRow, c: &str| {
        r.values
            .get(c)
            .map_or_else(|| "–".to_string(), |v| app.cell(c, v))
    };
    let names: Vec<String> = rows.iter().map(|r| text_of(r, name_col)).collect();
    let name_w = names
        .iter()
        .map(|n| fmt::width(n))
        .max()
        .unwrap_or(4)
        .clamp(4, 12);
    let mut cols: Vec<(&str, Constraint)> = vec![
        ("#", Constraint::Length(3)),
        ("code", Constraint::Length(8)),
        ("name", Constraint::Length(name_w as u16)),
    ];
    for (c, t) in numeric.iter().zip(&texts) {
        let w = t
            .iter()
            .map(|x| fmt::width(x))
            .chain([fmt::width(c)])
            .max()
            .unwrap_or(6);
        cols.push((c, Constraint::Length(w.min(24) as u16)));
    }
    cols.push(("industry", Constraint::Min(6)));
    let widths: Vec<Constraint> = cols.iter().map(|(_, w)| *w).collect();
    let w = table_widths(area, SELECTED, &widths);
    let table_rows = rows.iter().enumerate().map(|(i, r)| {
        let mut cells = vec![
            Line::from((i + 1).to_string()).right_aligned(),
            Line::from(fmt::clip(&r.code, w[1])),
            Line::from(fmt::clip(&names[i], w[2])),
        ];
        for (k, t) in texts.iter().enumerate() {
            let cell = Line::from(fmt::clip(&t[i], w[3 + k])).right_aligned();
            cells.push(if k == 0 { cell.bold() } else { cell });
        }
        cells.push(Line::from(fmt::clip(
            &text_of(r, industry_col),
            w[w.len() - 1],
        )));
        Row::new(cells)
    });
    let header = Row::new(cols.iter().enumerate().map(|(k, (c, _))| {
        let h = Line::from(fmt::clip(c, w[k]));
        if (3..3 + numeric.len()).contains(&k) {
            h.right_aligned()
        } else {
            h
        }
    }))
    .bold();
    let table = Table::new(table_rows, widths)
        .header(header)
        .block(block(title))
        .highlight_symbol(SELECTED)
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

/// Which industries the Hotspots table shows: `(offset, count)` of the
/// rows that fit in `area` (borders and header take 3 lines), scrolled so
/// the selected one is visible.
pub fn hotspots_window(area: Rect, total: usize, selected: usize) -> (usize, usize) {
    let fit = usize::from(area.height.saturating_sub(3));
    if fit == 0 {
        return (0, 0);
    }
    let offset = selected
        .min(total.saturating_sub(1))
        .saturating_sub(fit - 1);
    (offset, fit.min(total - offset.min(total)))
}

/// A member's pct change (a value of the table's pct change column, sent
/// as a number) at that column's scale: a `real` in its shortest float4
/// form, whatever float noise the number carries.
fn pct_text(app: &App, x: f64) -> String {
    match app.columns.kind(semantic(app, "pct_change", PCT)) {
        fmt::ColumnKind::Real => fmt::real(x),
        kind => kind.text(&Value::from(x)),
    }
}

/// A signed pct change as shown: `+20.01%`, `-0.65%` (`text` unsigned or
/// negative, already at its scale).
fn signed_pct(text: &str) -> String {
    if text.starts_with('-') || text == "0" || text.chars().all(|c| c == '0' || c == '.') {
        format!("{text}%")
    } else {
        format!("+{text}%")
    }
}

/// Leaders `name +pct%` joined by ` · `, whole ones only; when not even
/// the first fits, its name is clipped and its figure kept whole.
fn leaders_text(leaders: &[(String, String)], width: usize) -> String {
    let items: Vec<String> = leaders.iter().map(|(n, p)| format!("{n} {p}")).collect();
    match leaders.first() {
        Some((name, pct)) if fmt::width(&items[0]) > width && width > fmt::width(pct) + 2 => {
            format!("{} {pct}", fmt::clip(name, width - fmt::width(pct) - 1))
        }
        _ => fmt::clip_list(&items, " · ", width),
    }
}

fn hotspots_table(f: &mut Frame, area: Rect, app: &App, h: &HotspotsRanking) {
    let wide = area.width >= WIDE;
    let sel = app.data.hot_sel;
    let (offset, shown) = hotspots_window(area, h.industries.len(), sel);
    let visible = &h.industries[offset..offset + shown];
    let of = if offset == 0 && shown == h.industries.len() {
        format!("{shown} of {}", h.total_industries)
    } else if shown == 0 {
        format!("0 of {}", h.total_industries)
    } else {
        format!(
            "{}–{} of {}",
            offset + 1,
            offset + shown,
            h.total_industries
        )
    };
    let title = format!(" Hotspots · {} · {of} industries · Enter: detail ", h.date);
    let industry_w = visible
        .iter()
        .map(|i| fmt::width(&i.industry))
        .max()
        .unwrap_or(8)
        .clamp(8, 16);
    let mut header = vec!["#", "industry", "heat", "avg%", "up", "down", "lim↑"];
    let mut widths = vec![
        Constraint::Length(3),
        Constraint::Length(industry_w as u16),
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
    let w = table_widths(area, SELECTED, &widths);
    let leaders_w = w.last().copied().unwrap_or(0);
    // Leaders' pct changes (float4 values) on one number of decimals.
    let mut pcts: Vec<String> = visible
        .iter()
        .flat_map(|i| i.leaders.iter().map(|m| pct_text(app, m.pct_change)))
        .collect();
    fmt::align_decimals(&mut pcts);
    let mut pcts = pcts.into_iter();
    let rows = visible.iter().enumerate().map(|(k, ind)| {
        let s = &ind.stats;
        let mut cells = vec![
            Line::from((offset + k + 1).to_string()).right_aligned(),
            Line::from(fmt::clip(&ind.industry, w[1])),
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
        let leaders: Vec<(String, String)> = ind
            .leaders
            .iter()
            .map(|m| {
                let pct = signed_pct(&pcts.next().unwrap_or_default());
                (m.name.clone().unwrap_or_else(|| m.code.clone()), pct)
            })
            .collect();
        cells.push(Line::from(leaders_text(&leaders, leaders_w)));
        Row::new(cells)
    });
    let table = Table::new(rows.collect::<Vec<_>>(), widths)
        .header(Row::new(header).bold())
        .block(block(title))
        .highlight_symbol(SELECTED)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut ts = TableState::default().with_selected((shown > 0).then(|| sel - offset));
    f.render_stateful_widget(table, area, &mut ts);
}

fn draw_industry(
    f: &mut Frame,
    area: Rect,
    app: &App,
    name: &str,
    detail: &Loadable<IndustryDetail>,
) {
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
    members_table(f, g, app, " Gainers ", &d.gainers);
    members_table(f, l, app, " Losers ", &d.losers);
}

fn members_table(f: &mut Frame, area: Rect, app: &App, title: &str, members: &[Member]) {
    let widths = [
        Constraint::Length(7),
        Constraint::Min(4),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    let w = table_widths(area, "", &widths);
    let mut pcts: Vec<String> = members
        .iter()
        .map(|m| pct_text(app, m.pct_change))
        .collect();
    fmt::align_decimals(&mut pcts);
    let close_col = semantic(app, "close", CLOSE);
    let closes = app.columns.column(
        close_col,
        members
            .iter()
            .map(|m| m.close.map(Value::from))
            .collect::<Vec<_>>()
            .iter()
            .map(Option::as_ref),
    );
    let rows = members.iter().enumerate().map(|(i, m)| {
        Row::new(vec![
            Line::from(fmt::clip(&m.code, w[0])),
            Line::from(fmt::clip(m.name.as_deref().unwrap_or(""), w[1])),
            Line::from(fmt::clip(&signed_pct(&pcts[i]), w[2])).right_aligned(),
            Line::from(fmt::clip(&closes[i], w[3])).right_aligned(),
        ])
    });
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(["code", "name", "pct", "close"]).bold())
            .block(block(title.to_string())),
        area,
    );
}
