//! Civil dates as PostgreSQL counts them (days since 2000-01-01) and the
//! demo trading calendar (weekdays only: exchange holidays are not modelled,
//! which keeps the calendar a pure function of the last date).

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's date and timestamp epoch.
pub(crate) const PG_EPOCH_UNIX_DAYS: i64 = 10_957;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

/// True if `(y, m, d)` names a real calendar day.
pub(crate) fn is_valid_date(y: i32, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && d >= 1 && civil_from_days(days_from_civil(y, m, d)) == (y, m, d)
}

/// Day of week, Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
pub(crate) fn weekday(unix_days: i64) -> u32 {
    (unix_days + 3).rem_euclid(7) as u32
}

/// The `count` weekdays ending at `last` (or at the weekday before it, if
/// `last` falls on a weekend), ascending, as PostgreSQL dates (days since
/// 2000-01-01).
pub(crate) fn trading_days(last: (i32, u32, u32), count: usize) -> Vec<i32> {
    let mut day = days_from_civil(last.0, last.1, last.2);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if weekday(day) < 5 {
            out.push((day - PG_EPOCH_UNIX_DAYS) as i32);
        }
        day -= 1;
    }
    out.reverse();
    out
}

/// `YYYY-MM-DD` of a PostgreSQL date.
#[cfg(test)]
pub(crate) fn format_pg_date(pg_days: i32) -> String {
    let (y, m, d) = civil_from_days(pg_days as i64 + PG_EPOCH_UNIX_DAYS);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 1, 1), PG_EPOCH_UNIX_DAYS);
        for z in [-800_000, -1, 0, 59, 10_957, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert!(is_valid_date(2024, 2, 29));
        assert!(!is_valid_date(2026, 2, 29));
        assert!(!is_valid_date(2026, 13, 1));
    }

    #[test]
    fn calendar_skips_weekends() {
        // 2026-11-27 is a Friday.
        assert_eq!(weekday(days_from_civil(2026, 11, 27)), 4);
        let days = trading_days((2026, 11, 27), 6);
        let shown: Vec<String> = days.iter().map(|d| format_pg_date(*d)).collect();
        assert_eq!(
            shown,
            [
                "2026-11-20",
                "2026-11-23",
                "2026-11-24",
                "2026-11-25",
                "2026-11-26",
                "2026-11-27"
            ]
        );
        // A Sunday as the last date ends the calendar on the Friday before.
        let days = trading_days((2026, 11, 29), 1);
        assert_eq!(format_pg_date(days[0]), "2026-11-27");
    }
}
