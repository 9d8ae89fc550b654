//! Input tests: key sequences go through the real key map and the real
//! state, without a terminal or a daemon; the assertions read the state and
//! the requests it would send.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use stockctl::conn::{Event, FeedMode, Order, Reply, Request, TopQuery};
use stockctl::input::{self, Mode};
use stockctl::state::{App, Confirmable, Level, Pane, Popup, PromptKind, Tab};
use stockd_api::{AdminStatus, MarketInfo, StockRow};

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path)
}

fn connected_app() -> App {
    let t = Instant::now();
    let mut app = App::new("/tmp/stockd.sock".into(), t);
    app.on_event(Event::Connected, t);
    app.on_event(Event::Feed(FeedMode::Subscribed { interval_ms: 1000 }), t);
    app.on_event(
        Event::Status(Box::new(fixture::<AdminStatus>("admin_status.json"))),
        t,
    );
    app.on_event(
        Event::Reply(Box::new(Reply::Market {
            info: Ok(fixture::<MarketInfo>("market_info.json")),
            dates: Ok(fixture::<Vec<String>>("market_dates.json")),
        })),
        t,
    );
    app
}

/// One key: `"j"`, `"Tab"`, `"BackTab"`, `"Enter"`, `"Esc"`, `"BS"`,
/// `"Left"`, `"Right"`, `"Up"`, `"Down"`, `"C-c"`.
fn key(k: &str) -> KeyEvent {
    let (code, mods) = match k {
        "Tab" => (KeyCode::Tab, KeyModifiers::NONE),
        "BackTab" => (KeyCode::BackTab, KeyModifiers::SHIFT),
        "Enter" => (KeyCode::Enter, KeyModifiers::NONE),
        "Esc" => (KeyCode::Esc, KeyModifiers::NONE),
        "BS" => (KeyCode::Backspace, KeyModifiers::NONE),
        "Left" => (KeyCode::Left, KeyModifiers::NONE),
        "Right" => (KeyCode::Right, KeyModifiers::NONE),
        "Up" => (KeyCode::Up, KeyModifiers::NONE),
        "Down" => (KeyCode::Down, KeyModifiers::NONE),
        "C-c" => (KeyCode::Char('c'), KeyModifiers::CONTROL),
        s if s.chars().count() == 1 => {
            let c = s.chars().next().expect("one char");
            let m = if c.is_ascii_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            (KeyCode::Char(c), m)
        }
        other => panic!("unknown key {other}"),
    };
    KeyEvent::new(code, mods)
}

/// Presses `keys` (space-separated) and returns every request made.
fn press(app: &mut App, keys: &str) -> Vec<Request> {
    let mut out = Vec::new();
    for k in keys.split_whitespace() {
        if let Some(a) = input::map(app.mode(), key(k)) {
            out.extend(app.apply(a));
        }
    }
    out
}

/// Types `text` into the open prompt.
fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        let a = input::map(
            app.mode(),
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
        )
        .expect("prompt takes text");
        app.apply(a);
    }
}

fn prompt_error(app: &App) -> Option<String> {
    match &app.popup {
        Some(Popup::Prompt(p)) => p.error.clone(),
        _ => None,
    }
}

#[test]
fn tabs_switch_with_numbers_tab_and_shift_tab() {
    let mut app = connected_app();
    assert_eq!(app.tab, Tab::Overview);
    press(&mut app, "2");
    assert_eq!(app.tab, Tab::Caches);
    press(&mut app, "4");
    assert_eq!(app.tab, Tab::Store);
    press(&mut app, "Tab");
    assert_eq!(app.tab, Tab::Overview);
    press(&mut app, "BackTab BackTab");
    assert_eq!(app.tab, Tab::Data);
    press(&mut app, "1 Tab Tab Tab Tab");
    assert_eq!(app.tab, Tab::Overview);
    assert!(!app.quit);
}

#[test]
fn the_data_tab_loads_once_and_panes_load_on_first_visit() {
    let mut app = connected_app();
    let reqs = press(&mut app, "3");
    assert_eq!(
        reqs,
        vec![Request::Top(TopQuery {
            by: "pct_chg".into(),
            n: 20,
            order: Order::Desc,
            date: None
        })]
    );
    assert_eq!(
        press(&mut app, "1 3"),
        vec![],
        "still loading: no second request"
    );
    let reqs = press(&mut app, "l");
    assert_eq!(app.data.pane, Pane::Hotspots);
    assert!(matches!(
        reqs.as_slice(),
        [Request::Hotspots { date: None, .. }]
    ));
    press(&mut app, "Right");
    assert_eq!(app.data.pane, Pane::Stock);
    press(&mut app, "h");
    assert_eq!(app.data.pane, Pane::Hotspots);
    // o flips the order and reloads the top list.
    let reqs = press(&mut app, "o");
    assert_eq!(app.data.pane, Pane::Top);
    assert!(matches!(&reqs[..], [Request::Top(q)] if q.order == Order::Asc));
}

