//! Drawing. Every function here takes the state by shared reference and
//! only paints: no I/O, no state change. One module per tab, plus the
//! overlays (help, confirm, prompt) drawn on top.

mod caches;
mod data;
mod overview;
mod popup;
mod store;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::conn::FeedMode;
use crate::fmt;
use crate::state::{App, Level, Link, Tab};

/// Terminals at least this wide get the extra columns.
pub const WIDE: u16 = 100;
/// Terminals at least this tall get taller charts.
pub const TALL: u16 = 36;

/// Draws the whole console.
pub fn draw(f: &mut Frame, app: &App) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_header(f, header, app);
    let body = match (&app.status_error, app.tab) {
        (Some(e), Tab::Overview | Tab::Caches | Tab::Store) => {
            let [banner, rest] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(body);
            f.render_widget(
                Paragraph::new(Line::from(e.as_str()).style(Style::new().fg(Color::Red).bold())),
                banner,
            );
            rest
        }
        _ => body,
    };
    match app.tab {
        Tab::Overview => overview::draw(f, body, app),
        Tab::Caches => caches::draw(f, body, app),
        Tab::Data => data::draw(f, body, app),
        Tab::Store => store::draw(f, body, app),
    }
    draw_footer(f, footer, app);
    if app.help {
        popup::help(f, f.area());
    }
    if let Some(p) = &app.popup {
        popup::draw(f, f.area(), p);
    }
}

/// The connection as one short phrase, with its colour.
pub fn link_text(app: &App) -> (String, Color) {
    match &app.link {
        Link::Connected => {
            let how = match &app.feed {
                Some(FeedMode::Subscribed { .. }) => " · live",
                Some(FeedMode::Polling { .. }) => " · polling",
                None => "",
            };
            (format!("● connected{how}"), Color::Green)
        }
        Link::Connecting { attempt } if *attempt <= 1 => {
            ("◌ connecting…".to_string(), Color::Yellow)
        }
        Link::Connecting { .. } => ("○ disconnected, retrying now".to_string(), Color::Red),
        Link::Disconnected { retry_at, .. } => {
            let left = retry_at.saturating_duration_since(app.now);
            let secs = left.as_millis().div_ceil(1000);
            let when = if secs == 0 {
                "now".to_string()
            } else {
                format!("in {secs}s")
            };
            (format!("○ disconnected, retrying {when}"), Color::Red)
        }
    }
}

fn draw_header(f: &mut Frame, area: Rect, app: &App) {
    let (link, colour) = link_text(app);
    let link_w = fmt::width(&link) as u16 + 1;
    let [tabs, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(link_w)]).areas(area);
    let mut spans = vec![Span::raw("stockctl ").bold()];
    for t in Tab::ALL {
        let label = format!(" {} {} ", t.index() + 1, t.title());
        spans.push(if t == app.tab {
            Span::styled(label, Style::new().reversed().bold())
        } else {
            Span::raw(label)
        });
    }
    f.render_widget(Paragraph::new(Line::from(spans)), tabs);
    f.render_widget(
        Paragraph::new(Line::from(link).style(Style::new().fg(colour))).right_aligned(),
        right,
    );
}

/// Keys worth a reminder on each tab.
fn hints(tab: Tab) -> &'static str {
    match tab {
        Tab::Overview => "1-4/Tab tabs · j/k scroll · / stock · ? help · q quit",
        Tab::Caches => "c clear · C clear all · r resize · m trim · ? help",
        Tab::Data => "←/→ pane · Enter open · / code · b by · d date · ? help",
        Tab::Store => "r reload · ? help · q quit",
    }
}

fn draw_footer(f: &mut Frame, area: Rect, app: &App) {
    let fresh = app
        .message
        .as_ref()
        .filter(|m| app.now.saturating_duration_since(m.at) < m.ttl());
    let line = match fresh {
        Some(m) => {
            let style = match m.level {
                Level::Info => Style::new().fg(Color::Cyan),
                Level::Error => Style::new().fg(Color::Red).bold(),
            };
            Line::from(m.text.as_str()).style(style)
        }
        None => Line::from(hints(app.tab)).style(Style::new().add_modifier(Modifier::DIM)),
    };
    f.render_widget(Paragraph::new(line), area);
}

/// A bordered block with a title.
pub(crate) fn block(title: impl Into<Line<'static>>) -> Block<'static> {
    Block::bordered().title(title.into())
}

/// `label   value` with the label dimmed to `width`.
pub(crate) fn kv(label: &str, width: usize, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(
        format!("{label:<width$}"),
        Style::new().add_modifier(Modifier::DIM),
    )];
    spans.extend(value);
    Line::from(spans)
}

/// Colour of a memory state.
pub(crate) fn state_colour(state: &str) -> Color {
    match state {
        "ok" => Color::Green,
        "high" => Color::Yellow,
        _ => Color::Red,
    }
}

/// The widths, in cells, that a bordered [`ratatui::widgets::Table`] in
/// `area` gives its columns (after the `selection` symbol's column), laid
/// out as the table lays them out; cells are clipped to these with
/// [`fmt::clip`] so a name is never cut without a mark.
pub(crate) fn table_widths(area: Rect, selection: &str, widths: &[Constraint]) -> Vec<usize> {
    let inner = area.width.saturating_sub(2);
    let [_, cols] = Layout::horizontal([
        Constraint::Length(fmt::width(selection) as u16),
        Constraint::Fill(0),
    ])
    .areas(Rect::new(0, 0, inner, 1));
    Layout::horizontal(widths.to_vec())
        .flex(Flex::Start)
        .spacing(1)
        .split(cols)
        .iter()
        .map(|r| usize::from(r.width))
        .collect()
}

/// A centred rectangle of at most `w` × `h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A one-line notice filling `area` (waiting, failed…).
pub(crate) fn notice(f: &mut Frame, area: Rect, title: &str, text: String, colour: Color) {
    f.render_widget(
        Paragraph::new(Line::from(text).style(Style::new().fg(colour)))
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block(format!(" {title} "))),
        area,
    );
}

/// What to say when there is no status to draw.
pub(crate) fn no_status(app: &App) -> (String, Color) {
    match (&app.status_error, &app.link) {
        (Some(e), _) => (e.clone(), Color::Red),
        (None, Link::Disconnected { reason, .. }) => (
            format!("not connected to {}: {reason}", app.socket.display()),
            Color::Red,
        ),
        (None, _) => ("waiting for admin.status…".to_string(), Color::Yellow),
    }
}
