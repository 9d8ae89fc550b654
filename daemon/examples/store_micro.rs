//! Point-read and scan timings on an in-memory demo store, for comparing
//! store layouts by hand (not a test: it asserts nothing, and timings on a
//! shared machine are not a pass/fail figure; `stockd-bench` is the
//! benchmark). `MICRO_DAYS` sets the trading days (default 30, the seed
//! scale; 244 is a year):
//!
//! `MICRO_DAYS=244 cargo run --release -p stockd --example store_micro`

use std::time::Instant;
use stockd::store::json::{value_f64, write_value};

fn main() {
    let days: u32 = std::env::var("MICRO_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut p = stockd::demo::DemoParams::seed();
    p.days = days;
    let t = Instant::now();
    let s = stockd::demo::load(&p, 1).expect("demo store");
    eprintln!(
        "demo load {} rows: {:?}, store {} B/row",
        s.rows(),
        t.elapsed(),
        s.heap_bytes() / s.rows().max(1)
    );
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let codes: Vec<u32> = s
        .codes()
        .map(|c| s.code_id(c).expect("a code of this store"))
        .collect();
    let nd = s.dates().len();
    let mut out = String::new();
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        let c = codes[next() as usize % codes.len()];
        let r = s.row(c, nd - 1 - next() as usize % 3).unwrap_or(0);
        out.clear();
        for col in s.columns() {
            write_value(&mut out, col, r);
        }
    }
    eprintln!(
        "get all columns: {:.0} ns/row",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let by = s.column("pct_chg").expect("demo store");
    let t = Instant::now();
    let mut sum = 0.0;
    for _ in 0..50 {
        for di in 0..nd {
            for &r in s.rows_on(di) {
                sum += value_f64(&s.columns()[by], r as usize).unwrap_or(0.0);
            }
        }
    }
    eprintln!(
        "scan pct_chg by date: {:.1} ns/value ({sum})",
        t.elapsed().as_nanos() as f64 / (50 * s.rows()) as f64
    );
    let cols: Vec<usize> = [
        "open", "high", "low", "close", "volume", "amount", "pct_chg", "ma5", "ma60", "macd_dif",
    ]
    .iter()
    .filter_map(|c| s.column(c))
    .collect();
    let t = Instant::now();
    let m = 20_000;
    for _ in 0..m {
        let c = codes[next() as usize % codes.len()];
        out.clear();
        for &col in &cols {
            for di in 0..nd {
                if let Some(r) = s.row(c, di) {
                    write_value(&mut out, &s.columns()[col], r);
                }
            }
        }
    }
    eprintln!(
        "history 10 columns: {:.0} ns/answer",
        t.elapsed().as_nanos() as f64 / m as f64
    );
}
