//! The real `stockd` binary's configuration front end: `--print-config`,
//! `--check-config`, `--help`, `--version`, and how bad configuration is
//! reported (exit status 2, `stockd: <message naming the key>` on stderr).
//!
//! Every run starts from an empty environment and an explicit `--config`, so
//! neither the developer's `STOCKD_*` variables nor `/etc/stockd` leak in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use stockd::config::Config;

/// A file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("stockd-config-cli-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).expect("write temp config");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `stockd` with exactly `env` as its environment.
fn stockd(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stockd"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run stockd")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `--print-config` with `file` as the config file; must succeed.
fn print_config(file: &TempFile, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = vec!["--print-config", "--config", file.path()];
    args.extend_from_slice(extra);
    let output = stockd(&args, env);
    assert!(
        output.status.success(),
        "--print-config failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Asserts a config error: status 2, one `stockd: ` line naming `needles`.
fn assert_config_error(output: &Output, needles: &[&str]) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {message}");
    assert!(message.starts_with("stockd: "), "stderr: {message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "{needle:?} missing from: {message}"
        );
    }
}

#[test]
fn print_config_shows_the_defaults() {
    let empty = TempFile::new("");
    let printed = print_config(&empty, &[], &[]);
    assert_eq!(printed, Config::default().to_toml());
    assert!(printed.contains("socket = \"./stockd.sock\""), "{printed}");
    assert!(printed.contains("[cache.query]"), "{printed}");
    let parsed: toml::Table = toml::from_str(&printed).expect("--print-config prints TOML");
    assert!(parsed.contains_key("columns"));
}

#[test]
fn print_config_applies_file_env_and_flags_in_order() {
    let file = TempFile::new("[source]\nwindow_days = 10\ntable = \"from_file\"\n");
    let env = [
        ("STOCKD_SOURCE_WINDOW_DAYS", "20"),
        ("STOCKD_MEMORY_LIMIT", "512MiB"),
        ("RUNTIME_DIRECTORY", "/run/stockd"),
        ("STOCKD_LOG", "debug"),
    ];
    let printed = print_config(&file, &["--table", "from_flag"], &env);
    for line in [
        "window_days = 20",
        "table = \"from_flag\"",
        "limit = \"512MiB\"",
        "socket = \"/run/stockd/stockd.sock\"",
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "{line:?} missing from:\n{printed}"
        );
    }
}

#[test]
fn printed_config_loads_back_to_the_same_output() {
    let file = TempFile::new(
        "[server]\nmax_request_bytes = 1048576\n[source]\nrefresh_interval = \"90s\"\n\
         [cache.signals]\nttl = \"2h\"\n",
    );
    let first = print_config(&file, &[], &[]);
    let printed = TempFile::new(&first);
    assert_eq!(print_config(&printed, &[], &[]), first);
    assert!(first.contains("max_request_bytes = \"1MiB\""), "{first}");
}

#[test]
fn check_config_accepts_the_packaged_example() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/stockd.toml");
    let example = example.to_str().expect("UTF-8 path");
    let output = stockd(&["--check-config", "--config", example], &[]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
}

#[test]
fn check_config_says_what_it_checked() {
    let empty = TempFile::new("");
    let output = stockd(&["--check-config", "--config", empty.path()], &[]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let out = stdout(&output);
    let demo = stockd::demo::DemoParams::embedded();
    for needle in [
        format!("configuration is valid (file {})", empty.path()),
        "source: built-in data set, no database".to_string(),
        format!("{} rows", demo.rows()),
        "socket: ./stockd.sock".to_string(),
    ] {
        assert!(out.contains(&needle), "{needle:?} missing from:\n{out}");
    }
}

#[test]
fn bad_files_exit_2_naming_the_key() {
    let cases: &[(&str, &[&str])] = &[
        ("[server]\nbogus = 1\n", &["server.bogus", "line 2"]),
        (
            "[source.pool]\nmax_size = 100\n",
            &["source.pool.max_size", "100", "1 to 64"],
        ),
        (
            "[cache.query]\nmax_bytes = \"8MB\"\n",
            &["cache.query.max_bytes", "\"MB\""],
        ),
        (
            "[source]\nrefresh_interval = \"10\"\n",
            &["source.refresh_interval", "unit"],
        ),
        (
            "[memory]\nhigh = 0.99\n",
            &["memory.high", "memory.critical"],
        ),
        (
            "[server]\nsocket_mode = \"999\"\n",
            &["server.socket_mode", "\"999\""],
        ),
        ("[columns]\nclose = \"\"\n", &["columns.close"]),
        ("[server\n", &["invalid TOML", "line 1"]),
    ];
    for (text, needles) in cases {
        let file = TempFile::new(text);
        for action in ["--check-config", "--print-config"] {
            let output = stockd(&[action, "--config", file.path()], &[]);
            assert_config_error(&output, needles);
            assert!(output.stdout.is_empty(), "nothing printed for {text:?}");
            assert!(stderr(&output).contains(file.path()), "names the file");
        }
    }
}

#[test]
fn missing_config_file_exits_2_naming_it() {
    let output = stockd(
        &["--check-config", "--config", "/nonexistent/stockd.toml"],
        &[],
    );
    assert_config_error(&output, &["/nonexistent/stockd.toml"]);
}

#[test]
fn bad_environment_exits_2_naming_the_variable() {
    let empty = TempFile::new("");
    let args = ["--check-config", "--config", empty.path()];

    let output = stockd(&args, &[("STOCKD_SOURCE_WINDOWDAYS", "5")]);
    assert_config_error(
        &output,
        &["STOCKD_SOURCE_WINDOWDAYS", "STOCKD_SOURCE_WINDOW_DAYS"],
    );

    let output = stockd(&args, &[("STOCKD_SERVER_MAX_CONNECTIONS", "-1")]);
    assert_config_error(
        &output,
        &["server.max_connections", "STOCKD_SERVER_MAX_CONNECTIONS"],
    );
}

#[test]
fn bad_flag_value_is_refused_by_the_parser() {
    let empty = TempFile::new("");
    let output = stockd(
        &[
            "--check-config",
            "--config",
            empty.path(),
            "--window-days",
            "many",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--window-days"),
        "{}",
        stderr(&output)
    );

    let output = stockd(
        &[
            "--check-config",
            "--config",
            empty.path(),
            "--window-days",
            "100001",
        ],
        &[],
    );
    assert_config_error(&output, &["source.window_days", "--window-days"]);
}

#[test]
fn help_matches_the_committed_docs() {
    let output = stockd(&["--help"], &[]);
    assert!(output.status.success());
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/stockd-help.txt"),
    )
    .expect("docs/stockd-help.txt is committed");
    assert_eq!(stdout(&output), committed);
    assert_eq!(committed, stockd::config::help_text());
}

#[test]
fn version_flag_prints_the_package_version() {
    let output = stockd(&["--version"], &[]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("stockd {}", env!("CARGO_PKG_VERSION"))
    );
}
