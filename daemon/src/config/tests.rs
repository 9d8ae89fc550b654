//! Tests of loading as a whole: precedence, validation messages, printing,
//! and the committed drift files (`packaging/stockd.toml`,
//! `docs/stockd-help.txt`). Unit parsers are tested in `units.rs`.
//!
//! The environment is always passed in; nothing here reads or changes the
//! process environment except `STOCKD_UPDATE_DRIFT`, which only decides
//! whether a drift test rewrites its file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::file::{FieldValue, FileConfig, KeyVisitor};
use super::*;

/// Where the workspace's committed files live.
fn workspace_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// A config file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "stockd-config-test-{}-{n}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).expect("write temp config");
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A default file that never exists, so `/etc` on the test machine is not read.
const NO_DEFAULT_FILE: &str = "/nonexistent/stockd-test/stockd.toml";

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(cli: &Cli, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_with_default_file(cli, vars(env), Path::new(NO_DEFAULT_FILE))
}

fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let file = TempFile::new(text);
    load(
        &Cli {
            config: Some(file.0.clone()),
            ..Cli::default()
        },
        env,
    )
}

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("stockd").chain(args.iter().copied()))
        .expect("valid test arguments")
}

// ---------------------------------------------------------------- defaults

#[test]
fn nothing_configured_gives_the_defaults() {
    let config = load(&Cli::default(), &[]).expect("defaults load");
    assert_eq!(config, Config::default_for_env(vars(&[])));
    assert_eq!(config, Config::default());
    assert_eq!(config.server.socket, PathBuf::from("./stockd.sock"));
    assert_eq!(config.server.socket_mode, 0o660);
    assert_eq!(config.server.max_connections, 256);
    assert_eq!(config.server.max_request_bytes, 65536);
    assert_eq!(config.server.admin_groups, ["stockd-admin"]);
    assert_eq!(config.source.database_url, "");
    assert_eq!(config.source.table, "daily_stock_data");
    assert_eq!(config.source.window_days, 30);
    assert_eq!(config.source.refresh_interval, Duration::from_secs(60));
    assert_eq!(config.source.change_column, "auto");
    assert_eq!(config.source.settle, Duration::from_secs(30));
    assert_eq!(config.source.min_day_fraction, 0.9);
    assert_eq!(config.source.pool.max_size, 4);
    assert_eq!(config.source.pool.min_idle, 2);
    assert_eq!(config.columns.pct_change, "pct_chg");
    assert_eq!(config.memory.limit, MemoryLimit::Auto);
    assert_eq!(
        config.cache.query,
        CacheConfig {
            max_bytes: 16 << 20,
            ttl: Duration::from_secs(30)
        }
    );
    assert_eq!(config.cache.total_max_bytes(), 40 << 20);
    assert_eq!(config.snapshot.dir, None);
}

#[test]
fn defaults_follow_systemd_directories() {
    let env = [
        ("RUNTIME_DIRECTORY", "/run/stockd"),
        ("STATE_DIRECTORY", "/var/lib/stockd"),
    ];
    let config = load(&Cli::default(), &env).expect("loads");
    assert_eq!(config, Config::default_for_env(vars(&env)));
    assert_eq!(
        config.server.socket,
        PathBuf::from("/run/stockd/stockd.sock")
    );
    assert_eq!(config.snapshot.dir, Some(PathBuf::from("/var/lib/stockd")));

    let config = load(&Cli::default(), &[("XDG_RUNTIME_DIR", "/run/user/1000")]).expect("loads");
    assert_eq!(
        config.server.socket,
        PathBuf::from("/run/user/1000/stockd.sock")
    );
}

#[test]
fn columns_iterate_in_declaration_order() {
    let columns = ColumnsConfig::default();
    let pairs: Vec<_> = columns.iter().collect();
    assert_eq!(pairs.len(), 31);
    assert_eq!(pairs[0], ("code", "stock_code"));
    assert!(pairs.contains(&("net_inflow", "main_net_inflow")));
    assert_eq!(pairs[30], ("list_date", "list_date"));
    assert_eq!(pairs, ColumnsConfig::DEFAULTS.to_vec());
}

// -------------------------------------------------------------- precedence

