//! One-shot commands, as scripts run them: the real stockctl binary against
//! a real daemon, checking output and exit codes (0 ok, 1 daemon error,
//! 2 usage, 3 cannot connect).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{as_nobody, stockctl_bin, Daemon, TempDir};
use stockctl::conn::{self, Order, TopQuery};
use stockd_api::AdminStatus;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn finish(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `stockctl --socket SOCKET ARGS…`, optionally prefixed (e.g. setpriv).
fn run_as(prefix: &[&str], socket: &Path, args: &[&str]) -> Run {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(stockctl_bin());
            c
        }
        None => Command::new(stockctl_bin()),
    };
    cmd.env_remove("STOCKD_SOCKET")
        .arg("--socket")
        .arg(socket)
        .args(args);
    finish(cmd.output().expect("run stockctl"))
}

fn run(socket: &Path, args: &[&str]) -> Run {
    run_as(&[], socket, args)
}

#[track_caller]
fn expect(r: &Run, code: i32, what: &str) {
    assert_eq!(
        r.code, code,
        "{what}: exit code {} (want {code})\nstdout:\n{}\nstderr:\n{}",
        r.code, r.stdout, r.stderr
    );
}

#[test]
fn exit_3_names_the_socket_and_the_likely_cause() {
    let dir = TempDir::new("noconn");
    // No such file.
    let missing = dir.path().join("missing.sock");
    let r = run(&missing, &["status"]);
    expect(&r, 3, "missing socket");
    assert!(
        r.stderr.contains(&missing.display().to_string()),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("does not exist") && r.stderr.contains("not running"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    // A stale socket file: bound once, nobody listening.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    let r = run(&stale, &["cache", "list"]);
    expect(&r, 3, "stale socket");
    assert!(
        r.stderr.contains("nothing listens") && r.stderr.contains("stale"),
        "{}",
        r.stderr
    );
    // A regular file where the socket should be.
    let file = dir.path().join("file.sock");
    std::fs::write(&file, "").expect("write");
    let r = run(&file, &["get", "600000"]);
    expect(&r, 3, "not a socket");
    assert!(
        r.stderr.contains(&file.display().to_string()),
        "{}",
        r.stderr
    );
    // The default socket comes from the environment like the daemon's.
    let r = finish(
        Command::new(stockctl_bin())
            .env_remove("STOCKD_SOCKET")
            .env("RUNTIME_DIRECTORY", dir.path())
            .arg("status")
            .output()
            .expect("run"),
    );
    expect(&r, 3, "default socket");
    let want = dir.path().join("stockd.sock");
    assert!(
        r.stderr.contains(&want.display().to_string()),
        "{}",
        r.stderr
    );
    // STOCKD_SOCKET works like --socket.
    let r = finish(
        Command::new(stockctl_bin())
            .env("STOCKD_SOCKET", &missing)
            .arg("reload")
            .output()
            .expect("run"),
    );
    expect(&r, 3, "STOCKD_SOCKET");
    assert!(
        r.stderr.contains(&missing.display().to_string()),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_2_before_connecting() {
    let nowhere = Path::new("/nonexistent/stockd.sock");
    let r = run(nowhere, &["cache", "clear", "query"]);
    expect(&r, 2, "clear without --yes");
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    let r = run(nowhere, &["cache", "clear"]);
    expect(&r, 2, "clear all without --yes");
    let r = run(nowhere, &["cache", "resize", "query", "4MB"]);
    expect(&r, 2, "bad size");
    assert!(r.stderr.contains("did you mean MiB?"), "{}", r.stderr);
    let r = run(nowhere, &["cache", "resize", "query", "8GiB"]);
    expect(&r, 2, "size over the cap");
    let r = run(nowhere, &["top"]);
    expect(&r, 2, "top without --by");
    let r = run(nowhere, &["top", "--by", "close", "-n", "501"]);
    expect(&r, 2, "n too large");
    let r = run(nowhere, &["frobnicate"]);
    expect(&r, 2, "unknown subcommand");
    let r = run(nowhere, &["--help"]);
    expect(&r, 0, "help");
    assert!(
        r.stdout.contains("Exit codes:") && r.stdout.contains("cannot connect"),
        "{}",
        r.stdout
    );
}

fn cache<'a>(st: &'a AdminStatus, name: &str) -> &'a stockd_api::CacheStatus {
    st.caches
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no cache {name} in {:?}", st.caches))
}

#[test]
fn one_shot_commands_against_a_real_daemon() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Socket mode 0666 so user nobody can connect (and be refused admin).
    let d = rt.block_on(Daemon::start(
        "oneshot",
        &[("STOCKD_SERVER_SOCKET_MODE", "0666")],
    ));
    let sock = d.socket.clone();

    // status: the summary agrees with admin.status read by our own client.
    let st = rt.block_on(d.status());
    let r = run(&sock, &["status"]);
    expect(&r, 0, "status");
    for want in [
        format!("stockd {}", st.version),
        format!("{} rows", stockctl::fmt::count(st.store.rows)),
        format!("generation {}", st.store.generation),
        format!("state {}", st.memory.state),
    ] {
        assert!(r.stdout.contains(&want), "{want:?} not in\n{}", r.stdout);
    }
    for c in &st.caches {
        assert!(
            r.stdout.contains(&format!("  {:<10}", c.name)),
            "{} missing:\n{}",
            c.name,
            r.stdout
        );
    }
    let r = run(&sock, &["status", "--json"]);
    expect(&r, 0, "status --json");
    let parsed: AdminStatus =
        serde_json::from_str(&r.stdout).expect("status --json is admin.status");
    assert_eq!(parsed.store.rows, st.store.rows);

    // top and get.
    let r = run(&sock, &["top", "--by", "pct_chg", "-n", "3", "--json"]);
    expect(&r, 0, "top --json");
    let rows: Vec<stockd_api::StockRow> = serde_json::from_str(&r.stdout).expect("rows");
    assert_eq!(rows.len(), 3);
    let pct = |r: &stockd_api::StockRow| r.values["pct_chg"].as_f64().expect("pct_chg");
    assert!(pct(&rows[0]) >= pct(&rows[1]) && pct(&rows[1]) >= pct(&rows[2]));
    let code = rows[0].code.clone();
    let r = run(
        &sock,
        &["top", "--by", "pct_chg", "-n", "3", "--order", "asc"],
    );
    expect(&r, 0, "top asc");
    assert_eq!(r.stdout.lines().count(), 4, "{}", r.stdout);
    assert!(r
        .stdout
        .lines()
        .next()
        .is_some_and(|h| h.contains("PCT_CHG")));
    let r = run(&sock, &["get", &code, "--fields", "close,pct_chg"]);
    expect(&r, 0, "get");
    assert!(r.stdout.starts_with(&format!("{code} ")), "{}", r.stdout);
    assert!(r.stdout.contains("close") && r.stdout.contains("pct_chg"));
    assert_eq!(
        r.stdout.lines().count(),
        3,
        "only the fields asked for:\n{}",
        r.stdout
    );

    // Daemon errors exit 1 with the daemon's message.
    let r = run(&sock, &["get", "NOPE99"]);
    expect(&r, 1, "unknown stock");
    assert!(
        r.stderr.contains("NOPE99") && r.stderr.contains("1001"),
        "{}",
        r.stderr
    );
    let r = run(&sock, &["top", "--by", "no_such_col"]);
    expect(&r, 1, "unknown column");
    assert!(r.stderr.contains("no_such_col"), "{}", r.stderr);
    let r = run(&sock, &["cache", "clear", "nope", "--yes"]);
    expect(&r, 1, "unknown cache");
    assert!(r.stderr.contains("unknown cache 'nope'"), "{}", r.stderr);

    // cache list / clear / resize, checked through admin.status.
    rt.block_on(async {
        let c = d.client().await;
        for by in ["close", "amount", "turnover_rate"] {
            let q = TopQuery {
                by: by.into(),
                n: 5,
                order: Order::Desc,
                date: None,
            };
            conn::stock_top(&c, &q).await.expect("seed the query cache");
        }
    });
    let seeded = cache(&rt.block_on(d.status()), "query").entries;
    assert!(seeded >= 3, "query cache seeded: {seeded}");
    let r = run(&sock, &["cache", "list"]);
    expect(&r, 0, "cache list");
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("query "))
        .unwrap_or_else(|| panic!("no query line:\n{}", r.stdout));
    assert_eq!(
        line.split_whitespace().nth(1),
        Some(seeded.to_string().as_str()),
        "{line}"
    );
    let r = run(&sock, &["cache", "clear", "query", "--yes"]);
    expect(&r, 0, "cache clear");
    assert!(
        r.stdout
            .contains(&format!("cleared query: {seeded} entries")),
        "{}",
        r.stdout
    );
    let after = rt.block_on(d.status());
    assert_eq!(
        (cache(&after, "query").entries, cache(&after, "query").bytes),
        (0, 0)
    );
    let r = run(&sock, &["cache", "resize", "query", "4MiB"]);
    expect(&r, 0, "cache resize");
    assert!(
        r.stdout.contains("query: cap 4.0 MiB (4MiB)"),
        "{}",
        r.stdout
    );
    assert_eq!(cache(&rt.block_on(d.status()), "query").max_bytes, 4 << 20);

    // trim and reload.
    let r = run(&sock, &["trim"]);
    expect(&r, 0, "trim");
    assert!(
        r.stdout.starts_with("RSS ") && r.stdout.contains("caches dropped"),
        "{}",
        r.stdout
    );
    let r = run(&sock, &["reload"]);
    expect(&r, 0, "reload");
    let gen = st.store.generation + 1;
    assert!(
        r.stdout.contains(&format!("reloaded: generation {gen}")),
        "{}",
        r.stdout
    );
    assert_eq!(rt.block_on(d.status()).store.generation, gen);

    // watch: a line per update until interrupted.
    let mut child = Command::new(stockctl_bin())
        .env_remove("STOCKD_SOCKET")
        .args(["--interval-ms", "250", "watch", "--socket"])
        .arg(&sock)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let lines: Vec<String> = (0..3)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(20))
                .expect("a watch line")
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    for l in &lines {
        assert!(
            l.contains(&format!("gen {gen}")) && l.contains(" rows"),
            "{l}"
        );
    }

    // A non-admin peer: the socket's directory closed to others → exit 3
    // (permission denied); opened → data works, admin is refused → exit 1.
    let nobody = as_nobody();
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let r = run_as(&nobody, &sock, &["status"]);
    expect(&r, 3, "nobody, closed directory");
    assert!(r.stderr.contains("permission denied"), "{}", r.stderr);
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let r = run_as(&nobody, &sock, &["get", &code, "--fields", "close"]);
    expect(&r, 0, "nobody reads data");
    for args in [
        &["status"][..],
        &["cache", "clear", "query", "--yes"],
        &["reload"],
        &["trim"],
        &["watch"],
    ] {
        let r = run_as(&nobody, &sock, args);
        expect(&r, 1, &format!("nobody runs {args:?}"));
        assert!(
            r.stderr.contains("not allowed") && r.stderr.contains("uid 65534"),
            "{args:?}: the daemon's message is printed: {}",
            r.stderr
        );
    }
}

