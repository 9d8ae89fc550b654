//! The embedded demo data set: the daemon with no database serves the
//! reference layout at realistic scale, and exactly the rows that
//! `demo::fill_table` writes to PostgreSQL for the same parameters (so the
//! demo store goes through the same lossless path as a real load).

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use stockd::demo::DemoParams;
use stockd_api::MarketInfo;
use stockd_tests::compare::{self, RowReader};
use stockd_tests::{Daemon, PgTestDb, Rng};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_daemon_serves_the_reference_layout_at_scale() -> Result<()> {
    let (daemon, db) = tokio::join!(Daemon::demo(), async {
        let db = PgTestDb::new().await?;
        db.create_fixture_table().await?;
        db.fill_demo("daily_stock_data", &DemoParams::embedded())
            .await?;
        anyhow::Ok(db)
    });
    let (daemon, db) = (daemon?, db?);

    let info_v = daemon.call("market.info", Value::Null).await?;
    let info: MarketInfo = serde_json::from_value(info_v.clone())
        .with_context(|| format!("market.info does not match the contract: {info_v}"))?;
    ensure!(
        info.source.kind == "demo",
        "source should say demo: {:?}",
        info.source
    );
    ensure!(
        info.stocks >= 3000 && info.dates.count == 30,
        "demo scale: {} stocks × {} dates",
        info.stocks,
        info.dates.count
    );

    // Same layout as the fixture table, column by column.
    let cols = compare::discover(db.client(), "daily_stock_data").await?;
    let names: Vec<&str> = info.columns.iter().map(|c| c.name.as_str()).collect();
    let want: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    ensure!(
        names == want,
        "demo columns {names:?}\n  vs fixture {want:?}"
    );
    for (c, pc) in info.columns.iter().zip(&cols) {
        ensure!(
            pc.type_matches(&c.ty) && c.nullable == pc.nullable,
            "demo column {} is {:?} nullable={}, fixture {:?} nullable={}",
            c.name,
            c.ty,
            c.nullable,
            pc.format_type,
            pc.nullable
        );
    }
    let spec_names: Vec<String> = stockd::demo::reference_columns()
        .into_iter()
        .map(|c| c.name)
        .collect();
    ensure!(
        spec_names == want,
        "demo::reference_columns() differs from the fixture"
    );

    // The same rows as PostgreSQL holds for the same parameters.
    let counts = db
        .query(
            "SELECT count(*), count(DISTINCT stock_code), count(DISTINCT date)::int8,
                    min(date)::text, max(date)::text
             FROM daily_stock_data",
            &[],
        )
        .await?;
    let r = &counts[0];
    let (rows, stocks, days): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
    ensure!(
        (info.rows, info.stocks, info.dates.count) == (rows as u64, stocks as u64, days as u64)
            && info.dates.first.as_deref() == Some(r.get::<_, &str>(3))
            && info.dates.last.as_deref() == Some(r.get::<_, &str>(4)),
        "demo market.info {info_v}\n vs the same data set in PostgreSQL: {rows} rows, {stocks} stocks, {days} dates"
    );
    let keys: Vec<(String, String)> = db
        .query(
            "SELECT stock_code, date::text FROM daily_stock_data ORDER BY 1, 2",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let reader =
        RowReader::prepare(db.client(), "daily_stock_data", &cols, "stock_code", "date").await?;
    let mut rng = Rng::new(42);
    let mut failures = Vec::new();
    for i in rng.sample(keys.len(), 200) {
        let (code, date) = &keys[i];
        failures.extend(compare::row_differences(&daemon, &reader, db.client(), code, date).await?);
    }
    ensure!(
        failures.is_empty(),
        "the demo daemon and demo::fill_table disagree:\n{}",
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Plausible A-share data (checked on the identical PostgreSQL copy).
    let facts = db
        .query(
            "SELECT
               count(*) FILTER (WHERE stock_code !~ '^(60[0-5]|688|00[0-3]|30[01])[0-9]{3}$'),
               count(DISTINCT industry),
               count(*) FILTER (WHERE close = up_limit),
               count(*) FILTER (WHERE close = down_limit),
               count(*) FILTER (WHERE pe IS NULL),
               count(*) FILTER (WHERE is_st)
             FROM daily_stock_data",
            &[],
        )
        .await?;
    let f = &facts[0];
    let (bad_codes, industries, limit_up, limit_down, null_pe, st): (i64, i64, i64, i64, i64, i64) =
        (f.get(0), f.get(1), f.get(2), f.get(3), f.get(4), f.get(5));
    ensure!(
        bad_codes == 0 && industries >= 20 && limit_up > 0 && limit_down > 0 && null_pe > 0 && st > 0,
        "demo data not plausible: {bad_codes} odd codes, {industries} industries, {limit_up} limit-up, \
         {limit_down} limit-down, {null_pe} NULL pe, {st} ST rows"
    );
    Ok(())
}
