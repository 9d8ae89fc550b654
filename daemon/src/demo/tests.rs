//! Tests of the demo data set: framing, determinism, the layout against the
//! fixture file, the realism promises, and (when a PostgreSQL is reachable)
//! a real `COPY FROM` whose `COPY TO` must give back our exact bytes.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::calendar::{days_from_civil, weekday, PG_EPOCH_UNIX_DAYS};
use super::pgbin::{HEADER, TRAILER};
use super::*;
use crate::store::schema::ColumnKind;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../packaging/examples/daily_stock_data.sql"
);

// ---------------------------------------------------------------- decoding

/// Walks a complete binary COPY stream, calling `f` with each tuple's fields
/// (`None` = NULL); checks header, field counts and trailer; returns the
/// tuple count.
fn for_each_tuple(stream: &[u8], mut f: impl FnMut(&[Option<&[u8]>])) -> u64 {
    assert!(stream.starts_with(HEADER), "header");
    let mut at = HEADER.len();
    let mut fields: Vec<Option<&[u8]>> = Vec::with_capacity(83);
    let mut tuples = 0;
    loop {
        let count = i16::from_be_bytes([stream[at], stream[at + 1]]);
        at += 2;
        if count == -1 {
            assert_eq!(at, stream.len(), "bytes after the trailer");
            return tuples;
        }
        assert_eq!(count, 83, "field count of tuple {tuples}");
        fields.clear();
        for _ in 0..count {
            let len = i32::from_be_bytes(stream[at..at + 4].try_into().unwrap());
            at += 4;
            if len < 0 {
                fields.push(None);
            } else {
                fields.push(Some(&stream[at..at + len as usize]));
                at += len as usize;
            }
        }
        f(&fields);
        tuples += 1;
    }
}

fn i16v(b: &[u8]) -> i16 {
    i16::from_be_bytes(b.try_into().unwrap())
}
fn i32v(b: &[u8]) -> i32 {
    i32::from_be_bytes(b.try_into().unwrap())
}
fn i64v(b: &[u8]) -> i64 {
    i64::from_be_bytes(b.try_into().unwrap())
}
fn f32v(b: &[u8]) -> f32 {
    f32::from_be_bytes(b.try_into().unwrap())
}
fn f64v(b: &[u8]) -> f64 {
    f64::from_be_bytes(b.try_into().unwrap())
}
fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).expect("utf-8")
}

/// Decodes a binary numeric to its mantissa at its display scale.
fn numeric(b: &[u8]) -> (i128, u16) {
    let h = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let (nd, weight, sign, dscale) = (h(0) as usize, h(2) as i16 as i32, h(4), h(6));
    assert_eq!(b.len(), 8 + 2 * nd);
    assert!(sign == 0 || sign == 0x4000, "sign {sign:#x}");
    if nd > 0 {
        assert_ne!(h(8), 0, "leading zero group");
        assert_ne!(h(8 + 2 * (nd - 1)), 0, "trailing zero group");
    } else {
        assert_eq!(weight, 0, "zero has weight 0");
    }
    // value = Σ digit_i · 10000^(weight − i); scaled by 10^dscale.
    let mut m: i128 = 0;
    let frac_groups = (dscale as i32 + 3) / 4;
    for i in 0..(weight + 1 + frac_groups).max(0) {
        let g = if (i as usize) < nd {
            h(8 + 2 * i as usize) as i128
        } else {
            0
        };
        m = m * 10_000 + g;
    }
    if weight + 1 + frac_groups < 0 {
        m = 0;
    }
    // m is now scaled by 10^(4·frac_groups); bring it to dscale.
    let m = m / 10i128.pow((4 * frac_groups - dscale as i32) as u32);
    (if sign == 0x4000 { -m } else { m }, dscale)
}

fn cents(b: &[u8]) -> i64 {
    let (m, scale) = numeric(b);
    assert_eq!(scale, 2);
    m as i64
}

