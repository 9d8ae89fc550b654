//! Text forms of sizes, durations and file modes used in the config.
//!
//! One rule both ways, so that `--print-config` output parses back to the
//! same value: a parser accepts a whole number followed by one unit, and a
//! formatter writes the largest unit that represents the value exactly.
//!
//! A parser's error text says what is wrong and what is allowed; the
//! caller adds the key, the value and where the value came from.

use std::time::Duration;

/// Size units, largest first (the formatter relies on this order).
const SIZE_UNITS: [(&str, u64); 4] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

/// Duration units in milliseconds, largest first.
const DURATION_UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// What a size may look like; shown in errors after "expected".
pub const SIZE_SYNTAX: &str =
    "a whole number of bytes, or a whole number with a unit B, KiB, MiB or GiB (e.g. \"512MiB\")";

/// What a duration may look like; shown in errors after "expected".
pub const DURATION_SYNTAX: &str = "a whole number with a unit ms, s, m or h (e.g. \"60s\")";

/// What a socket mode may look like; shown in errors after "expected".
pub const MODE_SYNTAX: &str =
    "an octal permission string from \"0000\" to \"0777\" (e.g. \"0660\")";

/// Splits `"512MiB"` into `(512, "MiB")`. Spaces between number and unit are
/// tolerated; signs, fractions and exponents are not (they would invite
/// "1.5GiB" questions about rounding that we prefer not to answer).
fn split_number(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number = text[..digits].parse().ok()?;
    Some((number, text[digits..].trim_start()))
}

/// Parses a size in bytes: `"65536"`, `"64KiB"`, `"8MiB"`, `"1GiB"`, `"0B"`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text).ok_or_else(|| format!("expected {SIZE_SYNTAX}"))?;
    let factor = match unit {
        "" => 1,
        unit => SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, factor)| *factor)
            .ok_or_else(|| format!("unknown unit \"{unit}\"; expected {SIZE_SYNTAX}"))?,
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| "too large; sizes must fit in 64 bits".to_owned())
}

/// Formats bytes with the largest exact unit: 8388608 → `"8MiB"`,
/// 1000 → `"1000B"`, 0 → `"0B"`.
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_owned();
    }
    // Each unit is 1024 (2^10) times the one below, so the number of whole
    // factors of 1024 in `bytes` picks the largest exact unit.
    let steps = (bytes.trailing_zeros() / 10).min(3) as usize;
    let (name, factor) = SIZE_UNITS[SIZE_UNITS.len() - 1 - steps];
    format!("{}{name}", bytes / factor)
}

/// Parses a duration: `"250ms"`, `"30s"`, `"10m"`, `"1h"`. A bare number is
/// refused: "60" could mean seconds or milliseconds, and guessing wrong by a
/// factor of 1000 is worse than asking.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split_number(text).ok_or_else(|| format!("expected {DURATION_SYNTAX}"))?;
    if unit.is_empty() {
        return Err(format!("missing unit; expected {DURATION_SYNTAX}"));
    }
    let millis_per_unit = DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, ms)| *ms)
        .ok_or_else(|| format!("unknown unit \"{unit}\"; expected {DURATION_SYNTAX}"))?;
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| "too large".to_owned())
}

/// Formats a duration with the largest exact unit: 60 s → `"1m"`,
/// 90 s → `"90s"`, 0 → `"0s"`. Below a millisecond is truncated: config
/// values are parsed in whole milliseconds, so nothing is lost in practice.
pub fn format_duration(duration: Duration) -> String {
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".to_owned();
    }
    let (name, per_unit) = DURATION_UNITS
        .iter()
        .find(|(_, per_unit)| millis % per_unit == 0)
        .copied()
        .unwrap_or(("ms", 1));
    format!("{}{name}", millis / per_unit)
}

/// Parses a Unix permission mode written in octal, such as `"0660"` or
/// `"660"`. Anything beyond the permission bits (setuid, sticky) is refused:
/// it has no meaning on a socket.
pub fn parse_socket_mode(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let digits = text.strip_prefix("0o").unwrap_or(text);
    // from_str_radix alone would accept "+660"; insist on plain octal digits.
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(format!("expected {MODE_SYNTAX}"));
    }
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!("expected {MODE_SYNTAX}")),
    }
}

