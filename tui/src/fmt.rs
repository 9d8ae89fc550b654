//! How figures are written, on screen and in one-shot output: one place so
//! the console, the one-shot commands and the tests agree to the character.

use serde_json::Value;

/// Bytes for people: `512 B`, `1.5 KiB`, `56.5 MiB`, `5.9 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A count with thousands separators: `107,979`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An uptime: `42s`, `5m 06s`, `3h 04m`, `2d 03h`.
pub fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A latency in microseconds: `850µs`, `12.3ms`, `1.20s`.
pub fn micros(us: u64) -> String {
    if us < 1000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// A duration in milliseconds: `850 ms`, `5.2 s`.
pub fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A ratio as a percentage with one decimal: `45.2%`.
pub fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// `part / whole`, or `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Hit rate of a cache: `hits / (hits + misses)`, `–` before any lookup.
pub fn hit_rate(hits: u64, misses: u64) -> String {
    ratio(hits, hits + misses).map_or_else(|| "–".to_string(), percent)
}

/// An RFC 3339 timestamp shortened to the second: `2026-11-27 17:49:01Z`.
pub fn timestamp(rfc3339: &str) -> String {
    let t = rfc3339.replacen('T', " ", 1);
    match t.find('.') {
        Some(dot) => {
            let zone = t[dot..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
            format!("{}{zone}", &t[..dot])
        }
        None => t,
    }
}

/// A cell value of a row: numbers as the daemon wrote them (shortest
/// round-trip form), strings as they are, `–` for null. Use
/// [`ColumnKinds::cell`] when the column's type is known.
pub fn value(v: &Value) -> String {
    match v {
        Value::Null => "–".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        other => other.to_string(),
    }
}

/// How a column's numbers are written, from its SQL type as `market.info`
/// spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `numeric(p,s)`: always `s` decimals (`20.00`), as PostgreSQL prints it.
    Fixed(usize),
    /// `real`: the shortest text that reads back as the same float4 (`20.01`).
    Real,
    /// Any other number (`double precision`, integers, unconstrained
    /// `numeric`): the shortest text that reads back as the same value.
    Number,
    /// Not a number.
    Other,
}

impl ColumnKind {
    pub fn of(sql_type: &str) -> ColumnKind {
        let ty = sql_type.trim().to_ascii_lowercase();
        let fixed = ["numeric(", "decimal("]
            .iter()
            .find_map(|p| ty.strip_prefix(p))
            .and_then(|inner| inner.strip_suffix(')'))
            .and_then(|inner| inner.split(',').nth(1))
            .and_then(|s| s.trim().parse::<usize>().ok());
        if let Some(scale) = fixed {
            return ColumnKind::Fixed(scale.min(MAX_SCALE));
        }
        if ty == "real" || ty == "float4" {
            return ColumnKind::Real;
        }
        let numeric = [
            "smallint",
            "integer",
            "bigint",
            "double precision",
            "float8",
            "numeric",
            "decimal",
        ];
        if numeric.iter().any(|t| ty.starts_with(t)) {
            ColumnKind::Number
        } else {
            ColumnKind::Other
        }
    }

    /// One value of this column, written at the column's scale.
    pub fn text(self, v: &Value) -> String {
        let Value::Number(n) = v else {
            return value(v);
        };
        match self {
            ColumnKind::Fixed(scale) => pad_decimals(&number_text(n), scale),
            ColumnKind::Real => match n.as_f64() {
                // The daemon writes a float4 in its shortest form; reading
                // it as f64 and back to f32 is exact, and Rust's `Display`
                // is the shortest round-trip form (never an exponent).
                Some(x) if n.is_f64() && x.is_finite() => plain(&(x as f32).to_string()),
                _ => number_text(n),
            },
            ColumnKind::Number | ColumnKind::Other => number_text(n),
        }
    }
}

/// The largest `numeric` scale written out (PostgreSQL allows 1000; the
/// padding is text, so this only bounds a silly type).
const MAX_SCALE: usize = 30;
/// Float columns in a table are padded to the most decimals any of their
/// values needs, up to this many (`20.0` next to `20.09` becomes `20.00`);
/// a column whose values need more (a moving average) is left ragged, as
/// padding it would only add zeros that mean nothing.
pub const MAX_ALIGNED_DECIMALS: usize = 6;

/// The kind of every column of the table, by name (from `market.info`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnKinds(std::collections::BTreeMap<String, ColumnKind>);

impl ColumnKinds {
    pub fn new(columns: &[stockd_api::ColumnInfo]) -> ColumnKinds {
        ColumnKinds(
            columns
                .iter()
                .map(|c| (c.name.clone(), ColumnKind::of(&c.ty)))
                .collect(),
        )
    }

    /// The kind of `column`; a column `market.info` did not list is
    /// written as the daemon sent it.
    pub fn kind(&self, column: &str) -> ColumnKind {
        self.0.get(column).copied().unwrap_or(ColumnKind::Number)
    }

    /// Whether `column` holds numbers (`None` before `market.info`).
    pub fn is_numeric(&self, column: &str) -> Option<bool> {
        if self.0.is_empty() {
            return None;
        }
        Some(!matches!(
            self.0.get(column),
            None | Some(ColumnKind::Other)
        ))
    }

    /// One value of `column` as shown.
    pub fn cell(&self, column: &str, v: &Value) -> String {
        self.kind(column).text(v)
    }

    /// The values of one table column, as shown: each at the column's
    /// scale, and a float column padded to one number of decimals (see
    /// [`MAX_ALIGNED_DECIMALS`]).
    pub fn column<'a>(
        &self,
        column: &str,
        values: impl IntoIterator<Item = Option<&'a Value>>,
    ) -> Vec<String> {
        let kind = self.kind(column);
        let mut texts: Vec<String> = values
            .into_iter()
            .map(|v| v.map_or_else(|| "–".to_string(), |v| kind.text(v)))
            .collect();
        if matches!(kind, ColumnKind::Real | ColumnKind::Number) {
            align_decimals(&mut texts);
        }
        texts
    }
}

