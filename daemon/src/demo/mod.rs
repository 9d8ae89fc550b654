//! The embedded, deterministic demo data set: realistic A-share daily data
//! in the reference layout (`packaging/examples/daily_stock_data.sql`, 83
//! columns), emitted as a PostgreSQL **binary COPY** stream.
//!
//! Two uses: with no database configured the daemon loads it (through the
//! same binary-COPY decoder as a real load), so `cargo run` serves data; and
//! tests and benchmarks fill a real PostgreSQL table with exactly the same
//! rows through [`fill_table`]. The bytes are byte-for-byte what
//! `COPY daily_stock_data TO STDOUT (FORMAT binary)` returns for the loaded
//! table, and identical on every run for given [`DemoParams`].
//!
//! How the data is made (details in the submodules):
//! - `universe`: ~9 code prefixes across the Shanghai/Shenzhen main
//!   boards, ChiNext and STAR; 35 industries with their own price, valuation,
//!   volatility and turnover; Chinese-style names; a few ST stocks (±5%
//!   band), a few recent listings, a handful with no industry yet.
//! - `market`: a per-stock random walk driven by market, industry and
//!   idiosyncratic factors, with limit-up/down days at the exact band price
//!   and limit-up streaks; OHLC, volume and amount in integer cents/shares.
//! - `indicators`: MA/MACD/KDJ/RSI/BOLL/… computed incrementally over
//!   the whole simulated history; `warmup_days` of history before the window
//!   are simulated but not emitted, so indicators are mature on the first
//!   emitted day.
//! - `row`: valuation, money flow, scores, rank, timestamps, and the
//!   tuple encoding; `pgbin`: the binary formats (exact `numeric`).
//!
//! Units: prices, amounts, market values and money flow in yuan; volume and
//! share counts in shares; `pct_chg`, `amplitude`, turnover rates and
//! `dv_ratio` in percent. NULLs where a vendor leaves them: `pe`/`pe_ttm`
//! of loss makers, `pb` of negative book value, `dv_*` of non-payers,
//! indicators of stocks listed too recently for their look-back, the price
//! band in the first days of a ChiNext/STAR listing, `volume_ratio` without
//! five earlier bars, money flow on the rare day the feed missed, and the
//! industry of a handful of stocks.
//!
//! Determinism: a hand-written PRNG with independent streams per stock and
//! per day, and only IEEE-exact float operations (no libm `exp`/`ln`), so
//! the output does not depend on the platform either.

mod calendar;
mod columns;
mod indicators;
mod market;
mod pgbin;
mod rng;
mod row;
mod stream;
mod universe;

/// Builds the embedded demo store (CPU only; run it off the async threads).
pub fn load(
    params: &DemoParams,
    generation: u64,
) -> Result<crate::store::Store, crate::store::StoreError> {
    let started = std::time::Instant::now();
    let specs = reference_columns();
    let n = specs.len();
    let mut builder =
        crate::store::StoreBuilder::new(specs, "stock_code", "date", params.rows() as usize)?;
    let mut decoder = crate::store::copy::CopyDecoder::new(n);
    for chunk in copy_chunks(params, 4096) {
        decoder.feed(&chunk, &mut builder)?;
    }
    decoder.finish()?;
    let mut store = builder.finish(crate::store::LoadInfo {
        generation,
        loaded_at: std::time::SystemTime::now(),
        load_ms: 0,
        provenance: crate::store::Provenance {
            kind: "demo",
            detail: params.describe(),
            window_days: params.days,
            skipped: vec![],
        },
        read: crate::store::Read::FULL,
    });
    // The load's duration includes building the indexes.
    store.info.load_ms = started.elapsed().as_millis() as u64;
    Ok(store)
}

#[cfg(test)]
mod tests;

use bytes::Bytes;
use futures_util::SinkExt;

use crate::store::schema::ColumnSpec;

/// The shape of a demo data set. Same parameters, same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoParams {
    /// Number of stocks (at most ~10,500: the code space used).
    pub stocks: u32,
    /// Trading days emitted (weekdays ending at `last_date`).
    pub days: u32,
    /// (stock, day) rows removed as suspensions.
    pub suspended: u32,
    pub seed: u64,
    /// Last trading day `(year, month, day)`; a weekend date means the
    /// Friday before.
    pub last_date: (i32, u32, u32),
    /// Days simulated before the window so indicators are mature (not
    /// emitted). 250 makes MA250 defined on every emitted day of seasoned
    /// stocks.
    pub warmup_days: u32,
}

