//! A table that is not the reference layout: schema-qualified, names with
//! spaces, upper case and a reserved word, unconstrained numeric (40 digits,
//! NaN), and unsupported types (jsonb, text[]) that must be skipped with a
//! warning naming them. Served through `--table` and `[columns]`.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use stockd_api::MarketInfo;
use stockd_tests::compare::{self, PgKind, RowReader};
use stockd_tests::{Daemon, PgTestDb};

const TABLE: &str = r#""Market Data"."Daily Bars""#;
const CODE: &str = "Ticker";
const DATE: &str = "trade day";

const DDL: &str = r#"
CREATE SCHEMA "Market Data";
CREATE TABLE "Market Data"."Daily Bars" (
    "Ticker"     text    NOT NULL,
    "trade day"  date    NOT NULL,
    px           numeric,
    vol          integer,
    "Select"     double precision,
    meta         jsonb,
    tags         text[],
    "Flag"       boolean,
    ts           timestamp,
    "Amount (CNY)" numeric(38,4),
    lots         smallint,
    big          bigint,
    ch           char(4),
    r            real,
    tstz         timestamptz,
    PRIMARY KEY ("Ticker", "trade day")
);
-- 40 tickers x 6 days of ordinary values
INSERT INTO "Market Data"."Daily Bars"
SELECT 'T' || lpad(i::text, 3, '0'), DATE '2024-03-01' + d,
       (i * 1000 + d)::numeric / 7,            -- unconstrained: long exact fractions
       i * 100 + d,
       (i * 0.731 + d * 0.017)::double precision,
       jsonb_build_object('i', i, 'd', d),
       ARRAY['a' || i, 'b' || d],
       (i + d) % 2 = 0,
       TIMESTAMP '2024-03-01 09:30:00' + make_interval(days => d, secs => i * 1.000001),
       (i * 12345.6789)::numeric(38,4),
       (i % 300)::smallint, i::bigint * 10000000000, lpad(i::text, 2, 'x'),
       (i / 3.0)::real,
       TIMESTAMPTZ '2024-03-01 01:00:00+00' + make_interval(days => d, secs => i * 0.5)
