//! Technical indicators, updated one bar at a time with the formulas common
//! Chinese charting software uses (通达信/同花顺 conventions):
//!
//! - `MA(n)`, `VOL_MA(n)`: simple means of the last n closes / volumes.
//! - MACD(12, 26, 9): `DIF = EMA12 − EMA26`, `DEA = EMA(DIF, 9)`,
//!   `hist = 2 × (DIF − DEA)`; EMAs seeded with the first close.
//! - KDJ(9, 3, 3): `RSV = (C − LLV9) / (HHV9 − LLV9) × 100`,
//!   `K = (2K + RSV)/3`, `D = (2D + K)/3`, `J = 3K − 2D`; K, D start at 50.
//! - RSI(n): `SMA(max(ΔC, 0), n, 1) / SMA(|ΔC|, n, 1) × 100`.
//! - BOLL(20, 2): MA20 ± 2 population standard deviations.
//! - ATR14: mean true range; CCI14: `(TP − MA(TP)) / (0.015 × AVEDEV(TP))`
//!   with `TP = (H + L + C)/3`; WR14: `(HHV14 − C) / (HHV14 − LLV14) × 100`.
//! - OBV: running sum of ±volume by close direction, from the first bar.
//! - BIAS(n) = `(C − MA(n)) / MA(n) × 100`; ROC12, MTM12 against the close 12
//!   bars back; PSY12 = share of up bars among the last 12 × 100;
//!   TRIX(12) = one-bar % change of the triple EMA(12).
//!
//! An indicator is NULL until the stock has traded for its look-back (e.g.
//! MA250 needs 250 bars, MACD 26, RSI24 25); the demo simulates enough
//! warm-up history that only recent listings show such NULLs.
//!
//! Prices are integer cents and volumes integer shares, so window sums are
//! kept exactly as integers (no drift, same bits every run).

/// Fixed-capacity ring of the most recent values.
#[derive(Debug, Clone)]
pub(crate) struct Ring<T> {
    buf: Box<[T]>,
    next: usize,
    len: usize,
}

impl<T: Copy + Default> Ring<T> {
    pub fn new(cap: usize) -> Ring<T> {
        Ring {
            buf: vec![T::default(); cap.max(1)].into_boxed_slice(),
            next: 0,
            len: 0,
        }
    }

    pub fn push(&mut self, v: T) {
        self.buf[self.next] = v;
        self.next += 1;
        if self.next == self.buf.len() {
            self.next = 0;
        }
        self.len = (self.len + 1).min(self.buf.len());
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The value `k` pushes ago (0 = newest). `k < len()`.
    pub fn ago(&self, k: usize) -> T {
        debug_assert!(k < self.len);
        // No `%`: this sits in the innermost loops of the generator.
        let back = k + 1;
        let i = if back <= self.next {
            self.next - back
        } else {
            self.next + self.buf.len() - back
        };
        self.buf[i]
    }

    /// The newest `n` values, newest first.
    pub fn recent(&self, n: usize) -> impl Iterator<Item = T> + '_ {
        (0..n.min(self.len)).map(move |k| self.ago(k))
    }
}

/// Exact running sums over several window lengths of one integer series.
#[derive(Debug, Clone)]
struct WindowSums<const N: usize> {
    windows: [usize; N],
    sums: [i64; N],
}

impl<const N: usize> WindowSums<N> {
    fn new(windows: [usize; N]) -> Self {
        WindowSums {
            windows,
            sums: [0; N],
        }
    }

    /// Adds `v`, dropping the value that leaves each window. Call *before*
    /// pushing `v` onto `ring`, whose capacity must cover every window that
    /// can fill (a window longer than the ring never fills and never drops).
    fn add<T: Copy + Default + Into<i64>>(&mut self, ring: &Ring<T>, v: i64) {
        for (w, s) in self.windows.iter().zip(self.sums.iter_mut()) {
            if ring.len() >= *w {
                *s -= ring.ago(*w - 1).into();
            }
            *s += v;
        }
    }

    fn sum(&self, window: usize) -> i64 {
        let i = self
            .windows
            .iter()
            .position(|w| *w == window)
            .expect("window");
        self.sums[i]
    }
}

const CLOSE_WINDOWS: [usize; 10] = [5, 6, 10, 12, 20, 24, 30, 60, 120, 250];
/// Bars kept for high/low/TR/typical-price look-backs (KDJ 9, ATR/CCI/WR 14).
const SHORT: usize = 14;

