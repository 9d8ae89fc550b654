//! The derived views against an independent computation in SQL on the same
//! PostgreSQL data (the demo "seed workload", 86,836 rows, with a few NULL
//! and NaN values added): `hotspots.ranking` (per-industry avg/median via
//! `percentile_cont(0.5)`, up/flat/down, limit counts, sums, heat, leaders,
//! ranking), `industry.detail` for three industries (stats, gainers,
//! losers), and `signals.stock` for a sample of (code, date) pairs chosen so
//! that every signal and every skip reason occurs, with crosses from `LAG`
//! and highs/lows from `MAX`/`MIN OVER` a trading-day `RANGE` window.
//! Finally a daemon whose `[columns]` maps pct_change to a column the table
//! lacks: the industry views answer "missing column", signals still work,
//! and `[signals]` thresholds are applied.
//!
//! The statistics (mean, median, sums, heat) are exact decimals: they are
//! compared as text with PostgreSQL's numeric arithmetic on the same rows
//! (`round(avg(pct_chg::text::numeric), S + 2)::text`, `sum(amount)::text`,
//! …; see [`sql_stats`]), over every industry of five dates, one of them
//! with a 3-decimal pct change and one with a 7-decimal one. Single values
//! of members and signals are compared as before: `real` bit for bit in
//! their shortest form, others with a relative tolerance of 1e-9. Counts,
//! codes, names and orders are compared exactly.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use stockd_api::{
    Direction, HotspotsRanking, IndustryDetail, IndustryStats, Member, SkipReason, StockSignals,
    SIGNAL_NAMES,
};
use stockd_tests::{Daemon, PgTestDb, Rng};

const TABLE: &str = "daily_stock_data";

/// `a` and `b` agree to 1e-9 relative to the larger of them and `scale`.
fn near(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(scale)
}

/// A value of a `real` column: the daemon writes it in its shortest float4
/// form (as `stock.get` does), SQL gives it widened to float8; both must be
/// the same float4.
fn same_real(daemon: f64, sql: f64) -> bool {
    let shortest: Option<f64> = format!("{}", daemon as f32).parse().ok();
    (daemon as f32).to_bits() == (sql as f32).to_bits() && shortest == Some(daemon)
}

fn same_real_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_real(a, b),
        _ => false,
    }
}

fn near_opt(a: Option<f64>, b: Option<f64>, scale: f64) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => near(a, b, scale),
        _ => false,
    }
}