FROM generate_series(1, 40) AS i, generate_series(0, 5) AS d;
-- edge rows on the last day
INSERT INTO "Market Data"."Daily Bars" VALUES
 ('BIG 40', DATE '2024-03-06', 1234567890123456789012345678901234567890.0123456789, 2147483647,
  1.7976931348623157e308, '{"nested": [1, 2, {"x": null}]}', '{x,"y z"}', true,
  TIMESTAMP '2024-03-06 23:59:59.999999', 9999999999999999999999999999999999.9999, 32767,
  9223372036854775807, 'abcd', '3.4028235e38', TIMESTAMPTZ '2024-03-06 12:00:00.000001+00'),
 ('NaN px', DATE '2024-03-06', 'NaN', -2147483648, 'NaN', 'null', '{}', false,
  TIMESTAMP '1999-01-01 00:00:00', -0.0001, -32768, -9223372036854775808, 'a', '-0',
  TIMESTAMPTZ '1969-07-20 20:17:40+00'),
 ('银行 "Ω"', DATE '2024-03-06', -0.000000000000000000000000000001, 0, '-0', NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('tiny', DATE '2024-03-06', 0, NULL, '5e-324', '[]', ARRAY[]::text[], true,
  TIMESTAMP '2024-03-06 00:00:00.5', 0, 0, 0, ' ', '1e-45', NULL);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_table_is_served_through_table_and_columns_config() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.execute(DDL).await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .args(["--table", TABLE, "--window-days", "30"])
        .config("[columns]\ncode = \"Ticker\"\ndate = \"trade day\"\n")
        .start()
        .await?;

    let cols = compare::discover(db.client(), TABLE).await?;
    let (supported, skipped): (Vec<_>, Vec<_>) = cols
        .iter()
        .cloned()
        .partition(|c| c.kind != PgKind::Unsupported);
    ensure!(skipped.len() == 2, "the DDL has two unsupported columns");

    // market.info: held columns in table order, skipped ones listed.
    let info_v = daemon.call("market.info", Value::Null).await?;
    let info: MarketInfo = serde_json::from_value(info_v.clone())
        .with_context(|| format!("market.info does not match the contract: {info_v}"))?;
    let held: Vec<&str> = info.columns.iter().map(|c| c.name.as_str()).collect();
    let want: Vec<&str> = supported.iter().map(|c| c.name.as_str()).collect();
    ensure!(held == want, "columns held {held:?}, expected {want:?}");
    for (c, pc) in info.columns.iter().zip(&supported) {
        ensure!(
            pc.type_matches(&c.ty),
            "column {}: type {:?} vs catalog {:?}",
            c.name,
            c.ty,
            pc.format_type
        );
        ensure!(
            c.nullable == pc.nullable,
            "column {}: nullable {} vs catalog {}",
            c.name,
            c.nullable,
            pc.nullable
        );
    }
    let skipped_names: Vec<&str> = info
        .skipped_columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    ensure!(
        skipped_names == ["meta", "tags"],
        "skipped_columns should be [meta, tags], got {:?}",
        info.skipped_columns
    );
    for (c, pc) in info.skipped_columns.iter().zip(&skipped) {
        ensure!(
            pc.type_matches(&c.ty),
            "skipped column {}: type {:?} vs catalog {:?}",
            c.name,
            c.ty,
            pc.format_type
        );
    }
    let counts = db
        .query(r#"SELECT count(*), count(DISTINCT "Ticker"), count(DISTINCT "trade day") FROM "Market Data"."Daily Bars""#, &[])
        .await?;
    let (rows, stocks, days): (i64, i64, i64) =
        (counts[0].get(0), counts[0].get(1), counts[0].get(2));
    ensure!(
        (info.rows, info.stocks, info.dates.count) == (rows as u64, stocks as u64, days as u64),
        "rows/stocks/dates {}/{}/{} vs SQL {rows}/{stocks}/{days}",
        info.rows,
        info.stocks,
        info.dates.count
    );
    ensure!(
        info.dates.first.as_deref() == Some("2024-03-01")
            && info.dates.last.as_deref() == Some("2024-03-06"),
        "dates {:?}",
        info.dates
    );

    // One warning per skipped column, naming it.
    let stderr = daemon.stderr();
    for name in ["meta", "tags"] {
        let warned = stderr
            .lines()
            .filter(|l| l.contains(name) && l.to_ascii_lowercase().contains("warn"))
            .count();
        ensure!(
            warned >= 1,
            "no warning naming the skipped column {name:?} in stderr:\n{stderr}"
        );
    }

    // Every row, every column.
    let keys: Vec<(String, String)> = db
        .query(
            r#"SELECT "Ticker", "trade day"::text FROM "Market Data"."Daily Bars" ORDER BY 1, 2"#,
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let reader = RowReader::prepare(db.client(), TABLE, &cols, CODE, DATE).await?;
    let mut failures = Vec::new();
    for (code, date) in &keys {
        let expected = reader
            .read(db.client(), code, date)
            .await?
            .context("row vanished")?;
        let body = daemon
            .call_raw("stock.get", json!({"code": code, "date": date}))
            .await
            .with_context(|| format!("stock.get {code:?} {date}"))?;
        let row = compare::raw_row(&body)?;
        if &row.code != code || row.date.as_deref() != Some(date.as_str()) {
            failures.push(format!(
                "({code:?}, {date}): response names ({:?}, {:?})",
                row.code, row.date
            ));
        }
        for name in ["meta", "tags"] {
            if row.values.contains_key(name) {
                failures.push(format!(
                    "({code:?}, {date}): skipped column {name} present in values"
                ));
            }
        }
        for d in compare::compare_values(&reader.cols, &expected, &row.values, &[CODE, DATE]) {
            failures.push(format!("({code:?}, {date}): {d}"));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} differences over {} rows:\n{}",
        failures.len(),
        keys.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Default date is the stock's latest; fields select by the real names.
    let r = daemon
        .call(
            "stock.get",
            json!({"code": "T007", "fields": ["Select", "trade day", "Amount (CNY)"]}),
        )
        .await?;
    ensure!(
        r["date"] == "2024-03-06",
        "default date should be the latest, got {r}"
    );
    let keys_got: Vec<&String> = r["values"].as_object().context("values")?.keys().collect();
    ensure!(
        keys_got
            .iter()
            .all(|k| ["Select", "trade day", "Amount (CNY)"].contains(&k.as_str()))
            && keys_got.iter().any(|k| *k == "Select")
            && keys_got.iter().any(|k| *k == "Amount (CNY)"),
        "fields selection returned keys {keys_got:?}"
    );
    // Asking for a skipped column is an unknown column.
    let e = daemon
        .try_call("stock.get", json!({"code": "T007", "fields": ["meta"]}))
        .await?
        .err()
        .context("fields [meta] (a skipped column) should be refused")?;
    ensure!(
        e.code == 1003 && e.text().contains("meta"),
        "fields [meta]: {e}"
    );

    // History of one ticker: columns aligned with dates, values as in SQL.
    let hist_body = daemon
        .call_raw(
            "stock.history",
            json!({"code": "T013", "fields": ["px", "Select", "ts"]}),
        )
        .await?;
    let hist: compare::RawHistory = serde_json::from_str(compare::raw_result(&hist_body)?.get())?;
    let sql_hist = db
        .query(
            &format!(
                r#"SELECT "trade day"::text, {}, {}, {} FROM "Market Data"."Daily Bars" WHERE "Ticker" = 'T013' ORDER BY 1"#,
                compare::select_expr(&supported[2]),
                compare::select_expr(&supported[4]),
                compare::select_expr(&supported[6])
            ),
            &[],
        )
        .await?;
    ensure!(
        [&supported[2].name, &supported[4].name, &supported[6].name] == ["px", "Select", "ts"],
        "test assumes column order px, Select, ts"
    );
    let sql_dates: Vec<String> = sql_hist.iter().map(|r| r.get(0)).collect();
    ensure!(
        hist.dates == sql_dates,
        "history dates {:?} vs SQL {sql_dates:?}",
        hist.dates
    );
    for (j, col) in [&supported[2], &supported[4], &supported[6]]
        .into_iter()
        .enumerate()
    {
        let arr = hist
            .columns
            .get(&col.name)
            .with_context(|| format!("history has no column {}", col.name))?;
        ensure!(
            arr.len() == sql_dates.len(),
            "column {} has {} values for {} dates",
            col.name,
            arr.len(),
            sql_dates.len()
        );
        for (i, row) in sql_hist.iter().enumerate() {
            compare::check(&compare::expected(row, j + 1, col), arr[i])
                .map_err(|e| anyhow::anyhow!("history T013 {} {}: {e}", sql_dates[i], col.name))?;
        }
    }

    // stock.top over the unconstrained numeric and the reserved-word column:
    // NaN and NULL never ranked; order as PostgreSQL sorts (no ties here).
    for (by, order) in [
        ("px", "desc"),
        ("px", "asc"),
        ("Select", "desc"),
        ("Select", "asc"),
    ] {
        let got = daemon
            .call(
                "stock.top",
                json!({"by": by, "n": 10, "order": order, "date": "2024-03-06"}),
            )
            .await?;
        let got_codes: Vec<String> = got
            .as_array()
            .context("stock.top result is not a list")?
            .iter()
            .map(|r| r["code"].as_str().unwrap_or_default().to_string())
            .collect();
        let sql = format!(
            r#"SELECT "Ticker" FROM "Market Data"."Daily Bars"
               WHERE "trade day" = DATE '2024-03-06' AND {c} IS NOT NULL AND {c} <> 'NaN'
                 AND {c} NOT IN ('Infinity', '-Infinity')
               ORDER BY {c} {order}, "Ticker" COLLATE "C" LIMIT 10"#,
            c = stockd_tests::pg::quote_ident(by)
        );
        let want: Vec<String> = db
            .query(&sql, &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        ensure!(
            got_codes == want,
            "stock.top by {by} {order}: daemon {got_codes:?}, SQL {want:?}"
        );
    }
    Ok(())
}
