//! The terminal: raw mode and the alternate screen while the console runs,
//! restored when [`Terminal`] drops — after a normal quit, an error
//! returned through `?`, or a panic (the hook restores first, so the panic
//! message lands on a usable screen).

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;

/// True while the terminal is in the console's mode, so restoring twice
/// (panic hook, then drop) does nothing the second time.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen; safe to call more than once.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    }
}

/// The console's terminal; restores the terminal on drop.
pub struct Terminal {
    pub inner: ratatui::Terminal<CrosstermBackend<Stdout>>,
}

impl Terminal {
    /// Enters raw mode and the alternate screen, and installs a panic hook
    /// that restores the terminal before the default hook prints.
    pub fn new() -> io::Result<Terminal> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut stdout = io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen, Hide) {
            restore();
            return Err(e);
        }
        match ratatui::Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(inner) => Ok(Terminal { inner }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}
