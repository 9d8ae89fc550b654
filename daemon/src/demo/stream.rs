//! Lazy generation: the market is simulated one trading day at a time (all
//! stocks), and each emitted day's rows are encoded straight into COPY
//! chunks. Memory is the per-stock state (rings of recent bars, ~2 KB a
//! stock) plus one day of rows, whatever the number of days.

use bytes::{BufMut, Bytes, BytesMut};

use super::calendar;
use super::market::{DayFactors, StockState};
use super::pgbin;
use super::row::{self, DayRow, RowContext};
use super::universe::{self, Stock};
use super::DemoParams;

/// The simulated market, stepped one calendar day at a time.
struct Simulation {
    seed: u64,
    warmup: u32,
    stocks: Vec<Stock>,
    states: Vec<StockState>,
    /// Warm-up days followed by the emitted window, as PostgreSQL dates.
    calendar: Vec<i32>,
    next_day: u32,
}

impl Simulation {
    fn new(p: &DemoParams) -> Simulation {
        let stocks = universe::build(p.seed, p.stocks, p.warmup_days, p.days, p.suspended as u64);
        let history = (p.warmup_days + p.days) as usize;
        let states = stocks
            .iter()
            .enumerate()
            .map(|(i, s)| StockState::new(p.seed, i, s, history))
            .collect();
        Simulation {
            seed: p.seed,
            warmup: p.warmup_days,
            stocks,
            states,
            calendar: calendar::trading_days(p.last_date, history),
            next_day: 0,
        }
    }

    /// Simulates the next emitted day into `out` (warm-up days are run but
    /// not kept) and returns its date, or `None` after the last day.
    fn next_emitted_day(&mut self, out: &mut Vec<DayRow>) -> Option<i32> {
        loop {
            let day = self.next_day;
            let date = *self.calendar.get(day as usize)?;
            self.next_day += 1;
            out.clear();
            self.step_day(day, out);
            if day >= self.warmup {
                row::rank_day(out);
                return Some(date);
            }
        }
    }

    fn step_day(&mut self, day: u32, out: &mut Vec<DayRow>) {
        let emit = day >= self.warmup;
        let window_day = day.saturating_sub(self.warmup);
        let factors = DayFactors::draw(self.seed, day);
        for (i, (stock, state)) in self.stocks.iter().zip(&mut self.states).enumerate() {
            if day < stock.listing_day {
                continue;
            }
            if emit && stock.suspended_on(window_day) {
                state.skip();
                continue;
            }
            let bar = state.step(stock, &factors, emit);
            if emit {
                out.push(DayRow::new(i as u32, stock, bar));
            }
        }
    }
}

/// The iterator behind [`super::copy_chunks`].
pub(crate) struct CopyChunks {
    sim: Simulation,
    chunk_rows: usize,
    buf: BytesMut,
    rows_in_buf: usize,
    day_rows: Vec<DayRow>,
    day_date: i32,
    next_in_day: usize,
    next_id: i64,
    total_rows: u64,
    done: bool,
}

impl CopyChunks {
    pub fn new(p: &DemoParams, chunk_rows: usize) -> CopyChunks {
        p.validate();
        let chunk_rows = chunk_rows.max(1);
        // ~0.8 KB per encoded row; cap the up-front reservation.
        let mut buf = BytesMut::with_capacity(chunk_rows.min(16_384) * 800 + 64);
        buf.put_slice(pgbin::HEADER);
        CopyChunks {
            sim: Simulation::new(p),
            chunk_rows,
            buf,
            rows_in_buf: 0,
            day_rows: Vec::with_capacity(p.stocks as usize),
            day_date: 0,
            next_in_day: 0,
            next_id: 1,
            total_rows: p.rows(),
            done: false,
        }
    }

    /// Encodes the next row, simulating the next day when this one is
    /// used up. False when there are no rows left.
    fn encode_next_row(&mut self) -> bool {
        while self.next_in_day >= self.day_rows.len() {
            match self.sim.next_emitted_day(&mut self.day_rows) {
                Some(date) => {
                    self.day_date = date;
                    self.next_in_day = 0;
                }
                None => return false,
            }
        }
        let row = &self.day_rows[self.next_in_day];
        let ctx = RowContext {
            id: self.next_id,
            date: self.day_date,
            pos: self.next_in_day as u32,
        };
        row::encode(
            &mut self.buf,
            &self.sim.stocks[row.stock as usize],
            row,
            &ctx,
        );
        self.next_in_day += 1;
        self.next_id += 1;
        self.rows_in_buf += 1;
        true
    }

    fn emitted(&self) -> u64 {
        (self.next_id - 1) as u64
    }
}

impl Iterator for CopyChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut exhausted = false;
        while self.rows_in_buf < self.chunk_rows {
            if !self.encode_next_row() {
                exhausted = true;
                break;
            }
        }
        // The trailer goes on the chunk holding the last row, not alone.
        if exhausted || self.emitted() >= self.total_rows {
            debug_assert_eq!(self.emitted(), self.total_rows, "row count");
            self.buf.put_slice(&pgbin::TRAILER);
            self.done = true;
        }
        self.rows_in_buf = 0;
        let chunk = self.buf.split().freeze();
        if !self.done {
            self.buf.reserve(chunk.len());
        }
        Some(chunk)
    }
}
