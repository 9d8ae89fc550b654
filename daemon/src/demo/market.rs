//! The daily price/volume model: one bar per listed, unsuspended stock per
//! trading day, in integer cents and shares.
//!
//! Daily return = β × market factor + industry factor + idiosyncratic move.
//! The idiosyncratic move is mostly calm (σ ≈ 1–3%, so most days land within
//! ±3%), sometimes a big move (×2.5), and now and then a news event that
//! closes at the limit; a stock that closed at its limit tends to do it again
//! the next day, which produces the limit-up streaks (连板) hot-money markets
//! are known for. Closes are clamped to the board's band, so limit days are
//! exact: `close == up_limit`.

use super::indicators::{IndicatorValues, Indicators};
use super::rng::{domain, Rng};
use super::universe::{Stock, INDUSTRIES};

/// Factors shared by all stocks on one day.
pub(crate) struct DayFactors {
    pub market: f64,
    pub industry: Vec<f64>,
}

impl DayFactors {
    pub fn draw(seed: u64, day: u32) -> DayFactors {
        let mut r = Rng::stream(seed, domain::DAY, day as u64);
        let market = 0.008 * r.normal()
            + if r.chance(0.03) {
                0.02 * r.normal()
            } else {
                0.0
            };
        let industry = INDUSTRIES
            .iter()
            .map(|_| {
                // Now and then a theme rally (or sell-off) moves a whole
                // sector; zero on average so sectors do not drift apart.
                let theme = if r.chance(0.03) {
                    if r.chance(0.6) {
                        0.03
                    } else {
                        -0.045
                    }
                } else {
                    0.0
                };
                0.007 * r.normal() + theme
            })
            .collect();
        DayFactors { market, industry }
    }
}

/// One day of one stock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bar {
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub pre_close: i64,
    /// Price band; `None` on the first five days of a ChiNext/STAR listing.
    pub up_limit: Option<i64>,
    pub down_limit: Option<i64>,
    pub volume: i64,
    /// Yuan, in cents.
    pub amount_cents: i64,
    pub limit_status: i16,
    pub consecutive_up: i16,
    pub consecutive_limit_up: i16,
    /// Trading days since listing (0 on the listing day).
    pub age: u32,
    pub ind: IndicatorValues,
    /// `None` for the rare day the money-flow feed missed.
    pub flow: Option<MoneyFlow>,
}

/// Money flow by order size, cents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MoneyFlow {
    pub buy_lg: i64,
    pub sell_lg: i64,
    pub buy_elg: i64,
    pub sell_elg: i64,
    /// Net inflow over all order sizes.
    pub net_mf: i64,
}

impl MoneyFlow {
    /// Large plus extra-large orders, bought minus sold.
    pub fn main_net(&self) -> i64 {
        self.buy_lg + self.buy_elg - self.sell_lg - self.sell_elg
    }
}

/// The evolving state of one stock.
pub(crate) struct StockState {
    rng: Rng,
    pre_close: i64,
    /// 1 / -1 if the last bar closed at the upper / lower limit.
    last_limit: i8,
    consecutive_up: i16,
    consecutive_limit_up: i16,
    age: u32,
    resumed: bool,
    ind: Indicators,
}

/// How a day's close is decided.
#[derive(Clone, Copy)]
enum Move {
    Free(f64),
    LimitUp,
    LimitDown,
}

impl StockState {
    pub fn new(seed: u64, index: usize, stock: &Stock, history: usize) -> StockState {
        StockState {
            rng: Rng::stream(seed, domain::PATH, index as u64),
            pre_close: stock.start_price,
            last_limit: 0,
            consecutive_up: 0,
            consecutive_limit_up: 0,
            age: 0,
            resumed: false,
            ind: Indicators::new(history),
        }
    }

    /// Marks a missed (suspended) day: the next bar is a resumption.
    pub fn skip(&mut self) {
        self.resumed = true;
    }

