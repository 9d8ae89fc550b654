//! Keys → [`Action`]s. Pure: no I/O, no state change; [`map`] reads only the
//! current [`Mode`]. Every binding lives in [`BINDINGS`], which the help
//! overlay renders, so the overlay lists every key by construction.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks for. The console's state (`App::apply`) carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    NextTab,
    PrevTab,
    GoTab(Tab),
    /// Open or close the help overlay.
    Help,
    Up,
    Down,
    /// Ask for a stock code and look it up.
    Search,
    ClearCache,
    ClearAllCaches,
    ResizeCache,
    TrimMemory,
    Reload,
    PrevPane,
    NextPane,
    /// Drill into the selected row.
    Open,
    /// Leave the drill-down.
    Back,
    SetBy,
    ToggleOrder,
    SetCount,
    SetDate,
    Refresh,
    /// Confirm popup: yes / no.
    Yes,
    No,
    /// Prompt: type, erase, accept, cancel.
    Input(char),
    Erase,
    Submit,
    Cancel,
}

/// Which keys apply: the console's modal layer on top, else the tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal(Tab),
    Help,
    Confirm,
    Prompt,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every tab (normal mode).
    Global,
    Tab(Tab),
    Help,
    Confirm,
    Prompt,
}

impl Scope {
    /// Section title in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Tab(t) => t.title(),
            Scope::Help => "Help",
            Scope::Confirm => "Confirm popup",
            Scope::Prompt => "Prompt",
        }
    }
}

/// One key binding.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [KeyCode],
    /// The keys as the help overlay shows them.
    pub label: &'static str,
    pub action: Action,
    pub help: &'static str,
}

const fn b(
    scope: Scope,
    keys: &'static [KeyCode],
    label: &'static str,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding {
        scope,
        keys,
        label,
        action,
        help,
    }
}

use KeyCode::{BackTab, Backspace, Down, Enter, Esc, Left, Right, Tab as TabKey, Up};

const fn c(ch: char) -> KeyCode {
    KeyCode::Char(ch)
}

const CACHES: Scope = Scope::Tab(Tab::Caches);
const DATA: Scope = Scope::Tab(Tab::Data);
const STORE: Scope = Scope::Tab(Tab::Store);

/// Every key of the console. Tab bindings are looked up before global ones.
pub const BINDINGS: &[Binding] = &[
    b(
        Scope::Global,
        &[c('1')],
        "1",
        Action::GoTab(Tab::Overview),
        "Overview tab",
    ),
    b(
        Scope::Global,
        &[c('2')],
        "2",
        Action::GoTab(Tab::Caches),
        "Caches tab",
    ),
    b(
        Scope::Global,
        &[c('3')],
        "3",
        Action::GoTab(Tab::Data),
        "Data tab",
    ),
    b(
        Scope::Global,
        &[c('4')],
        "4",
        Action::GoTab(Tab::Store),
        "Store tab",
    ),
    b(Scope::Global, &[TabKey], "Tab", Action::NextTab, "next tab"),
    b(
        Scope::Global,
        &[BackTab],
        "Shift-Tab",
        Action::PrevTab,
        "previous tab",
    ),
    b(
        Scope::Global,
        &[Up, c('k')],
        "↑ k",
        Action::Up,
        "move up / scroll",
    ),
    b(
        Scope::Global,
        &[Down, c('j')],
        "↓ j",
        Action::Down,
        "move down / scroll",
    ),
    b(
        Scope::Global,
        &[c('/')],
        "/",
        Action::Search,
        "look up a stock code",
    ),
    b(Scope::Global, &[c('?')], "?", Action::Help, "this help"),
    b(
        Scope::Global,
        &[c('q'), Esc],
        "q Esc",
        Action::Quit,
        "quit (also Ctrl-C)",
    ),
    b(
        CACHES,
        &[c('c')],
        "c",
        Action::ClearCache,
        "clear the selected cache",
    ),
    b(
        CACHES,
        &[c('C')],
        "C",
        Action::ClearAllCaches,
        "clear every cache",
    ),
    b(
        CACHES,
        &[c('r')],
        "r",
        Action::ResizeCache,
        "resize selected cache",
    ),
    b(CACHES, &[c('m')], "m", Action::TrimMemory, "trim memory"),
    b(
        DATA,
        &[Left, c('h')],
        "← h",
        Action::PrevPane,
        "previous pane",
    ),
    b(DATA, &[Right, c('l')], "→ l", Action::NextPane, "next pane"),
    b(
        DATA,
        &[Enter],
        "Enter",
        Action::Open,
        "open stock / industry",
    ),
    b(
        DATA,
        &[Backspace],
        "Backspace",
        Action::Back,
        "back from industry",
    ),
    b(DATA, &[c('b')], "b", Action::SetBy, "top: rank by column"),
    b(DATA, &[c('o')], "o", Action::ToggleOrder, "top: asc / desc"),
    b(DATA, &[c('n')], "n", Action::SetCount, "top: how many rows"),
    b(
        DATA,
        &[c('d')],
        "d",
        Action::SetDate,
        "date (empty = latest)",
    ),
    b(DATA, &[c('u')], "u", Action::Refresh, "refresh this pane"),
    b(
        STORE,
        &[c('r')],
        "r",
        Action::Reload,
        "reload the store now",
    ),
    b(
        Scope::Help,
        &[c('?'), Esc, c('q')],
        "? Esc q",
        Action::Help,
        "close help",
    ),
    b(
        Scope::Confirm,
        &[c('y'), Enter],
        "y Enter",
        Action::Yes,
        "do it",
    ),
    b(
        Scope::Confirm,
        &[c('n'), Esc],
        "n Esc",
        Action::No,
        "cancel",
    ),
    b(Scope::Prompt, &[Enter], "Enter", Action::Submit, "accept"),
    b(Scope::Prompt, &[Esc], "Esc", Action::Cancel, "cancel"),
    b(
        Scope::Prompt,
        &[Backspace],
        "Backspace",
        Action::Erase,
        "erase",
    ),
];

