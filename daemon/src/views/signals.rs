//! `signals.stock`: the technical signals of one stock on one date.

use super::{num, shown, Key, Semantic};
use crate::config::SignalsConfig;
use crate::query;
use crate::store::{time, Store};
use std::collections::BTreeMap;
use stockd_api::{AppError, Direction, ErrorKind, Signal, SkipReason, SkippedSignal, StockSignals};

/// Why one signal could not be evaluated: the reason and the column.
type Skip = (SkipReason, Option<String>);

/// What every check reads.
struct Ctx<'a> {
    store: &'a Store,
    sem: &'a Semantic,
    cfg: &'a SignalsConfig,
    code_id: u32,
    date_idx: usize,
    row: usize,
    /// The stock's previous row in the store (its previous trading day).
    prev: Option<usize>,
}

impl Ctx<'_> {
    /// The column of `key`, or the `missing_column` skip.
    fn col(&self, key: Key) -> Result<usize, Skip> {
        self.sem.get(key).ok_or_else(|| {
            (
                SkipReason::MissingColumn,
                Some(self.sem.column_name(key).to_string()),
            )
        })
    }

    /// The value of `key` on `row`, or the `null_value` skip.
    fn value(&self, key: Key, row: usize) -> Result<f64, Skip> {
        num(self.store, self.sem.get(key), row).ok_or_else(|| {
            (
                SkipReason::NullValue,
                Some(self.sem.column_name(key).to_string()),
            )
        })
    }

    fn name(&self, key: Key) -> String {
        self.sem.column_name(key).to_string()
    }

    /// A signal showing `values` (exact values of the date's row, given
    /// as [`shown`] does).
    fn signal(&self, name: &str, direction: Direction, values: &[(Key, f64)]) -> Signal {
        let show = |k: Key, v: f64| shown(self.store, self.sem.get(k), self.row).unwrap_or(v);
        Signal {
            name: name.to_string(),
            direction,
            values: values
                .iter()
                .map(|&(k, v)| (self.name(k), show(k, v)))
                .collect(),
            previous: BTreeMap::new(),
            threshold: None,
            window_rows: None,
        }
    }

    /// A cross of line `a` over line `b` between the previous row and this
    /// one. Golden (bullish): `prev a <= prev b` and `a > b`; death
    /// (bearish): `prev a >= prev b` and `a < b`.
    fn cross(&self, name: &str, a: Key, b: Key) -> Result<Option<Signal>, Skip> {
        self.col(a)?;
        self.col(b)?;
        let (va, vb) = (self.value(a, self.row)?, self.value(b, self.row)?);
        let prev = self.prev.ok_or((SkipReason::NoPreviousRow, None))?;
        let (pa, pb) = (self.value(a, prev)?, self.value(b, prev)?);
        let direction = if pa <= pb && va > vb {
            Direction::Bullish
        } else if pa >= pb && va < vb {
            Direction::Bearish
        } else {
            return Ok(None);
        };
        let mut s = self.signal(name, direction, &[(a, va), (b, vb)]);
        let show = |k: Key, v: f64| shown(self.store, self.sem.get(k), prev).unwrap_or(v);
        s.previous = [(self.name(a), show(a, pa)), (self.name(b), show(b, pb))].into();
        Ok(Some(s))
    }

    /// `key` strictly above (`above`) or below `threshold`.
    fn threshold(
        &self,
        name: &str,
        key: Key,
        threshold: f64,
        above: bool,
        direction: Direction,
    ) -> Result<Option<Signal>, Skip> {
        self.col(key)?;
        let v = self.value(key, self.row)?;
        let hit = if above { v > threshold } else { v < threshold };
        Ok(hit.then(|| Signal {
            threshold: Some(threshold),
            ..self.signal(name, direction, &[(key, v)])
        }))
    }

    /// The close strictly above (`above`) or below the band line `band`.
    fn band(
        &self,
        name: &str,
        band: Key,
        above: bool,
        direction: Direction,
    ) -> Result<Option<Signal>, Skip> {
        self.col(Key::Close)?;
        self.col(band)?;
        let close = self.value(Key::Close, self.row)?;
        let line = self.value(band, self.row)?;
        let hit = if above { close > line } else { close < line };
        Ok(hit.then(|| self.signal(name, direction, &[(Key::Close, close), (band, line)])))
    }

    /// Volume ratio above the threshold; the direction follows the day's
    /// pct change (up: bullish, down: bearish, none or unknown: neutral).
    fn volume_surge(&self) -> Result<Option<Signal>, Skip> {
        self.col(Key::VolumeRatio)?;
        let v = self.value(Key::VolumeRatio, self.row)?;
        if v <= self.cfg.volume_ratio {
            return Ok(None);
        }
        let pct = num(self.store, self.sem.get(Key::PctChange), self.row);
        let direction = match pct {
            Some(p) if p > 0.0 => Direction::Bullish,
            Some(p) if p < 0.0 => Direction::Bearish,
            _ => Direction::Neutral,
        };
        let mut values = vec![(Key::VolumeRatio, v)];
        values.extend(pct.map(|p| (Key::PctChange, p)));
        Ok(Some(Signal {
            threshold: Some(self.cfg.volume_ratio),
            ..self.signal("volume_surge", direction, &values)
        }))
    }

    /// The close is the highest (`high`) or lowest of the stock's closes
    /// over the last `high_low_days` trading days held, the date included
    /// (ties count); needs at least 2 known closes in that window.
    fn extreme(&self, name: &str, high: bool) -> Result<Option<Signal>, Skip> {
        self.col(Key::Close)?;
        let close = self.value(Key::Close, self.row)?;
        let days = self.cfg.high_low_days as usize;
        let first = (self.date_idx + 1).saturating_sub(days);
        let closes: Vec<f64> = (first..=self.date_idx)
            .filter_map(|d| self.store.row(self.code_id, d))
            .filter_map(|r| num(self.store, self.sem.get(Key::Close), r))
            .collect();
        if closes.len() < 2 {
            return Err((SkipReason::TooFewRows, None));
        }
        let hit = if high {
            closes.iter().all(|&c| close >= c)
        } else {
            closes.iter().all(|&c| close <= c)
        };
        let direction = if high {
            Direction::Bullish
        } else {
            Direction::Bearish
        };
        Ok(hit.then(|| Signal {
            window_rows: Some(closes.len() as u32),
            ..self.signal(name, direction, &[(Key::Close, close)])
        }))
    }

    /// Every check, in the order of [`stockd_api::SIGNAL_NAMES`].
    fn evaluate(&self, name: &str) -> Result<Option<Signal>, Skip> {
        let c = self.cfg;
        use Direction::{Bearish, Bullish};
        match name {
            "ma_cross" => self.cross(name, Key::Ma5, Key::Ma20),
            "macd_cross" => self.cross(name, Key::MacdDif, Key::MacdDea),
            "kdj_overbought" => self.threshold(name, Key::KdjJ, c.kdj_high, true, Bearish),
            "kdj_oversold" => self.threshold(name, Key::KdjJ, c.kdj_low, false, Bullish),
            "rsi_overbought" => self.threshold(name, Key::Rsi6, c.rsi_high, true, Bearish),
            "rsi_oversold" => self.threshold(name, Key::Rsi6, c.rsi_low, false, Bullish),
            "boll_breakout_up" => self.band(name, Key::BollUpper, true, Bullish),
            "boll_breakdown" => self.band(name, Key::BollLower, false, Bearish),
            "volume_surge" => self.volume_surge(),
            "limit_up_streak" => {
                let t = c.limit_up_streak as f64;
                self.col(Key::ConsecutiveLimitUp)?;
                let v = self.value(Key::ConsecutiveLimitUp, self.row)?;
                Ok((v >= t).then(|| Signal {
                    threshold: Some(t),
                    ..self.signal(name, Bullish, &[(Key::ConsecutiveLimitUp, v)])
                }))
            }
            "new_high" => self.extreme(name, true),
            "new_low" => self.extreme(name, false),
            other => unreachable!("no check for signal {other}"),
        }
    }
}