#[test]
fn clearing_a_cache_asks_first() {
    let mut app = connected_app();
    let names: Vec<String> = app.caches().iter().map(|c| c.name.clone()).collect();
    let idx = names
        .iter()
        .position(|n| n == "query")
        .expect("fixture has the query cache");
    press(&mut app, "2");
    for _ in 0..idx {
        press(&mut app, "j");
    }
    assert_eq!(app.selected_cache().map(|c| c.name.as_str()), Some("query"));
    // j past the end stays on the last cache; k comes back.
    press(&mut app, "j j j j j j");
    assert_eq!(app.caches_sel, names.len() - 1);
    for _ in 0..(names.len() - 1 - idx) {
        press(&mut app, "k");
    }
    assert_eq!(app.selected_cache().map(|c| c.name.as_str()), Some("query"));

    // c opens the confirmation; n (or Esc) cancels without a request.
    assert_eq!(press(&mut app, "c"), vec![]);
    assert_eq!(app.mode(), Mode::Confirm);
    assert!(
        matches!(&app.popup, Some(Popup::Confirm(c)) if c.action == Confirmable::ClearCache("query".into()))
    );
    assert_eq!(press(&mut app, "n"), vec![]);
    assert!(app.popup.is_none());
    assert_eq!(press(&mut app, "c Esc"), vec![]);
    assert!(!app.quit, "Esc in the popup cancels, it does not quit");
    // Keys other than yes/no do nothing while it is open.
    assert_eq!(press(&mut app, "c 1 q C"), vec![]);
    assert_eq!(app.tab, Tab::Caches);
    assert!(!app.quit);
    // y clears that cache.
    assert_eq!(
        press(&mut app, "y"),
        vec![Request::ClearCache {
            name: Some("query".into())
        }]
    );
    assert!(app.popup.is_none());
    // C asks about every cache, Enter confirms.
    press(&mut app, "C");
    assert!(matches!(&app.popup, Some(Popup::Confirm(c)) if c.action == Confirmable::ClearAll));
    assert_eq!(
        press(&mut app, "Enter"),
        vec![Request::ClearCache { name: None }]
    );
    // m asks before trimming.
    press(&mut app, "m");
    assert_eq!(press(&mut app, "y"), vec![Request::TrimMemory]);
}

#[test]
fn resize_validates_the_size_before_any_request() {
    let mut app = connected_app();
    press(&mut app, "2");
    let cache = app.selected_cache().expect("a cache").name.clone();
    press(&mut app, "r");
    assert!(
        matches!(&app.popup, Some(Popup::Prompt(p)) if matches!(&p.kind, PromptKind::Resize { cache: c, .. } if *c == cache))
    );
    // Enter on nothing: refused, prompt stays.
    assert_eq!(press(&mut app, "Enter"), vec![]);
    assert!(prompt_error(&app).is_some_and(|e| e.contains("no size")));
    // A unit the daemon does not take: refused with a hint.
    type_text(&mut app, "4MB");
    assert_eq!(press(&mut app, "Enter"), vec![]);
    let e = prompt_error(&app).expect("error");
    assert!(e.contains("did you mean MiB?"), "{e}");
    // Editing clears the error; over the 4GiB cap is refused too.
    press(&mut app, "BS BS BS");
    assert_eq!(prompt_error(&app), None);
    type_text(&mut app, "5GiB");
    assert_eq!(press(&mut app, "Enter"), vec![]);
    assert!(prompt_error(&app).is_some_and(|e| e.contains("largest cache cap")));
    press(&mut app, "BS BS BS BS BS");
    type_text(&mut app, "1.5MiB");
    assert_eq!(press(&mut app, "Enter"), vec![]);
    assert!(prompt_error(&app).is_some_and(|e| e.contains("fractions")));
    for _ in 0..6 {
        press(&mut app, "BS");
    }
    // q and digits are text here, not quit / tab switches.
    type_text(&mut app, "4MiB");
    assert!(!app.quit && app.tab == Tab::Caches);
    assert_eq!(
        press(&mut app, "Enter"),
        vec![Request::ResizeCache {
            name: cache,
            max_bytes: 4 << 20
        }]
    );
    assert!(app.popup.is_none());
    // Esc leaves a prompt without a request.
    press(&mut app, "r");
    type_text(&mut app, "1GiB");
    assert_eq!(press(&mut app, "Esc"), vec![]);
    assert!(app.popup.is_none() && !app.quit);
}

