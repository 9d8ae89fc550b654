//! Sizes as `cache.resize` accepts them (`"4MiB"`, `"512KiB"`, `"65536"`).
//!
//! stockctl must not depend on the daemon crate, so the rule is repeated
//! here — the same rule: a whole number, optionally followed by one of
//! `B`, `KiB`, `MiB`, `GiB` (powers of 1024, case as written). Checking it
//! here lets the resize prompt refuse a bad value before any request, with a
//! hint for the usual slips ("4MB", "4m", "1.5GiB").

use stockd_api::limits::MAX_CACHE_BYTES;

/// What a size may look like; shown after "expected".
pub const SIZE_SYNTAX: &str =
    "a whole number of bytes, or a whole number with a unit B, KiB, MiB or GiB (e.g. 4MiB)";

/// Units, largest first.
const UNITS: [(&str, u64); 4] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

/// Why a text is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("no size given; expected {SIZE_SYNTAX}")]
    Empty,
    #[error("'{0}' is not a size; expected {SIZE_SYNTAX}")]
    NotANumber(String),
    #[error("'{text}': fractions are not accepted; use a smaller unit (e.g. 1536MiB for 1.5GiB)")]
    Fraction { text: String },
    #[error("'{text}': unknown unit '{unit}'{hint}; units are B, KiB, MiB, GiB")]
    UnknownUnit {
        text: String,
        unit: String,
        hint: String,
    },
    #[error("'{0}' does not fit in 64 bits")]
    Overflow(String),
    #[error("'{text}' is {bytes} bytes, more than the largest cache cap, 4GiB")]
    TooLarge { text: String, bytes: u64 },
}

/// Parses a size in bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(SizeError::NotANumber(t.to_string()));
    }
    let rest = &t[digits..];
    if rest.starts_with(['.', ',']) {
        return Err(SizeError::Fraction {
            text: t.to_string(),
        });
    }
    let number: u64 = t[..digits]
        .parse()
        .map_err(|_| SizeError::Overflow(t.to_string()))?;
    let unit = rest.trim_start();
    let factor = if unit.is_empty() {
        1
    } else {
        match UNITS.iter().find(|(name, _)| *name == unit) {
            Some((_, f)) => *f,
            None => {
                return Err(SizeError::UnknownUnit {
                    text: t.to_string(),
                    unit: unit.to_string(),
                    hint: suggest(unit)
                        .map(|s| format!(" (did you mean {s}?)"))
                        .unwrap_or_default(),
                })
            }
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| SizeError::Overflow(t.to_string()))
}

/// Parses a cache cap: a size no larger than [`MAX_CACHE_BYTES`].
pub fn parse_cache_cap(text: &str) -> Result<u64, SizeError> {
    let bytes = parse_size(text)?;
    if bytes > MAX_CACHE_BYTES {
        return Err(SizeError::TooLarge {
            text: text.trim().to_string(),
            bytes,
        });
    }
    Ok(bytes)
}

/// "MB", "m", "mib" → "MiB": the unit whose first letter matches.
fn suggest(unit: &str) -> Option<&'static str> {
    let first = unit.chars().next()?.to_ascii_uppercase();
    UNITS
        .iter()
        .map(|(name, _)| *name)
        .find(|name| name.starts_with(first) && *name != "B")
        .or((first == 'B').then_some("B"))
}

/// Bytes with the largest exact unit, as the daemon's config prints them:
/// 8388608 → `8MiB`, 1000 → `1000B`.
pub fn format_exact(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_string();
    }
    UNITS
        .iter()
        .find(|(_, f)| bytes.is_multiple_of(*f))
        .map(|(name, f)| format!("{}{name}", bytes / f))
        .unwrap_or_else(|| format!("{bytes}B"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_daemon_forms() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("0B"), Ok(0));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size(" 4 MiB "), Ok(4 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    }

    #[test]
    fn refuses_with_a_reason() {
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        assert!(matches!(parse_size("big"), Err(SizeError::NotANumber(_))));
        assert!(matches!(
            parse_size("1.5GiB"),
            Err(SizeError::Fraction { .. })
        ));
        let e = parse_size("4MB").unwrap_err();
        assert_eq!(
            e.to_string(),
            "'4MB': unknown unit 'MB' (did you mean MiB?); units are B, KiB, MiB, GiB"
        );
        assert!(parse_size("4m")
            .unwrap_err()
            .to_string()
            .contains("did you mean MiB?"));
        assert!(matches!(
            parse_size("99999999999999999999"),
            Err(SizeError::Overflow(_))
        ));
        assert!(matches!(
            parse_size("17179869184GiB"),
            Err(SizeError::Overflow(_))
        ));
        assert!(matches!(parse_size("-4MiB"), Err(SizeError::NotANumber(_))));
    }

    #[test]
    fn cache_caps_are_bounded() {
        assert_eq!(parse_cache_cap("4GiB"), Ok(4 << 30));
        assert!(matches!(
            parse_cache_cap("5GiB"),
            Err(SizeError::TooLarge { bytes, .. }) if bytes == 5 << 30
        ));
    }

    #[test]
    fn exact_format_round_trips() {
        for b in [0u64, 1, 1000, 1024, 8 << 20, 3 << 30, (1 << 20) + 1] {
            assert_eq!(parse_size(&format_exact(b)), Ok(b));
        }
        assert_eq!(format_exact(8 << 20), "8MiB");
        assert_eq!(format_exact(1536), "1536B");
    }
}