/// Formats a mode as four octal digits: 0o660 → `"0660"`.
pub fn format_socket_mode(mode: u32) -> String {
    format!("{mode:04o}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        let cases = [
            ("0", 0),
            ("65536", 65536),
            ("0B", 0),
            ("17B", 17),
            ("1KiB", 1024),
            ("64KiB", 65536),
            ("8MiB", 8 << 20),
            ("512MiB", 512 << 20),
            ("4GiB", 4 << 30),
            (" 16 MiB ", 16 << 20),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(bytes), "{text:?}");
        }
    }

    #[test]
    fn bad_sizes_are_refused() {
        for text in [
            "",
            "MiB",
            "-1",
            "-1MiB",
            "+5",
            "1.5GiB",
            "8MB",
            "8mib",
            "8M",
            "8 KiB x",
            "1e6",
            "99999999999GiB",
        ] {
            assert!(parse_size(text).is_err(), "{text:?} should be refused");
        }
        assert!(
            parse_size("8MB").unwrap_err().contains("\"MB\""),
            "names the bad unit"
        );
    }

    #[test]
    fn sizes_format_with_largest_exact_unit() {
        let cases = [
            (0, "0B"),
            (1, "1B"),
            (1000, "1000B"),
            (1024, "1KiB"),
            (65536, "64KiB"),
            (1536 << 10, "1536KiB"),
            (8 << 20, "8MiB"),
            (3 << 30, "3GiB"),
            (u64::MAX, "18446744073709551615B"),
        ];
        for (bytes, text) in cases {
            assert_eq!(format_size(bytes), text);
        }
    }

    #[test]
    fn sizes_round_trip() {
        for bytes in [
            0,
            1,
            1023,
            1024,
            1025,
            65536,
            8 << 20,
            (8 << 20) + 1,
            5 << 30,
            u64::MAX,
        ] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes), "{bytes}");
        }
    }

    #[test]
    fn durations_parse() {
        let cases = [
            ("0ms", 0),
            ("0s", 0),
            ("250ms", 250),
            ("30s", 30_000),
            ("60s", 60_000),
            ("10m", 600_000),
            ("1h", 3_600_000),
            ("48h", 172_800_000),
            (" 5 s ", 5_000),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn bad_durations_are_refused() {
        for text in [
            "",
            "s",
            "60",
            "-1s",
            "1.5s",
            "5sec",
            "5S",
            "1d",
            "10 mins",
            "18446744073709551615h",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} should be refused");
        }
        assert!(parse_duration("60").unwrap_err().contains("missing unit"));
        assert!(parse_duration("1d").unwrap_err().contains("\"d\""));
    }

    #[test]
    fn durations_format_with_largest_exact_unit() {
        let cases = [
            (0, "0s"),
            (1, "1ms"),
            (1_500, "1500ms"),
            (30_000, "30s"),
            (60_000, "1m"),
            (90_000, "90s"),
            (600_000, "10m"),
            (3_600_000, "1h"),
            (5_400_000, "90m"),
        ];
        for (millis, text) in cases {
            assert_eq!(format_duration(Duration::from_millis(millis)), text);
        }
        assert_eq!(
            format_duration(Duration::from_micros(1_500)),
            "1ms",
            "sub-millisecond part is dropped"
        );
    }

    #[test]
    fn durations_round_trip() {
        for millis in [
            0, 1, 999, 1_000, 59_999, 60_000, 61_000, 3_600_000, 3_600_001,
        ] {
            let duration = Duration::from_millis(millis);
            assert_eq!(
                parse_duration(&format_duration(duration)),
                Ok(duration),
                "{millis}"
            );
        }
    }

    #[test]
    fn socket_modes() {
        for (text, mode) in [
            ("0660", 0o660),
            ("660", 0o660),
            ("0o600", 0o600),
            ("0000", 0),
            ("0777", 0o777),
            ("7", 0o7),
        ] {
            assert_eq!(parse_socket_mode(text), Ok(mode), "{text:?}");
        }
        for text in [
            "",
            "0o",
            "0680",
            "1777",
            "4755",
            "+660",
            "-660",
            "rw-rw----",
            "0x1b0",
            "00660",
        ] {
            assert!(
                parse_socket_mode(text).is_err(),
                "{text:?} should be refused"
            );
        }
        for mode in [0, 0o600, 0o660, 0o777] {
            assert_eq!(parse_socket_mode(&format_socket_mode(mode)), Ok(mode));
        }
        assert_eq!(format_socket_mode(0o660), "0660");
    }
}
