//! Scenarios and the report table they fill.

use anyhow::Result;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub type BoxFuture = Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;

/// One scenario: a name, a time budget, and the async body that records
/// rows into the [`Report`] it is given.
pub struct Scenario {
    pub name: &'static str,
    pub budget: Duration,
    pub run: Box<dyn FnOnce(Report) -> BoxFuture + Send>,
}

impl Scenario {
    pub fn new<F, Fut>(name: &'static str, budget: Duration, f: F) -> Scenario
    where
        F: FnOnce(Report) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        Scenario {
            name,
            budget,
            run: Box::new(move |r| Box::pin(f(r))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub checked: String,
    pub figure: String,
    pub pass: bool,
}

/// The rows recorded so far; cloned into each scenario (the scenario name
/// is filled in by [`Report::run`]).
#[derive(Clone, Default)]
pub struct Report {
    rows: Arc<Mutex<Vec<Row>>>,
    current: Arc<Mutex<String>>,
}

impl Report {
    /// Records one check: what was checked, the measured figure, and
    /// whether it passed. Returns `pass` so callers can chain.
    pub fn check(&self, checked: impl Into<String>, figure: impl Into<String>, pass: bool) -> bool {
        let scenario = self.current.lock().map(|s| s.clone()).unwrap_or_default();
        let row = Row {
            scenario,
            checked: checked.into(),
            figure: figure.into(),
            pass,
        };
        println!(
            "  [{}] {} — {}",
            if row.pass { "pass" } else { "FAIL" },
            row.checked,
            row.figure
        );
        if let Ok(mut rows) = self.rows.lock() {
            rows.push(row);
        }
        pass
    }

    /// Runs one scenario on its own multi-threaded runtime in its own
    /// thread, bounded by its budget. An error or an overrun is a failed
    /// row; the suite goes on with the next scenario.
    pub fn run(&self, s: Scenario) {
        if let Ok(mut c) = self.current.lock() {
            *c = s.name.to_string();
        }
        println!("\n== {} (budget {:?})", s.name, s.budget);
        let started = Instant::now();
        let report = self.clone();
        let budget = s.budget;
        let (tx, rx) = std::sync::mpsc::channel();
        let body = s.run;
        let spawned = std::thread::Builder::new()
            .name(s.name.to_string())
            .spawn(move || {
                let result = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|rt| rt.block_on(body(report)));
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            self.check(
                "scenario started",
                format!("cannot spawn thread: {e}"),
                false,
            );
            return;
        }
        match rx.recv_timeout(budget) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.check("scenario completed", format!("error: {e:#}"), false);
            }
            Err(_) => {
                self.check(
                    "scenario completed within its budget",
                    format!("still running after {budget:?}"),
                    false,
                );
            }
        }
        println!("   ({:.1} s)", started.elapsed().as_secs_f64());
    }

    pub fn passed(&self) -> bool {
        self.rows
            .lock()
            .map(|rows| !rows.is_empty() && rows.iter().all(|r| r.pass))
            .unwrap_or(false)
    }

    /// The markdown table of every row.
    pub fn table(&self) -> String {
        let rows = self.rows.lock().map(|r| r.clone()).unwrap_or_default();
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = String::from("| scenario | checked | figure | result |\n|---|---|---|---|\n");
        for r in &rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                cell(&r.scenario),
                cell(&r.checked),
                cell(&r.figure),
                if r.pass { "pass" } else { "**FAIL**" }
            ));
        }
        let failed = rows.iter().filter(|r| !r.pass).count();
        out.push_str(&format!("\n{} checks, {} failed\n", rows.len(), failed));
        out
    }
}