fn col(name: &str) -> usize {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        columns::COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| (c.0, i))
            .collect()
    });
    *index
        .get(name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn concat(chunks: impl Iterator<Item = Bytes>) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(&c);
    }
    out
}

/// The seed workload's stream, generated once for all tests.
fn seed_stream() -> &'static [u8] {
    static STREAM: OnceLock<Vec<u8>> = OnceLock::new();
    STREAM.get_or_init(|| concat(copy_chunks(&DemoParams::seed(), 4_096)))
}

/// FNV-1a: a hash that never changes between Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.write(bytes);
    h.0
}

// ------------------------------------------------------------------ layout

/// (name, kind, nullable, varchar length) of each column in the fixture.
fn fixture_columns() -> Vec<(String, ColumnKind, bool, Option<usize>)> {
    let sql = std::fs::read_to_string(FIXTURE).expect("fixture file");
    let start = sql.find("CREATE TABLE").expect("CREATE TABLE");
    let body = &sql[start..];
    let body = &body[body.find('(').unwrap() + 1..body.find("\n);").unwrap()];
    let mut out = Vec::new();
    for line in body.lines() {
        let line = line.trim().trim_end_matches(',');
        let upper = line.to_ascii_uppercase();
        if line.is_empty()
            || line.starts_with("--")
            || ["UNIQUE", "PRIMARY KEY", "CONSTRAINT", "CHECK"]
                .iter()
                .any(|k| upper.starts_with(k))
        {
            continue;
        }
        let (name, rest) = line.split_once(char::is_whitespace).unwrap();
        let ty = rest.trim().to_ascii_lowercase();
        let (kind, varchar) = fixture_kind(&ty);
        let not_null = upper.contains("NOT NULL") || upper.contains("PRIMARY KEY");
        out.push((name.to_string(), kind, !not_null, varchar));
    }
    out
}

fn fixture_kind(ty: &str) -> (ColumnKind, Option<usize>) {
    let paren = |s: &str| -> Vec<u16> {
        let inner = &s[s.find('(').unwrap() + 1..s.find(')').unwrap()];
        inner
            .split(',')
            .map(|x| x.trim().parse().unwrap())
            .collect()
    };
    let kind = match ty {
        t if t.starts_with("bigserial") || t.starts_with("bigint") => ColumnKind::Int8,
        t if t.starts_with("varchar") => {
            return (ColumnKind::Text, Some(paren(t)[0] as usize));
        }
        t if t.starts_with("numeric") => {
            let ps = paren(t);
            ColumnKind::Numeric {
                precision: Some(ps[0]),
                scale: Some(ps[1]),
            }
        }
        t if t.starts_with("double precision") => ColumnKind::Float8,
        t if t.starts_with("real") => ColumnKind::Float4,
        t if t.starts_with("smallint") => ColumnKind::Int2,
        t if t.starts_with("integer") => ColumnKind::Int4,
        t if t.starts_with("boolean") => ColumnKind::Bool,
        t if t.starts_with("timestamptz") => ColumnKind::TimestampTz,
        t if t.starts_with("date") => ColumnKind::Date,
        t => panic!("fixture type {t} not mapped"),
    };
    (kind, None)
}

#[test]
fn columns_match_the_fixture() {
    let fixture = fixture_columns();
    let ours = reference_columns();
    assert_eq!(fixture.len(), 83);
    assert_eq!(ours.len(), fixture.len());
    for (spec, (name, kind, nullable, _)) in ours.iter().zip(&fixture) {
        assert_eq!(&spec.name, name);
        assert_eq!(spec.kind, *kind, "{name}");
        assert_eq!(spec.nullable, *nullable, "{name}");
    }
    let not_null: Vec<&str> = ours
        .iter()
        .filter(|c| !c.nullable)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        not_null,
        [
            "id",
            "stock_code",
            "date",
            "is_st",
            "is_new",
            "created_at",
            "updated_at"
        ]
    );
}

// ----------------------------------------------------------------- framing

