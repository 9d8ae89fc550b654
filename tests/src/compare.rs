//! The losslessness oracle: what PostgreSQL says a row holds, and a check of
//! the daemon's JSON for it, column by column.
//!
//! How each type is compared, and why it is sound:
//! - The daemon's response is parsed with `serde_json::value::RawValue`, so
//!   every value is seen as the *literal text* the daemon wrote — no detour
//!   through `f64` (which would hide numeric digits past 17 and float
//!   double-rounding). The workspace does not enable serde_json's
//!   `arbitrary_precision`, and need not.
//! - real / double precision: PostgreSQL's value is read in binary (`f32` /
//!   `f64`, exactly the stored bits); the JSON literal is parsed with Rust's
//!   correctly rounded `str::parse::<f32>` / `<f64>` at the column's width and
//!   the bits compared (so `-0.0` ≠ `0.0`); NaN and ±Infinity must be the
//!   strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
//! - numeric: PostgreSQL's `::text` is the exact decimal at the declared
//!   scale (e.g. `12.30`) or the exact digits of an unconstrained value; the
//!   JSON number literal must be that text character for character. NaN /
//!   ±Infinity must be the strings.
//! - integers: `::text` against the literal.
//! - date / timestamp / timestamptz: `to_char` (timestamptz at UTC) builds
//!   `YYYY-MM-DD` / `YYYY-MM-DDTHH:MM:SS.ffffff`, with the fraction's trailing
//!   zeros (and a bare dot) trimmed, plus `Z` for timestamptz.
//! - text / varchar: `::text` against the decoded JSON string; char(n) with
//!   its blank padding, as PostgreSQL outputs and COPY sends it.
//! - boolean: `true` / `false`; NULL: `null` for every type.

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use tokio_postgres::{Client, Row, Statement};

use crate::pg::quote_ident;

/// How the oracle reads and compares a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgKind {
    Int,
    Float4,
    Float8,
    Numeric,
    Bool,
    Text,
    Date,
    Timestamp,
    TimestampTz,
    /// A type the daemon skips (json, arrays, uuid, …).
    Unsupported,
}

/// A column as the catalog describes it.
#[derive(Debug, Clone)]
pub struct PgColumn {
    pub name: String,
    pub kind: PgKind,
    /// `format_type(atttypid, atttypmod)`: `numeric(10,2)`, `character varying(10)`, …
    pub format_type: String,
    /// `pg_type.typname`: `numeric`, `varchar`, `_text`, …
    pub typname: String,
    pub nullable: bool,
}

impl PgColumn {
    /// The short SQL spelling (`numeric(10,2)`, `real`, `text`, `timestamptz`).
    pub fn short_type(&self) -> String {
        match self.typname.as_str() {
            "int2" => "smallint".into(),
            "int4" => "integer".into(),
            "int8" => "bigint".into(),
            "float4" => "real".into(),
            "float8" => "double precision".into(),
            "numeric" => self.format_type.clone(),
            "bool" => "boolean".into(),
            "varchar" | "bpchar" | "text" => "text".into(),
            "date" => "date".into(),
            "timestamp" => "timestamp".into(),
            "timestamptz" => "timestamptz".into(),
            other => other.into(),
        }
    }

    /// Whether `ty` (as reported by the daemon) is an acceptable spelling of
    /// this column's type: the catalog's `format_type`, its `typname`, or
    /// the short spelling.
    pub fn type_matches(&self, ty: &str) -> bool {
        ty == self.format_type || ty == self.typname || ty == self.short_type()
    }
}

fn kind_of(typname: &str) -> PgKind {
    match typname {
        "int2" | "int4" | "int8" => PgKind::Int,
        "float4" => PgKind::Float4,
        "float8" => PgKind::Float8,
        "numeric" => PgKind::Numeric,
        "bool" => PgKind::Bool,
        "text" | "varchar" | "bpchar" => PgKind::Text,
        "date" => PgKind::Date,
        "timestamp" => PgKind::Timestamp,
        "timestamptz" => PgKind::TimestampTz,
        _ => PgKind::Unsupported,
    }
}