/// Per-industry statistics of one date, computed by PostgreSQL.
#[derive(Debug)]
struct SqlStats {
    industry: String,
    /// Counts; the figures hold the heat (parsed from `figures`) for
    /// ordering.
    stats: IndustryStats,
    /// The exact figures as PostgreSQL's numeric text, by field name:
    /// `avg_pct_change`, `median_pct_change`, `amount`, `net_inflow`,
    /// `heat`.
    figures: Vec<(&'static str, Option<String>)>,
    /// The mean pct change in double precision, as the daemon computed it
    /// before exact statistics (`avg(pct_chg::float8)::text`).
    float_avg: Option<String>,
    /// The date's pct-change scale (most decimals of any value).
    scale: i32,
}

/// The rows of one date with an industry, NaN pct change read as NULL.
const DAY: &str = "
    SELECT industry, stock_code, stock_name,
           NULLIF(pct_chg, 'NaN')::float8 AS pct,
           close, up_limit, down_limit, amount, main_net_inflow AS inflow,
           volume_ratio::float8 AS vr
    FROM daily_stock_data
    WHERE date = $1::text::date AND industry IS NOT NULL";

/// Per-industry statistics of `date` in exact numeric arithmetic, rounded
/// as the daemon documents (`views::exact`): a `real` or `double` value is
/// its shortest text (`pct_chg::text::numeric`, with `extra_float_digits`
/// = 1; PostgreSQL's own `real::numeric` keeps only 6 significant digits,
/// `3.1415927` → `3.14159`); S = the most decimals of any pct change of the
/// date; mean and heat `round(…, S + 2)` (half away from zero); median
/// `percentile_cont(0.5)` rounded to S + 1 (the exact median has at most
/// that many decimals, so rounding the double removes only its noise);
/// sums exact.
async fn sql_stats(db: &PgTestDb, date: &str) -> Result<Vec<SqlStats>> {
    db.execute("SET extra_float_digits = 1").await?;
    let sql = "WITH d AS (
           SELECT industry, NULLIF(pct_chg, 'NaN')::text::numeric AS p,
                  NULLIF(pct_chg, 'NaN')::float8 AS pf,
                  close, up_limit, down_limit, amount,
                  NULLIF(main_net_inflow, 'NaN')::text::numeric AS inflow
           FROM daily_stock_data
           WHERE date = $1::text::date AND industry IS NOT NULL),
         sc AS (SELECT coalesce(max(scale(p)), 0) AS s FROM d),
         s AS (
           SELECT industry,
                  count(*)::int8 AS members,
                  count(p)::int8 AS n,
                  sum(p) AS sum_p,
                  avg(p) AS avg_p,
                  avg(pf)::text AS float_avg,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY p) AS median_p,
                  count(*) FILTER (WHERE p > 0)::int8 AS up,
                  count(*) FILTER (WHERE p = 0)::int8 AS flat,
                  count(*) FILTER (WHERE p < 0)::int8 AS down,
                  count(*) FILTER (WHERE close >= up_limit)::int8 AS limit_up,
                  count(*) FILTER (WHERE close <= down_limit)::int8 AS limit_down,
                  sum(amount) AS amount,
                  sum(inflow) AS inflow
           FROM d GROUP BY industry)
         SELECT s.industry, members, up, flat, down, limit_up, limit_down, float_avg,
                sc.s AS scale,
                round(avg_p, sc.s + 2)::text AS avg_pct,
                round(median_p::numeric, sc.s + 1)::text AS median_pct,
                amount::text AS amount,
                inflow::text AS inflow,
                round((sum_p + 5 * (up - down)) / NULLIF(n, 0)
                      + 2 * (limit_up - limit_down), sc.s + 2)::text AS heat
         FROM s CROSS JOIN sc";
    let rows = db.query(sql, &[&date]).await?;
    rows.iter()
        .map(|r| {
            let count = |name: &str| r.get::<_, i64>(name) as u64;
            let heat: Option<String> = r.get("heat");
            Ok(SqlStats {
                industry: r.get("industry"),
                stats: IndustryStats {
                    members: count("members"),
                    avg_pct_change: None,
                    median_pct_change: None,
                    up: count("up"),
                    flat: count("flat"),
                    down: count("down"),
                    limit_up: count("limit_up"),
                    limit_down: count("limit_down"),
                    amount: None,
                    net_inflow: None,
                    heat: heat
                        .as_deref()
                        .map(str::parse)
                        .transpose()
                        .with_context(|| format!("heat {heat:?}"))?,
                },
                figures: vec![
                    ("avg_pct_change", r.get("avg_pct")),
                    ("median_pct_change", r.get("median_pct")),
                    ("amount", r.get("amount")),
                    ("net_inflow", r.get("inflow")),
                    ("heat", heat),
                ],
                float_avg: r.get("float_avg"),
                scale: r.get("scale"),
            })
        })
        .collect()
}

/// A decimal text without trailing zeros after the point (`7.9800` →
/// `7.98`, `12.0` → `12`, `-0.0000` → `0`).
fn canon(text: &str) -> String {
    let t = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    };
    match t {
        "-0" => "0".to_string(),
        t => t.to_string(),
    }
}

/// Decimals of a canonical decimal text.
fn decimals(text: &str) -> usize {
    text.split_once('.').map_or(0, |(_, f)| f.len())
}

/// The daemon's figure as decimal text: the JSON number it sent, in its
/// shortest form (Rust's `Display` of the double, which is that form
/// without an exponent).
fn figure_text(v: Option<f64>) -> Option<String> {
    v.map(|v| canon(&format!("{v}")))
}

/// Differences between the daemon's statistics and PostgreSQL's: counts
/// exactly, figures as text (PostgreSQL's without trailing zeros, which a
/// JSON number does not carry).
fn stats_diffs(what: &str, got: &IndustryStats, want: &SqlStats) -> Vec<String> {
    let w = &want.stats;
    let mut d = Vec::new();
    let counts = [
        ("members", got.members, w.members),
        ("up", got.up, w.up),
        ("flat", got.flat, w.flat),
        ("down", got.down, w.down),
        ("limit_up", got.limit_up, w.limit_up),
        ("limit_down", got.limit_down, w.limit_down),
    ];
    for (name, g, e) in counts {
        if g != e {
            d.push(format!("{what}: {name} {g}, SQL {e}"));
        }
    }
    let got_figures = [
        got.avg_pct_change,
        got.median_pct_change,
        got.amount,
        got.net_inflow,
        got.heat,
    ];
    for ((name, want_text), g) in want.figures.iter().zip(got_figures) {
        let (g, e) = (figure_text(g), want_text.as_deref().map(canon));
        if g != e {
            d.push(format!("{what}: {name} {g:?}, SQL {e:?} ({want_text:?})"));
        }
    }
    d
}