#[test]
fn params_and_description() {
    assert_eq!(DemoParams::seed().rows(), 86_836);
    let e = DemoParams::embedded();
    assert!(e.stocks >= 3_000);
    assert_eq!(e.rows(), 3_600 * 30 - 21);
    assert_eq!(
        e.describe(),
        "demo data: 3600 stocks × 30 trading days to 2026-11-27, 107979 rows (seed 42)"
    );
}

#[test]
fn chunks_are_framed() {
    let p = DemoParams {
        stocks: 40,
        days: 5,
        suspended: 3,
        warmup_days: 30,
        ..DemoParams::seed()
    };
    let chunks: Vec<Bytes> = copy_chunks(&p, 64).collect();
    // 197 rows in chunks of 64: 4 chunks, the trailer on the last.
    assert_eq!(chunks.len(), 4);
    assert!(chunks[0].starts_with(HEADER));
    assert!(chunks[3].ends_with(&TRAILER));
    let all = concat(chunks.into_iter());
    assert_eq!(for_each_tuple(&all, |_| {}), 197);

    // Exactly divisible: the trailer still rides on the last row's chunk.
    let exact = DemoParams { suspended: 8, ..p };
    let chunks: Vec<Bytes> = copy_chunks(&exact, 64).collect();
    assert_eq!(chunks.len(), 3);
    assert!(chunks[2].ends_with(&TRAILER));
}

#[test]
fn degenerate_parameters() {
    let empty = |p: DemoParams| {
        let all = concat(copy_chunks(&p, 10));
        assert_eq!(all.len(), HEADER.len() + 2);
        assert_eq!(for_each_tuple(&all, |_| {}), 0);
    };
    let base = DemoParams {
        stocks: 5,
        warmup_days: 3,
        ..DemoParams::seed()
    };
    empty(DemoParams {
        days: 0,
        suspended: 0,
        ..base
    });
    empty(DemoParams {
        stocks: 0,
        suspended: 0,
        ..base
    });
    empty(DemoParams {
        days: 2,
        suspended: 10,
        ..base
    });
    // No warm-up and chunk_rows 0 (taken as 1) still work.
    let p = DemoParams {
        days: 3,
        suspended: 1,
        warmup_days: 0,
        ..base
    };
    let chunks: Vec<Bytes> = copy_chunks(&p, 0).collect();
    assert_eq!(chunks.len(), 14);
    assert_eq!(for_each_tuple(&concat(chunks.into_iter()), |_| {}), 14);
}

#[test]
#[should_panic(expected = "exceeds stocks × days")]
fn impossible_suspensions_panic() {
    let p = DemoParams {
        stocks: 2,
        days: 2,
        suspended: 5,
        ..DemoParams::seed()
    };
    copy_chunks(&p, 10).for_each(drop);
}

// ------------------------------------------------------------- determinism

#[test]
fn output_is_deterministic_and_independent_of_chunking() {
    let p = DemoParams {
        stocks: 300,
        days: 12,
        suspended: 7,
        ..DemoParams::seed()
    };
    let a = concat(copy_chunks(&p, 1_000));
    let b = concat(copy_chunks(&p, 7));
    assert_eq!(fnv1a(&a), fnv1a(&b));
    assert_eq!(a, b);
    let other_seed = concat(copy_chunks(&DemoParams { seed: 43, ..p }, 1_000));
    assert_ne!(fnv1a(&a), fnv1a(&other_seed));
}

#[test]
fn seed_workload_hashes_equal_twice() {
    let first = seed_stream();
    let mut generating = std::time::Duration::ZERO;
    let mut bytes = 0;
    let mut hash = Fnv::default();
    let mut chunks = copy_chunks(&DemoParams::seed(), 10_000);
    loop {
        let started = std::time::Instant::now();
        let Some(chunk) = chunks.next() else { break };
        generating += started.elapsed();
        bytes += chunk.len();
        hash.write(&chunk);
    }
    eprintln!(
        "seed stream: {bytes} bytes, fnv1a {:016x}, generated in {:?}",
        hash.0, generating
    );
    assert_eq!(fnv1a(first), hash.0);
}

