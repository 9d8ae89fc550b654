//! Stable application error codes. Standard JSON-RPC codes (-32700 parse,
//! -32600 invalid request, -32601 method not found, -32602 invalid params)
//! are used as the specification says; everything an application should
//! react to has its own code here, in the 1000s so it never meets the
//! -32000 range jsonrpsee uses for its own server errors.
//!
//! Every error carries `data: {"kind": …, "value": …}` so a client can act on
//! the kind and show the bad value without parsing the message.

use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    UnknownStock,
    UnknownDate,
    UnknownColumn,
    UnknownIndustry,
    UnknownCache,
    StoreNotLoaded,
    Forbidden,
    Overloaded,
    LimitExceeded,
    /// A derived method needs a semantic column the table does not have.
    MissingColumn,
    /// `store.reload` failed while an older store keeps serving (the
    /// message names its generation and age).
    ReloadFailed,
    InvalidParams,
    /// The daemon failed inside (a bug): -32603.
    Internal,
}

impl ErrorKind {
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::UnknownStock,
        ErrorKind::UnknownDate,
        ErrorKind::UnknownColumn,
        ErrorKind::UnknownIndustry,
        ErrorKind::UnknownCache,
        ErrorKind::StoreNotLoaded,
        ErrorKind::Forbidden,
        ErrorKind::Overloaded,
        ErrorKind::LimitExceeded,
        ErrorKind::MissingColumn,
        ErrorKind::ReloadFailed,
        ErrorKind::InvalidParams,
        ErrorKind::Internal,
    ];

    /// The JSON-RPC error code; stable across releases.
    pub const fn code(self) -> i32 {
        match self {
            ErrorKind::UnknownStock => 1001,
            ErrorKind::UnknownDate => 1002,
            ErrorKind::UnknownColumn => 1003,
            ErrorKind::UnknownIndustry => 1004,
            ErrorKind::UnknownCache => 1005,
            ErrorKind::StoreNotLoaded => 1006,
            ErrorKind::Forbidden => 1007,
            ErrorKind::Overloaded => 1008,
            ErrorKind::LimitExceeded => 1009,
            ErrorKind::MissingColumn => 1010,
            ErrorKind::ReloadFailed => 1011,
            ErrorKind::InvalidParams => -32602,
            ErrorKind::Internal => -32603,
        }
    }

    pub fn from_code(code: i32) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.code() == code)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownStock => "unknown_stock",
            ErrorKind::UnknownDate => "unknown_date",
            ErrorKind::UnknownColumn => "unknown_column",
            ErrorKind::UnknownIndustry => "unknown_industry",
            ErrorKind::UnknownCache => "unknown_cache",
            ErrorKind::StoreNotLoaded => "store_not_loaded",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::MissingColumn => "missing_column",
            ErrorKind::ReloadFailed => "reload_failed",
            ErrorKind::InvalidParams => "invalid_params",
            ErrorKind::Internal => "internal_error",
        }
    }
}

/// An application error: a kind, the offending value and a message that
/// names it and says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    pub kind: ErrorKind,
    pub value: String,
    pub message: String,
}

impl AppError {
    pub fn new(kind: ErrorKind, value: impl Into<String>, message: impl Into<String>) -> Self {
        AppError {
            kind,
            value: value.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

#[derive(Serialize)]
struct ErrorData<'a> {
    kind: &'a str,
    value: &'a str,
}

impl From<AppError> for ErrorObjectOwned {
    fn from(e: AppError) -> Self {
        let data = ErrorData {
            kind: e.kind.as_str(),
            value: &e.value,
        };
        ErrorObjectOwned::owned(e.kind.code(), e.message.clone(), Some(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(k.code()), Some(*k));
            assert_eq!(
                ErrorKind::ALL
                    .iter()
                    .filter(|o| o.code() == k.code())
                    .count(),
                1
            );
        }
    }

    #[test]
    fn error_object_carries_kind_and_value() {
        let e = AppError::new(ErrorKind::UnknownStock, "999999", "unknown stock '999999'");
        let o: ErrorObjectOwned = e.into();
        assert_eq!(o.code(), 1001);
        assert_eq!(o.message(), "unknown stock '999999'");
        let data = o.data().map(|d| d.get().to_string()).unwrap_or_default();
        assert_eq!(data, r#"{"kind":"unknown_stock","value":"999999"}"#);
    }
}
