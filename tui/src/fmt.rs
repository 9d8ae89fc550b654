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

/// A cell value of a row: numbers and strings as they are, `–` for null.
pub fn value(v: &Value) -> String {
    match v {
        Value::Null => "–".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
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

/// `text` cut to `width` characters with `…` when longer.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
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
    fn padding_counts_terminal_cells() {
        assert_eq!(pad("银行", 6), "银行  ");
        assert_eq!(pad("bank", 6), "bank  ");
        assert_eq!(pad("医疗器械服务", 6), "医疗器械服务");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("hotspots", 8), "hotspots");
        assert_eq!(truncate("hotspots", 5), "hots…");
    }
}