/// Streaming FNV-1a, so the second run is hashed without keeping it.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

// ---------------------------------------------------- field-level validity

#[test]
fn seed_workload_fields_are_valid() {
    let specs = reference_columns();
    let fixture = fixture_columns();
    let (id, code, date) = (col("id"), col("stock_code"), col("date"));
    let mut next_id = 1;
    let mut dates = HashSet::new();
    let mut keys = HashSet::new();
    let n = for_each_tuple(seed_stream(), |f| {
        for (i, (spec, field)) in specs.iter().zip(f).enumerate() {
            let Some(b) = field else {
                assert!(spec.nullable, "NULL in NOT NULL column {}", spec.name);
                continue;
            };
            let width = match spec.kind {
                ColumnKind::Int2 => Some(2),
                ColumnKind::Int4 | ColumnKind::Float4 | ColumnKind::Date => Some(4),
                ColumnKind::Int8 | ColumnKind::Float8 | ColumnKind::TimestampTz => Some(8),
                ColumnKind::Bool => Some(1),
                _ => None,
            };
            if let Some(w) = width {
                assert_eq!(b.len(), w, "{}", spec.name);
            }
            match spec.kind {
                ColumnKind::Float4 => assert!(f32v(b).is_finite(), "{}", spec.name),
                ColumnKind::Float8 => assert!(f64v(b).is_finite(), "{}", spec.name),
                ColumnKind::Numeric {
                    precision: Some(p), ..
                } => {
                    let (m, _) = numeric(b);
                    assert!(m.unsigned_abs() < 10u128.pow(p as u32), "{}", spec.name);
                }
                ColumnKind::Bool => assert!(b[0] <= 1),
                ColumnKind::Text => {
                    let limit = fixture[i].3.unwrap();
                    assert!(text(b).chars().count() <= limit, "{} too long", spec.name);
                }
                _ => {}
            }
        }
        assert_eq!(i64v(f[id].unwrap()), next_id);
        next_id += 1;
        let d = i32v(f[date].unwrap());
        dates.insert(d);
        assert!(
            keys.insert((text(f[code].unwrap()).to_string(), d)),
            "duplicate key"
        );
    });
    assert_eq!(n, 86_836);
    assert_eq!(dates.len(), 30);
    assert!(dates
        .iter()
        .all(|d| weekday(*d as i64 + PG_EPOCH_UNIX_DAYS) < 5));
    let last = (days_from_civil(2026, 11, 27) - PG_EPOCH_UNIX_DAYS) as i32;
    assert_eq!(dates.iter().max(), Some(&last));
}

// ---------------------------------------------------------------- realism

/// What the realism test gathers per row.
#[derive(Default)]
struct Tally {
    rows: u64,
    calm_days: u64,
    streak2: u64,
    max_limit_streak: i16,
    max_up_streak: i16,
    limit_up: u64,
    limit_down: u64,
    big_volume_ratio: u64,
    macd_golden: u64,
    kdj_extreme: u64,
    rsi_high: u64,
    rsi_low: u64,
    boll_break: u64,
    ma250_null: u64,
    flow_null: u64,
    stocks: HashMap<String, StockSeen>,
    prefixes: HashSet<String>,
    industries: HashSet<String>,
    ranks: HashMap<i32, Vec<i32>>,
}

#[derive(Default)]
struct StockSeen {
    rows: u32,
    pe_null: bool,
    dv_null: bool,
    industry_null: bool,
    st: bool,
    new: bool,
    last_macd: Option<(f64, f64)>,
}