/// Members of one date as PostgreSQL ranks them: `filter` on `pct`,
/// ordered by `order` then code (byte order), `limit` per industry.
async fn sql_members(
    db: &PgTestDb,
    date: &str,
    filter: &str,
    order: &str,
    limit: i64,
) -> Result<BTreeMap<String, Vec<Member>>> {
    let sql = format!(
        "WITH d AS ({DAY})
         SELECT industry, stock_code, stock_name, pct, close::float8 AS close,
                amount::float8 AS amount, vr
         FROM (SELECT d.*, row_number() OVER (
                   PARTITION BY industry ORDER BY pct {order}, stock_code COLLATE \"C\") AS rn
               FROM d WHERE {filter}) x
         WHERE rn <= $2
         ORDER BY industry, rn"
    );
    let mut out: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for r in db.query(&sql, &[&date, &limit]).await? {
        out.entry(r.get("industry")).or_default().push(Member {
            code: r.get("stock_code"),
            name: r.get("stock_name"),
            pct_change: r.get("pct"),
            close: r.get("close"),
            amount: r.get("amount"),
            volume_ratio: r.get("vr"),
        });
    }
    Ok(out)
}

fn members_diffs(what: &str, got: &[Member], want: &[Member]) -> Vec<String> {
    let codes = |v: &[Member]| v.iter().map(|m| m.code.clone()).collect::<Vec<_>>();
    if codes(got) != codes(want) {
        return vec![format!("{what}: {:?}, SQL {:?}", codes(got), codes(want))];
    }
    let mut d = Vec::new();
    for (g, w) in got.iter().zip(want) {
        // pct_chg and volume_ratio are real columns.
        let ok = g.name == w.name
            && same_real(g.pct_change, w.pct_change)
            && near_opt(g.close, w.close, 0.0)
            && near_opt(g.amount, w.amount, 0.0)
            && same_real_opt(g.volume_ratio, w.volume_ratio);
        if !ok {
            d.push(format!("{what}: {g:?}, SQL {w:?}"));
        }
    }
    d
}

/// Calls a view and decodes its typed result.
async fn view<T: serde::de::DeserializeOwned>(
    d: &Daemon,
    method: &str,
    params: Value,
) -> Result<T> {
    let v = d.call(method, params.clone()).await?;
    serde_json::from_value(v.clone())
        .with_context(|| format!("{method} {params}: result does not match the contract: {v}"))
}

async fn check_hotspots(d: &Daemon, db: &PgTestDb, date: &str) -> Result<Vec<SqlStats>> {
    let got: HotspotsRanking = view(d, "hotspots.ranking", json!({"date": date, "n": 100})).await?;
    let mut want = sql_stats(db, date).await?;
    ensure!(got.date == date, "hotspots.ranking date {}", got.date);
    ensure!(got.missing_columns.is_empty(), "{:?}", got.missing_columns);
    ensure!(
        got.total_industries == want.len() as u64 && got.industries.len() == want.len(),
        "hotspots.ranking on {date}: {} industries (total {}), SQL {}",
        got.industries.len(),
        got.total_industries,
        want.len()
    );
    // The order PostgreSQL gives for heat desc (NULL last), then name.
    want.sort_by(|a, b| {
        let h = |s: &SqlStats| s.stats.heat.unwrap_or(f64::NEG_INFINITY);
        h(b).total_cmp(&h(a))
            .then_with(|| a.industry.as_bytes().cmp(b.industry.as_bytes()))
    });
    let got_order: Vec<&str> = got.industries.iter().map(|i| i.industry.as_str()).collect();
    let want_order: Vec<&str> = want.iter().map(|s| s.industry.as_str()).collect();
    ensure!(
        got_order == want_order,
        "hotspots.ranking order on {date}:\n  daemon {got_order:?}\n  SQL    {want_order:?}"
    );
    let leaders = sql_members(db, date, "pct IS NOT NULL", "DESC", 3).await?;
    let mut diffs = Vec::new();
    for (g, w) in got.industries.iter().zip(&want) {
        let what = format!("hotspots {date} {}", w.industry);
        diffs.extend(stats_diffs(&what, &g.stats, w));
        let no_leaders = Vec::new();
        let wl = leaders.get(&w.industry).unwrap_or(&no_leaders);
        diffs.extend(members_diffs(&format!("{what} leaders"), &g.leaders, wl));
    }
    ensure!(
        diffs.is_empty(),
        "hotspots.ranking vs SQL:\n{}",
        diffs.join("\n")
    );
    Ok(want)
}

async fn check_industry(d: &Daemon, db: &PgTestDb, date: &str, want: &SqlStats) -> Result<()> {
    let got: IndustryDetail = view(
        d,
        "industry.detail",
        json!({"industry": want.industry, "date": date}),
    )
    .await?;
    ensure!(
        got.industry == want.industry && got.date == date,
        "industry.detail answered {} {}",
        got.industry,
        got.date
    );
    let what = format!("industry.detail {date} {}", want.industry);
    let mut diffs = stats_diffs(&what, &got.stats, want);
    let gainers = sql_members(db, date, "pct > 0", "DESC", 5).await?;
    let losers = sql_members(db, date, "pct < 0", "ASC", 5).await?;
    let none = Vec::new();
    diffs.extend(members_diffs(
        &format!("{what} gainers"),
        &got.gainers,
        gainers.get(&want.industry).unwrap_or(&none),
    ));
    diffs.extend(members_diffs(
        &format!("{what} losers"),
        &got.losers,
        losers.get(&want.industry).unwrap_or(&none),
    ));
    ensure!(diffs.is_empty(), "{}", diffs.join("\n"));
    Ok(())
}

/// One (code, date) of the signals computation in SQL.
struct SqlSignals {
    code: String,
    date: String,
    /// Per signal name: `none`, `bullish`/`bearish`/`neutral` (active),
    /// `null:<column>`, `no_previous_row` or `too_few_rows`.
    status: BTreeMap<&'static str, String>,
    /// Column values on the date (NaN read as NULL), by column name.
    values: BTreeMap<&'static str, Option<f64>>,
    /// Crossing lines on the previous row.
    previous: BTreeMap<&'static str, Option<f64>>,
    /// Known closes in the high/low window.
    window_rows: i64,
}

/// Column names as the reference layout spells them (the `[columns]`
/// defaults).
const VALUE_COLUMNS: [&str; 12] = [
    "close",
    "pct_chg",
    "ma5",
    "ma20",
    "macd_dif",
    "macd_dea",
    "kdj_j",
    "rsi6",
    "boll_upper",
    "boll_lower",
    "volume_ratio",
    "consecutive_limit_up",
];

/// Every (code, date) held with the status of each signal, the default
/// thresholds written out as literals.
async fn sql_signals(db: &PgTestDb) -> Result<Vec<SqlSignals>> {
    let cross = |a: &str, b: &str| {
        format!(
            "CASE WHEN {a} IS NULL THEN 'null:{a}' WHEN {b} IS NULL THEN 'null:{b}'
                  WHEN p_dr IS NULL THEN 'no_previous_row'
                  WHEN p_{a} IS NULL THEN 'null:{a}' WHEN p_{b} IS NULL THEN 'null:{b}'
                  WHEN p_{a} <= p_{b} AND {a} > {b} THEN 'bullish'
                  WHEN p_{a} >= p_{b} AND {a} < {b} THEN 'bearish'
                  ELSE 'none' END"
        )
    };
    let test = |col: &str, cond: &str, dir: &str| {
        format!(
            "CASE WHEN {col} IS NULL THEN 'null:{col}' WHEN {cond} THEN '{dir}' ELSE 'none' END"
        )
    };
    let band = |line: &str, cond: &str, dir: &str| {
        format!(
            "CASE WHEN close IS NULL THEN 'null:close' WHEN {line} IS NULL THEN 'null:{line}'
                  WHEN {cond} THEN '{dir}' ELSE 'none' END"
        )
    };
    let extreme = |cond: &str, dir: &str| {
        format!(
            "CASE WHEN close IS NULL THEN 'null:close' WHEN n_close < 2 THEN 'too_few_rows'
                  WHEN {cond} THEN '{dir}' ELSE 'none' END"
        )
    };
    let statuses = [
        cross("ma5", "ma20"),
        cross("macd_dif", "macd_dea"),
        test("kdj_j", "kdj_j > 100", "bearish"),
        test("kdj_j", "kdj_j < 0", "bullish"),
        test("rsi6", "rsi6 > 80", "bearish"),
        test("rsi6", "rsi6 < 20", "bullish"),
        band("boll_upper", "close > boll_upper", "bullish"),
        band("boll_lower", "close < boll_lower", "bearish"),
        "CASE WHEN volume_ratio IS NULL THEN 'null:volume_ratio'
              WHEN volume_ratio > 2 THEN
                CASE WHEN pct_chg > 0 THEN 'bullish' WHEN pct_chg < 0 THEN 'bearish'
                     ELSE 'neutral' END
              ELSE 'none' END"
            .to_string(),
        test(
            "consecutive_limit_up",
            "consecutive_limit_up >= 2",
            "bullish",
        ),
        extreme("close >= hi", "bullish"),
        extreme("close <= lo", "bearish"),
    ];
    let values: Vec<String> = VALUE_COLUMNS.iter().map(|c| c.to_string()).collect();
    let sql = format!(
        "WITH dates AS (
           SELECT date, row_number() OVER (ORDER BY date)::int8 AS dr
           FROM (SELECT DISTINCT date FROM daily_stock_data ORDER BY date DESC LIMIT 30) x),
         t AS (
           SELECT s.stock_code, s.date, dates.dr,
                  NULLIF(close, 'NaN')::float8 AS close,
                  NULLIF(pct_chg, 'NaN')::float8 AS pct_chg,
                  NULLIF(ma5, 'NaN') AS ma5, NULLIF(ma20, 'NaN') AS ma20,
                  NULLIF(macd_dif, 'NaN') AS macd_dif, NULLIF(macd_dea, 'NaN') AS macd_dea,
                  NULLIF(kdj_j, 'NaN') AS kdj_j, NULLIF(rsi6, 'NaN') AS rsi6,
                  NULLIF(boll_upper, 'NaN') AS boll_upper, NULLIF(boll_lower, 'NaN') AS boll_lower,
                  NULLIF(volume_ratio, 'NaN')::float8 AS volume_ratio,
                  consecutive_limit_up::float8 AS consecutive_limit_up
           FROM daily_stock_data s JOIN dates USING (date)),
         w AS (
           SELECT t.*,
                  lag(dr) OVER p AS p_dr,
                  lag(ma5) OVER p AS p_ma5, lag(ma20) OVER p AS p_ma20,
                  lag(macd_dif) OVER p AS p_macd_dif, lag(macd_dea) OVER p AS p_macd_dea,
                  max(close) OVER h AS hi, min(close) OVER h AS lo,
                  count(close) OVER h AS n_close
           FROM t
           WINDOW p AS (PARTITION BY stock_code ORDER BY date),
                  h AS (PARTITION BY stock_code ORDER BY dr
                        RANGE BETWEEN 19 PRECEDING AND CURRENT ROW))
         SELECT stock_code, date::text AS date, n_close,
                p_ma5, p_ma20, p_macd_dif, p_macd_dea, {}, {}
         FROM w ORDER BY stock_code, date",
        values.join(", "),
        statuses
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s} AS s{i}"))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    let rows = db.query(&sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| SqlSignals {
            code: r.get("stock_code"),
            date: r.get("date"),
            status: SIGNAL_NAMES
                .iter()
                .enumerate()
                .map(|(i, &n)| (n, r.get::<_, String>(format!("s{i}").as_str())))
                .collect(),
            values: VALUE_COLUMNS.iter().map(|&c| (c, r.get(c))).collect(),
            previous: [
                ("ma5", r.get("p_ma5")),
                ("ma20", r.get("p_ma20")),
                ("macd_dif", r.get("p_macd_dif")),
                ("macd_dea", r.get("p_macd_dea")),
            ]
            .into(),
            window_rows: r.get("n_close"),
        })
        .collect())
}