/// A JSON number as text: integers as they are, floats in their shortest
/// round-trip form without an exponent (`4735444162.5`, `0.0001`).
/// serde_json writes and reads floats through the same shortest form, so
/// this is the daemon's own text except for trailing zeros of a `numeric`
/// (which [`pad_decimals`] restores from the column's scale).
pub fn number_text(n: &serde_json::Number) -> String {
    if n.is_f64() {
        match n.as_f64() {
            Some(x) if x.is_finite() => plain(&x.to_string()),
            _ => n.to_string(),
        }
    } else {
        n.to_string()
    }
}

/// A decimal text without an exponent (`1.5e17` → `150000000000000000`),
/// moving digits only; text that is not a decimal comes back unchanged.
fn plain(text: &str) -> String {
    let Some((mantissa, exp)) = text.split_once(['e', 'E']) else {
        return text.to_string();
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return text.to_string();
    };
    let (sign, m) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let (int, frac) = m.split_once('.').unwrap_or((m, ""));
    if !(int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit()) || exp.abs() > 400 {
        return text.to_string();
    }
    let digits = format!("{int}{frac}");
    let point = int.len() as i32 + exp;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    let body = body.trim_start_matches('0');
    let body = if body.is_empty() || body.starts_with('.') {
        format!("0{body}")
    } else {
        body.to_string()
    };
    format!("{sign}{body}")
}

/// Decimals written after the point of a decimal text (`20.09` → 2).
pub fn decimals(text: &str) -> usize {
    match text.split_once('.') {
        Some((_, frac)) if frac.bytes().all(|b| b.is_ascii_digit()) => frac.len(),
        _ => 0,
    }
}

