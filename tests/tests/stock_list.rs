//! `stock.list` against PostgreSQL: every stock of the window once, by
//! code, described by its latest row (`SELECT DISTINCT ON (stock_code) …
//! ORDER BY stock_code, date DESC`); the industry, code-prefix and name
//! filters (Chinese substrings, ASCII letters in any case) and their
//! combinations; paging that covers every match exactly once; the limit's
//! default and cap, bad values and unknown param names refused by name; the
//! mapped `board` and `list_date` columns when the table has them, and
//! `null` plus `missing_columns` when it has not (the demo data set).

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use stockd_api::{StockList, StockdClient, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT};
use stockd_tests::{Daemon, PgTestDb, RpcError};

const INVALID_PARAMS: i64 = -32602;
const UNKNOWN_INDUSTRY: i64 = 1004;
const LIMIT_EXCEEDED: i64 = 1009;

/// One listed stock as PostgreSQL computes it: code, name, industry, board,
/// list_date, date.
type Listed = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn rows_of(l: &StockList) -> Vec<Listed> {
    l.stocks
        .iter()
        .map(|s| {
            (
                s.code.clone(),
                s.name.clone(),
                s.industry.clone(),
                s.board.clone(),
                s.list_date.clone(),
                s.date.clone(),
            )
        })
        .collect()
}

