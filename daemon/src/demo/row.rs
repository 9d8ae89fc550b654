//! One output row: the bar plus what an upstream ETL derives from it
//! (valuation, scores, rank, timestamps), and its binary COPY encoding.

use bytes::{BufMut, BytesMut};

use super::columns::COLUMNS;
use super::market::Bar;
use super::pgbin;
use super::universe::{Stock, INDUSTRIES};

/// Rows stay "new" for this many trading days after listing.
const NEW_DAYS: u32 = 60;

/// Everything about one (stock, day) that is not already in the [`Bar`] or
/// the [`Stock`].
#[derive(Debug, Clone)]
pub(crate) struct DayRow {
    pub stock: u32,
    pub bar: Bar,
    pub val: Valuation,
    pub scores: Scores,
    /// 1 = best composite score of the day.
    pub rank: i32,
}

/// Valuation columns, as a data vendor rounds them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Valuation {
    pub pe: Option<f64>,
    pub pe_ttm: Option<f64>,
    pub pb: Option<f64>,
    pub ps: Option<f64>,
    pub ps_ttm: Option<f64>,
    pub dv_ratio: Option<f64>,
    pub dv_ttm: Option<f64>,
    pub total_mv: f64,
    pub circ_mv: f64,
}

impl Valuation {
    /// Multiples against the day's market value; a multiple over a
    /// non-positive base (loss, negative book) is NULL, as vendors publish.
    fn new(s: &Stock, close: i64) -> Valuation {
        let total_mv = (s.total_share as i128 * close as i128) as f64 / 100.0;
        let circ_mv = (s.float_share as i128 * close as i128) as f64 / 100.0;
        let multiple = |base: f64| (base > 0.0).then(|| round_to(total_mv / base, 4));
        let yield_pct = |d: Option<f64>| d.map(|d| round_to(d / total_mv * 100.0, 4));
        Valuation {
            pe: multiple(s.profit),
            pe_ttm: multiple(s.profit_ttm),
            pb: multiple(s.book),
            ps: multiple(s.revenue),
            ps_ttm: multiple(s.revenue_ttm),
            dv_ratio: yield_pct(s.dividend),
            dv_ttm: yield_pct(s.dividend_ttm),
            total_mv,
            circ_mv,
        }
    }
}

/// Upstream scores, 0–100.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scores {
    pub heat: f32,
    pub momentum: f32,
    pub value: f32,
    pub quality: f32,
    pub composite: f32,
}

impl Scores {
    /// Each score squashes a few signals into 0–100 with `x / (1 + |x|)`
    /// (no `exp`, so platform independent); the composite weighs them.
    fn new(s: &Stock, b: &Bar, v: &Valuation) -> Scores {
        let c = b.close as f64 / 100.0;
        let pct = pct_change(b);
        let ret5 = b.ind.close5.map_or(0.0, |c5| c / c5 - 1.0);
        let rsi = b.ind.rsi[1].unwrap_or(50.0);
        let hist = b.ind.macd.map_or(0.0, |m| m.2 / c);
        let momentum = ret5 * 8.0 + (rsi - 50.0) / 25.0 + pct / 5.0 + hist * 20.0;

        let turnover = turnover_pct(b.volume, s.float_share);
        let vr = b.ind.volume_ratio.unwrap_or(1.0);
        let heat = (turnover - 3.0) / 4.0
            + (vr - 1.0)
            + pct.abs() / 4.0
            + b.limit_status.abs() as f64
            + 0.5 * b.consecutive_limit_up as f64;

        let value = v.pe_ttm.map_or(-1.0, |pe| (25.0 - pe) / 25.0)
            + v.pb.map_or(-0.5, |pb| (2.5 - pb) / 3.0)
            + v.dv_ttm.unwrap_or(0.0) / 2.0;

        let roe = if s.book > 0.0 {
            s.profit_ttm / s.book
        } else {
            -0.5
        };
        let quality = roe * 6.0 + if s.dividend.is_some() { 0.3 } else { 0.0 }
            - if s.is_st { 1.5 } else { 0.0 };

        let (m, h, va, q) = (
            squash(momentum),
            squash(heat),
            squash(value),
            squash(quality),
        );
        let composite = 0.3 * m + 0.25 * h + 0.2 * va + 0.25 * q;
        Scores {
            heat: round_to(h, 2) as f32,
            momentum: round_to(m, 2) as f32,
            value: round_to(va, 2) as f32,
            quality: round_to(q, 2) as f32,
            composite: round_to(composite, 2) as f32,
        }
    }
}

impl DayRow {
    pub fn new(stock_index: u32, stock: &Stock, bar: Bar) -> DayRow {
        let val = Valuation::new(stock, bar.close);
        let scores = Scores::new(stock, &bar, &val);
        DayRow {
            stock: stock_index,
            bar,
            val,
            scores,
            rank: 0,
        }
    }
}

