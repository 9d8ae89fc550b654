//! End to end: the real console in a real terminal (tmux, 100×30) against a
//! real daemon. Keys go in with `send-keys`, the screen comes back with
//! `capture-pane`, and the daemon's own `admin.status` (read with our
//! client) confirms what the console did. Needs `tmux` on PATH (CI
//! installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{as_nobody, stockctl_bin, Daemon, TempDir};
use stockctl::conn::{self, Order, TopQuery};

const WAIT: Duration = Duration::from_secs(30);

/// A private tmux server with one session running one command; killed on
/// drop. The command runs under `sh -c` and prints its exit status when it
/// ends, and the pane stays, so the test sees both.
struct Tmux {
    socket: PathBuf,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Tmux {
    fn start(dir: &Path, argv: &[String]) -> Tmux {
        let socket = dir.join("tmux.sock");
        let cmd = argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
        let shell = format!("{cmd}; echo \"stockctl exited $?\"; sleep 600");
        let t = Tmux { socket };
        t.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            "100",
            "-y",
            "30",
            &shell,
        ]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux must be installed (apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "e2e"])
    }

    /// Waits until the screen satisfies `ok`; returns it.
    #[track_caller]
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                start.elapsed() < WAIT,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[track_caller]
    fn wait_text(&self, text: &str) -> String {
        self.wait(text, |s| s.contains(text))
    }

    fn size(&self) -> String {
        self.tmux(&[
            "display-message",
            "-p",
            "-t",
            "e2e",
            "#{pane_width}x#{pane_height}",
        ])
        .trim()
        .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- last screen ---\n{}", self.screen());
        }
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn console(socket: &Path) -> Vec<String> {
    vec![
        stockctl_bin().display().to_string(),
        "--socket".to_string(),
        socket.display().to_string(),
    ]
}

#[test]
fn console_switches_tabs_and_clears_a_cache_with_confirmation() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let d = rt.block_on(Daemon::start("tmux-clear", &[]));
    // Seed the query cache (and the hotspots cache, which must survive).
    rt.block_on(async {
        let c = d.client().await;
        conn::hotspots(&c, None, 5).await.expect("hotspots.ranking");
        for by in ["close", "amount", "pct_chg"] {
            let q = TopQuery {
                by: by.into(),
                n: 5,
                order: Order::Asc,
                date: None,
            };
            conn::stock_top(&c, &q).await.expect("stock.top");
        }
    });
    let before = rt.block_on(d.status());
    let names: Vec<&str> = before.caches.iter().map(|c| c.name.as_str()).collect();
    let query_idx = names
        .iter()
        .position(|n| *n == "query")
        .expect("a query cache");
    let seeded = before.caches[query_idx].entries;
    assert!(seeded >= 3, "seeded query cache: {seeded} entries");

    let t = Tmux::start(d.dir.path(), &console(&d.socket));
    assert_eq!(t.size(), "100x30");
    // Overview, live.
    let s = t.wait("the overview with figures", |s| {
        s.contains("● connected · live")
            && s.contains(&format!("{} rows", stockctl::fmt::count(before.store.rows)))
    });
    assert!(s.contains(&format!("stockd {}", before.version)), "{s}");
    assert!(
        s.contains("state OK") || s.contains("state HIGH") || s.contains("state CRITICAL"),
        "{s}"
    );
    // Data: the top list arrives.
    t.keys(&["3"]);
    t.wait("the top list", |s| {
        s.contains("Top 20 by pct_chg (desc)") && s.contains("▶   1 ")
    });
    // Store.
    t.keys(&["4"]);
    t.wait_text(&format!("generation {} · loaded", before.store.generation));
    // Help and back.
    t.keys(&["?"]);
    t.wait_text("Keys · ? or Esc to close");
    t.keys(&["?"]);
    t.wait("help closed", |s| !s.contains("Keys · ? or Esc"));
    // Caches: select the query cache, clear it, confirming.
    t.keys(&["2"]);
    t.wait_text("Caches · ");
    for _ in 0..query_idx {
        t.keys(&["j"]);
    }
    t.wait_text("▶ query");
    t.keys(&["c"]);
    t.wait_text("Clear cache 'query'?");
    let still = rt.block_on(d.status());
    let q = still
        .caches
        .iter()
        .find(|c| c.name == "query")
        .expect("query");
    assert!(q.entries >= seeded, "nothing is cleared before the answer");
    t.keys(&["y"]);
    let s = t.wait_text("cleared cache 'query':");
    assert!(!s.contains("Clear cache 'query'?"), "popup closed:\n{s}");
    t.wait("the table shows the empty cache", |s| {
        s.lines().any(|l| {
            let mut words = l.split_whitespace().skip_while(|w| *w != "query");
            l.contains("▶ query") && words.nth(1) == Some("0")
        })
    });
    // Quit: the terminal is restored (the pane shows the shell's echo on
    // the normal screen, not the console) and the exit status is 0.
    t.keys(&["q"]);
    let s = t.wait_text("stockctl exited");
    assert!(s.contains("stockctl exited 0"), "{s}");
    assert!(!s.contains("1 Overview"), "alternate screen left:\n{s}");

    let after = rt.block_on(d.status());
    let q = after
        .caches
        .iter()
        .find(|c| c.name == "query")
        .expect("query");
    assert_eq!(
        (q.entries, q.bytes),
        (0, 0),
        "the daemon's query cache is empty"
    );
    let hot = |st: &stockd_api::AdminStatus| {
        st.caches
            .iter()
            .find(|c| c.name == "hotspots")
            .map(|c| c.entries)
    };
    assert!(
        hot(&before).is_some_and(|n| n > 0),
        "hotspots seeded: {:?}",
        before.caches
    );
    assert_eq!(
        hot(&after),
        hot(&before),
        "only the query cache was cleared"
    );
}

