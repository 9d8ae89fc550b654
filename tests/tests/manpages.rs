//! The package's manual pages (packaging/man) and stockctl's shell
//! completions (packaging/completions) are generated from the code's own
//! definitions (stockd_tests::docs) and committed; this test regenerates
//! them and fails on any difference, like the `--help` drift test.
//! `STOCKD_UPDATE_DRIFT=1` rewrites them. Each page must also format
//! without a single warning from man/groff, which is what lintian runs.

use anyhow::{ensure, Context, Result};
use std::process::Command;
use stockd_tests::docs::{generate_all, workspace_root};

fn update_drift() -> bool {
    std::env::var_os("STOCKD_UPDATE_DRIFT").is_some_and(|v| v == "1")
}

#[test]
fn generated_docs_match_the_committed_files() -> Result<()> {
    let root = workspace_root();
    let mut stale = Vec::new();
    for file in generate_all()? {
        let path = root.join(file.path);
        if update_drift() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, &file.text)
                .with_context(|| format!("writing {}", path.display()))?;
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != file.text {
            stale.push(file.path);
        }
    }
    ensure!(
        stale.is_empty(),
        "out of date: {stale:?}; rerun with STOCKD_UPDATE_DRIFT=1 \
         (cargo test -p stockd-tests --test manpages) to rewrite them, and commit them"
    );
    Ok(())
}

#[test]
fn manual_pages_format_without_warnings() -> Result<()> {
    let root = workspace_root();
    let mut pages = 0;
    for file in generate_all()? {
        if !file.path.starts_with("packaging/man/") {
            continue;
        }
        pages += 1;
        let path = root.join(file.path);
        // lintian's own check (groff-message): man with warnings on.
        let out = Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z"])
            .arg(&path)
            .env("LC_ALL", "C.UTF-8")
            .env("MANROFFSEQ", "")
            .env("MANWIDTH", "80")
            .output()
            .context("running man (Debian packages man-db and groff-base)")?;
        let warnings = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success() && warnings.trim().is_empty(),
            "man {} (exit {}): {warnings}",
            path.display(),
            out.status
        );
        // And it says something: the NAME section made it through.
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(
            text.contains("NAME"),
            "man {} printed no NAME section",
            path.display()
        );
    }
    ensure!(pages == 3, "expected 3 manual pages, generated {pages}");
    Ok(())
}