/// Ranks one day's rows by composite score, best first; ties go to the
/// lower code (rows arrive in code order and the sort is stable).
pub(crate) fn rank_day(rows: &mut [DayRow]) {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        rows[b]
            .scores
            .composite
            .total_cmp(&rows[a].scores.composite)
    });
    for (rank, i) in order.into_iter().enumerate() {
        rows[i].rank = rank as i32 + 1;
    }
}

/// Where a row sits, for its id and timestamps.
pub(crate) struct RowContext {
    pub id: i64,
    pub date: i32,
    /// Position within the day's rows (the ETL's insert order).
    pub pos: u32,
}

/// Appends one tuple.
pub(crate) fn encode(buf: &mut BytesMut, stock: &Stock, row: &DayRow, ctx: &RowContext) {
    let b = &row.bar;
    let ind = &b.ind;
    let v = &row.val;
    let mut w = FieldWriter::new(buf);
    w.i64("id", ctx.id);
    w.text("stock_code", Some(&stock.code));
    w.text("stock_name", Some(&stock.name));
    w.date("date", ctx.date);
    w.text("industry", stock.industry.map(|i| INDUSTRIES[i].name));
    w.cents("open", Some(b.open));
    w.cents("high", Some(b.high));
    w.cents("low", Some(b.low));
    w.cents("close", Some(b.close));
    w.cents("pre_close", Some(b.pre_close));
    w.cents("change_amt", Some(b.close - b.pre_close));
    w.f32("pct_chg", Some(round_to(pct_change(b), 2)));
    w.f32(
        "amplitude",
        Some(round_to(
            (b.high - b.low) as f64 / b.pre_close as f64 * 100.0,
            2,
        )),
    );
    w.cents("up_limit", b.up_limit);
    w.cents("down_limit", b.down_limit);
    w.i64("volume", b.volume);
    w.cents("amount", Some(b.amount_cents));
    w.f32(
        "turnover_rate",
        Some(round_to(turnover_pct(b.volume, stock.float_share), 4)),
    );
    w.f32(
        "turnover_rate_f",
        Some(round_to(turnover_pct(b.volume, stock.free_share), 4)),
    );
    w.f32("volume_ratio", ind.volume_ratio.map(|x| round_to(x, 2)));
    w.i16("limit_status", Some(b.limit_status));
    w.f64("pe", v.pe);
    w.f64("pe_ttm", v.pe_ttm);
    w.f64("pb", v.pb);
    w.f64("ps", v.ps);
    w.f64("ps_ttm", v.ps_ttm);
    w.f64("dv_ratio", v.dv_ratio);
    w.f64("dv_ttm", v.dv_ttm);
    w.f64("total_share", Some(stock.total_share as f64));
    w.f64("float_share", Some(stock.float_share as f64));
    w.f64("total_mv", Some(v.total_mv));
    w.f64("circ_mv", Some(v.circ_mv));
    for (name, x) in ["ma5", "ma10", "ma20", "ma30", "ma60", "ma120", "ma250"]
        .iter()
        .zip(ind.ma)
    {
        w.f64(name, x);
    }
    for (name, x) in ["vol_ma5", "vol_ma10", "vol_ma20"].iter().zip(ind.vol_ma) {
        w.f64(name, x);
    }
    w.f64("macd_dif", ind.macd.map(|m| m.0));
    w.f64("macd_dea", ind.macd.map(|m| m.1));
    w.f64("macd_hist", ind.macd.map(|m| m.2));
    w.f64("kdj_k", ind.kdj.map(|k| k.0));
    w.f64("kdj_d", ind.kdj.map(|k| k.1));
    w.f64("kdj_j", ind.kdj.map(|k| k.2));
    for (name, x) in ["rsi6", "rsi12", "rsi24"].iter().zip(ind.rsi) {
        w.f64(name, x);
    }
    w.f64("boll_upper", ind.boll.map(|x| x.0));
    w.f64("boll_mid", ind.boll.map(|x| x.1));
    w.f64("boll_lower", ind.boll.map(|x| x.2));
    w.f64("atr14", ind.atr14);
    w.f64("cci14", ind.cci14);
    w.f64("wr14", ind.wr14);
    w.f64("obv", ind.obv);
    for (name, x) in ["bias6", "bias12", "bias24"].iter().zip(ind.bias) {
        w.f64(name, x);
    }
    w.f64("roc12", ind.roc12);
    w.f64("mtm12", ind.mtm12);
    w.f64("psy12", ind.psy12);
    w.f64("trix", ind.trix);
    let yuan = |c: i64| c as f64 / 100.0;
    let f = b.flow;
    w.f64("net_mf_amount", f.map(|f| yuan(f.net_mf)));
    w.f64("buy_lg_amount", f.map(|f| yuan(f.buy_lg)));
    w.f64("sell_lg_amount", f.map(|f| yuan(f.sell_lg)));
    w.f64("buy_elg_amount", f.map(|f| yuan(f.buy_elg)));
    w.f64("sell_elg_amount", f.map(|f| yuan(f.sell_elg)));
    w.f64("main_net_inflow", f.map(|f| yuan(f.main_net())));
    w.i32("rank", row.rank);
    let s = &row.scores;
    w.f32("heat_score", Some(s.heat as f64));
    w.f32("momentum_score", Some(s.momentum as f64));
    w.f32("value_score", Some(s.value as f64));
    w.f32("quality_score", Some(s.quality as f64));
    w.f32("composite_score", Some(s.composite as f64));
    w.bool("is_st", stock.is_st);
    w.bool("is_new", stock.new_listing && b.age < NEW_DAYS);
    w.i16("consecutive_up_days", Some(b.consecutive_up));
    w.i16("consecutive_limit_up", Some(b.consecutive_limit_up));
    let (created, updated) = timestamps(ctx);
    w.timestamptz("created_at", created);
    w.timestamptz("updated_at", updated);
    w.finish();
}