/// `signals.stock`: the signals of `code` active on `date` (default: the
/// stock's latest row), each with the values behind it.
///
/// | signal | active when | direction |
/// |---|---|---|
/// | `ma_cross` | ma5 crosses ma20 since the stock's previous row: golden `prev ma5 <= prev ma20 && ma5 > ma20`, death the reverse | golden bullish, death bearish |
/// | `macd_cross` | the same rule for macd_dif over macd_dea | as above |
/// | `kdj_overbought` / `kdj_oversold` | J > `kdj_high` / J < `kdj_low` | bearish / bullish |
/// | `rsi_overbought` / `rsi_oversold` | rsi6 > `rsi_high` / rsi6 < `rsi_low` | bearish / bullish |
/// | `boll_breakout_up` / `boll_breakdown` | close > boll_upper / close < boll_lower | bullish / bearish |
/// | `volume_surge` | volume_ratio > `volume_ratio` | by the day's pct change: bullish if > 0, bearish if < 0, else neutral |
/// | `limit_up_streak` | consecutive_limit_up >= `limit_up_streak` | bullish |
/// | `new_high` / `new_low` | close is the max / min of the stock's closes over the last `high_low_days` trading days held (date included, ties count, at least 2 closes) | bullish / bearish |
///
/// Thresholds come from `[signals]`. A signal whose column the table lacks,
/// whose value is NULL, that needs a previous row the stock does not have,
/// or (highs/lows) that has fewer than 2 closes to compare is listed in
/// `skipped` with the reason; it never fails the call. The rest are listed
/// in `checked`.
///
/// Errors: unknown stock, a date not held, or a date on which the stock has
/// no row (unknown date).
pub fn signals(
    store: &Store,
    sem: &Semantic,
    cfg: &SignalsConfig,
    code: &str,
    date: Option<&str>,
) -> Result<StockSignals, AppError> {
    let code_id = query::code_id(store, code)?;
    let row = match date {
        Some(d) => {
            let di = query::date_index(store, d)?;
            store.row(code_id, di).ok_or_else(|| {
                AppError::new(
                    ErrorKind::UnknownDate,
                    d,
                    format!("stock '{code}' has no row on {d} (suspended or not listed that day)"),
                )
            })?
        }
        None => store.latest_row(code_id).ok_or_else(|| {
            AppError::new(
                ErrorKind::UnknownStock,
                code,
                format!("stock '{code}' has no rows"),
            )
        })?,
    };
    let day = store.row_date(row);
    // An indexed row's date is always held; the error is for form's sake.
    let date_idx = store.date_index(day).ok_or_else(|| {
        AppError::new(
            ErrorKind::UnknownDate,
            time::date_string(day),
            format!("stock '{code}' has a row on a date not held"),
        )
    })?;
    let ctx = Ctx {
        store,
        sem,
        cfg,
        code_id,
        date_idx,
        row,
        prev: (0..date_idx).rev().find_map(|d| store.row(code_id, d)),
    };
    let mut out = StockSignals {
        code: code.to_string(),
        date: time::date_string(day),
        signals: Vec::new(),
        checked: Vec::new(),
        skipped: Vec::new(),
    };
    for &name in stockd_api::SIGNAL_NAMES {
        match ctx.evaluate(name) {
            Ok(signal) => {
                out.checked.push(name.to_string());
                out.signals.extend(signal);
            }
            Err((reason, column)) => out.skipped.push(SkippedSignal {
                name: name.to_string(),
                reason,
                column,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ColumnsConfig, DEFAULT_SIGNALS};
    use crate::store::schema::ColumnKind as K;
    use crate::views::testkit::{build, V};
    use V::{Null, D, F, F4, I2, T};

    const COLS: [(&str, K); 14] = [
        ("stock_code", K::Text),
        ("date", K::Date),
        ("close", K::Float8),
        ("pct_chg", K::Float4),
        ("ma5", K::Float8),
        ("ma20", K::Float8),
        ("macd_dif", K::Float8),
        ("macd_dea", K::Float8),
        ("kdj_j", K::Float8),
        ("rsi6", K::Float8),
        ("boll_upper", K::Float8),
        ("boll_lower", K::Float8),
        ("volume_ratio", K::Float4),
        ("consecutive_limit_up", K::Int2),
    ];

    /// Stock S on d1, d2, (suspended d3), d4; stock T on every day.
    fn rows() -> Vec<Vec<V<'static>>> {
        #[rustfmt::skip]
        let rows = vec![
            //     code    date              close    pct        ma5      ma20     dif      dea      kdj_j     rsi6     upper    lower    vr          streak
            vec![T("S"), D("2024-01-01"), F(10.0), F4(1.0),  F(9.0),  F(10.0), F(1.0), F(0.5), F(50.0),  F(50.0), F(11.0), F(8.0), F4(1.0),  I2(0)],
            vec![T("S"), D("2024-01-02"), F(12.0), F4(3.0),  F(11.0), F(10.0), F(0.4), F(0.5), F(105.0), F(15.0), F(11.5), F(8.0), F4(2.5),  I2(2)],
            vec![T("S"), D("2024-01-04"), F(9.0),  F4(-2.0), Null,    F(10.0), F(0.6), F(0.5), F(-5.0),  F(85.0), F(12.0), F(9.5), F4(2.0),  I2(0)],
            vec![T("T"), D("2024-01-01"), F(5.0),  Null,     F(1.0),  F(1.0),  F(1.0), F(1.0), F(50.0),  F(50.0), F(9.0),  F(1.0), F4(1.0),  I2(0)],
            vec![T("T"), D("2024-01-02"), F(5.0),  Null,     F(1.0),  F(1.0),  F(1.0), F(1.0), F(50.0),  F(f64::NAN), F(9.0), F(1.0), F4(3.0), I2(0)],
            vec![T("T"), D("2024-01-03"), F(5.0),  F4(0.0),  F(1.0),  F(1.0),  F(1.0), F(1.0), F(50.0),  F(50.0), F(9.0),  F(1.0), F4(1.0),  I2(0)],
            vec![T("T"), D("2024-01-04"), F(5.0),  F4(0.0),  F(1.0),  F(1.0),  F(1.0), F(1.0), F(50.0),  F(50.0), F(9.0),  F(1.0), F4(1.0),  I2(0)],
        ];
        rows
    }

    fn run(code: &str, date: Option<&str>) -> Result<StockSignals, AppError> {
        run_with(&COLS, &DEFAULT_SIGNALS, code, date)
    }

    fn run_with(
        cols: &[(&str, K)],
        cfg: &SignalsConfig,
        code: &str,
        date: Option<&str>,
    ) -> Result<StockSignals, AppError> {
        let keep: Vec<usize> = COLS
            .iter()
            .enumerate()
            .filter(|(_, c)| cols.iter().any(|k| k.0 == c.0))
            .map(|(i, _)| i)
            .collect();
        let rows: Vec<Vec<V>> = rows()
            .into_iter()
            .map(|r| keep.iter().map(|&i| r[i]).collect())
            .collect();
        let cols: Vec<(&str, K)> = keep.iter().map(|&i| COLS[i]).collect();
        let store = build(&cols, &rows);
        let sem = Semantic::new(&store, &ColumnsConfig::default());
        signals(&store, &sem, cfg, code, date)
    }

    fn names(s: &StockSignals) -> Vec<(&str, Direction)> {
        s.signals
            .iter()
            .map(|s| (s.name.as_str(), s.direction))
            .collect()
    }

    fn skipped(s: &StockSignals) -> Vec<(&str, SkipReason, Option<&str>)> {
        s.skipped
            .iter()
            .map(|k| (k.name.as_str(), k.reason, k.column.as_deref()))
            .collect()
    }

    fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn every_signal_fires_with_its_values() {
        use Direction::*;
        let s = run("S", Some("2024-01-02")).unwrap();
        assert_eq!((s.code.as_str(), s.date.as_str()), ("S", "2024-01-02"));
        assert_eq!(
            names(&s),
            [
                ("ma_cross", Bullish),
                ("macd_cross", Bearish),
                ("kdj_overbought", Bearish),
                ("rsi_oversold", Bullish),
                ("boll_breakout_up", Bullish),
                ("volume_surge", Bullish),
                ("limit_up_streak", Bullish),
                ("new_high", Bullish),
            ]
        );
        assert_eq!(s.checked, stockd_api::SIGNAL_NAMES);
        assert!(s.skipped.is_empty());
        let golden = &s.signals[0];
        assert_eq!(golden.values, map(&[("ma5", 11.0), ("ma20", 10.0)]));
        assert_eq!(golden.previous, map(&[("ma5", 9.0), ("ma20", 10.0)]));
        assert_eq!(golden.threshold, None);
        let kdj = &s.signals[2];
        assert_eq!(kdj.values, map(&[("kdj_j", 105.0)]));
        assert_eq!(kdj.threshold, Some(100.0));
        assert!(kdj.previous.is_empty());
        assert_eq!(
            s.signals[4].values,
            map(&[("close", 12.0), ("boll_upper", 11.5)])
        );
        assert_eq!(
            s.signals[5].values,
            map(&[("volume_ratio", 2.5), ("pct_chg", 3.0)])
        );
        assert_eq!(s.signals[6].threshold, Some(2.0));
        assert_eq!(s.signals[7].window_rows, Some(2));
        assert_eq!(s.signals[7].values, map(&[("close", 12.0)]));
    }

    #[test]
    fn the_previous_row_skips_a_suspension_and_the_default_is_the_latest() {
        use Direction::*;
        let s = run("S", None).unwrap();
        assert_eq!(s.date, "2024-01-04");
        assert_eq!(
            names(&s),
            [
                ("macd_cross", Bullish),
                ("kdj_oversold", Bullish),
                ("rsi_overbought", Bearish),
                ("boll_breakdown", Bearish),
                ("new_low", Bearish),
            ],
            "volume ratio 2.0 is not above 2"
        );
        assert_eq!(
            s.signals[0].previous,
            map(&[("macd_dif", 0.4), ("macd_dea", 0.5)]),
            "compared with 2024-01-02: the stock has no row on 01-03"
        );
        assert_eq!(s.signals[4].window_rows, Some(3));
        assert_eq!(
            skipped(&s),
            [("ma_cross", SkipReason::NullValue, Some("ma5"))]
        );
        assert_eq!(s.checked.len(), 11);
    }

    #[test]
    fn first_day_and_short_windows_are_skipped() {
        let s = run("S", Some("2024-01-01")).unwrap();
        assert_eq!(
            skipped(&s),
            [
                ("ma_cross", SkipReason::NoPreviousRow, None),
                ("macd_cross", SkipReason::NoPreviousRow, None),
                ("new_high", SkipReason::TooFewRows, None),
                ("new_low", SkipReason::TooFewRows, None),
            ]
        );
        assert_eq!(
            s.checked.len() + s.skipped.len(),
            stockd_api::SIGNAL_NAMES.len()
        );

        // Two trading days back from 01-04 is 01-03 and 01-04: one close.
        let cfg = SignalsConfig {
            high_low_days: 2,
            ..DEFAULT_SIGNALS
        };
        let s = run_with(&COLS, &cfg, "S", None).unwrap();
        assert!(skipped(&s).contains(&("new_low", SkipReason::TooFewRows, None)));
        let cfg = SignalsConfig {
            high_low_days: 3,
            ..DEFAULT_SIGNALS
        };
        let s = run_with(&COLS, &cfg, "S", None).unwrap();
        assert_eq!(s.signals.last().map(|s| s.window_rows), Some(Some(2)));
    }

    #[test]
    fn thresholds_come_from_the_config() {
        let cfg = SignalsConfig {
            kdj_high: 110.0,
            rsi_low: 10.0,
            volume_ratio: 3.0,
            limit_up_streak: 3,
            ..DEFAULT_SIGNALS
        };
        let s = run_with(&COLS, &cfg, "S", Some("2024-01-02")).unwrap();
        let n: Vec<&str> = s.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            n,
            ["ma_cross", "macd_cross", "boll_breakout_up", "new_high"]
        );
    }

    #[test]
    fn flat_prices_nulls_and_nan() {
        // T: flat closes (both a high and a low: ties count), NaN rsi6 is
        // no value, a surge on a day without a pct change is neutral.
        let s = run("T", Some("2024-01-02")).unwrap();
        assert_eq!(
            names(&s),
            [
                ("volume_surge", Direction::Neutral),
                ("new_high", Direction::Bullish),
                ("new_low", Direction::Bearish),
            ]
        );
        assert_eq!(s.signals[0].values, map(&[("volume_ratio", 3.0)]));
        assert_eq!(
            skipped(&s),
            [
                ("rsi_overbought", SkipReason::NullValue, Some("rsi6")),
                ("rsi_oversold", SkipReason::NullValue, Some("rsi6")),
            ]
        );
    }

    #[test]
    fn a_missing_column_skips_only_its_signals() {
        let cols: Vec<(&str, K)> = COLS
            .iter()
            .copied()
            .filter(|c| c.0 != "kdj_j" && c.0 != "ma20")
            .collect();
        let s = run_with(&cols, &DEFAULT_SIGNALS, "S", Some("2024-01-02")).unwrap();
        assert_eq!(
            skipped(&s),
            [
                ("ma_cross", SkipReason::MissingColumn, Some("ma20")),
                ("kdj_overbought", SkipReason::MissingColumn, Some("kdj_j")),
                ("kdj_oversold", SkipReason::MissingColumn, Some("kdj_j")),
            ]
        );
        assert_eq!(s.signals.len(), 6);
        let json = serde_json::to_value(&s.skipped[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "ma_cross", "reason": "missing_column", "column": "ma20"})
        );
    }

    #[test]
    fn unknown_stock_and_dates() {
        let e = run("X", None).unwrap_err();
        assert_eq!((e.kind, e.value.as_str()), (ErrorKind::UnknownStock, "X"));
        let e = run("S", Some("2024-01-03")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownDate);
        assert_eq!(
            e.message,
            "stock 'S' has no row on 2024-01-03 (suspended or not listed that day)"
        );
        let e = run("S", Some("2024-01-05")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownDate);
        let e = run("S", Some("2024-02-30")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParams);
    }
}
