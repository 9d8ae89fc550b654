//! The reliability and security suite: load, faults, bad input, security.
//!
//! One test target (`harness = false`) so the scenarios run one after the
//! other — a 64-connection load must not share two cores with a connection
//! storm — and so the suite can print one table at the end:
//!
//! ```text
//! cargo test -p stockd-tests --test reliability              # everything (CI)
//! cargo test -p stockd-tests --test reliability -- storm     # scenarios whose name contains "storm"
//! STOCKD_SOAK_SECS=1800 cargo test --release -p stockd-tests --test reliability -- soak
//! STOCKD_FUZZ_SECS=600 cargo test -p stockd-tests --test reliability -- fuzz
//! ```
//!
//! Every scenario records rows (what was checked, the figure, pass/fail);
//! the table is printed and written to
//! `target/tmp/reliability-report.md`. The process exits 1 if any row
//! failed, a scenario returned an error, or a scenario ran over its time.

mod faults;
mod input;
mod load;
mod report;
mod security;

use report::{Report, Scenario};

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut all = Vec::new();
    all.extend(load::scenarios());
    all.extend(faults::scenarios());
    all.extend(input::scenarios());
    all.extend(security::scenarios());
    let chosen: Vec<Scenario> = all
        .into_iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f.as_str())))
        .collect();
    if chosen.is_empty() {
        eprintln!("no scenario matches {filters:?}");
        std::process::exit(1);
    }
    let report = Report::default();
    for s in chosen {
        report.run(s);
    }
    let table = report.table();
    println!("\n{table}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability-report.md");
    if let Err(e) = std::fs::write(&path, &table) {
        eprintln!("cannot write {}: {e}", path.display());
    } else {
        println!("report written to {}", path.display());
    }
    if !report.passed() {
        eprintln!("reliability suite: FAILED");
        std::process::exit(1);
    }
    println!("reliability suite: all passed");
}