/// The ETL writes a day's rows from 15:30 China time (07:30 UTC), about a
/// millisecond apart, and touches them again ~3 minutes later when the
/// scores are in: distinct, deterministic microsecond values.
fn timestamps(ctx: &RowContext) -> (i64, i64) {
    const DAY_US: i64 = 86_400_000_000;
    const AT_1530_CST: i64 = (7 * 3600 + 30 * 60) * 1_000_000;
    let base = ctx.date as i64 * DAY_US + AT_1530_CST;
    let pos = ctx.pos as i64;
    (
        base + pos * 1_117,
        base + 185_000_000 + pos * 983 + ctx.id % 7,
    )
}

fn pct_change(b: &Bar) -> f64 {
    (b.close - b.pre_close) as f64 / b.pre_close as f64 * 100.0
}

fn turnover_pct(volume: i64, shares: i64) -> f64 {
    volume as f64 / shares.max(1) as f64 * 100.0
}

/// `50 + 50 · x / (1 + |x|)`: any real to (0, 100).
fn squash(x: f64) -> f64 {
    50.0 + 50.0 * x / (1.0 + x.abs())
}

/// Rounds to `decimals` places (half away from zero); never returns -0.0.
pub(crate) fn round_to(x: f64, decimals: i32) -> f64 {
    let p = [1.0, 10.0, 100.0, 1_000.0, 10_000.0][decimals as usize];
    (x * p).round() / p + 0.0
}

/// Writes one tuple's fields, checking in debug builds that they come in the
/// reference layout's order.
struct FieldWriter<'a> {
    buf: &'a mut BytesMut,
    next: usize,
}

impl<'a> FieldWriter<'a> {
    fn new(buf: &'a mut BytesMut) -> FieldWriter<'a> {
        buf.put_i16(COLUMNS.len() as i16);
        FieldWriter { buf, next: 0 }
    }

    fn check(&mut self, name: &str) {
        debug_assert_eq!(COLUMNS[self.next].0, name, "field order");
        self.next += 1;
    }

    fn finish(self) {
        debug_assert_eq!(self.next, COLUMNS.len(), "field count");
    }

    fn opt<T>(&mut self, name: &str, v: Option<T>, put: impl FnOnce(&mut BytesMut, T)) {
        self.check(name);
        match v {
            Some(v) => put(self.buf, v),
            None => pgbin::put_null(self.buf),
        }
    }

    fn i16(&mut self, name: &str, v: Option<i16>) {
        self.opt(name, v, pgbin::put_i16);
    }
    fn i32(&mut self, name: &str, v: i32) {
        self.opt(name, Some(v), pgbin::put_i32);
    }
    fn i64(&mut self, name: &str, v: i64) {
        self.opt(name, Some(v), pgbin::put_i64);
    }
    fn f32(&mut self, name: &str, v: Option<f64>) {
        self.opt(name, v, |b, x| pgbin::put_f32(b, x as f32));
    }
    fn f64(&mut self, name: &str, v: Option<f64>) {
        self.opt(name, v, pgbin::put_f64);
    }
    fn bool(&mut self, name: &str, v: bool) {
        self.opt(name, Some(v), pgbin::put_bool);
    }
    fn date(&mut self, name: &str, v: i32) {
        self.opt(name, Some(v), pgbin::put_date);
    }
    fn timestamptz(&mut self, name: &str, v: i64) {
        self.opt(name, Some(v), pgbin::put_timestamptz);
    }
    fn text(&mut self, name: &str, v: Option<&str>) {
        self.opt(name, v, pgbin::put_text);
    }
    /// A numeric(…, 2) from integer cents.
    fn cents(&mut self, name: &str, v: Option<i64>) {
        self.opt(name, v, |b, c| pgbin::put_numeric(b, c as i128, 2));
    }
}
