//! Why a field of a binary COPY stream could not be decoded.

/// Why a field could not be decoded; the loader names the column and row.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("expected {expected} bytes for {kind}, got {got}")]
    Length {
        kind: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("malformed numeric: {0}")]
    Numeric(&'static str),
    #[error("numeric value does not fit numeric({precision},{scale})")]
    NumericOverflow { precision: u16, scale: u16 },
    #[error("text is not valid UTF-8")]
    Utf8,
    #[error("text dictionary exceeds 4 GiB")]
    TooLarge,
}
