//! Arrow answers of the row-list methods (`Accept:
//! application/vnd.apache.arrow.stream`): `stock.many`, `stock.top`,
//! `stock.history`, and the member tables of `hotspots.ranking` (the
//! leaders) and `industry.detail` (gainers and losers).
//!
//! Which rows, in which order, comes from the JSON method itself, run as
//! a JSON call would be (same validation and error messages, same
//! governor refusals, same cache): `stock.*` is run with `fields` cut to
//! one column and `layout: "columns"`, and its `codes` and `dates` name the
//! rows; a view's member lists name theirs. The rows' values are then read
//! from the store by [`crate::arrow`] with their exact types, in the
//! requested `fields` (default every column, table order), after the row
//! key columns `code` (utf8) and `date` (date32) that the JSON `columns`
//! layout has as `codes` and `dates`. A key column whose name a field
//! already has is renamed with a leading `_` (`_date` in the reference
//! layout, whose table has a `date` column); the schema's metadata names
//! them (`stockd.key_columns`).
//!
//! Schema metadata: `stockd.method`, `stockd.generation`,
//! `stockd.key_columns` (`code,date`), and `stockd.result`: the JSON
//! answer's other members as a JSON object (`missing` of `stock.many`,
//! `code` of `stock.history`, a view's date and statistics).

use super::{data, views};
use crate::app::{PeerCred, Shared};
use crate::arrow::{free_name, Table, META_COLUMN};
use crate::cache::Doc;
use crate::query;
use crate::store::{time, Store};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use stockd_api::{params, AppError, Call, ErrorKind, Layout};

/// The methods answered as Arrow.
pub const METHODS: &[&str] = &[
    params::StockMany::METHOD,
    params::StockTop::METHOD,
    params::StockHistory::METHOD,
    params::HotspotsRanking::METHOD,
    params::IndustryDetail::METHOD,
];

/// Whether `call` can be answered as Arrow.
pub fn supports(call: &Call) -> bool {
    METHODS.contains(&call.method().name)
}

fn internal(message: String) -> AppError {
    AppError::new(ErrorKind::Internal, "", message)
}

/// Runs one call whose answer is an Arrow stream.
pub async fn handle(
    app: &Shared,
    call: Call,
    peer: Option<&PeerCred>,
) -> Result<Vec<u8>, AppError> {
    super::admit(app, &call, peer).await?;
    match call {
        Call::StockMany(p) => many(app, &p),
        Call::StockTop(p) => top(app, &p),
        Call::StockHistory(p) => history(app, &p),
        Call::HotspotsRanking(p) => hotspots(app, &p),
        Call::IndustryDetail(p) => industry(app, &p),
        other => Err(internal(format!(
            "internal error: {} reached the Arrow handler",
            other.method().name
        ))),
    }
}

/// Runs `json` (the JSON method deciding the rows) against a store that
/// is still the one in service when it returns, and hands both over. A
/// reload in between (rows of another generation) runs it again.
fn consistent<T>(
    app: &Shared,
    mut json: impl FnMut() -> Result<Doc, AppError>,
    then: impl FnOnce(&Store, &str) -> Result<T, AppError>,
) -> Result<T, AppError> {
    for _ in 0..3 {
        let before = app.store()?;
        let doc = json()?;
        let after = app.store()?;
        if before.info.generation == after.info.generation {
            return then(after.as_ref(), doc.as_ref());
        }
    }
    Err(AppError::new(
        ErrorKind::Overloaded,
        "",
        "the store was reloaded three times while this call ran; try again",
    ))
}

/// The row of `code` on `date` (`YYYY-MM-DD`) in `store`.
fn row_of(store: &Store, code: &str, date: &str) -> Result<usize, AppError> {
    time::parse_date(date)
        .and_then(|d| store.date_index(d))
        .and_then(|di| store.row(store.code_id(code)?, di))
        .ok_or_else(|| {
            internal(format!(
                "internal error: the answer's row {code} {date} is not in the store"
            ))
        })
}

/// The rows' key columns, the requested fields, and the stream.
fn rows_stream(
    store: &Store,
    method: &str,
    rows: &[usize],
    fields: &[usize],
    result: Map<String, Value>,
) -> Result<Vec<u8>, AppError> {
    let names: Vec<&str> = fields
        .iter()
        .map(|&c| store.specs()[c].name.as_str())
        .collect();
    let code = free_name("code", &names);
    let date = free_name("date", &names);
    let mut t = Table::new(rows.len());
    t.push_strings(&code, rows.iter().map(|&r| store.row_code(r)));
    t.push_dates(&date, rows.iter().map(|&r| store.row_date(r)));
    for (&c, name) in fields.iter().zip(&names) {
        t.push_store_column(name, store, c, rows, HashMap::new());
    }
    finish(t, store, method, &format!("{code},{date}"), result)
}