/// A decimal text with at least `scale` decimals, by appending zeros
/// (`20.0` at 2 → `20.00`, `7` at 2 → `7.00`); digits are never removed,
/// and text that is not a plain decimal comes back unchanged.
pub fn pad_decimals(text: &str, scale: usize) -> String {
    let body = text.strip_prefix('-').unwrap_or(text);
    let decimal = !body.is_empty()
        && body.bytes().filter(|b| *b == b'.').count() <= 1
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !decimal || scale == 0 {
        return text.to_string();
    }
    let have = decimals(text);
    if have >= scale {
        return text.to_string();
    }
    let mut s = text.to_string();
    if !s.contains('.') {
        s.push('.');
    }
    s.push_str(&"0".repeat(scale - have));
    s
}

/// Pads every decimal text of a table column to the most decimals any of
/// them has, when that is at most [`MAX_ALIGNED_DECIMALS`].
pub fn align_decimals(texts: &mut [String]) {
    let most = texts.iter().map(|t| decimals(t)).max().unwrap_or(0);
    if most == 0 || most > MAX_ALIGNED_DECIMALS {
        return;
    }
    for t in texts.iter_mut() {
        *t = pad_decimals(t, most);
    }
}

/// A float4 value (a member's pct change) in its shortest form.
pub fn real(x: f64) -> String {
    if x.is_finite() {
        plain(&(x as f32).to_string())
    } else {
        x.to_string()
    }
}

/// `text` padded with spaces to `width` terminal cells (a Chinese
/// character takes two), for aligned plain-text tables; longer text is
/// left as it is.
pub fn pad(text: &str, width: usize) -> String {
    let w = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(w)))
}

/// An optional float with `digits` decimals, `–` for none.
pub fn opt_f64(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{x:.digits$}"))
}

/// A signed percentage change: `+1.23%`, `-0.50%`.
pub fn pct_change(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{x:+.2}%"))
}