/// The columns of `table` (an SQL name, quoted as needed), in table order.
pub async fn discover(client: &Client, table: &str) -> Result<Vec<PgColumn>> {
    let rows = client
        .query(
            "SELECT a.attname::text, t.typname::text, format_type(a.atttypid, a.atttypmod),
                    NOT a.attnotnull
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&table],
        )
        .await
        .with_context(|| format!("reading the catalog for {table}"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let typname: String = r.get(1);
            PgColumn {
                name: r.get(0),
                kind: kind_of(&typname),
                format_type: r.get(2),
                typname,
                nullable: r.get(3),
            }
        })
        .collect())
}

/// The SELECT expression that reads `col` for the oracle.
pub fn select_expr(col: &PgColumn) -> String {
    let q = quote_ident(&col.name);
    match col.kind {
        // char(n) keeps its padding (as binary COPY sends it); a ::text
        // cast would trim it, its output function does not.
        PgKind::Text if col.typname == "bpchar" => {
            format!("CASE WHEN {q} IS NULL THEN NULL ELSE format('%s', {q}) END")
        }
        PgKind::Int | PgKind::Numeric | PgKind::Text => format!("{q}::text"),
        PgKind::Float4 | PgKind::Float8 | PgKind::Bool => q,
        PgKind::Date => format!("to_char({q}, 'YYYY-MM-DD')"),
        PgKind::Timestamp => format!("to_char({q}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"),
        PgKind::TimestampTz => {
            format!("to_char({q} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')")
        }
        PgKind::Unsupported => "NULL::text".into(),
    }
}

/// `select_expr` of every supported column, comma-separated, and the
/// columns in that order.
pub fn select_list(cols: &[PgColumn]) -> (String, Vec<PgColumn>) {
    let supported: Vec<PgColumn> = cols
        .iter()
        .filter(|c| c.kind != PgKind::Unsupported)
        .cloned()
        .collect();
    let list = supported
        .iter()
        .map(select_expr)
        .collect::<Vec<_>>()
        .join(", ");
    (list, supported)
}

/// What a column of one row must read as.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Null,
    /// A JSON number whose literal is exactly this text.
    Literal(String),
    F32(f32),
    F64(f64),
    Bool(bool),
    /// A JSON string with exactly this content.
    Str(String),
}

/// Reads column `i` (selected with [`select_expr`]) of `row`.
pub fn expected(row: &Row, i: usize, col: &PgColumn) -> Expected {
    match col.kind {
        PgKind::Float4 => row
            .get::<_, Option<f32>>(i)
            .map_or(Expected::Null, Expected::F32),
        PgKind::Float8 => row
            .get::<_, Option<f64>>(i)
            .map_or(Expected::Null, Expected::F64),
        PgKind::Bool => row
            .get::<_, Option<bool>>(i)
            .map_or(Expected::Null, Expected::Bool),
        _ => {
            let Some(text) = row.get::<_, Option<String>>(i) else {
                return Expected::Null;
            };
            match col.kind {
                PgKind::Int => Expected::Literal(text),
                PgKind::Numeric => match text.as_str() {
                    "NaN" | "Infinity" | "-Infinity" => Expected::Str(text),
                    _ => Expected::Literal(text),
                },
                PgKind::Timestamp => Expected::Str(trim_fraction(&text)),
                PgKind::TimestampTz => Expected::Str(format!("{}Z", trim_fraction(&text))),
                _ => Expected::Str(text),
            }
        }
    }
}

/// `2024-01-02T03:04:05.120000` → `2024-01-02T03:04:05.12`; `.000000` → none.
pub fn trim_fraction(ts: &str) -> String {
    match ts.split_once('.') {
        Some((head, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                head.to_string()
            } else {
                format!("{head}.{frac}")
            }
        }
        None => ts.to_string(),
    }
}

fn special(nan: bool, positive: bool) -> &'static str {
    match (nan, positive) {
        (true, _) => "\"NaN\"",
        (false, true) => "\"Infinity\"",
        (false, false) => "\"-Infinity\"",
    }
}

