//! Drift tests: the command-line help of every subcommand and the console's
//! key list are committed under `tests/help/`; these tests regenerate them
//! and fail on any difference, so the docs cannot rot. After an intended
//! change: `STOCKCTL_BLESS=1 cargo test -p stockctl --test docs`.

use std::path::PathBuf;
use std::process::Command;

use stockctl::input::{Scope, BINDINGS};

fn committed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/help")
        .join(name)
}

#[track_caller]
fn check(name: &str, fresh: &str) {
    let path = committed(name);
    if std::env::var_os("STOCKCTL_BLESS").is_some() {
        std::fs::write(&path, fresh).expect("write");
        return;
    }
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if old != fresh {
        let line = old
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| old.lines().count().min(fresh.lines().count()));
        panic!(
            "{} is out of date (first difference at line {}); regenerate with \
             STOCKCTL_BLESS=1 cargo test -p stockctl --test docs\n--- now ---\n{fresh}",
            path.display(),
            line + 1
        );
    }
}

#[test]
fn help_text_matches_the_committed_file() {
    let commands: &[&[&str]] = &[
        &[],
        &["status"],
        &["get"],
        &["top"],
        &["search"],
        &["cache"],
        &["cache", "list"],
        &["cache", "clear"],
        &["cache", "resize"],
        &["reload"],
        &["trim"],
        &["watch"],
    ];
    let mut out = String::new();
    for args in commands {
        let o = Command::new(env!("CARGO_BIN_EXE_stockctl"))
            .env_remove("STOCKD_SOCKET")
            .args(*args)
            .arg("--help")
            .output()
            .expect("run stockctl --help");
        assert!(o.status.success(), "{args:?} --help failed");
        out.push_str(&format!(
            "$ stockctl {}--help\n",
            args.iter().map(|a| format!("{a} ")).collect::<String>()
        ));
        out.push_str(&String::from_utf8_lossy(&o.stdout));
        out.push('\n');
    }
    check("stockctl-help.txt", &out);
}

#[test]
fn console_keys_match_the_committed_file() {
    let mut out = String::from("stockctl console keys (press ? in the console for this list)\n");
    let mut scopes: Vec<Scope> = Vec::new();
    for b in BINDINGS {
        if !scopes.contains(&b.scope) {
            scopes.push(b.scope);
        }
    }
    for scope in scopes {
        out.push_str(&format!("\n{}\n", scope.title()));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            out.push_str(&format!("  {:<10} {}\n", b.label, b.help));
        }
        if scope == Scope::Prompt {
            out.push_str(&format!("  {:<10} {}\n", "text", "type to edit"));
        }
    }
    check("console-keys.txt", &out);
}