/// The columns behind each signal (current row) and, for crosses, the
/// previous row.
fn signal_columns(name: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match name {
        "ma_cross" => (&["ma5", "ma20"], &["ma5", "ma20"]),
        "macd_cross" => (&["macd_dif", "macd_dea"], &["macd_dif", "macd_dea"]),
        "kdj_overbought" | "kdj_oversold" => (&["kdj_j"], &[]),
        "rsi_overbought" | "rsi_oversold" => (&["rsi6"], &[]),
        "boll_breakout_up" => (&["close", "boll_upper"], &[]),
        "boll_breakdown" => (&["close", "boll_lower"], &[]),
        "volume_surge" => (&["volume_ratio", "pct_chg"], &[]),
        "limit_up_streak" => (&["consecutive_limit_up"], &[]),
        _ => (&["close"], &[]),
    }
}

fn threshold_of(name: &str) -> Option<f64> {
    match name {
        "kdj_overbought" => Some(100.0),
        "kdj_oversold" => Some(0.0),
        "rsi_overbought" => Some(80.0),
        "rsi_oversold" => Some(20.0),
        "volume_surge" => Some(2.0),
        "limit_up_streak" => Some(2.0),
        _ => None,
    }
}

/// Differences between the daemon's signals and the SQL statuses.
fn signals_diffs(got: &StockSignals, want: &SqlSignals) -> Vec<String> {
    let what = format!("signals.stock {} {}", want.code, want.date);
    let mut d = Vec::new();
    let mut checked = Vec::new();
    let mut skipped = Vec::new();
    let mut active = Vec::new();
    for &name in SIGNAL_NAMES {
        let status = want.status[name].as_str();
        match status {
            "none" => checked.push(name.to_string()),
            "bullish" | "bearish" | "neutral" => {
                checked.push(name.to_string());
                active.push((name, status));
            }
            "no_previous_row" => skipped.push((name.to_string(), SkipReason::NoPreviousRow, None)),
            "too_few_rows" => skipped.push((name.to_string(), SkipReason::TooFewRows, None)),
            s => match s.strip_prefix("null:") {
                Some(col) => skipped.push((
                    name.to_string(),
                    SkipReason::NullValue,
                    Some(col.to_string()),
                )),
                None => d.push(format!("{what}: unexpected SQL status {s}")),
            },
        }
    }
    if got.checked != checked {
        d.push(format!(
            "{what}: checked {:?}, SQL {checked:?}",
            got.checked
        ));
    }
    let got_skipped: Vec<_> = got
        .skipped
        .iter()
        .map(|s| (s.name.clone(), s.reason, s.column.clone()))
        .collect();
    if got_skipped != skipped {
        d.push(format!("{what}: skipped {got_skipped:?}, SQL {skipped:?}"));
    }
    let got_active: Vec<(&str, String)> = got
        .signals
        .iter()
        .map(|s| {
            let dir = serde_json::to_value(s.direction)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            (s.name.as_str(), dir)
        })
        .collect();
    let want_active: Vec<(&str, String)> =
        active.iter().map(|&(n, s)| (n, s.to_string())).collect();
    if got_active != want_active {
        d.push(format!(
            "{what}: signals {got_active:?}, SQL {want_active:?}"
        ));
        return d;
    }
    for s in &got.signals {
        let (cols, prev_cols) = signal_columns(&s.name);
        let expect = |src: &BTreeMap<&'static str, Option<f64>>, cols: &[&'static str]| {
            cols.iter()
                .filter_map(|&c| src[c].map(|v| (c.to_string(), v)))
                .collect::<BTreeMap<String, f64>>()
        };
        let same = |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>| {
            a.len() == b.len()
                && a.iter().zip(b).all(|((ka, va), (kb, vb))| {
                    ka == kb
                        && match ka.as_str() {
                            "pct_chg" | "volume_ratio" => same_real(*va, *vb),
                            _ => near(*va, *vb, 0.0),
                        }
                })
        };
        let values = expect(&want.values, cols);
        let previous = expect(&want.previous, prev_cols);
        let window =
            matches!(s.name.as_str(), "new_high" | "new_low").then_some(want.window_rows as u32);
        if !same(&s.values, &values)
            || !same(&s.previous, &previous)
            || s.threshold != threshold_of(&s.name)
            || s.window_rows != window
        {
            d.push(format!(
                "{what}: {s:?}, SQL values {values:?} previous {previous:?} window {window:?}"
            ));
        }
    }
    d
}