fn is_json_number(raw: &str) -> bool {
    raw.starts_with(|c: char| c == '-' || c.is_ascii_digit())
}

/// Checks one JSON value against what PostgreSQL holds; `Err` describes the
/// difference.
pub fn check(expected: &Expected, raw: &RawValue) -> Result<(), String> {
    let got = raw.get();
    let ok = match expected {
        Expected::Null => got == "null",
        Expected::Literal(s) => got == s,
        Expected::F32(v) => {
            if !v.is_finite() {
                got == special(v.is_nan(), *v > 0.0)
            } else {
                is_json_number(got) && got.parse::<f32>().is_ok_and(|g| g.to_bits() == v.to_bits())
            }
        }
        Expected::F64(v) => {
            if !v.is_finite() {
                got == special(v.is_nan(), *v > 0.0)
            } else {
                is_json_number(got) && got.parse::<f64>().is_ok_and(|g| g.to_bits() == v.to_bits())
            }
        }
        Expected::Bool(b) => got == if *b { "true" } else { "false" },
        Expected::Str(s) => serde_json::from_str::<String>(got).is_ok_and(|g| &g == s),
    };
    if ok {
        Ok(())
    } else {
        let want = match expected {
            Expected::F32(v) => format!("real {v:e} (bits {:#010x})", v.to_bits()),
            Expected::F64(v) => format!("double {v:e} (bits {:#018x})", v.to_bits()),
            other => format!("{other:?}"),
        };
        Err(format!("expected {want}, got {got}"))
    }
}

/// A row as the daemon wrote it, with every value's raw literal.
#[derive(Debug, Deserialize)]
pub struct RawRow<'a> {
    pub code: String,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(borrow)]
    pub values: BTreeMap<String, &'a RawValue>,
}

/// `stock.history` with raw literals.
#[derive(Debug, Deserialize)]
pub struct RawHistory<'a> {
    pub code: String,
    pub dates: Vec<String>,
    #[serde(borrow)]
    pub columns: BTreeMap<String, Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct RawResponse<'a> {
    #[serde(borrow)]
    result: &'a RawValue,
}

/// The `result` member of a response body, still raw.
pub fn raw_result(body: &str) -> Result<&RawValue> {
    let r: RawResponse = serde_json::from_str(body)
        .with_context(|| format!("response has no result: {}", abbreviate(body)))?;
    Ok(r.result)
}

/// The `result` of a `stock.get` response body, as a [`RawRow`].
pub fn raw_row(body: &str) -> Result<RawRow<'_>> {
    let r = raw_result(body)?;
    serde_json::from_str(r.get())
        .with_context(|| format!("result is not a row: {}", abbreviate(r.get())))
}

fn abbreviate(s: &str) -> String {
    s.chars().take(500).collect()
}

/// Compares the daemon's `values` with PostgreSQL's row. `key_cols` (code
/// and date columns) may be absent from `values`, every other supported
/// column must be present, and no other key may appear. Returns every
/// difference found.
pub fn compare_values(
    cols: &[PgColumn],
    expected: &[Expected],
    values: &BTreeMap<String, &RawValue>,
    key_cols: &[&str],
) -> Vec<String> {
    let mut diffs = Vec::new();
    for (col, exp) in cols.iter().zip(expected) {
        match values.get(&col.name) {
            Some(raw) => {
                if let Err(e) = check(exp, raw) {
                    diffs.push(format!("column {:?} ({}): {e}", col.name, col.format_type));
                }
            }
            None if key_cols.contains(&col.name.as_str()) => {}
            None => diffs.push(format!("column {:?} missing from values", col.name)),
        }
    }
    for k in values.keys() {
        if !cols.iter().any(|c| &c.name == k) {
            diffs.push(format!("unexpected key {k:?} in values"));
        }
    }
    diffs
}

/// A prepared point read of one row by (code, date) through the oracle.
pub struct RowReader {
    stmt: Statement,
    pub cols: Vec<PgColumn>,
}