#[test]
fn seed_workload_is_realistic() {
    let c = |n: &str| col(n);
    let (open, high, low, close, pre) =
        (c("open"), c("high"), c("low"), c("close"), c("pre_close"));
    let mut t = Tally::default();
    for_each_tuple(seed_stream(), |f| {
        let get = |i: usize| f[i].unwrap();
        let code = text(get(c("stock_code"))).to_string();
        let is_st = get(c("is_st"))[0] == 1;
        let is_new = get(c("is_new"))[0] == 1;
        let name = text(get(c("stock_name")));
        let (o, h, l, cl, pc) = (
            cents(get(open)),
            cents(get(high)),
            cents(get(low)),
            cents(get(close)),
            cents(get(pre)),
        );
        // Prices: consistent bar, exact change, band at the board's limit.
        assert!(l <= o.min(cl) && o.max(cl) <= h && l > 0, "{code} bar");
        assert_eq!(cents(get(c("change_amt"))), cl - pc);
        let pct = f32v(get(c("pct_chg"))) as f64;
        assert!((pct - (cl - pc) as f64 / pc as f64 * 100.0).abs() < 0.006);
        let status = i16v(get(c("limit_status")));
        match (f[c("up_limit")], f[c("down_limit")]) {
            (Some(u), Some(d)) => {
                let (u, d) = (cents(u), cents(d));
                let limit = match (is_st, &code[..3]) {
                    (true, _) => 5,
                    (false, "300" | "301" | "688" | "689") => 20,
                    _ => 10,
                };
                assert_eq!(u, (pc * (100 + limit) + 50) / 100, "{code} up_limit");
                assert_eq!(d, (pc * (100 - limit) + 50) / 100, "{code} down_limit");
                assert!(d <= l && h <= u);
                assert_eq!(status == 1, cl == u);
                assert_eq!(status == -1, cl == d);
            }
            (None, None) => assert!(
                is_new && matches!(&code[..3], "300" | "301" | "688" | "689"),
                "{code}: only new ChiNext/STAR listings trade without a band"
            ),
            _ => panic!("half a band"),
        }
        // Volume and amount: amount ≈ volume × a price within the bar.
        let volume = i64v(get(c("volume")));
        let amount = cents(get(c("amount")));
        assert!(volume > 0);
        assert!(
            amount >= volume * l && amount <= volume * h,
            "{code} amount"
        );
        // Market value follows the close.
        let total_mv = f64v(get(c("total_mv")));
        let total_share = f64v(get(c("total_share")));
        assert!((total_mv - total_share * cl as f64 / 100.0).abs() <= total_mv * 1e-12);
        // Money flow: main net = large + extra-large buys − sells.
        if let Some(m) = f[c("main_net_inflow")] {
            let part = |n: &str| f64v(get(c(n)));
            let main = part("buy_lg_amount") + part("buy_elg_amount")
                - part("sell_lg_amount")
                - part("sell_elg_amount");
            assert!((f64v(m) - main).abs() < 0.02);
        } else {
            t.flow_null += 1;
        }
        // Counters agree with the prices.
        let up_days = i16v(get(c("consecutive_up_days")));
        assert_eq!(up_days > 0, cl > pc);
        let streak = i16v(get(c("consecutive_limit_up")));
        assert_eq!(streak > 0, status == 1);
        // Scores in range.
        for s in [
            "heat_score",
            "momentum_score",
            "value_score",
            "quality_score",
            "composite_score",
        ] {
            let v = f32v(get(c(s)));
            assert!((0.0..=100.0).contains(&v), "{s} {v}");
        }
        if is_st {
            assert!(name.starts_with("ST") || name.starts_with("*ST"), "{name}");
        }
        let d = i32v(get(c("date")));
        let created = i64v(get(c("created_at")));
        let at_1530 = d as i64 * 86_400_000_000 + 27_000_000_000;
        assert!(created >= at_1530 && created < at_1530 + 60_000_000);
        assert!(i64v(get(c("updated_at"))) > created);

        t.rows += 1;
        t.calm_days += (pct.abs() <= 3.0) as u64;
        t.limit_up += (status == 1) as u64;
        t.limit_down += (status == -1) as u64;
        t.streak2 += (streak >= 2) as u64;
        t.max_limit_streak = t.max_limit_streak.max(streak);
        t.max_up_streak = t.max_up_streak.max(up_days);
        let f64o = |n: &str| f[c(n)].map(f64v);
        t.big_volume_ratio += f[c("volume_ratio")].is_some_and(|b| f32v(b) > 2.0) as u64;
        t.kdj_extreme += f64o("kdj_j").is_some_and(|j| !(0.0..=100.0).contains(&j)) as u64;
        t.rsi_high += f64o("rsi6").is_some_and(|r| r > 80.0) as u64;
        t.rsi_low += f64o("rsi6").is_some_and(|r| r < 20.0) as u64;
        t.boll_break += f64o("boll_upper").is_some_and(|u| cl as f64 / 100.0 > u) as u64;
        t.ma250_null += f[c("ma250")].is_none() as u64;
        t.prefixes.insert(code[..3].to_string());
        if let Some(i) = f[c("industry")] {
            t.industries.insert(text(i).to_string());
        }
        t.ranks.entry(d).or_default().push(i32v(get(c("rank"))));
        let seen = t.stocks.entry(code).or_default();
        seen.rows += 1;
        seen.pe_null |= f[c("pe")].is_none();
        seen.dv_null |= f[c("dv_ratio")].is_none();
        seen.industry_null |= f[c("industry")].is_none();
        seen.st |= is_st;
        seen.new |= is_new;
        let macd = f64o("macd_dif").zip(f64o("macd_dea"));
        if let (Some((d0, e0)), Some((d1, e1))) = (seen.last_macd, macd) {
            t.macd_golden += (d0 <= e0 && d1 > e1) as u64;
        }
        seen.last_macd = macd;
    });

    let n = t.stocks.len() as f64;
    let share = |p: fn(&StockSeen) -> bool| t.stocks.values().filter(|s| p(s)).count();
    eprintln!(
        "rows {} | calm {:.1}% | limit up {} down {} | streak≥2 {} max {} | up streak max {} | vr>2 {} | \
         golden {} | kdj extreme {} | rsi6 >80 {} <20 {} | boll break {} | ma250 null {} | flow null {}",
        t.rows,
        t.calm_days as f64 * 100.0 / t.rows as f64,
        t.limit_up,
        t.limit_down,
        t.streak2,
        t.max_limit_streak,
        t.max_up_streak,
        t.big_volume_ratio,
        t.macd_golden,
        t.kdj_extreme,
        t.rsi_high,
        t.rsi_low,
        t.boll_break,
        t.ma250_null,
        t.flow_null
    );
    eprintln!(
        "stocks {} | pe null {} | dv null {} | industry null {} | st {} | new {} | industries {}",
        n,
        share(|s| s.pe_null),
        share(|s| s.dv_null),
        share(|s| s.industry_null),
        share(|s| s.st),
        share(|s| s.new),
        t.industries.len()
    );
    assert_eq!(t.stocks.len(), 2_895);
    assert_eq!(
        t.stocks.values().map(|s| 30 - s.rows).sum::<u32>(),
        14,
        "suspended rows"
    );
    assert!(
        t.calm_days as f64 / t.rows as f64 > 0.7,
        "most days within ±3%"
    );
    assert!(t.limit_up > 300 && t.limit_down > 50);
    assert!(
        t.streak2 >= 10 && t.max_limit_streak >= 3,
        "limit-up streaks"
    );
    assert!(t.max_up_streak >= 5);
    assert!(t.big_volume_ratio > 100);
    assert!(t.macd_golden > 100 && t.kdj_extreme > 100);
    assert!(t.rsi_high > 100 && t.rsi_low > 100 && t.boll_break > 100);
    assert!(t.ma250_null > 0 && (t.ma250_null as f64) < 0.05 * t.rows as f64);
    let pe_null = share(|s| s.pe_null) as f64 / n;
    assert!((0.08..0.25).contains(&pe_null), "pe NULL share {pe_null}");
    assert!((1..=30).contains(&share(|s| s.industry_null)));
    assert!(share(|s| s.st) >= 10 && share(|s| s.new) >= 5);
    assert!(share(|s| s.dv_null) > 0 && share(|s| !s.dv_null) > 0);
    assert!(t.industries.len() >= 30);
    assert_eq!(t.prefixes.len(), 9, "{:?}", t.prefixes);
    for (d, mut ranks) in t.ranks {
        ranks.sort_unstable();
        assert!(
            ranks.iter().enumerate().all(|(i, r)| *r == i as i32 + 1),
            "ranks of {d} are not 1..n"
        );
    }
}

