//! Overlays: the help listing every key (from [`crate::input::BINDINGS`]),
//! the confirmation of destructive actions and the text prompt.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{block, centered};
use crate::input::{Scope, BINDINGS};
use crate::state::{Popup, Tab};

/// Sections of the help, split over two columns.
const LEFT: &[Scope] = &[
    Scope::Global,
    Scope::Tab(Tab::Caches),
    Scope::Tab(Tab::Store),
];
const RIGHT: &[Scope] = &[
    Scope::Tab(Tab::Data),
    Scope::Help,
    Scope::Confirm,
    Scope::Prompt,
];

fn section(scopes: &[Scope], label_w: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for scope in scopes {
        lines.push(Line::from(scope.title()).style(Style::new().fg(Color::Cyan).bold()));
        for b in BINDINGS.iter().filter(|b| b.scope == *scope) {
            lines.push(Line::from(vec![
                Span::styled(format!(" {:<label_w$}", b.label), Style::new().bold()),
                Span::raw(format!(" {}", b.help)),
            ]));
        }
        if *scope == Scope::Prompt {
            lines.push(Line::from(vec![
                Span::styled(format!(" {:<label_w$}", "text"), Style::new().bold()),
                Span::raw(" type to edit"),
            ]));
        }
    }
    lines
}

/// The help overlay.
pub fn help(f: &mut Frame, area: Rect) {
    let label_w = BINDINGS
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(4);
    let left = section(LEFT, label_w);
    let right = section(RIGHT, label_w);
    let h = left.len().max(right.len()) as u16 + 2;
    let r = centered(area, 80, h);
    f.render_widget(Clear, r);
    let outer = block(" Keys · ? or Esc to close ").style(Style::new().bg(Color::Black));
    let inner = outer.inner(r);
    f.render_widget(outer, r);
    let [a, b] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    f.render_widget(Paragraph::new(left), a);
    f.render_widget(Paragraph::new(right), b);
}

/// The confirm popup or the prompt.
pub fn draw(f: &mut Frame, area: Rect, p: &Popup) {
    match p {
        Popup::Confirm(c) => {
            let r = centered(area, 64, 8);
            f.render_widget(Clear, r);
            let lines = vec![
                Line::from(c.question.clone()).bold(),
                Line::from(c.detail.clone()),
                Line::from(""),
                Line::from(vec![
                    Span::styled("y", Style::new().fg(Color::Green).bold()),
                    Span::raw("/Enter: yes    "),
                    Span::styled("n", Style::new().fg(Color::Red).bold()),
                    Span::raw("/Esc: no"),
                ]),
            ];
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: true })
                    .block(block(" Confirm ").border_style(Style::new().fg(Color::Yellow))),
                r,
            );
        }
        Popup::Prompt(p) => {
            let r = centered(area, 70, 8);
            f.render_widget(Clear, r);
            let mut lines = vec![
                Line::from(p.kind.hint()).dim(),
                Line::from(vec![
                    Span::raw("> "),
                    Span::raw(p.input.clone()).bold(),
                    Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
                ]),
            ];
            match &p.error {
                Some(e) => lines.push(Line::from(e.clone()).style(Style::new().fg(Color::Red))),
                None => lines.push(Line::from("Enter accept · Esc cancel").dim()),
            }
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                    block(format!(" {} ", p.kind.title()))
                        .border_style(Style::new().fg(Color::Cyan)),
                ),
                r,
            );
        }
    }
}