#[test]
fn precedence_is_defaults_file_env_cli() {
    let file = TempFile::new(
        "[server]\nsocket = \"/from/file.sock\"\n[source]\nwindow_days = 10\ntable = \"file_table\"\n\
         [source.pool]\nmax_size = 6\n",
    );
    let config_flag = file.0.to_str().expect("utf-8 temp path");
    let env = [
        ("STOCKD_SOURCE_WINDOW_DAYS", "20"),
        ("STOCKD_SOCKET", "/from/env.sock"),
    ];

    let only_file = load(&cli(&["--config", config_flag]), &[]).expect("loads");
    assert_eq!(only_file.source.window_days, 10);
    assert_eq!(only_file.server.socket, PathBuf::from("/from/file.sock"));
    assert_eq!(only_file.source.table, "file_table");
    assert_eq!(only_file.source.pool.max_size, 6);
    assert_eq!(
        only_file.source.pool.min_idle, DEFAULT_POOL_MIN_IDLE,
        "unset keys keep defaults"
    );

    let file_env = load(&cli(&["--config", config_flag]), &env).expect("loads");
    assert_eq!(file_env.source.window_days, 20);
    assert_eq!(file_env.server.socket, PathBuf::from("/from/env.sock"));
    assert_eq!(
        file_env.source.table, "file_table",
        "env does not touch what it does not set"
    );

    let all = load(
        &cli(&[
            "--config",
            config_flag,
            "--window-days",
            "30",
            "--socket",
            "/from/cli.sock",
        ]),
        &env,
    )
    .expect("loads");
    assert_eq!(all.source.window_days, 30);
    assert_eq!(all.server.socket, PathBuf::from("/from/cli.sock"));
    assert_eq!(all.source.pool.max_size, 6);
}

#[test]
fn cli_flags_set_their_keys() {
    let config = load(
        &cli(&[
            "--socket",
            "/s.sock",
            "--database-url",
            "postgres://h/db",
            "--table",
            "t",
            "--window-days",
            "0",
        ]),
        &[],
    )
    .expect("loads");
    assert_eq!(config.server.socket, PathBuf::from("/s.sock"));
    assert_eq!(config.source.database_url, "postgres://h/db");
    assert_eq!(config.source.table, "t");
    assert_eq!(config.source.window_days, 0);
}

#[test]
fn explicit_socket_beats_runtime_directory() {
    let config = load_text(
        "[server]\nsocket = \"/etc.sock\"\n",
        &[("RUNTIME_DIRECTORY", "/run/stockd")],
    )
    .expect("loads");
    assert_eq!(config.server.socket, PathBuf::from("/etc.sock"));
}

#[test]
fn generic_environment_variables_set_every_kind_of_key() {
    let env = [
        ("STOCKD_DATABASE_URL", "postgres://env/db"),
        ("STOCKD_SOURCE_POOL_MAX_SIZE", "8"),
        ("STOCKD_SOURCE_POOL_TEST_ON_CHECK_OUT", "false"),
        ("STOCKD_SOURCE_REFRESH_INTERVAL", "5m"),
        ("STOCKD_MEMORY_LIMIT", "512MiB"),
        ("STOCKD_MEMORY_HIGH", "0.5"),
        ("STOCKD_CACHE_QUERY_MAX_BYTES", "1MiB"),
        ("STOCKD_SERVER_MAX_CONNECTIONS", "10"),
        ("STOCKD_SERVER_SOCKET_MODE", "0600"),
        ("STOCKD_SERVER_ADMIN_GROUPS", "ops, wheel"),
        ("STOCKD_SERVER_ADMIN_UIDS", "1000,1001"),
        ("STOCKD_COLUMNS_PCT_CHANGE", "change_pct"),
        ("STOCKD_SNAPSHOT_DIR", "/var/cache/stockd"),
        ("STOCKD_LOG", "debug"),
        ("HOME", "/root"),
    ];
    let config = load(&Cli::default(), &env).expect("loads");
    assert_eq!(config.source.database_url, "postgres://env/db");
    assert_eq!(config.source.pool.max_size, 8);
    assert!(!config.source.pool.test_on_check_out);
    assert_eq!(config.source.refresh_interval, Duration::from_secs(300));
    assert_eq!(config.memory.limit, MemoryLimit::Bytes(512 << 20));
    assert_eq!(config.memory.high, 0.5);
    assert_eq!(config.cache.query.max_bytes, 1 << 20);
    assert_eq!(config.server.max_connections, 10);
    assert_eq!(config.server.socket_mode, 0o600);
    assert_eq!(config.server.admin_groups, ["ops", "wheel"]);
    assert_eq!(config.server.admin_uids, [1000, 1001]);
    assert_eq!(config.columns.pct_change, "change_pct");
    assert_eq!(
        config.snapshot.dir,
        Some(PathBuf::from("/var/cache/stockd"))
    );
}