fn finish(
    t: Table,
    store: &Store,
    method: &str,
    keys: &str,
    result: Map<String, Value>,
) -> Result<Vec<u8>, AppError> {
    let meta = HashMap::from([
        ("stockd.method".to_string(), method.to_string()),
        (
            "stockd.generation".to_string(),
            store.info.generation.to_string(),
        ),
        ("stockd.key_columns".to_string(), keys.to_string()),
        (
            "stockd.result".to_string(),
            Value::Object(result).to_string(),
        ),
    ]);
    t.into_stream(meta)
        .map_err(|e| internal(format!("internal error writing the Arrow answer: {e}")))
}

/// The `columns`-layout answer's row keys (the rows themselves are not
/// read: the values come from the store).
#[derive(Deserialize)]
struct Keys {
    codes: Vec<String>,
    dates: Vec<String>,
    #[serde(default)]
    missing: Option<Vec<String>>,
}

impl Keys {
    /// The store rows the answer's (code, date) pairs name, in order.
    fn rows(&self, store: &Store) -> Result<Vec<usize>, AppError> {
        self.codes
            .iter()
            .zip(&self.dates)
            .map(|(c, d)| row_of(store, c, d))
            .collect()
    }
}

fn keys(doc: &str) -> Result<Keys, AppError> {
    serde_json::from_str(doc)
        .map_err(|e| internal(format!("internal error reading the row keys: {e}")))
}

/// `fields` resolved as the JSON method resolves them, and the one field
/// the row-deciding JSON call is cut to.
fn resolve_fields(
    app: &Shared,
    fields: Option<&[String]>,
) -> Result<(Vec<usize>, Vec<String>), AppError> {
    let store = app.store()?;
    let f = query::fields(&store, fields)?;
    let first = f
        .first()
        .map(|&c| store.specs()[c].name.clone())
        .ok_or_else(|| {
            AppError::new(
                ErrorKind::UnknownColumn,
                "",
                "the table has no columns to answer with",
            )
        })?;
    Ok((f, vec![first]))
}

fn many(app: &Shared, p: &params::StockMany) -> Result<Vec<u8>, AppError> {
    let (fields, cut) = resolve_fields(app, p.fields.as_deref())?;
    let q = params::StockMany {
        fields: Some(cut),
        layout: Some(Layout::Columns),
        ..p.clone()
    };
    consistent(
        app,
        || data::many(app, &q),
        |store, doc| {
            let k = keys(doc)?;
            let rows = k.rows(store)?;
            let mut result = Map::new();
            result.insert("missing".into(), k.missing.unwrap_or_default().into());
            rows_stream(store, params::StockMany::METHOD, &rows, &fields, result)
        },
    )
}

fn top(app: &Shared, p: &params::StockTop) -> Result<Vec<u8>, AppError> {
    let (fields, _) = resolve_fields(app, p.fields.as_deref())?;
    let q = params::StockTop {
        fields: Some(vec![p.by.clone()]),
        layout: Some(Layout::Columns),
        ..p.clone()
    };
    consistent(
        app,
        || data::top(app, &q),
        |store, doc| {
            let k = keys(doc)?;
            let rows = k.rows(store)?;
            rows_stream(store, params::StockTop::METHOD, &rows, &fields, Map::new())
        },
    )
}

/// `stock.history`'s answer: the code and its dates.
#[derive(Deserialize)]
struct HistoryKeys {
    code: String,
    dates: Vec<String>,
}

fn history(app: &Shared, p: &params::StockHistory) -> Result<Vec<u8>, AppError> {
    let (fields, cut) = resolve_fields(app, p.fields.as_deref())?;
    let q = params::StockHistory {
        fields: Some(cut),
        ..p.clone()
    };
    consistent(
        app,
        || data::history(app, &q),
        |store, doc| {
            let k: HistoryKeys = serde_json::from_str(doc)
                .map_err(|e| internal(format!("internal error reading the row keys: {e}")))?;
            let rows = k
                .dates
                .iter()
                .map(|d| row_of(store, &k.code, d))
                .collect::<Result<Vec<_>, _>>()?;
            let mut result = Map::new();
            result.insert("code".into(), k.code.into());
            rows_stream(store, params::StockHistory::METHOD, &rows, &fields, result)
        },
    )
}