impl DemoParams {
    /// The embedded default: 3,600 stocks × 30 trading days to 2026-11-27,
    /// 21 suspended rows (107,979 rows).
    pub fn embedded() -> DemoParams {
        DemoParams {
            stocks: 3_600,
            days: 30,
            suspended: 21,
            seed: 42,
            last_date: (2026, 11, 27),
            warmup_days: 250,
        }
    }

    /// The "seed workload": 2,895 stocks × 30 days − 14 suspended
    /// rows = 86,836 rows.
    pub fn seed() -> DemoParams {
        DemoParams {
            stocks: 2_895,
            suspended: 14,
            ..DemoParams::embedded()
        }
    }

    /// Rows in the data set: `stocks × days − suspended`.
    pub fn rows(&self) -> u64 {
        (self.stocks as u64 * self.days as u64).saturating_sub(self.suspended as u64)
    }

    /// One line for the log, e.g. `demo data: 3600 stocks × 30 trading days
    /// to 2026-11-27, 107979 rows (seed 42)`.
    pub fn describe(&self) -> String {
        let (y, m, d) = self.last_date;
        format!(
            "demo data: {} stocks × {} trading days to {y:04}-{m:02}-{d:02}, {} rows (seed {})",
            self.stocks,
            self.days,
            self.rows(),
            self.seed
        )
    }

    /// Panics with a clear message on parameters no data set can satisfy.
    fn validate(&self) {
        let (y, m, d) = self.last_date;
        assert!(
            calendar::is_valid_date(y, m, d),
            "demo last_date {y}-{m}-{d} is not a date"
        );
        assert!(
            (self.stocks as u64) <= universe::code_capacity(),
            "demo stocks {} exceeds the {} codes available",
            self.stocks,
            universe::code_capacity()
        );
        assert!(
            self.suspended as u64 <= self.stocks as u64 * self.days as u64,
            "demo suspended {} exceeds stocks × days",
            self.suspended
        );
    }
}

/// The 83 columns of the reference layout in table order, as catalog
/// discovery reports them for the fixture table (`pg_type` in
/// `format_type()` spelling, e.g. `character varying(10)`). NOT NULL:
/// id, stock_code, date, is_st, is_new, created_at, updated_at.
pub fn reference_columns() -> Vec<ColumnSpec> {
    columns::specs()
}

/// The binary COPY stream of the data set in chunks of `chunk_rows` rows
/// (the last may be shorter); the first chunk starts with the header and
/// the last ends with the trailer. Generated lazily, a trading day at a
/// time: memory stays at a few MB whatever the row count. Rows come in
/// date order, then code order; `id` counts 1, 2, … in that order.
///
/// Panics if `params` are unsatisfiable (invalid date, more stocks than
/// codes, more suspended rows than stock-days).
pub fn copy_chunks(params: &DemoParams, chunk_rows: usize) -> impl Iterator<Item = Bytes> {
    stream::CopyChunks::new(params, chunk_rows)
}

/// Rows per chunk sent by [`fill_table`] (~1.6 MB).
const FILL_CHUNK_ROWS: usize = 2_048;

/// Fills `table` (an already-quoted SQL identifier of a table with the
/// reference layout) with the data set through
/// `COPY table ("id", …) FROM STDIN (FORMAT binary)`; returns the rows
/// written. Because the ids are supplied, the `id` column's sequence (if
/// any) is then moved past the largest id, so later plain INSERTs (an ETL
/// test adding a day) do not collide.
pub async fn fill_table(
    client: &tokio_postgres::Client,
    table: &str,
    params: &DemoParams,
) -> Result<u64, tokio_postgres::Error> {
    let sql = format!(
        "COPY {table} ({}) FROM STDIN (FORMAT binary)",
        columns::quoted_list()
    );
    let sink = client.copy_in::<_, Bytes>(&sql).await?;
    futures_util::pin_mut!(sink);
    for chunk in copy_chunks(params, FILL_CHUNK_ROWS) {
        sink.send(chunk).await?;
    }
    let rows = sink.as_mut().finish().await?;
    let bump = format!(
        "SELECT setval(s, m) FROM (SELECT pg_get_serial_sequence($1, 'id') AS s, \
         (SELECT max(id) FROM {table}) AS m) AS x WHERE s IS NOT NULL AND m IS NOT NULL"
    );
    client.execute(&bump, &[&table]).await?;
    Ok(rows)
}
