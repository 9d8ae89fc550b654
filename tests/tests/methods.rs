//! The stock methods' happy paths, against values computed independently by
//! PostgreSQL: `stock.get` (default date = the stock's latest, `fields`),
//! `stock.many` (order, `missing`), `stock.history` (arrays aligned with
//! dates, from/to), `stock.top` (desc/asc, ties by code, NULL and NaN never
//! ranked, industry filter, defaults) — over HTTP and the typed WebSocket
//! client.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use stockd_api::StockdClient;
use stockd_tests::compare::{self, PgColumn, RowReader};
use stockd_tests::pg::quote_ident;
use stockd_tests::{Daemon, PgTestDb};

const TABLE: &str = "daily_stock_data";

/// Fields drop in order: the daemon stops before its database is dropped.
struct Fixture {
    daemon: Daemon,
    db: PgTestDb,
    cols: Vec<PgColumn>,
    reader: RowReader,
    /// Held dates, ascending.
    dates: Vec<String>,
    latest: String,
    /// A stock with no row on the latest date.
    suspended: String,
}

async fn fixture() -> Result<Fixture> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_demo(TABLE, &stockd::demo::DemoParams::seed())
        .await?;
    // Make sure a stock is suspended on the last day and a few values are
    // NaN, so defaults and ranking have something to get wrong.
    let latest: String = db
        .query("SELECT max(date)::text FROM daily_stock_data", &[])
        .await?[0]
        .get(0);
    let suspended: String = db
        .query(
            "SELECT stock_code FROM daily_stock_data WHERE date = $1::text::date ORDER BY stock_code OFFSET 17 LIMIT 1",
            &[&latest],
        )
        .await?[0]
        .get(0);
    db.query(
        "DELETE FROM daily_stock_data WHERE stock_code = $1 AND date = $2::text::date",
        &[&suspended, &latest],
    )
    .await?;
    db.execute(&format!(
        "UPDATE daily_stock_data SET pe = 'NaN', pct_chg = 'NaN' WHERE date = DATE '{latest}'
           AND stock_code IN (SELECT stock_code FROM daily_stock_data WHERE date = DATE '{latest}'
                              ORDER BY stock_code OFFSET 5 LIMIT 3)"
    ))
    .await?;
    let daemon = Daemon::builder()
        .database_url(db.url())
        .args(["--window-days", "30"])
        .start()
        .await?;
    let cols = compare::discover(db.client(), TABLE).await?;
    let reader = RowReader::prepare(db.client(), TABLE, &cols, "stock_code", "date").await?;
    let dates: Vec<String> = db
        .query(
            "SELECT d FROM (SELECT DISTINCT date::text AS d FROM daily_stock_data ORDER BY 1 DESC LIMIT 30) w ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Fixture {
        db,
        daemon,
        cols,
        reader,
        dates,
        latest,
        suspended,
    })
}

impl Fixture {
    /// Checks a raw row against PostgreSQL.
    async fn check_row(&self, what: &str, row: &compare::RawRow<'_>, date: &str) -> Result<()> {
        let expected = self
            .reader
            .read(self.db.client(), &row.code, date)
            .await?
            .with_context(|| format!("{what}: no SQL row for {} {date}", row.code))?;
        let diffs = compare::compare_values(
            &self.reader.cols,
            &expected,
            &row.values,
            &["stock_code", "date"],
        );
        ensure!(
            diffs.is_empty(),
            "{what}: {} {date}:\n{}",
            row.code,
            diffs.join("\n")
        );
        Ok(())
    }