impl RowReader {
    /// Prepares `SELECT <oracle exprs> FROM table WHERE code::text = $1 AND
    /// date = $2::date` over every supported column.
    pub async fn prepare(
        client: &Client,
        table: &str,
        cols: &[PgColumn],
        code_col: &str,
        date_col: &str,
    ) -> Result<RowReader> {
        let (list, supported) = select_list(cols);
        let sql = format!(
            "SELECT {list} FROM {table} WHERE {}::text = $1 AND {} = $2::text::date",
            quote_ident(code_col),
            quote_ident(date_col)
        );
        let stmt = client
            .prepare(&sql)
            .await
            .with_context(|| format!("preparing {sql}"))?;
        Ok(RowReader {
            stmt,
            cols: supported,
        })
    }

    /// The expected values of (code, date), or `None` if there is no row.
    pub async fn read(
        &self,
        client: &Client,
        code: &str,
        date: &str,
    ) -> Result<Option<Vec<Expected>>> {
        let rows = client.query(&self.stmt, &[&code, &date]).await?;
        Ok(rows.first().map(|r| {
            self.cols
                .iter()
                .enumerate()
                .map(|(i, c)| expected(r, i, c))
                .collect()
        }))
    }
}

/// How the daemon's `stock.get` of (code, date) differs from PostgreSQL's
/// row, each difference prefixed with the key; an error when PostgreSQL
/// has no such row or the answer is not a row.
pub async fn row_differences(
    daemon: &crate::Daemon,
    reader: &RowReader,
    client: &Client,
    code: &str,
    date: &str,
) -> Result<Vec<String>> {
    let expected = reader
        .read(client, code, date)
        .await?
        .with_context(|| format!("no SQL row for ({code}, {date})"))?;
    let body = daemon
        .call_raw("stock.get", serde_json::json!({"code": code, "date": date}))
        .await?;
    let row = raw_row(&body).with_context(|| format!("({code}, {date}): {body}"))?;
    Ok(compare_values(
        &reader.cols,
        &expected,
        &row.values,
        &["stock_code", "date"],
    )
    .into_iter()
    .map(|d| format!("({code}, {date}): {d}"))
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn floats_are_compared_by_bits_at_their_width() {
        assert!(check(&Expected::F32(1e-45), &raw("1e-45")).is_ok());
        assert!(check(&Expected::F32(0.1), &raw("0.1")).is_ok());
        assert!(check(&Expected::F32(0.1), &raw("0.10000000149011612")).is_ok());
        assert!(check(&Expected::F32(-0.0), &raw("0.0")).is_err());
        assert!(check(&Expected::F32(-0.0), &raw("-0.0")).is_ok());
        assert!(check(&Expected::F64(0.1), &raw("0.10000000000000002")).is_err());
        assert!(check(&Expected::F64(f64::NAN), &raw("\"NaN\"")).is_ok());
        assert!(check(&Expected::F64(f64::NEG_INFINITY), &raw("\"-Infinity\"")).is_ok());
        assert!(check(&Expected::F64(f64::INFINITY), &raw("\"-Infinity\"")).is_err());
        assert!(check(&Expected::F64(1.0), &raw("\"1\"")).is_err());
    }

    #[test]
    fn numerics_and_strings_compare_literally() {
        assert!(check(&Expected::Literal("12.30".into()), &raw("12.30")).is_ok());
        assert!(check(&Expected::Literal("12.30".into()), &raw("12.3")).is_err());
        assert!(check(
            &Expected::Str("a\"\n😀".into()),
            &raw(r#""a\"\n\ud83d\ude00""#)
        )
        .is_ok());
        assert!(check(&Expected::Null, &raw("null")).is_ok());
        assert_eq!(
            trim_fraction("2024-01-02T03:04:05.120000"),
            "2024-01-02T03:04:05.12"
        );
        assert_eq!(
            trim_fraction("2024-01-02T03:04:05.000000"),
            "2024-01-02T03:04:05"
        );
    }
}