    /// Simulates the next bar. Indicator values and money flow are only
    /// derived when `emit` (warm-up days need just the state).
    pub fn step(&mut self, stock: &Stock, f: &DayFactors, emit: bool) -> Bar {
        let pre = self.pre_close;
        let (up, down) = self.limits(stock, pre);
        let mv = self.draw_move(stock, f, up.is_some());
        let close = match (mv, up, down) {
            (Move::LimitUp, Some(u), _) => u,
            (Move::LimitDown, _, Some(d)) => d,
            (Move::Free(r), _, _) => clamp_band(cents(pre as f64 * (1.0 + r)), up, down),
            (_, _, _) => pre,
        };
        let r = (close - pre) as f64 / pre as f64;
        let one_price = matches!(mv, Move::LimitUp | Move::LimitDown)
            && self
                .rng
                .chance(if self.last_limit != 0 { 0.45 } else { 0.15 });
        let (open, high, low) = if one_price {
            // 一字板: the whole day trades at the limit.
            (close, close, close)
        } else {
            self.draw_range(stock, pre, close, r, up, down)
        };
        let volume = self.draw_volume(stock, r, one_price);
        // Amount ≈ volume × average price; integer so it is exact.
        let amount_cents = ((volume as i128 * (open + high + low + close) as i128 + 2) / 4) as i64;

        let limit_status = if Some(close) == up {
            1
        } else if Some(close) == down {
            -1
        } else {
            0
        };
        self.consecutive_up = if close > pre {
            self.consecutive_up + 1
        } else {
            0
        };
        self.consecutive_limit_up = if limit_status == 1 {
            self.consecutive_limit_up + 1
        } else {
            0
        };
        self.last_limit = limit_status as i8;
        self.resumed = false;
        self.ind.push(high, low, close, volume);
        let (ind, flow) = if emit {
            (self.ind.values(), self.draw_flow(stock, amount_cents, r))
        } else {
            (IndicatorValues::default(), None)
        };
        let bar = Bar {
            open,
            high,
            low,
            close,
            pre_close: pre,
            up_limit: up,
            down_limit: down,
            volume,
            amount_cents,
            limit_status,
            consecutive_up: self.consecutive_up,
            consecutive_limit_up: self.consecutive_limit_up,
            age: self.age,
            ind,
            flow,
        };
        self.pre_close = close;
        self.age += 1;
        bar
    }

    /// The day's price band, rounded half-up to the cent as the exchanges do.
    /// Main-board listings get +44%/−36% on day one; ChiNext/STAR listings
    /// trade without limits for five days.
    fn limits(&self, stock: &Stock, pre: i64) -> (Option<i64>, Option<i64>) {
        let (up_pct, down_pct) = match (self.age, stock.board.is_growth()) {
            (0..=4, true) if stock.new_listing => return (None, None),
            (0, false) if stock.new_listing => (44, 36),
            _ => {
                let p = stock.board.limit_pct(stock.is_st);
                (p, p)
            }
        };
        let up = (pre * (100 + up_pct) + 50) / 100;
        let down = ((pre * (100 - down_pct) + 50) / 100).max(1);
        (Some(up), Some(down))
    }

    fn draw_move(&mut self, stock: &Stock, f: &DayFactors, banded: bool) -> Move {
        let r = &mut self.rng;
        if stock.new_listing && self.age < 5 {
            // IPO days: main-board debuts close at the +44% cap, ChiNext/STAR
            // debuts (no cap) jump 30–250%; then wild swings, and main-board
            // debuts often keep hitting the limit.
            return match (self.age, stock.board.is_growth()) {
                (0, false) => Move::LimitUp,
                (0, true) => Move::Free(r.range(0.3, 2.5)),
                _ if banded && self.last_limit == 1 && r.chance(0.6) => Move::LimitUp,
                _ => Move::Free(0.08 * r.normal()),
            };
        }
        // Limit streaks continue with a probability that fades with length.
        let p_cont = match self.last_limit {
            1 => 0.32 / (1.0 + 0.25 * self.consecutive_limit_up as f64),
            -1 => 0.2,
            _ => 0.0,
        };
        if self.last_limit != 0 && r.chance(p_cont) {
            return if self.last_limit == 1 {
                Move::LimitUp
            } else {
                Move::LimitDown
            };
        }
        // News-driven limit days: likelier for volatile stocks and small
        // caps (where the limit-up chasing happens), rare for banks.
        let news = stock.sigma * if stock.small_cap { 0.45 } else { 0.3 };
        if r.chance(news) {
            return Move::LimitUp;
        }
        if r.chance(news * 0.2) {
            return Move::LimitDown;
        }
        let big = if r.chance(0.05) { 2.5 } else { 1.0 };
        let resume = if self.resumed { 2.0 } else { 1.0 };
        let idio = stock.sigma * big * resume * r.normal();
        Move::Free(stock.beta * f.market + f.industry[stock.sector] + idio)
    }

    /// Open, high and low around the close: the open gaps a little in the
    /// day's direction, the shadows are short random extensions; all within
    /// the band.
    fn draw_range(
        &mut self,
        stock: &Stock,
        pre: i64,
        close: i64,
        r: f64,
        up: Option<i64>,
        down: Option<i64>,
    ) -> (i64, i64, i64) {
        let rng = &mut self.rng;
        let s = stock.sigma.max(0.01);
        let open = clamp_band(
            cents(pre as f64 * (1.0 + 0.3 * r + 0.3 * s * rng.normal())),
            up,
            down,
        );
        let top = open.max(close) as f64;
        let bottom = open.min(close) as f64;
        let high = clamp_band(cents(top * (1.0 + 0.4 * s * rng.normal().abs())), up, down)
            .max(open.max(close));
        let low = clamp_band(
            cents(bottom * (1.0 - 0.4 * s * rng.normal().abs())),
            up,
            down,
        )
        .min(open.min(close));
        (open, high, low.max(1))
    }