/// Codes of a list, in order.
fn codes_of(l: &stockd_api::StockList) -> Vec<String> {
    l.stocks.iter().map(|s| s.code.clone()).collect()
}

/// `stock.list` with every stock matching (every page), through the
/// library client (generic so the `StockdClient` bound picks the
/// result type).
async fn listed<C: stockd_api::StockdClient + Sync>(
    c: &C,
    industry: Option<&str>,
    prefix: Option<&str>,
    name: Option<&str>,
) -> stockd_api::StockList {
    let page = |offset| {
        c.list(
            industry.map(str::to_string),
            prefix.map(str::to_string),
            name.map(str::to_string),
            Some(offset),
            Some(stockd_api::LIST_MAX_LIMIT),
        )
    };
    let mut all = page(0).await.expect("stock.list");
    while let Some(next) = all.next_offset {
        let more = page(next).await.expect("stock.list page");
        all.stocks.extend(more.stocks);
        all.next_offset = more.next_offset;
    }
    assert_eq!(all.stocks.len() as u64, all.total);
    all
}

#[test]
fn search_finds_stocks_by_code_prefix_name_and_industry() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let d = rt.block_on(Daemon::start("search", &[]));
    let sock = d.socket.clone();
    let c = rt.block_on(d.client());
    let all = rt.block_on(listed(&c, None, None, None));
    assert!(all.total > 100, "demo stocks: {}", all.total);

    // Name text: a Chinese substring of a real name; the answer is every
    // stock whose name holds it (no code starts with Chinese text).
    let name = all
        .stocks
        .iter()
        .find_map(|s| s.name.clone().filter(|n| n.chars().count() >= 3))
        .expect("a named stock");
    let text: String = name.chars().skip(1).take(2).collect();
    let want = rt.block_on(listed(&c, None, None, Some(&text)));
    assert!(want.total >= 1);
    let r = run(&sock, &["search", &text, "-n", "1000", "--json"]);
    expect(&r, 0, "search by name");
    let got: stockd_api::StockList = serde_json::from_str(&r.stdout).expect("JSON of stock.list");
    assert_eq!(codes_of(&got), codes_of(&want), "search {text}");
    assert_eq!((got.total, got.next_offset), (want.total, None));

    // Code text: the union of code-prefix and name matches, by code, cut
    // to -n, with the exact total.
    let prefix: String = all.stocks[all.stocks.len() / 2]
        .code
        .chars()
        .take(2)
        .collect();
    let by_code = rt.block_on(listed(&c, None, Some(&prefix), None));
    let by_name = rt.block_on(listed(&c, None, None, Some(&prefix)));
    let mut union: Vec<String> = codes_of(&by_code);
    union.extend(codes_of(&by_name));
    union.sort();
    union.dedup();
    assert!(union.len() > 3, "prefix {prefix}: {}", union.len());
    let r = run(&sock, &["search", &prefix, "-n", "3", "--json"]);
    expect(&r, 0, "search by code");
    let got: stockd_api::StockList = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(codes_of(&got), union[..3].to_vec());
    assert_eq!((got.total, got.next_offset), (union.len() as u64, Some(3)));

    // The table: aligned columns, columns the table lacks left out, the
    // count, and what is missing.
    let r = run(&sock, &["search", &prefix, "-n", "3"]);
    expect(&r, 0, "search table");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("CODE") && lines[0].contains("INDUSTRY") && lines[0].ends_with("NAME"),
        "{}",
        r.stdout
    );
    assert!(!lines[0].contains("BOARD") && !lines[0].contains("LISTED"));
    let name_col = unicode_width::UnicodeWidthStr::width(&lines[0][..lines[0].len() - 4]);
    for (line, s) in lines[1..4].iter().zip(&got.stocks) {
        assert!(line.starts_with(&s.code), "{line}");
        let name = s.name.as_deref().unwrap_or("–");
        assert!(line.ends_with(name), "{line}");
        let before = &line[..line.len() - name.len()];
        assert_eq!(
            unicode_width::UnicodeWidthStr::width(before),
            name_col,
            "NAME aligned: {line}"
        );
    }
    assert_eq!(
        lines[4],
        format!(
            "3 of {} stocks matching code prefix or name \"{prefix}\" (raise -n or narrow the search for more)",
            union.len()
        )
    );
    assert_eq!(
        lines[5],
        "not in the table ([columns]): board (board), list_date (list_date)"
    );

    // --industry and --prefix narrow; no TEXT lists everything matching.
    let industry = all
        .stocks
        .iter()
        .find_map(|s| s.industry.clone())
        .expect("an industry");
    let want = rt.block_on(listed(&c, Some(&industry), Some("6"), None));
    let r = run(
        &sock,
        &[
            "search",
            "--industry",
            &industry,
            "--prefix",
            "6",
            "-n",
            "1000",
            "--json",
        ],
    );
    expect(&r, 0, "search --industry --prefix");
    let got: stockd_api::StockList = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(codes_of(&got), codes_of(&want));
    assert!(got
        .stocks
        .iter()
        .all(|s| s.code.starts_with('6') && s.industry.as_deref() == Some(industry.as_str())));

    // Errors: the daemon's (exit 1, its code and the value) and usage (2).
    let r = run(&sock, &["search", "--industry", "没有这个行业"]);
    expect(&r, 1, "unknown industry");
    assert!(
        r.stderr.contains("没有这个行业") && r.stderr.contains("1004"),
        "{}",
        r.stderr
    );
    for n in ["0", "1001"] {
        let r = run(&sock, &["search", "-n", n]);
        expect(&r, 2, &format!("-n {n}"));
    }
}