/// Every stock's latest row in the window, filtered like `stock.list`.
async fn sql_list(
    db: &PgTestDb,
    first_date: &str,
    industry: Option<&str>,
    prefix: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<Listed>> {
    let rows = db
        .query(
            "SELECT stock_code, stock_name, industry, board, list_date::text, date::text FROM
               (SELECT DISTINCT ON (stock_code) * FROM daily_stock_data
                 WHERE date >= $1::text::date ORDER BY stock_code, date DESC) latest
             WHERE ($2::text IS NULL OR industry = $2)
               AND ($3::text IS NULL OR starts_with(stock_code, $3))
               AND ($4::text IS NULL OR strpos(lower(stock_name), lower($4)) > 0)
             ORDER BY stock_code COLLATE \"C\"",
            &[&first_date, &industry, &prefix, &name],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect())
}

/// Every page of `params` with `limit`, concatenated; checks `total`,
/// `offset`, `limit` and `next_offset` of each page on the way.
async fn all_pages(d: &Daemon, params: &Value, limit: u64) -> Result<(Vec<Listed>, u64)> {
    let mut out = Vec::new();
    let mut offset = 0;
    let mut total = None;
    loop {
        let mut p = params.clone();
        p["offset"] = json!(offset);
        p["limit"] = json!(limit);
        let page: StockList = serde_json::from_value(d.call("stock.list", p.clone()).await?)?;
        ensure!(
            page.offset == offset && page.limit == limit,
            "{p}: page says offset {} limit {}",
            page.offset,
            page.limit
        );
        ensure!(
            *total.get_or_insert(page.total) == page.total,
            "{p}: total changed between pages"
        );
        ensure!(
            page.stocks.len() as u64 <= limit,
            "{p}: {} stocks",
            page.stocks.len()
        );
        out.extend(rows_of(&page));
        match page.next_offset {
            Some(n) => {
                ensure!(
                    n == offset + limit && n < page.total,
                    "{p}: next_offset {n} of {}",
                    page.total
                );
                offset = n;
            }
            None => break,
        }
    }
    let total = total.unwrap_or(0);
    ensure!(
        out.len() as u64 == total,
        "{params}: pages hold {} stocks, total says {total}",
        out.len()
    );
    Ok((out, total))
}

fn error_of(r: Result<Value, RpcError>, what: &str) -> Result<RpcError> {
    match r {
        Ok(v) => anyhow::bail!("{what}: answered {v}, expected an error"),
        Err(e) => Ok(e),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_list_agrees_with_postgres() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    db.fill_demo("daily_stock_data", &stockd::demo::DemoParams::seed())
        .await?;
    // The mapped board and list_date columns (the reference layout has
    // neither): text and date, a few NULL.
    db.execute(
        "ALTER TABLE daily_stock_data ADD COLUMN board text, ADD COLUMN list_date date;
         UPDATE daily_stock_data SET
           board = CASE WHEN stock_code LIKE '30%' THEN 'ChiNext' WHEN stock_code LIKE '68%' THEN 'STAR'
                        WHEN stock_code LIKE '0%' OR stock_code LIKE '6%' THEN 'Main' END,
           list_date = CASE WHEN stock_code LIKE '%7' THEN NULL
                            ELSE DATE '2000-01-03' + abs(hashtext(stock_code)) % 7000 END",
    )
    .await?;
    let latest: String = db
        .query("SELECT max(date)::text FROM daily_stock_data", &[])
        .await?[0]
        .get(0);
    // A stock suspended on the last day, renamed and moved to another
    // industry on its last traded day; an ASCII name to search in any case.
    let picks: Vec<String> = db
        .query(
            "SELECT stock_code FROM daily_stock_data WHERE date = $1::text::date AND industry IS NOT NULL
             ORDER BY stock_code OFFSET 11 LIMIT 2",
            &[&latest],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (suspended, ascii) = (&picks[0], &picks[1]);
    db.execute(&format!(
        "DELETE FROM daily_stock_data WHERE stock_code = '{suspended}' AND date = DATE '{latest}';
         UPDATE daily_stock_data SET stock_name = '新名字股份', industry = '新行业'
          WHERE stock_code = '{suspended}'
            AND date = (SELECT max(date) FROM daily_stock_data WHERE stock_code = '{suspended}');
         UPDATE daily_stock_data SET stock_name = 'Ping An Bank' WHERE stock_code = '{ascii}';"
    ))
    .await?;
    let d = Daemon::builder()
        .database_url(db.url())
        .args(["--window-days", "30"])
        .start()
        .await?;
    let dates: Vec<String> = serde_json::from_value(d.call("market.dates", json!({})).await?)?;
    let first = dates.first().context("no dates held")?.clone();
    let info = d.call("market.info", json!({})).await?;
    let stocks = info["stocks"].as_u64().context("market.info stocks")?;

    // Everything, in pages of the largest size, equals SQL.
    let want = sql_list(&db, &first, None, None, None).await?;
    let (got, total) = all_pages(&d, &json!({}), LIST_MAX_LIMIT).await?;
    ensure!(
        total == stocks && got.len() == want.len(),
        "total {total}, market.info stocks {stocks}, SQL {}",
        want.len()
    );
    if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
        anyhow::bail!(
            "stock.list differs from SQL at {i}:\n  daemon {:?}\n  SQL    {:?}",
            got[i],
            want[i]
        );
    }
    // The suspended stock: its own latest row, new name and industry.
    let s = got
        .iter()
        .find(|r| &r.0 == suspended)
        .context("suspended stock not listed")?;
    ensure!(
        s.1.as_deref() == Some("新名字股份") && s.2.as_deref() == Some("新行业") && s.5 != latest,
        "suspended stock listed as {s:?}"
    );
    ensure!(
        got.iter().any(|r| r.3.is_some()) && got.iter().any(|r| r.4.is_none()),
        "board and list_date read from the table"
    );

    // Default limit, and small pages cover the same list exactly once.
    let page: StockList = serde_json::from_value(d.call("stock.list", json!({})).await?)?;
    ensure!(
        page.limit == LIST_DEFAULT_LIMIT
            && page.stocks.len() as u64 == LIST_DEFAULT_LIMIT.min(total)
            && page.missing_columns.is_empty(),
        "default page: limit {}, {} stocks, missing {:?}",
        page.limit,
        page.stocks.len(),
        page.missing_columns
    );
    let (small, _) = all_pages(&d, &json!({}), 37).await?;
    ensure!(small == want, "pages of 37 differ from the whole list");

    // Filters, alone and combined, against SQL.
    let industry = want
        .iter()
        .find_map(|r| r.2.clone())
        .context("an industry")?;
    let some_name = want
        .iter()
        .find_map(|r| r.1.clone().filter(|n| n.chars().count() >= 3))
        .context("a name")?;
    let cjk: String = some_name.chars().skip(1).take(2).collect();
    let prefix: String = want[want.len() / 2].0.chars().take(3).collect();
    let cases: Vec<(Option<&str>, Option<&str>, Option<&str>)> = vec![
        (Some(&industry), None, None),
        (Some("新行业"), None, None),
        (None, Some(&prefix), None),
        (None, Some("30"), None),
        (None, Some("NOPE"), None),
        (None, None, Some(&cjk)),
        (None, None, Some("PING an")),
        (None, None, Some("新名字")),
        (Some(&industry), Some("6"), None),
        (None, Some("0"), Some(&cjk)),
        (Some(&industry), Some("60"), Some(&cjk)),
    ];
    let mut matched = 0;
    for (ind, pre, name) in cases {
        let mut p = json!({});
        if let Some(v) = ind {
            p["industry"] = json!(v);
        }
        if let Some(v) = pre {
            p["prefix"] = json!(v);
        }
        if let Some(v) = name {
            p["name"] = json!(v);
        }
        let want = sql_list(&db, &first, ind, pre, name).await?;
        let (got, _) = all_pages(&d, &p, 50).await?;
        ensure!(
            got == want,
            "stock.list {p}: {} stocks, SQL {}\n  daemon {:?}\n  SQL    {:?}",
            got.len(),
            want.len(),
            got.iter().take(3).collect::<Vec<_>>(),
            want.iter().take(3).collect::<Vec<_>>()
        );
        matched += usize::from(!got.is_empty());
    }
    // All but the "NOPE" prefix and possibly the three-filter case match.
    ensure!(
        matched >= 9,
        "only {matched} of the filter cases matched anything"
    );
    let pa = sql_list(&db, &first, None, None, Some("ping AN")).await?;
    ensure!(
        pa.len() == 1 && &pa[0].0 == ascii,
        "the ASCII name is found: {pa:?}"
    );

    // Bad values: named, with what is allowed.
    let e = error_of(
        d.try_call("stock.list", json!({"limit": LIST_MAX_LIMIT + 1}))
            .await?,
        "limit over the cap",
    )?;
    ensure!(
        e.code == LIMIT_EXCEEDED && e.text().contains("1001") && e.text().contains("1000"),
        "{e}"
    );
    let e = error_of(
        d.try_call("stock.list", json!({"limit": 0})).await?,
        "limit 0",
    )?;
    ensure!(
        e.code == INVALID_PARAMS && e.text().contains("1 to 1000"),
        "{e}"
    );
    let e = error_of(
        d.try_call("stock.list", json!({"limit": -5})).await?,
        "negative limit",
    )?;
    ensure!(
        e.code == INVALID_PARAMS && e.message.contains("'limit'"),
        "{e}"
    );
    let e = error_of(
        d.try_call("stock.list", json!({"industry": "没有这个行业"}))
            .await?,
        "unknown industry",
    )?;
    ensure!(
        e.code == UNKNOWN_INDUSTRY
            && e.text().contains("没有这个行业")
            && e.text().contains(&industry),
        "{e}"
    );
    let e = error_of(
        d.try_call("stock.list", json!({"name": "x".repeat(300)}))
            .await?,
        "name too long",
    )?;
    ensure!(e.code == LIMIT_EXCEEDED, "{e}");
    let past: StockList =
        serde_json::from_value(d.call("stock.list", json!({"offset": total + 5})).await?)?;
    ensure!(
        past.stocks.is_empty() && past.total == total && past.next_offset.is_none(),
        "offset past the end: {past:?}"
    );

    // Unknown param names: refused by name, alone (fast path → jsonrpsee)
    // and inside a batch, listing the names taken.
    for params in [
        json!({"limt": 5}),
        json!({"prefix": "60", "code": "600000"}),
    ] {
        let bad = params
            .as_object()
            .and_then(|o| o.keys().find(|k| *k == "limt" || *k == "code"))
            .cloned()
            .unwrap_or_default();
        let e = error_of(
            d.try_call("stock.list", params.clone()).await?,
            "unknown param",
        )?;
        ensure!(
            e.code == INVALID_PARAMS
                && e.message.contains(&format!("'{bad}'"))
                && e.message.contains("industry, prefix, name, offset, limit"),
            "{params}: {e}"
        );
        let batch = json!([Daemon::request("stock.list", &params, 7)]);
        let (_, doc) = d.raw(batch.to_string().as_bytes()).await?;
        let e = doc
            .get(0)
            .and_then(RpcError::from_response)
            .with_context(|| format!("batch answer {doc}"))?;
        ensure!(
            e.code == INVALID_PARAMS && e.message.contains(&format!("'{bad}'")),
            "batch {params}: {e}"
        );
    }

    // The typed WebSocket client decodes the result.
    let ws = d.ws().await?;
    typed(&ws, &prefix, &want).await?;
    Ok(())
}

/// `stock.list` through the typed client (generic so `StockdClient`
/// picks the result type).
async fn typed<C: StockdClient + Sync>(ws: &C, prefix: &str, all: &[Listed]) -> Result<()> {
    let l = ws
        .list(None, Some(prefix.to_string()), None, Some(1), Some(2))
        .await?;
    let want: Vec<&Listed> = all.iter().filter(|r| r.0.starts_with(prefix)).collect();
    ensure!(
        l.total == want.len() as u64
            && rows_of(&l).iter().collect::<Vec<_>>()
                == want.iter().skip(1).take(2).copied().collect::<Vec<_>>(),
        "typed list {l:?}"
    );
    Ok(())
}

/// The demo data set (reference layout: no board, no list_date): every
/// stock listed, those two attributes `null` and named as missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_list_on_demo_data_names_missing_columns() -> Result<()> {
    let d = Daemon::demo().await?;
    let info = d.call("market.info", json!({})).await?;
    let stocks = info["stocks"].as_u64().context("stocks")?;
    let (all, total) = all_pages(&d, &json!({}), LIST_MAX_LIMIT).await?;
    ensure!(total == stocks, "total {total} vs market.info {stocks}");
    let codes: Vec<&String> = all.iter().map(|r| &r.0).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    sorted.dedup();
    ensure!(codes == sorted, "codes listed once each, by code");
    ensure!(
        all.iter().all(|r| r.3.is_none() && r.4.is_none()),
        "board and list_date are null"
    );
    ensure!(
        all.iter().filter(|r| r.1.is_some()).count() > all.len() / 2,
        "names are read"
    );
    let page: StockList = serde_json::from_value(d.call("stock.list", json!({"limit": 1})).await?)?;
    ensure!(
        page.missing_columns == ["board (board)", "list_date (list_date)"],
        "missing columns {:?}",
        page.missing_columns
    );
    Ok(())
}