    /// Shares traded: the stock's base turnover, more on big moves and on
    /// occasional surges, very little on a one-price limit day, a lot in the
    /// first days after listing. Rounded to board lots of 100.
    fn draw_volume(&mut self, stock: &Stock, r: f64, one_price: bool) -> i64 {
        let rng = &mut self.rng;
        let mut activity = rng.lognormal(1.0, 0.3) * (1.0 + 8.0 * r.abs());
        if rng.chance(0.025) {
            activity *= rng.range(2.5, 4.5);
        }
        if one_price {
            activity *= 0.12;
        }
        if stock.new_listing && self.age < 5 {
            activity *= 12.0 / (1.0 + self.age as f64);
        }
        let turnover = (stock.turnover * activity).min(0.8);
        let shares = stock.float_share as f64 * turnover;
        (((shares / 100.0).round() as i64).max(1)) * 100
    }
}

impl StockState {
    /// Splits the day's amount by order size. Big money leans with the
    /// day's move (buying strength, dumping weakness), and retail takes much
    /// of the other side, so the total net flow is the main net damped.
    fn draw_flow(&mut self, stock: &Stock, amount_cents: i64, r: f64) -> Option<MoneyFlow> {
        let rng = &mut self.rng;
        if rng.chance(0.003) {
            return None;
        }
        let a = amount_cents as f64;
        let tilt = (0.5 + 2.0 * r + 0.06 * rng.normal()).clamp(0.08, 0.92);
        let elg = a * (stock.elg_share * rng.lognormal(1.0, 0.2)).min(0.45);
        let lg = a * (stock.lg_share * rng.lognormal(1.0, 0.15)).min(0.4);
        let buy_elg = elg * (tilt + 0.04 * rng.normal()).clamp(0.02, 0.98);
        let buy_lg = lg * (tilt + 0.04 * rng.normal()).clamp(0.02, 0.98);
        let main = 2.0 * (buy_elg + buy_lg) - elg - lg;
        let net_mf = main * rng.range(0.2, 0.7) + a * 0.01 * rng.normal();
        Some(MoneyFlow {
            buy_lg: buy_lg.round() as i64,
            sell_lg: (lg - buy_lg).round() as i64,
            buy_elg: buy_elg.round() as i64,
            sell_elg: (elg - buy_elg).round() as i64,
            net_mf: net_mf.round() as i64,
        })
    }
}

/// Rounds a price in (fractional) cents to whole cents, at least 1.
fn cents(x: f64) -> i64 {
    (x.round() as i64).max(1)
}

fn clamp_band(p: i64, up: Option<i64>, down: Option<i64>) -> i64 {
    let p = up.map_or(p, |u| p.min(u));
    down.map_or(p, |d| p.max(d))
}

#[cfg(test)]
mod tests {
    use super::super::universe::{self, Board};
    use super::*;

    #[test]
    fn bars_are_consistent() {
        let stocks = universe::build(7, 300, 60, 30, 0);
        let mut states: Vec<StockState> = stocks
            .iter()
            .enumerate()
            .map(|(i, s)| StockState::new(7, i, s, 90))
            .collect();
        let mut limit_ups = 0;
        for day in 0..90 {
            let f = DayFactors::draw(7, day);
            for (st, s) in states.iter_mut().zip(&stocks) {
                if day < s.listing_day {
                    continue;
                }
                let b = st.step(s, &f, true);
                assert!(b.low <= b.open.min(b.close) && b.open.max(b.close) <= b.high);
                assert!(b.low >= 1);
                if let (Some(u), Some(d)) = (b.up_limit, b.down_limit) {
                    assert!(d <= b.low && b.high <= u, "{} {:?}", s.code, b);
                }
                limit_ups += (b.limit_status == 1) as u32;
            }
        }
        assert!(limit_ups > 20, "{limit_ups} limit-up days");
    }

    #[test]
    fn limit_prices_round_half_up() {
        let stocks = universe::build(7, 50, 0, 1, 0);
        let s = stocks
            .iter()
            .find(|s| s.board == Board::ShMain && !s.is_st)
            .unwrap();
        let st = StockState::new(7, 0, s, 10);
        // 9.95 × 1.1 = 10.945 → 10.95; 9.95 × 0.9 = 8.955 → 8.96.
        assert_eq!(st.limits(s, 995), (Some(1095), Some(896)));
    }
}