/// Adds NULL and NaN values where the views must skip them, and a flat
/// member, on `date`; NaN and NULL indicators on a few other rows.
async fn perturb(db: &PgTestDb, date: &str) -> Result<()> {
    db.execute(&format!(
        "WITH x AS (SELECT id, row_number() OVER (ORDER BY stock_code) AS n
                    FROM {TABLE} WHERE date = DATE '{date}' AND industry IS NOT NULL)
         UPDATE {TABLE} t SET
           pct_chg = CASE WHEN x.n % 97 = 1 THEN NULL
                          WHEN x.n % 97 = 2 THEN 'NaN'::real
                          WHEN x.n % 97 = 3 THEN 0 ELSE t.pct_chg END,
           main_net_inflow = CASE WHEN x.n % 89 = 4 THEN NULL ELSE t.main_net_inflow END,
           amount = CASE WHEN x.n % 83 = 5 THEN NULL ELSE t.amount END
         FROM x WHERE t.id = x.id;
         UPDATE {TABLE} SET rsi6 = 'NaN' WHERE id % 1013 = 7;
         UPDATE {TABLE} SET ma5 = NULL WHERE id % 1019 = 9;"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_agree_with_postgres() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_demo(TABLE, &stockd::demo::DemoParams::seed())
        .await?;
    let dates: Vec<String> = db
        .query(
            &format!("SELECT DISTINCT date::text FROM {TABLE} ORDER BY 1"),
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    ensure!(dates.len() == 30, "{} dates", dates.len());
    let (mid, latest) = (dates[17].clone(), dates[29].clone());
    perturb(&db, &mid).await?;
    // One pct change with 3 decimals and one with 7 (a real's shortest
    // text): those dates' means are given at 5 and 9 decimals.
    let (three, seven) = (dates[9].clone(), dates[23].clone());
    for (date, value) in [(&three, "0.125"), (&seven, "3.1415927")] {
        db.execute(&format!(
            "UPDATE {TABLE} SET pct_chg = '{value}'::real WHERE id = (
               SELECT min(id) FROM {TABLE}
               WHERE date = DATE '{date}' AND industry IS NOT NULL)"
        ))
        .await?;
    }
    // The brief's `pct_chg::numeric` is the shortest text for every value
    // but the 7-decimal one (real::numeric keeps 6 significant digits).
    let differ: i64 = db
        .query(
            &format!(
                "SELECT count(*) FROM {TABLE}
                 WHERE pct_chg::numeric <> pct_chg::text::numeric"
            ),
            &[],
        )
        .await?[0]
        .get(0);
    ensure!(
        differ == 1,
        "{differ} rows where real::numeric is not the shortest text"
    );
    let daemon = Daemon::builder()
        .database_url(db.url())
        .args(["--window-days", "30"])
        .start()
        .await?;
    let d = &daemon;

    // ---------------------------------------------------------- hotspots
    let latest_stats = check_hotspots(d, &db, &latest).await?;
    let mid_stats = check_hotspots(d, &db, &mid).await?;
    let first_stats = check_hotspots(d, &db, &dates[0]).await?;
    let three_stats = check_hotspots(d, &db, &three).await?;
    let seven_stats = check_hotspots(d, &db, &seven).await?;
    for (date, stats, scale) in [
        (&latest, &latest_stats, 2),
        (&mid, &mid_stats, 2),
        (&dates[0], &first_stats, 2),
        (&three, &three_stats, 3),
        (&seven, &seven_stats, 7),
    ] {
        ensure!(
            stats.iter().all(|s| s.scale == scale),
            "{date}: pct change scale {:?}, expected {scale}",
            stats.first().map(|s| s.scale)
        );
        // The comparison must be able to fail: the double-precision mean
        // (the daemon's old figure) differs from the exact one somewhere.
        let noisy = stats
            .iter()
            .filter(|s| {
                let exact = s.figures[0].1.as_deref().map(canon);
                s.float_avg.as_deref().map(canon) != exact
            })
            .count();
        ensure!(noisy > 0, "{date}: no industry's float mean shows noise");
        // The mean carries scale + 2 decimals somewhere, never more.
        let most = stats
            .iter()
            .filter_map(|s| s.figures[0].1.as_deref().map(|t| decimals(&canon(t))))
            .max();
        ensure!(
            most == Some(scale as usize + 2),
            "{date}: most decimals of a mean {most:?}, expected {}",
            scale + 2
        );
    }
    ensure!(mid_stats.len() >= 20, "{} industries", mid_stats.len());
    ensure!(
        mid_stats.iter().any(|s| s.stats.flat > 0)
            && mid_stats
                .iter()
                .any(|s| s.stats.up + s.stats.flat + s.stats.down < s.stats.members)
            && mid_stats.iter().any(|s| s.stats.limit_up > 0)
            && mid_stats.iter().any(|s| s.stats.limit_down > 0),
        "the data should exercise flat, uncounted and limit members"
    );
    // Defaults: the latest date, 10 industries.
    let dflt: HotspotsRanking = view(d, "hotspots.ranking", json!({})).await?;
    ensure!(
        dflt.date == latest && dflt.industries.len() == 10,
        "default hotspots.ranking: date {}, {} industries",
        dflt.date,
        dflt.industries.len()
    );
    for (params, code) in [
        (json!({"n": 0}), -32602),
        (json!({"n": 101}), 1009),
        (json!({"date": "2001-01-01"}), 1002),
    ] {
        match d.try_call("hotspots.ranking", params.clone()).await? {
            Err(e) if e.code == code => {}
            other => bail!("hotspots.ranking {params}: expected error {code}, got {other:?}"),
        }
    }

    // ---------------------------------------------------- industry.detail
    // The hottest, the coldest and one in the middle (sorted by heat).
    for i in [0, mid_stats.len() / 2, mid_stats.len() - 1] {
        check_industry(d, &db, &mid, &mid_stats[i]).await?;
    }
    // On the 7-decimal date: the industry holding that value, and two more.
    let planted = seven_stats
        .iter()
        .position(|s| {
            s.figures[0]
                .1
                .as_deref()
                .is_some_and(|t| decimals(&canon(t)) == 9)
        })
        .context("an industry whose mean has 9 decimals")?;
    for i in [planted, 0, seven_stats.len() - 1] {
        check_industry(d, &db, &seven, &seven_stats[i]).await?;
    }
    match d
        .try_call("industry.detail", json!({"industry": "No Such Industry"}))
        .await?
    {
        Err(e) if e.code == 1004 && e.message.contains(&mid_stats[0].industry) => {}
        other => bail!("unknown industry: expected error 1004 listing industries, got {other:?}"),
    }

    // ------------------------------------------------------ signals.stock
    let all = sql_signals(&db).await?;
    let mut rng = Rng::new(7);
    let mut picks: BTreeSet<usize> = rng.sample(all.len(), 40).into_iter().collect();
    // A few pairs for every (signal, status) that occurs, so each signal
    // and each skip reason is compared, not just the common "none".
    let mut by_status: BTreeMap<(&str, String), Vec<usize>> = BTreeMap::new();
    for (i, s) in all.iter().enumerate() {
        for (&name, status) in &s.status {
            let kind = status.split(':').next().unwrap_or_default().to_string();
            by_status.entry((name, kind)).or_default().push(i);
        }
    }
    for rows in by_status.values() {
        for j in rng.sample(rows.len(), 3) {
            picks.insert(rows[j]);
        }
    }
    for &name in SIGNAL_NAMES {
        ensure!(
            ["bullish", "bearish"]
                .iter()
                .any(|dir| by_status.contains_key(&(name, dir.to_string()))),
            "the demo data never fires {name}; the comparison would not cover it"
        );
    }
    for kind in ["null", "no_previous_row", "too_few_rows"] {
        ensure!(
            by_status.keys().any(|(_, k)| k == kind),
            "no pair is skipped for {kind}"
        );
    }
    ensure!(picks.len() >= 50, "{} pairs", picks.len());
    let mut diffs = Vec::new();
    for &i in &picks {
        let want = &all[i];
        let got: StockSignals = view(
            d,
            "signals.stock",
            json!({"code": want.code, "date": want.date}),
        )
        .await?;
        ensure!(
            got.code == want.code && got.date == want.date,
            "signals.stock answered {} {} for {} {}",
            got.code,
            got.date,
            want.code,
            want.date
        );
        diffs.extend(signals_diffs(&got, want));
    }
    ensure!(
        diffs.is_empty(),
        "signals.stock vs SQL ({} pairs):\n{}",
        picks.len(),
        diffs
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Default date: the stock's latest row.
    let last = all.last().context("rows")?;
    let got: StockSignals = view(d, "signals.stock", json!({"code": last.code})).await?;
    ensure!(
        got.date == last.date,
        "default date {} vs {}",
        got.date,
        last.date
    );
    ensure!(
        signals_diffs(&got, last).is_empty(),
        "{:?}",
        signals_diffs(&got, last)
    );
    match d
        .try_call("signals.stock", json!({"code": "NOPE99"}))
        .await?
    {
        Err(e) if e.code == 1001 && e.message.contains("NOPE99") => {}
        other => bail!("unknown stock: expected error 1001, got {other:?}"),
    }
    drop(daemon);

    // ------------------------- a missing semantic column, and [signals]
    let daemon = Daemon::builder()
        .database_url(db.url())
        .config("[columns]\npct_change = \"no_such_column\"\n\n[signals]\nkdj_high = 90.0\n")
        .start()
        .await?;
    let d = &daemon;
    for (method, params) in [
        ("hotspots.ranking", json!({})),
        (
            "industry.detail",
            json!({"industry": mid_stats[0].industry}),
        ),
    ] {
        match d.try_call(method, params).await? {
            Err(e)
                if e.code == 1010
                    && e.message.contains("'no_such_column'")
                    && e.message.contains("pct_change") => {}
            other => bail!("{method} without its pct_change column: expected 1010, got {other:?}"),
        }
    }
    // signals.stock still works; the configured KDJ threshold is applied.
    let warm = all
        .iter()
        .find(|s| s.values["kdj_j"].is_some_and(|j| j > 90.0 && j <= 100.0))
        .context("a J between 90 and 100")?;
    let got: StockSignals = view(
        d,
        "signals.stock",
        json!({"code": warm.code, "date": warm.date}),
    )
    .await?;
    let kdj = got
        .signals
        .iter()
        .find(|s| s.name == "kdj_overbought")
        .with_context(|| {
            format!(
                "kdj_high = 90 should fire for J {:?}: {got:?}",
                warm.values["kdj_j"]
            )
        })?;
    ensure!(kdj.threshold == Some(90.0), "{kdj:?}");
    ensure!(
        got.signals
            .iter()
            .all(|s| s.name != "volume_surge" || s.direction == Direction::Neutral),
        "without pct_change a volume surge has no direction: {got:?}"
    );
    d.call("stock.get", json!({"code": warm.code})).await?;
    Ok(())
}