#[test]
fn numeric_decoder_round_trips_encoder() {
    use bytes::BytesMut;
    let mut x: i128 = 1;
    for i in 0..200 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407)
            % 100_000_000_000_000_000_000;
        let scale = (i % 7) as u16;
        let m = if i % 3 == 0 { -x } else { x } / 10i128.pow((i % 19) as u32);
        let mut buf = BytesMut::new();
        pgbin::put_numeric(&mut buf, m, scale);
        assert_eq!(numeric(&buf[4..]), (m, scale), "{m} scale {scale}");
    }
}

// -------------------------------------------------------------- PostgreSQL

mod postgres {
    use super::*;
    use futures_util::StreamExt;
    use tokio_postgres::{Config, NoTls};

    /// Loads the seed workload into a throwaway database of the PostgreSQL at
    /// `STOCKD_TEST_PG` (default: the local one), checks it, and drops the
    /// database. Skipped (with a note) when no server answers.
    #[tokio::test]
    async fn seed_workload_loads_into_postgres() {
        let url = std::env::var("STOCKD_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let config: Config = url.parse().expect("STOCKD_TEST_PG");
        let (admin, conn) = match config.connect(NoTls).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipped: no PostgreSQL at {url}: {e}");
                return;
            }
        };
        tokio::spawn(conn);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let db = format!("stockd_demo_test_{}_{nanos}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE \"{db}\""))
            .await
            .unwrap();
        let mut test_config = config.clone();
        test_config.dbname(&db);
        // Run the checks as their own task so a failed assertion still
        // lets us drop the database before re-raising it.
        let outcome = tokio::spawn(check_database(test_config)).await;
        admin
            .batch_execute(&format!("DROP DATABASE \"{db}\" WITH (FORCE)"))
            .await
            .unwrap();
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    async fn check_database(config: Config) {
        let (client, conn) = config.connect(NoTls).await.unwrap();
        tokio::spawn(conn);
        let fixture = std::fs::read_to_string(FIXTURE).unwrap();
        client.batch_execute(&fixture).await.unwrap();
        check_catalog(&client).await;
        check_numeric_send(&client).await;

        let started = std::time::Instant::now();
        let params = DemoParams::seed();
        let rows = fill_table(&client, "\"daily_stock_data\"", &params)
            .await
            .unwrap();
        eprintln!("fill_table: {rows} rows in {:?}", started.elapsed());
        assert_eq!(rows, 86_836);
        let count: i64 = client
            .query_one("SELECT count(*) FROM daily_stock_data", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, 86_836);
        check_first_rows(&client).await;

        // The server's own binary COPY of the table is our stream, byte for
        // byte: every value survived exactly as intended.
        let out = client
            .copy_out("COPY (SELECT * FROM daily_stock_data ORDER BY id) TO STDOUT (FORMAT binary)")
            .await
            .unwrap();
        futures_util::pin_mut!(out);
        let mut theirs = Vec::new();
        while let Some(chunk) = out.next().await {
            theirs.extend_from_slice(&chunk.unwrap());
        }
        let ours = seed_stream();
        if let Some(at) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
            panic!("COPY TO differs from our stream at byte {at}");
        }
        assert_eq!(ours.len(), theirs.len());

        // The id sequence was moved past the loaded ids.
        let next: i64 = client
            .query_one(
                "SELECT nextval(pg_get_serial_sequence('daily_stock_data', 'id'))",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(next, 86_837);
    }

    /// Catalog discovery of the fixture table agrees with
    /// `reference_columns()` (names, kinds, nullability, type spelling).
    async fn check_catalog(client: &tokio_postgres::Client) {
        let rows = client
            .query(
                "SELECT attname::text, atttypid::int4, atttypmod, attnotnull, \
                 format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = 'daily_stock_data'::regclass AND attnum > 0 \
                 AND NOT attisdropped ORDER BY attnum",
                &[],
            )
            .await
            .unwrap();
        let ours = reference_columns();
        assert_eq!(rows.len(), ours.len());
        for (row, spec) in rows.iter().zip(&ours) {
            let name: String = row.get(0);
            let oid: i32 = row.get(1);
            let typmod: i32 = row.get(2);
            let not_null: bool = row.get(3);
            let pg_type: String = row.get(4);
            assert_eq!(name, spec.name);
            assert_eq!(
                ColumnKind::from_pg(oid as u32, typmod),
                Some(spec.kind),
                "{name}"
            );
            assert_eq!(not_null, !spec.nullable, "{name}");
            assert_eq!(pg_type, spec.pg_type, "{name}");
        }
    }

    /// Our numeric encoder equals the server's `numeric_send`.
    async fn check_numeric_send(client: &tokio_postgres::Client) {
        let cases: [(&str, i128, u16); 12] = [
            ("12.30", 1230, 2),
            ("0.00", 0, 2),
            ("-12.30", -1230, 2),
            ("0.05", 5, 2),
            ("-0.01", -1, 2),
            ("10000.00", 1_000_000, 2),
            ("99999999.99", 9_999_999_999, 2),
            ("0.00001", 1, 5),
            ("10000.0001", 100_000_001, 4),
            ("123456789", 123_456_789, 0),
            ("123456789012345678.90", 12_345_678_901_234_567_890, 2),
            ("-7000000.00", -700_000_000, 2),
        ];
        for (literal, mantissa, scale) in cases {
            let row = client
                .query_one(&format!("SELECT numeric_send('{literal}'::numeric)"), &[])
                .await
                .unwrap();
            let theirs: Vec<u8> = row.get(0);
            let mut ours = bytes::BytesMut::new();
            pgbin::put_numeric(&mut ours, mantissa, scale);
            assert_eq!(&ours[4..], &theirs[..], "numeric {literal}");
        }
    }

    /// The first rows read back as the decimals we encoded.
    async fn check_first_rows(client: &tokio_postgres::Client) {
        let rows = client
            .query(
                "SELECT id, stock_code, close::text, amount::text, change_amt::text \
                 FROM daily_stock_data ORDER BY id LIMIT 5",
                &[],
            )
            .await
            .unwrap();
        let mut expected = Vec::new();
        let (c_code, c_close, c_amount, c_change) = (
            col("stock_code"),
            col("close"),
            col("amount"),
            col("change_amt"),
        );
        let fmt = |b: &[u8]| {
            let (m, _) = numeric(b);
            let sign = if m < 0 { "-" } else { "" };
            format!("{sign}{}.{:02}", m.abs() / 100, m.abs() % 100)
        };
        for_each_tuple(seed_stream(), |f| {
            if expected.len() < 5 {
                expected.push((
                    text(f[c_code].unwrap()).to_string(),
                    fmt(f[c_close].unwrap()),
                    fmt(f[c_amount].unwrap()),
                    fmt(f[c_change].unwrap()),
                ));
            }
        });
        for (row, exp) in rows.iter().zip(&expected) {
            let got: (String, String, String, String) =
                (row.get(1), row.get(2), row.get(3), row.get(4));
            eprintln!("id {}: {got:?}", row.get::<_, i64>(0));
            assert_eq!(&got, exp);
        }
    }
}
