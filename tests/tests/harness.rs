//! Self-tests of the harness's database side (no daemon): throwaway
//! databases are created and dropped, the fixture DDL applies, the oracle
//! reads every type of the reference layout.

use anyhow::{ensure, Result};
use stockd_tests::compare::{self, Expected, PgKind, RowReader};
use stockd_tests::PgTestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throwaway_database_is_created_and_dropped() -> Result<()> {
    let db = PgTestDb::new().await?;
    let name = db.name().to_string();
    ensure!(
        name.starts_with(&format!("stockd_test_{}_", std::process::id())),
        "{name}"
    );
    // A second connection (like a daemon's) must not keep it alive.
    let other = db.connect().await?;
    other.batch_execute("SELECT 1").await?;
    drop(db);
    let admin = stockd_tests::pg::connect(&stockd_tests::pg::base_url()?).await?;
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await?
        .get(0);
    ensure!(left == 0, "database {name} still exists after drop");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_table_and_oracle_cover_every_type() -> Result<()> {
    let db = PgTestDb::new().await?;
    db.create_fixture_table().await?;
    let cols = compare::discover(db.client(), "daily_stock_data").await?;
    ensure!(
        cols.len() == 83,
        "the reference layout has 83 columns, found {}",
        cols.len()
    );
    ensure!(
        cols.iter().all(|c| c.kind != PgKind::Unsupported),
        "{cols:?}"
    );
    let n = db
        .fill_small("daily_stock_data", 12, &["2024-01-02", "2024-01-03"])
        .await?;
    ensure!(n == 24, "fill_small wrote {n}");
    db.execute(
        "UPDATE daily_stock_data SET pct_chg = '-0', pe = 'NaN', created_at = '2024-01-02 03:04:05.1+00'
         WHERE stock_code = '600001' AND date = '2024-01-02'",
    )
    .await?;
    let reader =
        RowReader::prepare(db.client(), "daily_stock_data", &cols, "stock_code", "date").await?;
    let row = reader
        .read(db.client(), "600001", "2024-01-02")
        .await?
        .expect("row");
    let get =
        |name: &str| row[reader.cols.iter().position(|c| c.name == name).expect(name)].clone();
    ensure!(get("stock_code") == Expected::Str("600001".into()));
    ensure!(get("date") == Expected::Str("2024-01-02".into()));
    ensure!(
        get("close") == Expected::Literal("10.37".into()),
        "{:?}",
        get("close")
    );
    ensure!(matches!(get("pct_chg"), Expected::F32(v) if v.to_bits() == (-0.0f32).to_bits()));
    ensure!(matches!(get("pe"), Expected::F64(v) if v.is_nan()));
    ensure!(get("open") == Expected::Null);
    ensure!(get("is_st") == Expected::Bool(false));
    ensure!(
        get("created_at") == Expected::Str("2024-01-02T03:04:05.1Z".into()),
        "{:?}",
        get("created_at")
    );
    ensure!(get("volume") == Expected::Literal("1000".into()));
    ensure!(reader
        .read(db.client(), "600001", "2023-01-01")
        .await?
        .is_none());
    Ok(())
}