#[test]
fn unknown_stockd_variable_is_an_error_naming_it() {
    let error =
        load(&Cli::default(), &[("STOCKD_SOURCE_WINDOWDAYS", "5")]).expect_err("typo refused");
    let message = error.to_string();
    assert!(message.contains("STOCKD_SOURCE_WINDOWDAYS"), "{message}");
    assert!(
        message.contains("did you mean STOCKD_SOURCE_WINDOW_DAYS"),
        "{message}"
    );

    let error =
        load(&Cli::default(), &[("STOCKD_CONFIG", "/x.toml")]).expect_err("not a config variable");
    assert!(error.to_string().contains("STOCKD_CONFIG"), "{error}");
}

#[test]
fn shortcut_and_long_form_together_are_refused() {
    let error = load(
        &Cli::default(),
        &[("STOCKD_SOCKET", "/a"), ("STOCKD_SERVER_SOCKET", "/b")],
    )
    .expect_err("ambiguous");
    let message = error.to_string();
    assert!(
        message.contains("STOCKD_SOCKET") && message.contains("STOCKD_SERVER_SOCKET"),
        "{message}"
    );
}

#[test]
fn bad_environment_value_names_key_and_variable() {
    let error =
        load(&Cli::default(), &[("STOCKD_SOURCE_WINDOW_DAYS", "abc")]).expect_err("refused");
    let message = error.to_string();
    assert_eq!(error.key(), Some("source.window_days"));
    assert!(
        message.contains("STOCKD_SOURCE_WINDOW_DAYS") && message.contains("\"abc\""),
        "{message}"
    );

    let error = load(&Cli::default(), &[("STOCKD_CACHE_SIGNALS_TTL", "-5s")]).expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains("cache.signals.ttl") && message.contains("STOCKD_CACHE_SIGNALS_TTL"),
        "{message}"
    );

    let error = load(
        &Cli::default(),
        &[("STOCKD_SOURCE_POOL_TEST_ON_CHECK_OUT", "yes")],
    )
    .expect_err("refused");
    assert!(error.to_string().contains("true or false"), "{error}");
}

#[test]
fn errors_say_which_layer_set_the_value() {
    let error = load_text("[source]\nwindow_days = 100001\n", &[]).expect_err("too many days");
    assert!(
        error.to_string().contains("stockd-config-test"),
        "names the file: {error}"
    );

    let error = load(&cli(&["--window-days", "100001"]), &[]).expect_err("too many days");
    assert!(error.to_string().contains("--window-days"), "{error}");
}

// -------------------------------------------------------------- validation