/// The member columns of the views' tables: (semantic key, table column).
fn member_columns(app: &Shared) -> [(&'static str, &str); 5] {
    let c = &app.columns;
    [
        ("name", c.name.as_str()),
        ("pct_change", c.pct_change.as_str()),
        ("close", c.close.as_str()),
        ("amount", c.amount.as_str()),
        ("volume_ratio", c.volume_ratio.as_str()),
    ]
}

/// One view member: its row and the view's own columns for it.
struct Member<'a> {
    row: usize,
    group: &'a str,
    rank: i32,
}

/// A view's member table: `group_name` (`industry` or `side`), `rank`
/// (1-based within the group), `code`, `date`, then the member columns.
fn members_stream(
    app: &Shared,
    store: &Store,
    method: &str,
    group_name: &str,
    members: &[Member<'_>],
    result: Map<String, Value>,
) -> Result<Vec<u8>, AppError> {
    let rows: Vec<usize> = members.iter().map(|m| m.row).collect();
    let mut t = Table::new(rows.len());
    t.push_labels(group_name, members.iter().map(|m| m.group));
    t.push_i32("rank", members.iter().map(|m| m.rank));
    t.push_strings("code", rows.iter().map(|&r| store.row_code(r)));
    t.push_dates("date", rows.iter().map(|&r| store.row_date(r)));
    for (key, column) in member_columns(app) {
        match store.column(column) {
            Some(c) => t.push_store_column(
                key,
                store,
                c,
                &rows,
                HashMap::from([(META_COLUMN.to_string(), column.to_string())]),
            ),
            None => t.push_missing(key, column),
        }
    }
    finish(t, store, method, "code,date", result)
}

fn view_result(doc: &str, drop: &[&str]) -> Result<Map<String, Value>, AppError> {
    let mut v: Map<String, Value> = serde_json::from_str(doc)
        .map_err(|e| internal(format!("internal error reading the view: {e}")))?;
    for k in drop {
        v.remove(*k);
    }
    Ok(v)
}

fn hotspots(app: &Shared, p: &params::HotspotsRanking) -> Result<Vec<u8>, AppError> {
    consistent(
        app,
        || views::hotspots(app, p),
        |store, doc| {
            let r: stockd_api::HotspotsRanking = serde_json::from_str(doc)
                .map_err(|e| internal(format!("internal error reading the view: {e}")))?;
            let mut members = Vec::new();
            for ind in &r.industries {
                for (i, m) in ind.leaders.iter().enumerate() {
                    members.push(Member {
                        row: row_of(store, &m.code, &r.date)?,
                        group: &ind.industry,
                        rank: i as i32 + 1,
                    });
                }
            }
            // The industries' statistics without their leaders.
            let mut result = view_result(doc, &[])?;
            if let Some(Value::Array(inds)) = result.get_mut("industries") {
                for i in inds {
                    if let Value::Object(o) = i {
                        o.remove("leaders");
                    }
                }
            }
            members_stream(
                app,
                store,
                params::HotspotsRanking::METHOD,
                "industry",
                &members,
                result,
            )
        },
    )
}

fn industry(app: &Shared, p: &params::IndustryDetail) -> Result<Vec<u8>, AppError> {
    consistent(
        app,
        || views::industry(app, p),
        |store, doc| {
            let r: stockd_api::IndustryDetail = serde_json::from_str(doc)
                .map_err(|e| internal(format!("internal error reading the view: {e}")))?;
            let mut members = Vec::new();
            for (side, list) in [("gainer", &r.gainers), ("loser", &r.losers)] {
                for (i, m) in list.iter().enumerate() {
                    members.push(Member {
                        row: row_of(store, &m.code, &r.date)?,
                        group: side,
                        rank: i as i32 + 1,
                    });
                }
            }
            let result = view_result(doc, &["gainers", "losers"])?;
            members_stream(
                app,
                store,
                params::IndustryDetail::METHOD,
                "side",
                &members,
                result,
            )
        },
    )
}

/// The cap the JSON answers have, for an Arrow answer of `len` bytes.
pub fn check_size(len: usize, max: usize) -> Result<(), AppError> {
    if len > max {
        return Err(AppError::new(
            ErrorKind::LimitExceeded,
            len.to_string(),
            format!(
                "the Arrow answer is {len} bytes; the largest sent is {max}: ask for fewer rows or fields"
            ),
        ));
    }
    Ok(())
}