/// One bar's indicator values; `None` = not enough history yet.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IndicatorValues {
    pub ma: [Option<f64>; 7],     // 5, 10, 20, 30, 60, 120, 250
    pub vol_ma: [Option<f64>; 3], // 5, 10, 20
    pub volume_ratio: Option<f64>,
    pub macd: Option<(f64, f64, f64)>,
    pub kdj: Option<(f64, f64, f64)>,
    pub rsi: [Option<f64>; 3],         // 6, 12, 24
    pub boll: Option<(f64, f64, f64)>, // upper, mid, lower
    pub atr14: Option<f64>,
    pub cci14: Option<f64>,
    pub wr14: Option<f64>,
    pub obv: Option<f64>,
    pub bias: [Option<f64>; 3], // 6, 12, 24
    pub roc12: Option<f64>,
    pub mtm12: Option<f64>,
    pub psy12: Option<f64>,
    pub trix: Option<f64>,
    /// Close 5 bars back, for the momentum score.
    pub close5: Option<f64>,
}

/// A stock's indicator state: rings of recent bars plus the recursive
/// (EMA/SMA) states.
#[derive(Debug, Clone)]
pub(crate) struct Indicators {
    bars: u32,
    /// Up to 250 closes: the bulk of a stock's state, so cents as i32
    /// (enough for ¥21 million a share).
    closes: Ring<i32>,
    close_sums: WindowSums<10>,
    close_sq20: i128,
    volumes: Ring<i64>,
    vol_sums: WindowSums<3>,
    highs: Ring<i64>,
    lows: Ring<i64>,
    /// `H + L + C` (3 × typical price), cents.
    tp3: Ring<i64>,
    tp3_sums: WindowSums<1>,
    tr: Ring<i64>,
    tr_sums: WindowSums<1>,
    ema12: f64,
    ema26: f64,
    dea: f64,
    k: f64,
    d: f64,
    /// RSI numerator/denominator SMAs for 6, 12, 24.
    rsi_up: [f64; 3],
    rsi_abs: [f64; 3],
    trix_emas: [f64; 3],
    /// Triple EMA before the last bar, for TRIX.
    prev_trix: f64,
    obv: i64,
    volume_ratio: Option<f64>,
}

impl Indicators {
    /// `history` bounds the look-back actually reachable (warm-up + window),
    /// so short data sets keep short rings.
    pub fn new(history: usize) -> Indicators {
        Indicators {
            bars: 0,
            closes: Ring::new(history.clamp(13, 250)),
            close_sums: WindowSums::new(CLOSE_WINDOWS),
            close_sq20: 0,
            volumes: Ring::new(20),
            vol_sums: WindowSums::new([5, 10, 20]),
            highs: Ring::new(SHORT),
            lows: Ring::new(SHORT),
            tp3: Ring::new(SHORT),
            tp3_sums: WindowSums::new([SHORT]),
            tr: Ring::new(SHORT),
            tr_sums: WindowSums::new([SHORT]),
            ema12: 0.0,
            ema26: 0.0,
            dea: 0.0,
            k: 50.0,
            d: 50.0,
            rsi_up: [0.0; 3],
            rsi_abs: [0.0; 3],
            trix_emas: [0.0; 3],
            prev_trix: 0.0,
            obv: 0,
            volume_ratio: None,
        }
    }

    /// Adds one bar (prices in cents, volume in shares). Cheap: only the
    /// state moves; [`Indicators::values`] derives the outputs, and is only
    /// called for emitted days (most simulated days are warm-up).
    pub fn push(&mut self, high: i64, low: i64, close: i64, volume: i64) {
        let prev_close = (self.bars > 0).then(|| self.close_ago(0));
        self.prev_trix = self.trix_emas[2];
        // Volume ratio against the five bars *before* this one.
        self.volume_ratio = (self.volumes.len() >= 5 && self.vol_sums.sum(5) > 0)
            .then(|| volume as f64 * 5.0 / self.vol_sums.sum(5) as f64);
        self.push_bar(high, low, close, volume, prev_close);
        self.update_recursive(close, prev_close, volume);
    }