/// (file text, key the message must name, another fragment it must contain)
const BAD_FILES: &[(&str, &str, &str)] = &[
    ("[server]\nbogus = 1\n", "server.bogus", "socket_mode"),
    ("[serverr]\nsocket = \"/x\"\n", "serverr", "server"),
    (
        "[source.pool]\nmax_sizes = 3\n",
        "source.pool.max_sizes",
        "max_size",
    ),
    ("[cache.bogus]\nmax_bytes = 1\n", "cache.bogus", "hotspots"),
    (
        "[server]\nmax_connections = \"many\"\n",
        "server.max_connections",
        "line 2",
    ),
    (
        "[server]\nmax_connections = 0\n",
        "server.max_connections",
        "1 to 65536",
    ),
    (
        "[server]\nmax_connections = 65537\n",
        "server.max_connections",
        "65537",
    ),
    ("[server]\nsocket = \"\"\n", "server.socket", "socket path"),
    (
        "[server]\nsocket_mode = \"0680\"\n",
        "server.socket_mode",
        "octal",
    ),
    (
        "[server]\nsocket_mode = \"1777\"\n",
        "server.socket_mode",
        "0777",
    ),
    (
        "[server]\nsocket_mode = 0o660\n",
        "server.socket_mode",
        "octal",
    ),
    (
        "[server]\nmax_request_bytes = 100\n",
        "server.max_request_bytes",
        "1KiB to 16MiB",
    ),
    (
        "[server]\nmax_request_bytes = \"32MiB\"\n",
        "server.max_request_bytes",
        "\"32MiB\"",
    ),
    (
        "[server]\nmax_request_bytes = -5\n",
        "server.max_request_bytes",
        "-5",
    ),
    (
        "[server]\nmax_request_bytes = \"64KB\"\n",
        "server.max_request_bytes",
        "KiB",
    ),
    ("[server]\nadmin_uids = [-1]\n", "server.admin_uids", "-1"),
    (
        "[server]\nclient_timeout = \"50ms\"\n",
        "server.client_timeout",
        "at least 100ms",
    ),
    (
        "[server]\nclient_timeout = \"2h\"\n",
        "server.client_timeout",
        "100ms to 1h",
    ),
    (
        "[server]\nsocket_group = \"no-such-group-stockd\"\n",
        "server.socket_group",
        "no-such-group-stockd",
    ),
    (
        "[server]\nadmin_uids = \"root\"\n",
        "server.admin_uids",
        "sequence",
    ),
    (
        "[server]\nadmin_groups = [\"\"]\n",
        "server.admin_groups",
        "non-empty",
    ),
    ("[source]\ntable = \"\"\n", "source.table", "non-empty"),
    (
        "[source]\nwindow_days = -1\n",
        "source.window_days",
        "0 to 100000",
    ),
    (
        "[source]\nwindow_days = 100001\n",
        "source.window_days",
        "100001",
    ),
    (
        "[source]\nrefresh_interval = \"500ms\"\n",
        "source.refresh_interval",
        "at least 1s",
    ),
    (
        "[source]\nrefresh_interval = \"60\"\n",
        "source.refresh_interval",
        "missing unit",
    ),
    (
        "[source]\nrefresh_interval = 60\n",
        "source.refresh_interval",
        "ms, s, m or h",
    ),
    (
        "[source]\nnotify_channel = \"bad-name\"\n",
        "source.notify_channel",
        "\"bad-name\"",
    ),
    (
        "[source]\nnotify_channel = \"\"\n",
        "source.notify_channel",
        "1 to 63",
    ),
    (
        "[source]\nchange_column = \"  \"\n",
        "source.change_column",
        "column name",
    ),
    (
        "[source]\nsettle = \"500ms\"\n",
        "source.settle",
        "at least 1s",
    ),
    ("[source]\nsettle = \"2h\"\n", "source.settle", "1s to 1h"),
    (
        "[source]\nmin_day_fraction = 1.5\n",
        "source.min_day_fraction",
        "0 to 1",
    ),
    (
        "[source]\nmin_day_fraction = -0.1\n",
        "source.min_day_fraction",
        "0 to 1",
    ),
    (
        "[source.pool]\nmax_size = 0\n",
        "source.pool.max_size",
        "1 to 64",
    ),
    (
        "[source.pool]\nmax_size = 65\n",
        "source.pool.max_size",
        "65",
    ),
    (
        "[source.pool]\nmin_idle = 5\n",
        "source.pool.min_idle",
        "source.pool.max_size (4)",
    ),
    (
        "[source.pool]\nconnection_timeout = \"0s\"\n",
        "source.pool.connection_timeout",
        "above zero",
    ),
    (
        "[source.pool]\nmax_lifetime = \"1d\"\n",
        "source.pool.max_lifetime",
        "\"d\"",
    ),
    (
        "[source.pool]\ntest_on_check_out = \"yes\"\n",
        "source.pool.test_on_check_out",
        "boolean",
    ),
    ("[columns]\ncode = \"\"\n", "columns.code", "non-empty"),
    (
        "[columns]\nprice = \"close\"\n",
        "columns.price",
        "pct_change",
    ),
    (
        "[memory]\nlimit = \"8MiB\"\n",
        "memory.limit",
        "at least 16MiB",
    ),
    ("[memory]\nlimit = \"lots\"\n", "memory.limit", "auto"),
    ("[memory]\nlimit = -1\n", "memory.limit", "auto"),
    ("[memory]\nhigh = 0.0\n", "memory.high", "greater than 0"),
    ("[memory]\ncritical = 1.5\n", "memory.critical", "at most 1"),
    (
        "[memory]\nhigh = 0.96\n",
        "memory.high",
        "memory.critical (0.95)",
    ),
    ("[memory]\nhigh = nan\n", "memory.high", "NaN"),
    (
        "[memory]\ncritical = 0.5\n",
        "memory.critical",
        "above memory.high (0.8)",
    ),
    (
        "[cache.query]\nmax_bytes = \"5GiB\"\n",
        "cache.query.max_bytes",
        "at most 4GiB",
    ),
    (
        "[cache.hotspots]\nttl = \"10 minutes\"\n",
        "cache.hotspots.ttl",
        "\"minutes\"",
    ),
    ("[snapshot]\ndir = 5\n", "snapshot.dir", "integer"),
    ("[signals]\nkdj_high = nan\n", "signals.kdj_high", "finite"),
    (
        "[signals]\nkdj_low = 100.0\n",
        "signals.kdj_low",
        "below signals.kdj_high (100)",
    ),
    (
        "[signals]\nkdj_high = -1.0\n",
        "signals.kdj_high",
        "above signals.kdj_low (0)",
    ),
    (
        "[signals]\nrsi_high = 101\n",
        "signals.rsi_high",
        "0 to 100",
    ),
    ("[signals]\nrsi_low = -1\n", "signals.rsi_low", "0 to 100"),
    (
        "[signals]\nrsi_low = 80\n",
        "signals.rsi_low",
        "below signals.rsi_high (80)",
    ),
    (
        "[signals]\nvolume_ratio = 0\n",
        "signals.volume_ratio",
        "greater than 0",
    ),
    (
        "[signals]\nvolume_ratio = inf\n",
        "signals.volume_ratio",
        "greater than 0",
    ),
    (
        "[signals]\nlimit_up_streak = 0\n",
        "signals.limit_up_streak",
        "1 to 1000",
    ),
    (
        "[signals]\nhigh_low_days = 1\n",
        "signals.high_low_days",
        "2 to 100000",
    ),
    (
        "[signals]\nhigh_low_days = 2.5\n",
        "signals.high_low_days",
        "line 2",
    ),
    ("[signals]\nkdj = 1\n", "signals.kdj", "kdj_high"),
];