#[test]
fn console_shows_disconnects_and_reconnects() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = TempDir::new("tmux-reconnect");
    let socket = dir.path().join("stockd.sock");
    // The console starts before the daemon: it says so and keeps trying.
    let t = Tmux::start(dir.path(), &console(&socket));
    let s = t.wait_text("disconnected, retrying");
    assert!(
        s.contains("not connected to") || s.contains("does not exist"),
        "{s}"
    );
    let mut d = Daemon::spawn_in(dir, &[]);
    rt.block_on(d.wait_ready());
    t.wait("connected", |s| {
        s.contains("● connected") && s.contains("rows ·")
    });
    // The daemon goes away: figures stay, the header says so.
    d.kill();
    let s = t.wait_text("disconnected, retrying");
    assert!(s.contains("rows ·"), "last known figures stay:\n{s}");
    // And comes back on the same socket.
    d.respawn(&[]);
    rt.block_on(d.wait_ready());
    t.wait_text("● connected");
    t.keys(&["q"]);
    assert!(t.wait_text("stockctl exited").contains("stockctl exited 0"));
}

#[test]
fn console_as_a_non_admin_shows_the_refusal() {
    let nobody = as_nobody();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let d = rt.block_on(Daemon::start(
        "tmux-nobody",
        &[("STOCKD_SERVER_SOCKET_MODE", "0666")],
    ));
    let mut argv: Vec<String> = nobody.iter().map(|s| s.to_string()).collect();
    argv.extend(console(&d.socket));
    let t = Tmux::start(d.dir.path(), &argv);
    let s = t.wait_text("admin.status refused by the daemon");
    // Subscribing was refused too, so status is polled (slowly).
    assert!(s.contains("● connected · polling"), "{s}");
    // The daemon's own words (they name the caller's uid).
    assert!(s.contains("not allowed") || s.contains("uid 65534"), "{s}");
    // Data methods are open to anyone who can open the socket.
    t.keys(&["3"]);
    t.wait("the top list", |s| s.contains("▶   1 "));
    // Admin actions explain instead of crashing.
    t.keys(&["2"]);
    t.wait_text("admin.status refused");
    t.keys(&["c"]);
    t.wait_text("no cache to clear");
    t.keys(&["q"]);
    assert!(t.wait_text("stockctl exited").contains("stockctl exited 0"));
}