    /// Codes ranked by `by` on `date` as PostgreSQL orders them: NULL and
    /// NaN excluded, ties by code (byte order).
    async fn sql_top(
        &self,
        by: &str,
        order: &str,
        n: i64,
        date: &str,
        industry: Option<&str>,
    ) -> Result<Vec<String>> {
        let c = quote_ident(by);
        let sql = format!(
            "SELECT stock_code FROM daily_stock_data
             WHERE date = $1::text::date AND {c} IS NOT NULL AND {c}::float8 <> 'NaN'::float8
               AND ($2::text IS NULL OR industry = $2)
             ORDER BY {c} {order}, stock_code COLLATE \"C\" LIMIT $3"
        );
        Ok(self
            .db
            .query(&sql, &[&date, &industry, &n])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}

fn codes_of(top: &Value) -> Vec<String> {
    top.as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["code"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_methods_agree_with_postgres() -> Result<()> {
    let f = fixture().await?;
    let d = &f.daemon;

    // market.dates
    let dates = d.call("market.dates", Value::Null).await?;
    ensure!(
        dates == json!(f.dates),
        "market.dates {dates} vs SQL {:?}",
        f.dates
    );

    // stock.get: default date is the stock's own latest.
    let normal: String = f
        .db
        .query("SELECT stock_code FROM daily_stock_data WHERE date = $1::text::date ORDER BY stock_code LIMIT 1", &[&f.latest])
        .await?[0]
        .get(0);
    let own_latest: String =
        f.db.query(
            "SELECT max(date)::text FROM daily_stock_data WHERE stock_code = $1",
            &[&f.suspended],
        )
        .await?[0]
            .get(0);
    for (code, want_date) in [(&normal, &f.latest), (&f.suspended, &own_latest)] {
        let body = d.call_raw("stock.get", json!({"code": code})).await?;
        let row = compare::raw_row(&body)?;
        ensure!(
            row.date.as_deref() == Some(want_date.as_str()),
            "stock.get {code} without date: got date {:?}, its latest is {want_date}",
            row.date
        );
        f.check_row("stock.get default date", &row, want_date)
            .await?;
    }
    // On the latest date the suspended stock has no row.
    let e = d
        .try_call("stock.get", json!({"code": f.suspended, "date": f.latest}))
        .await?
        .err()
        .context("a stock with no row on a date should be an error")?;
    ensure!(
        e.text().contains(&f.suspended) || e.text().contains(&f.latest),
        "{e}"
    );

    // fields selects exactly those columns.
    let fields = ["close", "pe", "stock_name", "created_at"];
    let body = d
        .call_raw(
            "stock.get",
            json!({"code": normal, "date": f.latest, "fields": fields}),
        )
        .await?;
    let row = compare::raw_row(&body)?;
    let keys: Vec<&str> = row.values.keys().map(String::as_str).collect();
    let mut want = fields.to_vec();
    want.sort();
    ensure!(keys == want, "fields {fields:?} returned keys {keys:?}");
    let expected = f
        .reader
        .read(f.db.client(), &normal, &f.latest)
        .await?
        .context("row")?;
    for name in fields {
        let i = f
            .reader
            .cols
            .iter()
            .position(|c| c.name == name)
            .context("column")?;
        compare::check(&expected[i], row.values[name])
            .map_err(|e| anyhow::anyhow!("fields {name}: {e}"))?;
    }

    // stock.many: rows for the known codes, the rest in missing.
    let picks: Vec<String> = f
        .db
        .query("SELECT stock_code FROM daily_stock_data WHERE date = $1::text::date ORDER BY stock_code DESC LIMIT 3", &[&f.latest])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let asked = vec![
        picks[0].clone(),
        "NOPE01".to_string(),
        picks[1].clone(),
        f.suspended.clone(),
        picks[2].clone(),
    ];
    let body = d
        .call_raw("stock.many", json!({"codes": asked, "date": f.latest}))
        .await?;
    #[derive(serde::Deserialize)]
    struct RawMany<'a> {
        #[serde(borrow)]
        rows: Vec<compare::RawRow<'a>>,
        missing: Vec<String>,
    }
    let many: RawMany = serde_json::from_str(compare::raw_result(&body)?.get())?;
    let got: Vec<&str> = many.rows.iter().map(|r| r.code.as_str()).collect();
    ensure!(
        got == [&picks[0], &picks[1], &picks[2]],
        "stock.many rows {got:?}, expected {picks:?} in request order"
    );
    let mut missing = many.missing.clone();
    missing.sort();
    let mut want_missing = vec!["NOPE01".to_string(), f.suspended.clone()];
    want_missing.sort();
    ensure!(
        missing == want_missing,
        "stock.many missing {:?}, expected {want_missing:?}",
        many.missing
    );
    for r in &many.rows {
        ensure!(
            r.date.as_deref() == Some(f.latest.as_str()),
            "stock.many row date {:?}",
            r.date
        );
        f.check_row("stock.many", r, &f.latest).await?;
    }

    // stock.history: whole window by default, then a from/to slice; every
    // column array aligned with dates and equal to SQL.
    let from = &f.dates[10];
    let to = &f.dates[20];
    for (params, lo, hi) in [
        (json!({"code": f.suspended}), &f.dates[0], &f.latest),
        (
            json!({"code": f.suspended, "from": from, "to": to}),
            from,
            to,
        ),
    ] {
        let body = d.call_raw("stock.history", params.clone()).await?;
        let hist: compare::RawHistory = serde_json::from_str(compare::raw_result(&body)?.get())?;
        let sql_dates: Vec<String> = f
            .db
            .query(
                "SELECT date::text FROM daily_stock_data WHERE stock_code = $1 AND date BETWEEN $2::text::date AND $3::text::date ORDER BY 1",
                &[&f.suspended, lo, hi],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        ensure!(hist.code == f.suspended, "history code {}", hist.code);
        ensure!(
            hist.dates == sql_dates,
            "history {params}: dates {:?} vs SQL {sql_dates:?}",
            hist.dates
        );
        for (i, date) in hist.dates.iter().enumerate() {
            let expected = f
                .reader
                .read(f.db.client(), &f.suspended, date)
                .await?
                .context("row")?;
            for (col, exp) in f.reader.cols.iter().zip(&expected) {
                let Some(arr) = hist.columns.get(&col.name) else {
                    ensure!(
                        ["stock_code", "date"].contains(&col.name.as_str()),
                        "history lacks column {}",
                        col.name
                    );
                    continue;
                };
                ensure!(
                    arr.len() == hist.dates.len(),
                    "history column {} has {} values for {} dates",
                    col.name,
                    arr.len(),
                    hist.dates.len()
                );
                compare::check(exp, arr[i])
                    .map_err(|e| anyhow::anyhow!("history {date} {}: {e}", col.name))?;
            }
        }
    }

    // stock.top against SQL ordering.
    let industry: String = f
        .db
        .query("SELECT industry FROM daily_stock_data WHERE date = $1::text::date AND industry IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", &[&f.latest])
        .await?[0]
        .get(0);
    let mid = f.dates[f.dates.len() / 2].clone();
    // Each case's SQL equivalent is derived from its params, with the
    // contract's defaults: n = 20, order desc, date = latest.
    let cases = [
        json!({"by": "pct_chg"}),
        json!({"by": "pct_chg", "order": "asc", "n": 50}),
        json!({"by": "pe", "order": "asc", "n": 500}),
        json!({"by": "pe", "order": "desc", "n": 500, "date": mid}),
        json!({"by": "amount", "n": 100}),
        json!({"by": "rank", "order": "asc", "n": 30}),
        json!({"by": "limit_status", "n": 40}),
        json!({"by": "volume", "industry": industry, "n": 500}),
    ];
    for params in cases {
        let by = params["by"].as_str().unwrap_or_default();
        let order = if params["order"] == "asc" {
            "ASC"
        } else {
            "DESC"
        };
        let n = params["n"].as_i64().unwrap_or(20);
        let date = params["date"].as_str().unwrap_or(&f.latest);
        let ind = params["industry"].as_str();
        let top = d.call("stock.top", params.clone()).await?;
        let got = codes_of(&top);
        let want = f.sql_top(by, order, n, date, ind).await?;
        ensure!(
            got == want,
            "stock.top {params}: {} codes, SQL {}; first difference at {:?}\ndaemon {:?}\nSQL    {:?}",
            got.len(),
            want.len(),
            got.iter().zip(&want).position(|(a, b)| a != b),
            &got[..got.len().min(10)],
            &want[..want.len().min(10)]
        );
        for r in top.as_array().into_iter().flatten() {
            let v = &r["values"][by];
            ensure!(
                !v.is_null() && v != "NaN",
                "stock.top {params} ranked a NULL/NaN: {r}"
            );
        }
    }

    // The typed WebSocket client decodes every result shape.
    let ws = d.ws().await?;
    let http_top = codes_of(
        &d.call("stock.top", json!({"by": "pct_chg", "n": 5}))
            .await?,
    );
    typed_checks(
        &ws,
        &normal,
        &http_top,
        f.dates.len(),
        &f.latest,
        f.cols.len(),
    )
    .await?;
    Ok(())
}

/// Calls every stock method through the typed client (a generic function so
/// the `StockdClient` bound picks the result types).
async fn typed_checks<C: StockdClient + Sync>(
    ws: &C,
    normal: &str,
    http_top: &[String],
    n_dates: usize,
    latest: &str,
    n_cols: usize,
) -> Result<()> {
    let top = ws
        .top(
            "pct_chg".into(),
            Some(5),
            None,
            None,
            None,
            Some(vec!["pct_chg".into()]),
            // The typed client reads the columns layout into rows.
            Some(stockd_api::Layout::Columns),
        )
        .await?;
    let codes: Vec<String> = top.iter().map(|r| r.code.clone()).collect();
    ensure!(codes == http_top, "typed top {top:?} vs {http_top:?}");
    let many = ws
        .many(
            vec![normal.to_string(), "NOPE01".into()],
            None,
            Some(vec!["close".into()]),
            Some(stockd_api::Layout::Columns),
        )
        .await?;
    ensure!(
        many.rows.len() == 1 && many.missing == ["NOPE01"],
        "typed many {many:?}"
    );
    let hist = ws
        .history(normal.to_string(), None, None, Some(vec!["close".into()]))
        .await?;
    ensure!(
        hist.dates.len() == n_dates
            && hist
                .columns
                .get("close")
                .and_then(Value::as_array)
                .map(Vec::len)
                == Some(hist.dates.len()),
        "typed history {hist:?}"
    );
    let row = ws.get(normal.to_string(), None, None).await?;
    ensure!(
        row.date == latest && row.values.len() >= n_cols - 2,
        "typed get {row:?}"
    );
    Ok(())
}