/// A large amount (yuan) for a narrow column: `987`, `12.3K`, `4.56M`,
/// `7.89B`.
pub fn amount(v: Option<f64>) -> String {
    let Some(x) = v else {
        return "–".to_string();
    };
    let a = x.abs();
    if a >= 1e9 {
        format!("{:.2}B", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}K", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A text bar `width` cells wide filled to `ratio` (0..=1) with eighth
/// blocks, so a narrow table cell still shows small differences.
pub fn bar(ratio: f64, width: usize) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let r = if ratio.is_finite() {
        ratio.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (r * width as f64 * 8.0).round() as usize;
    let full = eighths / 8;
    let mut s = "█".repeat(full.min(width));
    if full < width {
        let rem = eighths % 8;
        if rem > 0 {
            s.push(EIGHTHS[rem]);
        }
        let used = full + usize::from(rem > 0);
        s.push_str(&"·".repeat(width - used));
    }
    s
}

/// Display width of `text` in terminal cells (a CJK character takes two).
pub fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` clipped to at most `width` terminal cells, never inside a
/// character: a cut text ends in `…`. The one clipping rule of the console;
/// every cell that may be too narrow goes through it (or [`clip_list`]).
pub fn clip(text: &str, width: usize) -> String {
    if self::width(text) <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut s = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        s.push(ch);
    }
    s.push('…');
    s
}

/// As many whole `items` as fit in `width` cells, joined by `sep`; when
/// some are left out the text ends in `sep` + `…` (or the first item alone,
/// clipped, when not even it fits). No item is cut in two.
pub fn clip_list(items: &[String], sep: &str, width: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let candidate = if i == 0 {
            item.clone()
        } else {
            format!("{out}{sep}{item}")
        };
        let rest_marker = if i + 1 < items.len() {
            self::width(sep) + 1
        } else {
            0
        };
        if self::width(&candidate) + rest_marker <= width {
            out = candidate;
            continue;
        }
        if i == 0 {
            return clip(item, width);
        }
        // The last item fits without a marker, or it does not fit at all.
        if i + 1 == items.len() && self::width(&candidate) <= width {
            return candidate;
        }
        return format!("{out}{sep}…");
    }
    out
}

/// Levels for a sparkline of `levels` steps (8 per row), scaled between
/// the minimum and the maximum of `values`: the minimum draws at level 1,
/// a visible baseline, and the maximum at `levels`. A flat series draws as
/// a flat baseline, never as full blocks.
pub fn spark_levels(values: &[u64], levels: u64) -> Vec<u64> {
    let levels = levels.max(1);
    let lo = values.iter().copied().min().unwrap_or(0);
    let hi = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if hi == lo {
                1
            } else {
                let span = u128::from(hi - lo);
                let up = u128::from(v - lo) * u128::from(levels - 1);
                // Round to nearest level.
                1 + ((up + span / 2) / span) as u64
            }
        })
        .collect()
}

/// The store's columns, most expensive (values and null bitmap) first,
/// and the width their names need (at least `min`, at most `max`).
pub fn columns_by_cost(
    s: &stockd_api::StoreStatus,
    min: usize,
    max: usize,
) -> (Vec<&stockd_api::ColumnMemory>, usize) {
    let mut cols: Vec<&stockd_api::ColumnMemory> = s.column_bytes.iter().collect();
    cols.sort_by_key(|c| std::cmp::Reverse(c.bytes + c.null_bytes));
    let width = cols
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(min, max);
    (cols, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(59_292_193), "56.5 MiB");
        assert_eq!(bytes(6_319_125_504), "5.9 GiB");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(107_979), "107,979");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(uptime(42), "42s");
        assert_eq!(uptime(306), "5m 06s");
        assert_eq!(uptime(3 * 3600 + 4 * 60 + 5), "3h 04m");
        assert_eq!(uptime(2 * 86_400 + 3 * 3600), "2d 03h");
        assert_eq!(micros(850), "850µs");
        assert_eq!(micros(12_345), "12.3ms");
        assert_eq!(micros(1_200_000), "1.20s");
        assert_eq!(millis(850), "850 ms");
        assert_eq!(millis(5158), "5.2 s");
        assert_eq!(hit_rate(0, 0), "–");
        assert_eq!(hit_rate(2, 1), "66.7%");
        assert_eq!(pct_change(Some(1.234)), "+1.23%");
        assert_eq!(amount(Some(4_560_000.0)), "4.56M");
    }

    #[test]
    fn timestamps_lose_fractions_only() {
        assert_eq!(
            timestamp("2026-11-27T17:49:01.381687Z"),
            "2026-11-27 17:49:01Z"
        );
        assert_eq!(
            timestamp("2026-11-27T17:49:01+08:00"),
            "2026-11-27 17:49:01+08:00"
        );
    }

    #[test]
    fn bars_fill_proportionally() {
        assert_eq!(bar(0.0, 4), "····");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(2.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██··");
        assert_eq!(bar(0.0625, 4), "▎···");
        assert_eq!(bar(f64::NAN, 3), "···");
        for w in [1, 7, 12] {
            for i in 0..=20 {
                assert_eq!(bar(i as f64 / 20.0, w).chars().count(), w);
            }
        }
    }

    #[test]
    fn clipping_goes_by_display_width() {
        assert_eq!(clip("hotspots", 8), "hotspots");
        assert_eq!(clip("hotspots", 5), "hots…");
        // Two cells per CJK character: 5 cells hold two and the mark.
        assert_eq!(clip("广西有色金属", 5), "广西…");
        assert_eq!(clip("广西有色金属", 6), "广西…");
        assert_eq!(clip("广西有色金属", 12), "广西有色金属");
        assert_eq!(clip("广西", 1), "…");
        assert_eq!(clip("广西", 0), "");
        for w in 0..14 {
            assert!(width(&clip("广西有色金属 +9.97%", w)) <= w, "{w}");
        }
    }

    #[test]
    fn lists_are_clipped_by_whole_items() {
        let items: Vec<String> = ["亿联能科 +20.01%", "山东能科 +20.00%", "广东能科 +5.23%"]
            .map(String::from)
            .to_vec();
        assert_eq!(clip_list(&items, " · ", 60), items.join(" · "));
        assert_eq!(
            clip_list(&items, " · ", 40),
            "亿联能科 +20.01% · 山东能科 +20.00% · …"
        );
        assert_eq!(clip_list(&items, " · ", 20), "亿联能科 +20.01% · …");
        assert_eq!(clip_list(&items, " · ", 16), "亿联能科 +20.01%");
        assert_eq!(clip_list(&items, " · ", 9), "亿联能科…");
        for w in 0..60 {
            assert!(width(&clip_list(&items, " · ", w)) <= w, "{w}");
        }
    }

    #[test]
    fn numbers_at_their_column_scale() {
        let n = |s: &str| serde_json::from_str::<Value>(s).expect("json");
        let fixed = ColumnKind::of("numeric(10,2)");
        assert_eq!(fixed, ColumnKind::Fixed(2));
        assert_eq!(fixed.text(&n("20.0")), "20.00");
        assert_eq!(fixed.text(&n("20")), "20.00");
        assert_eq!(fixed.text(&n("20.09")), "20.09");
        assert_eq!(fixed.text(&n("-0.5")), "-0.50");
        assert_eq!(fixed.text(&n("4735444162.5")), "4735444162.50");
        assert_eq!(fixed.text(&n("null")), "–");
        assert_eq!(ColumnKind::of("numeric(20,0)").text(&n("7")), "7");
        let real = ColumnKind::of("real");
        assert_eq!(real.text(&n("20.09")), "20.09");
        // A float4 written with its float8 noise reads back short.
        assert_eq!(real.text(&n("20.010000228881836")), "20.01");
        assert_eq!(
            ColumnKind::of("double precision").text(&n("4.224666666666667")),
            "4.224666666666667"
        );
        assert_eq!(
            ColumnKind::of("double precision").text(&n("1e17")),
            "100000000000000000"
        );
        assert_eq!(ColumnKind::of("bigint").text(&n("983477500")), "983477500");
        assert_eq!(
            ColumnKind::of("character varying(16)").text(&n("\"辽宁信息\"")),
            "辽宁信息"
        );
        assert_eq!(plain("1.5e-3"), "0.0015");
        assert_eq!(plain("-2.5E2"), "-250");
        let mut col = vec![
            "20.09".to_string(),
            "20.0".into(),
            "19.9".into(),
            "–".into(),
        ];
        align_decimals(&mut col);
        assert_eq!(col, ["20.09", "20.00", "19.90", "–"]);
        let mut noisy = vec!["4.224666666666667".to_string(), "4.5".into()];
        align_decimals(&mut noisy);
        assert_eq!(noisy, ["4.224666666666667", "4.5"]);
    }

    #[test]
    fn sparklines_scale_between_min_and_max() {
        assert_eq!(spark_levels(&[5, 5, 5], 16), [1, 1, 1]);
        assert_eq!(spark_levels(&[10, 20, 15], 16), [1, 16, 9]);
        assert_eq!(spark_levels(&[], 16), Vec::<u64>::new());
        let up: Vec<u64> = (0..100).map(|i| 80_000_000 + i * 1_000).collect();
        let l = spark_levels(&up, 8);
        assert_eq!((l[0], l[99]), (1, 8));
        assert!(l.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn padding_counts_terminal_cells() {
        assert_eq!(pad("银行", 6), "银行  ");
        assert_eq!(pad("bank", 6), "bank  ");
        assert_eq!(pad("医疗器械服务", 6), "医疗器械服务");
    }
}