#[test]
fn bad_files_are_refused_naming_the_key() {
    for (text, key, fragment) in BAD_FILES {
        let error = match load_text(text, &[]) {
            Ok(config) => panic!("accepted {text:?} as {config:?}"),
            Err(error) => error,
        };
        let message = error.to_string();
        assert!(
            message.contains(key),
            "message for {text:?} should name {key}: {message}"
        );
        assert!(
            message.contains(fragment),
            "message for {text:?} should contain {fragment:?}: {message}"
        );
        assert!(!message.contains('\n'), "one line: {message}");
        assert_eq!(error.key(), Some(*key), "{message}");
        if std::env::var_os("SHOW_MESSAGES").is_some() {
            eprintln!("{message}");
        }
    }
}

#[test]
fn malformed_toml_reports_file_line_and_column() {
    let error = load_text("# comment\n[server\nsocket = \"/x\"\n", &[]).expect_err("syntax error");
    let message = error.to_string();
    assert!(
        matches!(
            error,
            ConfigError::File {
                line: Some(2),
                key: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        message.contains("stockd-config-test") && message.contains("line 2, column"),
        "{message}"
    );

    let error = load_text("[source]\ntable = \"unterminated\n", &[]).expect_err("syntax error");
    assert!(error.to_string().contains("line 2"), "{error}");
}

#[test]
fn type_errors_report_the_line() {
    let error =
        load_text("[memory]\nhigh = 0.5\ncritical = \"high\"\n", &[]).expect_err("wrong type");
    assert!(
        matches!(
            error,
            ConfigError::File {
                line: Some(3),
                column: Some(12),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn missing_config_file_is_an_error_naming_it() {
    let error = load(&cli(&["--config", "/nonexistent/stockd.toml"]), &[]).expect_err("missing");
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(
        error.to_string().contains("/nonexistent/stockd.toml"),
        "{error}"
    );
}

#[test]
fn default_file_is_read_when_present_and_skipped_when_absent() {
    let file = TempFile::new("[source]\nwindow_days = 7\n");
    let config =
        Config::load_with_default_file(&Cli::default(), vars(&[]), &file.0).expect("loads");
    assert_eq!(config.source.window_days, 7);

    let other = TempFile::new("[source]\nwindow_days = 9\n");
    let flags = Cli {
        config: Some(other.0.clone()),
        ..Cli::default()
    };
    let config = Config::load_with_default_file(&flags, vars(&[]), &file.0).expect("loads");
    assert_eq!(
        config.source.window_days, 9,
        "--config replaces the default file"
    );
}

#[test]
fn edge_values_are_accepted() {
    let config = load_text(
        "[server]\nmax_connections = 65536\nmax_request_bytes = 1024\nsocket_mode = \"0\"\n\
         [source]\nwindow_days = 0\nrefresh_interval = \"1s\"\nnotify_channel = \"_a1\"\ndatabase_url = \"\"\n\
         [source.pool]\nmax_size = 1\n\
         [memory]\nlimit = 16777216\nhigh = 0.99\ncritical = 1\n\
         [cache.query]\nmax_bytes = \"4GiB\"\nttl = \"0s\"\n",
        &[],
    )
    .expect("edge values are valid");
    assert_eq!(
        config.source.pool.min_idle, 1,
        "default min_idle follows a smaller max_size"
    );
    assert_eq!(config.memory.limit, MemoryLimit::Bytes(16 << 20));
    assert_eq!(config.memory.critical, 1.0);
    assert_eq!(config.source.database_url, "");
    assert_eq!(config.cache.query.max_bytes, 4 << 30);
}

#[test]
fn signals_thresholds_from_file_and_environment() {
    assert_eq!(Config::default().signals, DEFAULT_SIGNALS);
    let config = load_text(
        "[signals]\nkdj_high = 110\nrsi_low = 10.5\nhigh_low_days = 2\n",
        &[
            ("STOCKD_SIGNALS_VOLUME_RATIO", "1.5"),
            ("STOCKD_SIGNALS_LIMIT_UP_STREAK", "3"),
        ],
    )
    .expect("valid thresholds");
    assert_eq!(
        config.signals,
        SignalsConfig {
            kdj_high: 110.0,
            rsi_low: 10.5,
            high_low_days: 2,
            volume_ratio: 1.5,
            limit_up_streak: 3,
            ..DEFAULT_SIGNALS
        }
    );
    // Moving both ends of a band together is fine.
    let config = load_text("[signals]\nkdj_low = 120.0\nkdj_high = 130.0\n", &[]).expect("valid");
    assert_eq!(
        (config.signals.kdj_low, config.signals.kdj_high),
        (120.0, 130.0)
    );
}

// ---------------------------------------------------------------- printing

/// A config where every value differs from its default, so a key dropped by
/// printing or resolving shows up as a difference.
fn everything_changed() -> Config {
    let mut columns = super::columns::ColumnsFile::default();
    for (key, slot) in columns.slots_mut() {
        *slot = Some(format!("x_{}", key.trim_start_matches("columns.")));
    }
    let columns = ColumnsConfig::resolve(columns, |_, _| Ok(())).expect("renamed columns resolve");
    assert!(columns
        .iter()
        .all(|(key, column)| column == format!("x_{key}")));
    Config {
        server: ServerConfig {
            socket: PathBuf::from("/run/other/x.sock"),
            socket_mode: 0o600,
            socket_group: "root".into(),
            max_connections: 12,
            max_request_bytes: 3 * 1024 + 1,
            client_timeout: Duration::from_millis(2500),
            admin_uids: vec![0, 1000],
            admin_groups: vec!["ops".into(), "wheel".into()],
        },
        source: SourceConfig {
            // No password: `to_toml` hides one, so it would not load back equal.
            database_url: "postgres://u@db/stock?sslmode=verify-full".into(),
            password_file: Some(PathBuf::from("/etc/stockd/db-password")),
            table: "market.daily".into(),
            window_days: 250,
            refresh_interval: Duration::from_millis(1500),
            notify_channel: "etl_done".into(),
            change_column: "updated_at".into(),
            settle: Duration::from_secs(7),
            min_day_fraction: 0.75,
            pool: PoolConfig {
                max_size: 9,
                min_idle: 0,
                connection_timeout: Duration::from_secs(90),
                max_lifetime: Duration::from_secs(7200),
                test_on_check_out: false,
            },
        },
        columns,
        memory: MemoryConfig {
            limit: MemoryLimit::Bytes(768 << 20),
            high: 0.7,
            critical: 0.9,
        },
        cache: CachesConfig {
            hotspots: CacheConfig {
                max_bytes: 1 << 20,
                ttl: Duration::from_secs(1),
            },
            industry: CacheConfig {
                max_bytes: 2 << 20,
                ttl: Duration::from_secs(2),
            },
            signals: CacheConfig {
                max_bytes: 0,
                ttl: Duration::from_secs(3),
            },
            query: CacheConfig {
                max_bytes: 1 << 30,
                ttl: Duration::from_secs(4),
            },
        },
        snapshot: SnapshotConfig {
            dir: Some(PathBuf::from("/var/lib/other")),
        },
        signals: SignalsConfig {
            kdj_high: 90.5,
            kdj_low: -10.25,
            rsi_high: 75.0,
            rsi_low: 25.0,
            volume_ratio: 3.5,
            limit_up_streak: 3,
            high_low_days: 60,
        },
        metrics: MetricsConfig {
            listen: Some("192.0.2.7:9100".parse().expect("address")),
            allow_remote: true,
        },
    }
}

fn reload(printed: &str, env: &[(&str, &str)]) -> Config {
    load_text(printed, env)
        .unwrap_or_else(|error| panic!("printed config must load: {error}\n{printed}"))
}

#[test]
fn printed_config_loads_back_identical() {
    for env in [
        &[][..],
        &[
            ("RUNTIME_DIRECTORY", "/run/stockd"),
            ("STATE_DIRECTORY", "/var/lib/stockd"),
        ][..],
    ] {
        let config = load(&Cli::default(), env).expect("defaults");
        assert_eq!(reload(&config.to_toml(), env), config);
    }
    let changed = everything_changed();
    let printed = changed.to_toml();
    assert_eq!(reload(&printed, &[]), changed, "{printed}");
    assert_eq!(
        reload(&printed, &[]).to_toml(),
        printed,
        "printing is stable"
    );
}

#[test]
fn printed_config_uses_units() {
    let printed = Config::default().to_toml();
    for line in [
        "socket_mode = \"0660\"",
        "max_request_bytes = \"64KiB\"",
        "refresh_interval = \"1m\"",
        "max_lifetime = \"1h\"",
        "limit = \"auto\"",
        "max_bytes = \"16MiB\"",
        "ttl = \"10m\"",
        "[source.pool]",
        "[cache.query]",
        "dir = \"\"",
        "database_url = \"\"",
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "missing {line:?} in\n{printed}"
        );
    }
}

/// Every dotted key the visitor walks, in order.
fn visited_keys(file: &mut FileConfig) -> Vec<(String, bool)> {
    struct Keys(Vec<(String, bool)>);
    impl KeyVisitor for Keys {
        fn visit<T: FieldValue>(
            &mut self,
            key: &str,
            slot: &mut Option<T>,
        ) -> Result<(), ConfigError> {
            self.0.push((key.to_owned(), slot.is_some()));
            Ok(())
        }
    }
    let mut keys = Keys(Vec::new());
    file.visit(&mut keys).expect("listing keys cannot fail");
    keys.0
}

/// Every leaf key of a TOML document, dotted.
fn toml_keys(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => toml_keys(inner, &key, out),
            _ => {
                out.insert(key);
            }
        }
    }
}

#[test]
fn key_list_matches_the_file_struct() {
    // The printed form sets every field of the file struct, so its keys are
    // the struct's keys; the visitor (used for the environment layer) must
    // walk exactly those.
    let printed: toml::Table = toml::from_str(&everything_changed().to_toml()).expect("valid TOML");
    let mut from_struct = BTreeSet::new();
    toml_keys(&printed, "", &mut from_struct);
    let visited = visited_keys(&mut FileConfig::default());
    let visited_set: BTreeSet<String> = visited.iter().map(|(key, _)| key.clone()).collect();
    assert_eq!(visited_set, from_struct);
    assert_eq!(visited.len(), visited_set.len(), "no key visited twice");

    let names: BTreeSet<String> = visited.iter().map(|(key, _)| env::var_name(key)).collect();
    assert_eq!(
        names.len(),
        visited.len(),
        "environment variable names are unique"
    );
}

// ------------------------------------------------------------- drift files

fn update_drift() -> bool {
    std::env::var_os("STOCKD_UPDATE_DRIFT").is_some_and(|v| v == "1")
}

/// The example config: every key with its default and a comment. It can
/// only be checked, not regenerated (the comments are hand-written).
#[test]
fn packaged_config_documents_every_key_with_its_default() {
    let path = workspace_file("packaging/stockd.toml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));

    let mut file = FileConfig::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let missing: Vec<String> = visited_keys(&mut file)
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(key, _)| key)
        .collect();
    assert!(
        missing.is_empty(),
        "{} lacks keys: {missing:?}",
        path.display()
    );

    // The example sets the socket systemd would give; all else is default.
    let loaded = load(
        &Cli {
            config: Some(path.clone()),
            ..Cli::default()
        },
        &[],
    )
    .expect("example loads");
    let mut expected = Config::default_for_env(vars(&[]));
    expected.server.socket = PathBuf::from("/run/stockd/stockd.sock");
    assert_eq!(
        loaded,
        expected,
        "{} must show the defaults",
        path.display()
    );

    // One comment per key: the line before each `key = …` is a comment.
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let is_key = line.contains(" = ") && !line.trim_start().starts_with('#');
        if is_key {
            let before = i.checked_sub(1).map(|j| lines[j].trim_start());
            assert!(
                before.is_some_and(|b| b.starts_with('#')),
                "no comment above {line:?}"
            );
        }
    }
}

#[test]
fn help_text_matches_docs() {
    let path = workspace_file("docs/stockd-help.txt");
    let help = help_text();
    if update_drift() {
        std::fs::write(&path, &help).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == help,
        "{} is out of date; rerun with STOCKD_UPDATE_DRIFT=1 to rewrite it.\n--- generated ---\n{help}",
        path.display()
    );
}

// ------------------------------------------------------------------- misc

#[test]
fn cli_is_well_formed() {
    Cli::command().debug_assert();
    assert!(Cli::try_parse_from(["stockd", "--print-config", "--check-config"]).is_err());
    assert!(Cli::try_parse_from(["stockd", "--window-days", "-1"]).is_err());
    let flags = cli(&["--log", "stockd=debug", "--check-config"]);
    assert_eq!(flags.log.as_deref(), Some("stockd=debug"));
    assert!(flags.check_config && !flags.print_config);
}

#[test]
fn debug_output_hides_the_password() {
    let mut config = Config::default();
    config.source.database_url = "postgres://stockd:s3cret@db/stock".into();
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("s3cret") && debug.contains("postgres://stockd:***@db/stock"),
        "{debug}"
    );
}

#[test]
fn printed_config_hides_every_password_spelling() {
    for url in [
        "postgres://u:s3cret@host:5432/db",
        "postgres://u:s3%63ret@host:5432/db",
        "postgres://host/db?password=s3cret&sslmode=require",
        "postgres://host/db?sslmode=require&PASSWORD=s3cret",
        "host=db user=u password=s3cret dbname=x",
        "host=db password='s3 cret' dbname=x",
        "host=db password = 's3\\'cret' dbname=x",
    ] {
        let mut config = Config::default();
        config.source.database_url = url.into();
        let printed = config.to_toml();
        assert!(
            !printed.contains("s3cret")
                && !printed.contains("s3%63ret")
                && !printed.contains("cret'"),
            "{url}: {printed}"
        );
        assert!(printed.contains("***"), "{url}: {printed}");
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("cret'"),
            "{debug}"
        );
    }
}