    /// The indicator values as of the last pushed bar.
    pub fn values(&self) -> IndicatorValues {
        let n = self.bars as usize;
        if n == 0 {
            return IndicatorValues::default();
        }
        let close = self.close_ago(0);
        let c = close as f64 / 100.0;
        let mut v = IndicatorValues {
            volume_ratio: self.volume_ratio,
            ..IndicatorValues::default()
        };
        for (slot, w) in v.ma.iter_mut().zip([5, 10, 20, 30, 60, 120, 250]) {
            *slot = self.close_ma(w);
        }
        for (slot, w) in v.vol_ma.iter_mut().zip([5, 10, 20]) {
            *slot = (n >= w).then(|| self.vol_sums.sum(w) as f64 / w as f64);
        }
        for (slot, w) in v.bias.iter_mut().zip([6, 12, 24]) {
            *slot = self.close_ma(w).map(|ma| (c - ma) / ma * 100.0);
        }
        let dif = self.ema12 - self.ema26;
        v.macd = (n >= 26).then_some((dif, self.dea, 2.0 * (dif - self.dea)));
        v.kdj = (n >= 9).then_some((self.k, self.d, 3.0 * self.k - 2.0 * self.d));
        for (i, w) in [6, 12, 24].into_iter().enumerate() {
            v.rsi[i] = (n > w).then(|| ratio_pct(self.rsi_up[i], self.rsi_abs[i]));
        }
        v.boll = self.boll();
        v.atr14 = (n >= SHORT).then(|| self.tr_sums.sum(SHORT) as f64 / (SHORT as f64 * 100.0));
        v.cci14 = (n >= SHORT).then(|| self.cci());
        v.wr14 = (n >= SHORT).then(|| self.wr(close));
        v.obv = Some(self.obv as f64);
        if n > 12 {
            let c12 = self.close_ago(12) as f64 / 100.0;
            v.roc12 = Some((c - c12) / c12 * 100.0);
            v.mtm12 = Some((close - self.close_ago(12)) as f64 / 100.0);
            let ups = (0..12)
                .filter(|&k| self.close_ago(k) > self.close_ago(k + 1))
                .count();
            v.psy12 = Some(ups as f64 / 12.0 * 100.0);
        }
        v.trix = (n > 36).then(|| (self.trix_emas[2] - self.prev_trix) / self.prev_trix * 100.0);
        v.close5 = (n > 5).then(|| self.close_ago(5) as f64 / 100.0);
        v
    }

    /// The rings and exact window sums.
    fn push_bar(&mut self, high: i64, low: i64, close: i64, volume: i64, prev: Option<i64>) {
        if self.closes.len() >= 20 {
            let out = self.close_ago(19) as i128;
            self.close_sq20 -= out * out;
        }
        self.close_sq20 += close as i128 * close as i128;
        self.close_sums.add(&self.closes, close);
        self.closes
            .push(i32::try_from(close).expect("close beyond ¥21 million"));
        self.vol_sums.add(&self.volumes, volume);
        self.volumes.push(volume);
        self.highs.push(high);
        self.lows.push(low);
        self.tp3_sums.add(&self.tp3, high + low + close);
        self.tp3.push(high + low + close);
        let tr = match prev {
            Some(pc) => (high - low).max((high - pc).abs()).max((low - pc).abs()),
            None => high - low,
        };
        self.tr_sums.add(&self.tr, tr);
        self.tr.push(tr);
        self.bars += 1;
    }

    /// EMA/SMA states: MACD, KDJ, RSI, TRIX, OBV.
    fn update_recursive(&mut self, close: i64, prev: Option<i64>, volume: i64) {
        let c = close as f64 / 100.0;
        if self.bars == 1 {
            self.ema12 = c;
            self.ema26 = c;
            self.trix_emas = [c; 3];
        } else {
            self.ema12 = ema(self.ema12, c, 12);
            self.ema26 = ema(self.ema26, c, 26);
            self.dea = ema(self.dea, self.ema12 - self.ema26, 9);
            self.trix_emas[0] = ema(self.trix_emas[0], c, 12);
            self.trix_emas[1] = ema(self.trix_emas[1], self.trix_emas[0], 12);
            self.trix_emas[2] = ema(self.trix_emas[2], self.trix_emas[1], 12);
        }
        let n = self.highs.len().min(9);
        let hh = self.highs.recent(n).max().unwrap_or(close);
        let ll = self.lows.recent(n).min().unwrap_or(close);
        let rsv = if hh > ll {
            (close - ll) as f64 / (hh - ll) as f64 * 100.0
        } else {
            50.0
        };
        self.k = (2.0 * self.k + rsv) / 3.0;
        self.d = (2.0 * self.d + self.k) / 3.0;
        if let Some(pc) = prev {
            let diff = (close - pc) as f64 / 100.0;
            for (i, w) in [6.0, 12.0, 24.0].into_iter().enumerate() {
                self.rsi_up[i] = (diff.max(0.0) + (w - 1.0) * self.rsi_up[i]) / w;
                self.rsi_abs[i] = (diff.abs() + (w - 1.0) * self.rsi_abs[i]) / w;
            }
            self.obv += volume * (close - pc).signum();
        }
    }