#[test]
fn slash_looks_up_a_code_from_any_tab() {
    let mut app = connected_app();
    press(&mut app, "4 /");
    assert_eq!(app.mode(), Mode::Prompt);
    assert_eq!(press(&mut app, "Enter"), vec![], "empty code refused");
    type_text(&mut app, "600000");
    assert_eq!(
        press(&mut app, "Enter"),
        vec![Request::Stock {
            code: "600000".into(),
            date: None
        }]
    );
    assert_eq!((app.tab, app.data.pane), (Tab::Data, Pane::Stock));
    // Enter on a top row looks that stock up.
    let rows: Vec<StockRow> = fixture("stock_top.json");
    let reqs = press(&mut app, "l");
    assert_eq!(app.data.pane, Pane::Top);
    assert!(matches!(&reqs[..], [Request::Top(_)]), "{reqs:?}");
    let q = TopQuery {
        by: "pct_chg".into(),
        n: 20,
        order: Order::Desc,
        date: None,
    };
    app.on_event(
        Event::Reply(Box::new(Reply::Top {
            query: q,
            result: Ok(rows.clone()),
        })),
        Instant::now(),
    );
    let reqs = press(&mut app, "j j Enter");
    assert_eq!(
        reqs,
        vec![Request::Stock {
            code: rows[2].code.clone(),
            date: None
        }]
    );
}

#[test]
fn column_count_and_date_prompts_are_checked_against_the_market() {
    let mut app = connected_app();
    press(&mut app, "3");
    press(&mut app, "b");
    type_text(&mut app, "no_such_column");
    assert_eq!(press(&mut app, "Enter"), vec![]);
    let e = prompt_error(&app).expect("error");
    assert!(
        e.contains("no column 'no_such_column'") && e.contains("numeric columns include"),
        "{e}"
    );
    press(&mut app, "Esc b");
    type_text(&mut app, "stock_name");
    assert_eq!(press(&mut app, "Enter"), vec![]);
    assert!(prompt_error(&app).is_some_and(|e| e.contains("is not numeric")));
    press(&mut app, "Esc b");
    type_text(&mut app, "amount");
    let reqs = press(&mut app, "Enter");
    assert!(
        matches!(&reqs[..], [Request::Top(q)] if q.by == "amount"),
        "{reqs:?}"
    );

    press(&mut app, "n");
    type_text(&mut app, "501");
    assert_eq!(press(&mut app, "Enter"), vec![]);
    assert!(prompt_error(&app).is_some_and(|e| e.contains("from 1 to 500")));
    press(&mut app, "BS BS BS");
    type_text(&mut app, "5");
    let reqs = press(&mut app, "Enter");
    assert!(
        matches!(&reqs[..], [Request::Top(q)] if q.n == 5 && q.by == "amount"),
        "{reqs:?}"
    );

    let dates: Vec<String> = fixture("market_dates.json");
    press(&mut app, "d");
    type_text(&mut app, "2001-01-01");
    assert_eq!(press(&mut app, "Enter"), vec![]);
    assert!(prompt_error(&app).is_some_and(|e| e.contains("not a trading date held")));
    press(&mut app, "Esc d");
    type_text(&mut app, "yesterday");
    assert_eq!(press(&mut app, "Enter"), vec![]);
    assert!(prompt_error(&app).is_some_and(|e| e.contains("YYYY-MM-DD")));
    press(&mut app, "Esc d");
    type_text(&mut app, &dates[0]);
    let reqs = press(&mut app, "Enter");
    assert_eq!(app.data.date.as_deref(), Some(dates[0].as_str()));
    assert!(
        matches!(&reqs[..], [Request::Top(q)] if q.date.as_deref() == Some(dates[0].as_str())),
        "{reqs:?}"
    );
}

