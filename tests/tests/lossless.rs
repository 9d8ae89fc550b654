//! Losslessness against PostgreSQL: the reference table filled with the
//! seed's workload (86,836 rows) plus hand-made edge rows, served by the
//! real daemon; a deterministic sample of (code, date) pairs is fetched with
//! `stock.get` (all fields) and every column compared with what PostgreSQL
//! holds (see `stockd_tests::compare` for how each type is compared).

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use stockd_api::{MarketInfo, StockdClient};
use stockd_tests::compare::{self, PgKind, RowReader};
use stockd_tests::{Daemon, PgTestDb, Rng};

const TABLE: &str = "daily_stock_data";
const WINDOW: usize = 30;
const SAMPLE: usize = 600;

/// Edge rows: every nullable column NULL; type extremes; NaN / ±Infinity
/// where the type allows; awkward text; timestamps with microseconds and
/// before 1970. `{d}` is replaced by a date inside the window.
const EDGE_ROWS: &[(&str, &str)] = &[
    (
        "EDGENULL",
        r#"INSERT INTO daily_stock_data (stock_code, date) VALUES ('EDGENULL', DATE '{d}')"#,
    ),
    (
        "EDGEMAX",
        r#"INSERT INTO daily_stock_data (stock_code, stock_name, date, industry,
            open, high, low, close, pre_close, change_amt, pct_chg, amplitude, up_limit, down_limit,
            volume, amount, turnover_rate, turnover_rate_f, volume_ratio, limit_status,
            pe, pe_ttm, pb, ps, ps_ttm, dv_ratio, dv_ttm, total_share, float_share, total_mv, circ_mv,
            rank, heat_score, momentum_score, value_score, quality_score, composite_score,
            is_st, is_new, consecutive_up_days, consecutive_limit_up, created_at, updated_at)
         VALUES ('EDGEMAX', E'q"\\\n😀''\t', DATE '{d}', E'Ünï "quoted" \\ new\nline 🚀',
            'NaN', 99999999.99, -99999999.99, 0.01, -0.01, 0, '3.4028235e38', '-3.4028235e38',
            'NaN', 0.00,
            9223372036854775807, 999999999999999999.99, '1e-45', '-1e-45', '-0', -32768,
            '1.7976931348623157e308', '-1.7976931348623157e308', '5e-324', '-0', 'NaN',
            'Infinity', '-Infinity', 0.1, 1.0/3, '2.2250738585072014e-308', 123456789.123456789,
            2147483647, 'NaN', 'Infinity', '-Infinity', '1.17549435e-38', 0.1,
            true, true, 32767, -1, '2024-01-02 03:04:05.123456+00', '1969-12-31 23:59:59.999999+00')"#,
    ),
    (
        "EDGEMIN",
        r#"INSERT INTO daily_stock_data (stock_code, stock_name, date, industry, close, amount,
            volume, rank, limit_status, pct_chg, pe, macd_dif, created_at, updated_at)
         VALUES ('EDGEMIN', '', DATE '{d}', ' leading and trailing ', -0.00, -999999999999999999.99,
            -9223372036854775808, -2147483648, 32767, '1.4e-45', '4.9e-324', -1e-300,
            '1970-01-01 00:00:00.000001+00', '2000-02-29 12:00:00.5+00')"#,
    ),
    (
        "ED'\"\\😀",
        r#"INSERT INTO daily_stock_data (stock_code, stock_name, date, close, pct_chg, pe, updated_at)
         VALUES (E'ED''"\\😀', E'\u0001ctl\u001f', DATE '{d}', 1234.5, 0.3, 0.3,
            '2038-01-19 03:14:08.25+00')"#,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_of_a_sample_equals_postgres() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    let written = db
        .fill_demo(TABLE, &stockd::demo::DemoParams::seed())
        .await?;
    let count: i64 = db
        .query("SELECT count(*) FROM daily_stock_data", &[])
        .await?[0]
        .get(0);
    ensure!(
        count as u64 == written && written == 86_836,
        "demo fill wrote {written} rows, the table has {count}; the seed's workload is 86,836"
    );

    // The window: the last WINDOW distinct dates.
    let window: Vec<String> = db
        .query(
            "SELECT DISTINCT date::text FROM daily_stock_data ORDER BY 1 DESC LIMIT $1",
            &[&(WINDOW as i64)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    ensure!(
        window.len() == WINDOW,
        "demo data has only {} dates",
        window.len()
    );
    let latest = window[0].clone();
    let inside = window[WINDOW / 2].clone();
    for (i, (_, sql)) in EDGE_ROWS.iter().enumerate() {
        let d = if i % 2 == 0 { &latest } else { &inside };
        db.execute(&sql.replace("{d}", d)).await?;
    }
    let edge_codes: Vec<(String, String)> = EDGE_ROWS
        .iter()
        .enumerate()
        .map(|(i, (code, _))| {
            let d = if i % 2 == 0 { &latest } else { &inside };
            (code.to_string(), d.clone())
        })
        .collect();

    let daemon = Daemon::builder()
        .database_url(db.url())
        .args(["--window-days", &WINDOW.to_string()])
        .start()
        .await?;

    // market.info against the catalog and SQL counts.
    let cols = compare::discover(db.client(), TABLE).await?;
    let info_v = daemon.call("market.info", Value::Null).await?;
    let info: MarketInfo = serde_json::from_value(info_v.clone())
        .with_context(|| format!("market.info does not match the contract: {info_v}"))?;
    let first = window.last().cloned();
    let sql_counts = db
        .query(
            "SELECT count(*), count(DISTINCT stock_code) FROM daily_stock_data WHERE date >= $1::text::date",
            &[&first],
        )
        .await?;
    let (rows, stocks): (i64, i64) = (sql_counts[0].get(0), sql_counts[0].get(1));
    let mut problems = Vec::new();
    if info.rows != rows as u64 {
        problems.push(format!("rows: daemon {} vs SQL {rows}", info.rows));
    }
    if info.stocks != stocks as u64 {
        problems.push(format!("stocks: daemon {} vs SQL {stocks}", info.stocks));
    }
    if info.dates.count != WINDOW as u64
        || info.dates.first != first
        || info.dates.last.as_deref() != Some(latest.as_str())
    {
        problems.push(format!(
            "dates: daemon {:?} vs SQL first {first:?} last {latest} count {WINDOW}",
            info.dates
        ));
    }
    if info.source.kind != "postgres" {
        problems.push(format!(
            "source.kind {:?}, expected \"postgres\"",
            info.source.kind
        ));
    }
    if info.window_days != WINDOW as u32 {
        problems.push(format!("window_days {} vs {WINDOW}", info.window_days));
    }
    if info.generation < 1 {
        problems.push(format!(
            "generation {} after the first load",
            info.generation
        ));
    }
    if !info.skipped_columns.is_empty() {
        problems.push(format!(
            "the reference table has only supported types, yet skipped: {:?}",
            info.skipped_columns
        ));
    }
    let names: Vec<&str> = info.columns.iter().map(|c| c.name.as_str()).collect();
    let want: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    if names != want {
        problems.push(format!("columns: daemon {names:?}\n  vs catalog {want:?}"));
    } else {
        for (c, pc) in info.columns.iter().zip(&cols) {
            if !pc.type_matches(&c.ty) {
                problems.push(format!(
                    "column {}: type {:?}, catalog says {:?}",
                    c.name, c.ty, pc.format_type
                ));
            }
            if c.nullable != pc.nullable {
                problems.push(format!(
                    "column {}: nullable {} but catalog says {}",
                    c.name, c.nullable, pc.nullable
                ));
            }
        }
    }
    let dates_v = daemon.call("market.dates", Value::Null).await?;
    let mut want_dates = window.clone();
    want_dates.reverse();
    if dates_v != json!(want_dates) {
        problems.push(format!("market.dates {dates_v} vs SQL {want_dates:?}"));
    }
    ensure!(
        problems.is_empty(),
        "market.info disagrees with PostgreSQL:\n{}",
        problems.join("\n")
    );

    // The typed WebSocket client sees the same documents.
    let ws = daemon.ws().await?;
    let ws_info = StockdClient::info(&ws).await?;
    ensure!(
        ws_info == info,
        "market.info over WebSocket differs:\n{ws_info:?}\nvs HTTP\n{info:?}"
    );
    let ws_row = typed_get(&ws, &edge_codes[1].0, &edge_codes[1].1).await?;
    let http_row = daemon
        .call(
            "stock.get",
            json!({"code": edge_codes[1].0, "date": edge_codes[1].1}),
        )
        .await?;
    ensure!(
        serde_json::to_value(&ws_row)? == http_row,
        "stock.get over WebSocket differs from HTTP: {ws_row:?} vs {http_row}"
    );

    // The sample: every (code, date) of the window, SAMPLE picked with a
    // fixed seed, plus the edge rows.
    let keys: Vec<(String, String)> = db
        .query(
            "SELECT stock_code, date::text FROM daily_stock_data WHERE date >= $1::text::date
             ORDER BY stock_code, date",
            &[&first],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut rng = Rng::new(0x05EE_D008_6836);
    let mut sample: Vec<(String, String)> = rng
        .sample(keys.len(), SAMPLE)
        .into_iter()
        .map(|i| keys[i].clone())
        .collect();
    sample.extend(edge_codes.iter().cloned());
    // Make sure every float column's NULL, NaN, extremes and every type are
    // covered: the edge rows do that; the sample covers realistic values.
    ensure!(
        cols.iter().any(|c| c.kind == PgKind::Float4)
            && cols.iter().any(|c| c.kind == PgKind::Numeric)
    );

    let reader = RowReader::prepare(db.client(), TABLE, &cols, "stock_code", "date").await?;
    let mut failures = Vec::new();
    for (code, date) in &sample {
        let expected = reader
            .read(db.client(), code, date)
            .await?
            .with_context(|| format!("no SQL row for ({code}, {date})"))?;
        let body = daemon
            .call_raw("stock.get", json!({"code": code, "date": date}))
            .await
            .with_context(|| format!("stock.get {code} {date}"))?;
        let row = compare::raw_row(&body)?;
        if &row.code != code || row.date.as_deref() != Some(date.as_str()) {
            failures.push(format!(
                "({code}, {date}): response names ({}, {:?})",
                row.code, row.date
            ));
        }
        for d in compare::compare_values(
            &reader.cols,
            &expected,
            &row.values,
            &["stock_code", "date"],
        ) {
            failures.push(format!("({code:?}, {date}): {d}"));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} differences between the daemon and PostgreSQL over {} rows; first ones:\n{}",
        failures.len(),
        sample.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // A row older than the window is not served, and says so.
    let old: Option<String> = db
        .query(
            "SELECT max(date)::text FROM daily_stock_data WHERE date < $1::text::date",
            &[&first],
        )
        .await?[0]
        .get(0);
    if let Some(old) = old {
        let code = &keys[0].0;
        let r = daemon
            .try_call("stock.get", json!({"code": code, "date": old}))
            .await?;
        let e = r
            .err()
            .with_context(|| format!("stock.get for {old}, outside the window, answered a row"))?;
        ensure!(
            e.code == i64::from(stockd_api::ErrorKind::UnknownDate.code())
                && e.text().contains(&old),
            "outside-the-window date: expected unknown_date naming {old}, got {e}"
        );
    }

    // Distinct check that sample codes were really spread out.
    let distinct: BTreeSet<&String> = sample.iter().map(|(c, _)| c).collect();
    ensure!(
        distinct.len() > 300,
        "sample covers only {} codes",
        distinct.len()
    );
    drop(ws);
    drop(daemon);
    Ok(())
}

/// `stock.get` through the typed client (generic so the `StockdClient`
/// bound picks the result types).
async fn typed_get<C: StockdClient + Sync>(
    c: &C,
    code: &str,
    date: &str,
) -> Result<stockd_api::StockRow> {
    Ok(c.get(code.to_string(), Some(date.to_string()), None)
        .await?)
}