    fn close_ago(&self, k: usize) -> i64 {
        self.closes.ago(k) as i64
    }

    fn close_ma(&self, w: usize) -> Option<f64> {
        (self.bars as usize >= w).then(|| self.close_sums.sum(w) as f64 / (w as f64 * 100.0))
    }

    fn boll(&self) -> Option<(f64, f64, f64)> {
        if self.bars < 20 {
            return None;
        }
        let s = self.close_sums.sum(20) as i128;
        // Population variance from exact integer sums: (nΣx² − (Σx)²) / n².
        let num = 20 * self.close_sq20 - s * s;
        let sd = (num.max(0) as f64).sqrt() / 20.0 / 100.0;
        let mid = s as f64 / 2000.0;
        Some((mid + 2.0 * sd, mid, mid - 2.0 * sd))
    }

    fn cci(&self) -> f64 {
        let mean3 = self.tp3_sums.sum(SHORT) as f64 / SHORT as f64;
        let dev3 = self
            .tp3
            .recent(SHORT)
            .map(|x| (x as f64 - mean3).abs())
            .sum::<f64>()
            / SHORT as f64;
        let tp3 = self.tp3.ago(0) as f64;
        if dev3 == 0.0 {
            0.0
        } else {
            // The factor 3 of TP cancels between numerator and deviation.
            (tp3 - mean3) / (0.015 * dev3)
        }
    }

    fn wr(&self, close: i64) -> f64 {
        let hh = self.highs.recent(SHORT).max().unwrap_or(close);
        let ll = self.lows.recent(SHORT).min().unwrap_or(close);
        if hh > ll {
            (hh - close) as f64 / (hh - ll) as f64 * 100.0
        } else {
            50.0
        }
    }
}

fn ema(prev: f64, x: f64, n: u32) -> f64 {
    (2.0 * x + (n as f64 - 1.0) * prev) / (n as f64 + 1.0)
}

/// `a / b × 100`, 50 for a flat series.
fn ratio_pct(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b * 100.0
    } else {
        50.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_newest() {
        let mut r = Ring::new(3);
        for v in 1..=5 {
            r.push(v);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.recent(5).collect::<Vec<i64>>(), [5, 4, 3]);
    }

    #[test]
    fn moving_averages_and_boll_match_direct_formulas() {
        let closes: Vec<i64> = (0..300).map(|i| 1000 + (i * 37 % 101) - 50).collect();
        let mut ind = Indicators::new(300);
        let mut last = IndicatorValues::default();
        for &c in &closes {
            ind.push(c + 10, c - 10, c, 1000 + c);
            last = ind.values();
        }
        let tail = |n: usize| &closes[closes.len() - n..];
        for (i, w) in [5, 10, 20, 30, 60, 120, 250].into_iter().enumerate() {
            let direct = tail(w).iter().sum::<i64>() as f64 / w as f64 / 100.0;
            assert!((last.ma[i].unwrap() - direct).abs() < 1e-9, "ma{w}");
        }
        let mid = tail(20).iter().sum::<i64>() as f64 / 2000.0;
        let var = tail(20)
            .iter()
            .map(|c| (*c as f64 / 100.0 - mid).powi(2))
            .sum::<f64>()
            / 20.0;
        let (up, m, _) = last.boll.unwrap();
        assert!((m - mid).abs() < 1e-9);
        assert!((up - (mid + 2.0 * var.sqrt())).abs() < 1e-9);
    }

    #[test]
    fn short_history_gives_nulls() {
        let mut ind = Indicators::new(300);
        ind.push(110, 90, 100, 500);
        let v = ind.values();
        assert!(v.ma[0].is_none() && v.macd.is_none() && v.rsi[0].is_none());
        assert!(v.volume_ratio.is_none());
        assert_eq!(v.obv, Some(0.0));
    }

    #[test]
    fn steady_rise_saturates_oscillators() {
        let mut ind = Indicators::new(100);
        let mut v = IndicatorValues::default();
        for i in 0..60 {
            let c = 1000 + 10 * i;
            ind.push(c + 5, c - 5, c, 1000);
            v = ind.values();
        }
        assert_eq!(v.rsi[0], Some(100.0));
        assert_eq!(v.psy12, Some(100.0));
        let (dif, dea, _) = v.macd.unwrap();
        assert!(dif > 0.0 && dea > 0.0);
        assert!(v.kdj.unwrap().0 > 80.0);
        assert!(v.wr14.unwrap() < 20.0);
        assert!(v.trix.unwrap() > 0.0);
    }
}
