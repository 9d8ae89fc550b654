//! The console's event loop: keys and daemon events in, state changes, one
//! draw per change. The loop is the only place that touches the terminal
//! and the channels; state, input and view stay pure.

use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::conn::{self, Options};
use crate::state::App;
use crate::{input, term, view};

/// Redraw at least this often, so countdowns and "ago" figures move.
const TICK: Duration = Duration::from_millis(500);

/// Runs the console until the user quits.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let mut terminal = term::Terminal::new()?;
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (req_tx, req_rx) = mpsc::unbounded_channel();
    let conn_task = tokio::spawn(conn::run(opts.clone(), req_rx, ev_tx));
    let mut app = App::new(opts.socket, Instant::now());
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let result = loop {
        if let Err(e) = terminal.inner.draw(|f| view::draw(f, &app)) {
            break Err(e.into());
        }
        let requests = tokio::select! {
            k = keys.next() => match k {
                Some(Ok(TermEvent::Key(key))) => match input::map(app.mode(), key) {
                    Some(action) => app.apply(action),
                    None => Vec::new(),
                },
                // Resize and the rest: just redraw.
                Some(Ok(_)) => Vec::new(),
                Some(Err(e)) => break Err(e.into()),
                None => break Ok(()),
            },
            Some(ev) = ev_rx.recv() => app.on_event(ev, Instant::now()),
            _ = tick.tick() => {
                app.tick(Instant::now());
                Vec::new()
            }
        };
        for r in requests {
            // The task only stops when we drop the sender.
            let _ = req_tx.send(r);
        }
        if app.quit {
            break Ok(());
        }
    };
    drop(req_tx);
    conn_task.abort();
    drop(terminal);
    result
}