#[test]
fn stale_replies_do_not_overwrite_newer_queries() {
    let mut app = connected_app();
    press(&mut app, "3 o"); // desc asked, then asc asked
    let desc = TopQuery {
        by: "pct_chg".into(),
        n: 20,
        order: Order::Desc,
        date: None,
    };
    app.on_event(
        Event::Reply(Box::new(Reply::Top {
            query: desc,
            result: Ok(vec![]),
        })),
        Instant::now(),
    );
    assert!(
        matches!(app.data.top, stockctl::state::Loadable::Loading),
        "{:?}",
        app.data.top
    );
}

#[test]
fn help_quit_and_ctrl_c() {
    let mut app = connected_app();
    press(&mut app, "?");
    assert_eq!(app.mode(), Mode::Help);
    press(&mut app, "2 c"); // ignored under the overlay
    assert_eq!(app.tab, Tab::Overview);
    assert!(app.popup.is_none());
    press(&mut app, "Esc");
    assert!(!app.help && !app.quit, "Esc closes help first");
    press(&mut app, "q");
    assert!(app.quit);

    let mut app = connected_app();
    press(&mut app, "Esc");
    assert!(app.quit);

    let mut app = connected_app();
    press(&mut app, "/");
    type_text(&mut app, "q");
    assert!(!app.quit);
    press(&mut app, "C-c");
    assert!(app.quit, "Ctrl-C quits even from a prompt");
}

#[test]
fn admin_actions_while_disconnected_say_so() {
    let mut app = connected_app();
    app.on_event(
        Event::Disconnected {
            reason: "connection lost".into(),
            retry_in: std::time::Duration::from_secs(1),
        },
        Instant::now(),
    );
    assert_eq!(press(&mut app, "4 r"), vec![]);
    let m = app.message.clone().expect("message");
    assert_eq!(m.level, Level::Error);
    assert!(
        m.text.contains("not connected to /tmp/stockd.sock"),
        "{}",
        m.text
    );
    // Reconnecting makes it possible again, once.
    app.on_event(Event::Connected, Instant::now());
    assert_eq!(press(&mut app, "r"), vec![Request::Reload]);
    assert_eq!(press(&mut app, "r"), vec![]);
    assert!(app
        .message
        .as_ref()
        .is_some_and(|m| m.text.contains("already running")));
}

#[test]
fn replies_become_messages_with_the_daemons_words() {
    let mut app = connected_app();
    let refusal = stockctl::conn::Failure {
        code: Some(1007),
        message: "cache.clear is for root, uid 0 and the groups stockd-admin".into(),
    };
    app.on_event(
        Event::Reply(Box::new(Reply::Cleared {
            name: Some("query".into()),
            result: Err(refusal.clone()),
        })),
        Instant::now(),
    );
    let m = app.message.clone().expect("message");
    assert_eq!(m.level, Level::Error);
    assert_eq!(
        m.text,
        format!("clearing cache 'query' failed: {}", refusal.message)
    );
}

#[test]
fn a_new_generation_refreshes_the_market_and_the_views() {
    let mut app = connected_app();
    // connected_app answered the connect-time market request.
    let t = Instant::now();
    let status: AdminStatus = fixture("admin_status.json");
    assert_eq!(
        app.on_event(Event::Status(Box::new(status.clone())), t),
        vec![]
    );
    press(&mut app, "3");
    let rows: Vec<StockRow> = fixture("stock_top.json");
    let q = TopQuery {
        by: "pct_chg".into(),
        n: 20,
        order: Order::Desc,
        date: None,
    };
    app.on_event(
        Event::Reply(Box::new(Reply::Top {
            query: q.clone(),
            result: Ok(rows),
        })),
        t,
    );
    assert!(app.data.top.ready().is_some());

    let mut next = status.clone();
    next.store.generation += 1;
    assert_eq!(
        app.on_event(Event::Status(Box::new(next.clone())), t),
        vec![Request::Market]
    );
    // Asked once, not on every update while the answer is out.
    assert_eq!(
        app.on_event(Event::Status(Box::new(next.clone())), t),
        vec![]
    );
    let mut info: MarketInfo = fixture("market_info.json");
    info.generation = next.store.generation;
    let reqs = app.on_event(
        Event::Reply(Box::new(Reply::Market {
            info: Ok(info),
            dates: Ok(fixture("market_dates.json")),
        })),
        t,
    );
    assert_eq!(
        reqs,
        vec![Request::Top(q)],
        "the visible pane is asked again"
    );
    assert_eq!(
        app.store_events.front().map(|e| e.generation),
        Some(next.store.generation)
    );
    assert_eq!(app.on_event(Event::Status(Box::new(next)), t), vec![]);
}