fn lookup(scope: Scope, code: KeyCode) -> Option<Action> {
    BINDINGS
        .iter()
        .find(|b| b.scope == scope && b.keys.contains(&code))
        .map(|b| b.action)
}

/// The action of `key` in `mode`, if any.
pub fn map(mode: Mode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        // Ctrl-C always quits; other chords are not ours.
        return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
    if key.modifiers.contains(KeyModifiers::ALT) {
        return None;
    }
    match mode {
        Mode::Normal(tab) => {
            lookup(Scope::Tab(tab), key.code).or_else(|| lookup(Scope::Global, key.code))
        }
        Mode::Help => lookup(Scope::Help, key.code),
        Mode::Confirm => lookup(Scope::Confirm, key.code),
        Mode::Prompt => lookup(Scope::Prompt, key.code).or(match key.code {
            KeyCode::Char(ch) => Some(Action::Input(ch)),
            _ => None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.scope == b.scope {
                    for k in a.keys {
                        assert!(!b.keys.contains(k), "{k:?} bound twice in {:?}", a.scope);
                    }
                }
            }
        }
    }

    #[test]
    fn tab_keys_shadow_nothing_global() {
        // A tab binding must not hide a global one, or the help would lie.
        for t in BINDINGS.iter().filter(|b| matches!(b.scope, Scope::Tab(_))) {
            for k in t.keys {
                assert!(
                    lookup(Scope::Global, *k).is_none(),
                    "{k:?} of {:?} shadows a global key",
                    t.scope
                );
            }
        }
    }

    #[test]
    fn every_binding_maps_to_its_action() {
        for b in BINDINGS {
            let mode = match b.scope {
                Scope::Global => Mode::Normal(Tab::Overview),
                Scope::Tab(t) => Mode::Normal(t),
                Scope::Help => Mode::Help,
                Scope::Confirm => Mode::Confirm,
                Scope::Prompt => Mode::Prompt,
            };
            for k in b.keys {
                assert_eq!(map(mode, key(*k)), Some(b.action), "{k:?} in {mode:?}");
            }
        }
    }

    #[test]
    fn prompt_takes_text_and_ctrl_c_always_quits() {
        assert_eq!(map(Mode::Prompt, key(c('q'))), Some(Action::Input('q')));
        assert_eq!(map(Mode::Prompt, key(c('4'))), Some(Action::Input('4')));
        let ctrl_c = KeyEvent::new(c('c'), KeyModifiers::CONTROL);
        for mode in [
            Mode::Prompt,
            Mode::Help,
            Mode::Confirm,
            Mode::Normal(Tab::Data),
        ] {
            assert_eq!(map(mode, ctrl_c), Some(Action::Quit));
        }
        let shift_c = KeyEvent::new(c('C'), KeyModifiers::SHIFT);
        assert_eq!(
            map(Mode::Normal(Tab::Caches), shift_c),
            Some(Action::ClearAllCaches)
        );
        assert_eq!(map(Mode::Normal(Tab::Overview), shift_c), None);
    }
}

/// The console's tabs, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Overview,
    Caches,
    Data,
    Store,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Overview, Tab::Caches, Tab::Data, Tab::Store];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Caches => "Caches",
            Tab::Data => "Data",
            Tab::Store => "Store",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    pub fn next(self) -> Tab {
        Tab::ALL[(self.index() + 1) % Tab::ALL.len()]
    }

    pub fn prev(self) -> Tab {
        Tab::ALL[(self.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
    }
}
