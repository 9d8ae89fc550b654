//! Calendar arithmetic for PostgreSQL's date and timestamp encodings
//! (days / microseconds since 2000-01-01), without a date-time crate: the
//! store only needs exact conversions to and from ISO 8601 text.

/// Days from 1970-01-01 to 2000-01-01.
const PG_EPOCH_UNIX_DAYS: i64 = 10_957;

/// Civil date → days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → civil date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// A PostgreSQL date (days since 2000-01-01) from a calendar date.
pub fn pg_date(y: i32, m: u32, d: u32) -> i32 {
    (days_from_civil(y as i64, m, d) - PG_EPOCH_UNIX_DAYS) as i32
}

/// Parses strict `YYYY-MM-DD` into a PostgreSQL date; `None` if malformed
/// or not a real calendar day.
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y as i64, m) {
        return None;
    }
    Some(pg_date(y as i32, m, d))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Writes a PostgreSQL date as `YYYY-MM-DD` (`infinity`/`-infinity` kept).
pub fn write_date(out: &mut String, pg_days: i32) {
    match pg_days {
        i32::MAX => out.push_str("infinity"),
        i32::MIN => out.push_str("-infinity"),
        _ => {
            let (y, m, d) = civil_from_days(pg_days as i64 + PG_EPOCH_UNIX_DAYS);
            push_ymd(out, y, m, d);
        }
    }
}

fn push_ymd(out: &mut String, y: i64, m: u32, d: u32) {
    if (0..=9999).contains(&y) {
        let mut b = *b"0000-00-00";
        digits(&mut b[0..4], y as u64);
        digits(&mut b[5..7], m as u64);
        digits(&mut b[8..10], d as u64);
        push_ascii(out, &b);
    } else {
        use std::fmt::Write;
        if y < 0 {
            // ISO 8601 has no year 0 in PostgreSQL's output; it prints "BC".
            let _ = write!(out, "{:04}-{m:02}-{d:02} BC", 1 - y);
        } else {
            let _ = write!(out, "{y}-{m:02}-{d:02}");
        }
    }
}

/// Writes `v` into `to` as decimal digits, zero-padded to its length
/// (the leading digits of a wider `v` are cut off; callers pass values
/// that fit).
#[inline]
fn digits(to: &mut [u8], mut v: u64) {
    for b in to.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Appends bytes the caller made of ASCII digits and punctuation.
#[inline]
fn push_ascii(out: &mut String, b: &[u8]) {
    out.push_str(std::str::from_utf8(b).unwrap_or_default());
}

/// The date as a fresh string.
pub fn date_string(pg_days: i32) -> String {
    let mut s = String::with_capacity(10);
    write_date(&mut s, pg_days);
    s
}

/// Writes a timestamp (µs since 2000-01-01) as ISO 8601:
/// `YYYY-MM-DDTHH:MM:SS[.ffffff]`, with `Z` appended for timestamptz.
/// Fractional seconds are printed only when non-zero, trailing zeros trimmed.
pub fn write_timestamp(out: &mut String, micros: i64, utc: bool) {
    match micros {
        i64::MAX => return out.push_str("infinity"),
        i64::MIN => return out.push_str("-infinity"),
        _ => {}
    }
    let days = micros.div_euclid(86_400_000_000);
    let in_day = micros.rem_euclid(86_400_000_000) as u64;
    let (y, m, d) = civil_from_days(days + PG_EPOCH_UNIX_DAYS);
    push_ymd(out, y, m, d);
    let secs = in_day / 1_000_000;
    let frac = in_day % 1_000_000;
    // "THH:MM:SS.ffffffZ", cut to what is printed.
    let mut b = *b"T00:00:00.000000Z";
    digits(&mut b[1..3], secs / 3600);
    digits(&mut b[4..6], secs / 60 % 60);
    digits(&mut b[7..9], secs % 60);
    let mut end = 9;
    if frac != 0 {
        digits(&mut b[10..16], frac);
        end = 16;
        while b[end - 1] == b'0' {
            end -= 1;
        }
    }
    if utc {
        b[end] = b'Z';
        end += 1;
    }
    push_ascii(out, &b[..end]);
}

/// Seconds since the Unix epoch → RFC 3339 UTC text.
pub fn rfc3339_from_unix(secs: i64, micros: u32) -> String {
    let mut s = String::with_capacity(27);
    write_timestamp(
        &mut s,
        (secs - PG_EPOCH_UNIX_DAYS * 86_400) * 1_000_000 + micros as i64,
        true,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(pg_date(2000, 1, 1), 0);
        assert_eq!(parse_date("2000-01-02"), Some(1));
        assert_eq!(parse_date("1999-12-31"), Some(-1));
        for s in ["2024-02-29", "2026-11-27", "1970-01-01", "2100-12-31"] {
            let d = parse_date(s).unwrap();
            assert_eq!(date_string(d), s);
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "20240101",
            "2024-01-00",
            "２０２４-01-01",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(date_string(i32::MAX), "infinity");
    }

    #[test]
    fn timestamps_print_iso() {
        let mut s = String::new();
        write_timestamp(&mut s, 0, true);
        assert_eq!(s, "2000-01-01T00:00:00Z");
        s.clear();
        write_timestamp(&mut s, -1, false);
        assert_eq!(s, "1999-12-31T23:59:59.999999");
        s.clear();
        write_timestamp(&mut s, 86_400_000_000 + 3_723_500_000, true);
        assert_eq!(s, "2000-01-02T01:02:03.5Z");
        assert_eq!(rfc3339_from_unix(0, 0), "1970-01-01T00:00:00Z");
        s.clear();
        write_timestamp(&mut s, 86_399_000_001, false);
        assert_eq!(s, "2000-01-01T23:59:59.000001");
        s.clear();
        write_timestamp(&mut s, 43_200_120_000, true);
        assert_eq!(s, "2000-01-01T12:00:00.12Z");
        s.clear();
        // Years outside 0..=9999 keep PostgreSQL's spelling.
        write_timestamp(
            &mut s,
            (pg_date(12345, 6, 7) as i64) * 86_400_000_000,
            false,
        );
        assert_eq!(s, "12345-06-07T00:00:00");
        assert_eq!(date_string(pg_date(-43, 3, 15)), "0044-03-15 BC");
        assert_eq!(date_string(pg_date(33, 1, 2)), "0033-01-02");
    }
}
