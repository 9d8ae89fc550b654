//! The data methods over one store, free of JSON-RPC: each validates its
//! inputs, reads the store and writes the result document straight to JSON
//! text. Errors are [`AppError`]s naming the bad value and what is allowed.

use crate::store::json::{value_f64, write_str, write_value};
use crate::store::{
    column::{Column, ColumnData},
    time, Store,
};
use std::cmp::Ordering;
use stockd_api::{
    limits, AppError, ColumnInfo, DateSpan, ErrorKind, Layout, MarketInfo, PendingDay, SourceInfo,
};

fn invalid(value: impl Into<String>, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::InvalidParams, value, message)
}

/// Truncates a caller's string for quoting in a message.
fn quote(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_string()
    } else {
        let head: String = s.chars().take(61).collect();
        format!("{head}…")
    }
}

fn check_len(what: &str, s: &str) -> Result<(), AppError> {
    if s.len() > limits::MAX_NAME_LEN {
        return Err(AppError::new(
            ErrorKind::LimitExceeded,
            quote(s),
            format!(
                "{what} '{}' is {} bytes long; at most {} are allowed",
                quote(s),
                s.len(),
                limits::MAX_NAME_LEN
            ),
        ));
    }
    Ok(())
}

/// Parses a `YYYY-MM-DD` parameter.
pub fn parse_date(param: &str, s: &str) -> Result<i32, AppError> {
    check_len(param, s)?;
    time::parse_date(s).ok_or_else(|| {
        invalid(
            quote(s),
            format!(
                "{param} '{}' is not a calendar date; use YYYY-MM-DD",
                quote(s)
            ),
        )
    })
}

fn date_span(store: &Store) -> String {
    match (store.dates().first(), store.dates().last()) {
        (Some(&a), Some(&b)) => format!(
            "{} to {} ({} trading days)",
            time::date_string(a),
            time::date_string(b),
            store.dates().len()
        ),
        _ => "none (the store is empty)".into(),
    }
}

/// A held date's index, or the unknown-date error.
pub fn date_index(store: &Store, s: &str) -> Result<usize, AppError> {
    let d = parse_date("date", s)?;
    store.date_index(d).ok_or_else(|| {
        AppError::new(
            ErrorKind::UnknownDate,
            s,
            format!(
                "date '{s}' is not a trading date held; dates held: {}",
                date_span(store)
            ),
        )
    })
}

/// A code's id, or the unknown-stock error.
pub fn code_id(store: &Store, code: &str) -> Result<u32, AppError> {
    check_len("code", code)?;
    store.code_id(code).ok_or_else(|| {
        AppError::new(
            ErrorKind::UnknownStock,
            quote(code),
            format!(
                "unknown stock '{}'; {} codes are held (see market.info)",
                quote(code),
                store.stocks()
            ),
        )
    })
}

fn known_columns(store: &Store) -> String {
    store
        .specs()
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column's index, or the unknown-column error listing the known ones.
pub fn column(store: &Store, name: &str) -> Result<usize, AppError> {
    check_len("column", name)?;
    store.column(name).ok_or_else(|| {
        AppError::new(
            ErrorKind::UnknownColumn,
            quote(name),
            format!(
                "column '{}' does not exist; known columns: {}",
                quote(name),
                known_columns(store)
            ),
        )
    })
}

/// Resolves `fields` (default: every column, in table order).
pub fn fields(store: &Store, fields: Option<&[String]>) -> Result<Vec<usize>, AppError> {
    match fields {
        None => Ok((0..store.specs().len()).collect()),
        Some(f) if f.len() > limits::MAX_FIELDS => Err(AppError::new(
            ErrorKind::LimitExceeded,
            f.len().to_string(),
            format!(
                "fields lists {} names; at most {} are allowed",
                f.len(),
                limits::MAX_FIELDS
            ),
        )),
        Some([]) => Err(invalid(
            "[]",
            "fields is empty; omit it for every column or name at least one",
        )),
        Some(f) => f.iter().map(|n| column(store, n)).collect(),
    }
}

/// Writes `{"code":…,"date":…,"values":{…}}` for one row, calling
/// `next` before each value.
fn write_row(
    out: &mut String,
    store: &Store,
    row: usize,
    fields: &[usize],
    mut next: impl FnMut(),
) {
    out.push_str("{\"code\":");
    write_str(out, store.row_code(row));
    out.push_str(",\"date\":\"");
    time::write_date(out, store.row_date(row));
    out.push_str("\",\"values\":{");
    for (i, &c) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(store.json_key(c));
        next();
        write_value(out, &store.columns()[c], row);
    }
    out.push_str("}}");
}

/// `[row, row, …]`, each as [`write_row`] writes it.
fn write_rows(out: &mut String, store: &Store, rows: &[usize], fields: &[usize]) {
    out.push('[');
    let mut ahead = row_by_row(store, rows, fields);
    for (i, &r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_row(out, store, r, fields, || ahead.next());
    }
    out.push(']');
}

/// Asks for the values a writer will read, a fixed number ahead of it:
/// each value's block header [`HEAD_AHEAD`] values ahead, its word
/// [`WORD_AHEAD`] ahead (computed from the header, by then in cache).
///
/// The values of a few rows (of one date, or one code's dates) are each
/// in another cache line, one or two misses apiece, and writing a value
/// takes long enough that the CPU does not reach the next one's load on
/// its own: `stock.many` of 50 codes in the columns layout cost the
/// daemon 360 µs a request without prefetching, 230 with. A sliding
/// window keeps about that many misses in flight. A burst of a history
/// column's 244 prefetches left most of them waiting; a burst of each next
/// row's 83 cost 3% more daemon CPU on `stock.many` than this window (one
/// run at seed scale, 8 clients).
struct Ahead<I> {
    head: I,
    word: I,
}

const HEAD_AHEAD: usize = 32;
const WORD_AHEAD: usize = 16;

impl<'a, I: Iterator<Item = (&'a Column, usize)> + Clone> Ahead<I> {
    /// For a writer of `values` (their column and row), in that order.
    fn new(values: I) -> Ahead<I> {
        let mut a = Ahead {
            head: values.clone(),
            word: values,
        };
        for _ in 0..HEAD_AHEAD {
            a.ask_head();
        }
        for _ in 0..WORD_AHEAD {
            a.ask_word();
        }
        a
    }

    /// The writer is at its next value.
    #[inline]
    fn next(&mut self) {
        self.ask_head();
        self.ask_word();
    }

    #[inline]
    fn ask_head(&mut self) {
        if let Some((c, r)) = self.head.next() {
            c.prefetch_head(r);
        }
    }

    #[inline]
    fn ask_word(&mut self) {
        if let Some((c, r)) = self.word.next() {
            c.prefetch(r);
        }
    }
}

/// [`Ahead`] for a writer of `fields` of each of `rows`, row by row.
fn row_by_row<'a>(
    store: &'a Store,
    rows: &'a [usize],
    fields: &'a [usize],
) -> Ahead<impl Iterator<Item = (&'a Column, usize)> + Clone> {
    let cols = store.columns();
    Ahead::new(
        rows.iter()
            .flat_map(move |&r| fields.iter().map(move |&c| (&cols[c], r))),
    )
}

/// `["a","b"]`.
fn write_strs(out: &mut String, items: &[&str]) {
    out.push('[');
    for (i, m) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, m);
    }
    out.push(']');
}

/// The `columns` layout: `{"fields":[…],"codes":[…],"dates":[…],
/// "rows":[[…],…]}` (and `"missing"` when given): names once, values in
/// field order.
fn write_table(
    out: &mut String,
    store: &Store,
    rows: &[usize],
    fields: &[usize],
    missing: Option<&[&str]>,
) {
    out.push_str("{\"fields\":[");
    for (i, &c) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &store.specs()[c].name);
    }
    out.push_str("],\"codes\":[");
    for (i, &r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, store.row_code(r));
    }
    out.push_str("],\"dates\":[");
    for (i, &r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        time::write_date(out, store.row_date(r));
        out.push('"');
    }
    out.push_str("],\"rows\":[");
    let mut ahead = row_by_row(store, rows, fields);
    for (i, &r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        for (j, &c) in fields.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            ahead.next();
            write_value(out, &store.columns()[c], r);
        }
        out.push(']');
    }
    out.push(']');
    if let Some(m) = missing {
        out.push_str(",\"missing\":");
        write_strs(out, m);
    }
    out.push('}');
}

/// The row of `code` on `date` (default: its latest).
fn find_row(store: &Store, code: &str, date: Option<&str>) -> Result<usize, AppError> {
    let id = code_id(store, code)?;
    match date {
        None => store.latest_row(id),
        Some(d) => {
            let di = date_index(store, d)?;
            return store.row(id, di).ok_or_else(|| {
                AppError::new(
                    ErrorKind::UnknownDate,
                    d,
                    format!("stock '{code}' has no row on {d} (suspended or not listed that day)"),
                )
            });
        }
    }
    .ok_or_else(|| {
        AppError::new(
            ErrorKind::UnknownStock,
            code,
            format!("stock '{code}' has no rows"),
        )
    })
}

/// `stock.get`.
pub fn stock_get(
    store: &Store,
    code: &str,
    date: Option<&str>,
    f: Option<&[String]>,
) -> Result<String, AppError> {
    let fields = fields(store, f)?;
    let row = find_row(store, code, date)?;
    store.prefetch(row, &fields);
    let mut out = String::with_capacity(64 + fields.len() * 24);
    write_row(&mut out, store, row, &fields, || {});
    Ok(out)
}

/// `stock.many`.
pub fn stock_many(
    store: &Store,
    codes: &[String],
    date: Option<&str>,
    f: Option<&[String]>,
    layout: Layout,
) -> Result<String, AppError> {
    if codes.len() > limits::MAX_CODES {
        return Err(AppError::new(
            ErrorKind::LimitExceeded,
            codes.len().to_string(),
            format!(
                "codes lists {} codes; at most {} are allowed per call",
                codes.len(),
                limits::MAX_CODES
            ),
        ));
    }
    let fields = fields(store, f)?;
    let di = date.map(|d| date_index(store, d)).transpose()?;
    let mut rows = Vec::with_capacity(codes.len());
    let mut missing = Vec::new();
    for code in codes {
        check_len("code", code)?;
        let row = store.code_id(code).and_then(|id| match di {
            Some(di) => store.row(id, di),
            None => store.latest_row(id),
        });
        match row {
            Some(r) => rows.push(r),
            None => missing.push(code.as_str()),
        }
    }
    let mut out = String::with_capacity(64 + rows.len() * (64 + fields.len() * 24));
    match layout {
        Layout::Rows => {
            out.push_str("{\"rows\":");
            write_rows(&mut out, store, &rows, &fields);
            out.push_str(",\"missing\":");
            write_strs(&mut out, &missing);
            out.push('}');
        }
        Layout::Columns => write_table(&mut out, store, &rows, &fields, Some(&missing)),
    }
    Ok(out)
}

/// `stock.history`: one array per column over `[from, to]` (default: the
/// whole window), dates on which the stock has no row left out.
pub fn stock_history(
    store: &Store,
    code: &str,
    from: Option<&str>,
    to: Option<&str>,
    f: Option<&[String]>,
) -> Result<String, AppError> {
    let fields = fields(store, f)?;
    let id = code_id(store, code)?;
    let lo = from.map(|s| parse_date("from", s)).transpose()?;
    // Without `to`, the history ends at the newest complete date.
    let hi = match to {
        Some(s) => Some(parse_date("to", s)?),
        None => store.served_dates().last().copied().or(Some(i32::MIN)),
    };
    if let (Some(a), Some(b), Some(fs), Some(ts)) = (lo, hi, from, to) {
        if a > b {
            return Err(invalid(
                format!("{fs}..{ts}"),
                format!("from '{fs}' is after to '{ts}'; give from <= to"),
            ));
        }
    }
    // The dates come from the date index, not from each row's date column
    // (a row a date apart is another block: two cache misses a date).
    let (dates, rows): (Vec<i32>, Vec<usize>) = store
        .dates()
        .iter()
        .enumerate()
        .filter(|(_, &d)| lo.is_none_or(|lo| d >= lo) && hi.is_none_or(|hi| d <= hi))
        .filter_map(|(di, &d)| Some((d, store.row(id, di)?)))
        .unzip();
    let mut out = String::with_capacity(64 + rows.len() * (14 + fields.len() * 16));
    out.push_str("{\"code\":");
    write_str(&mut out, code);
    out.push_str(",\"dates\":[");
    for (i, &d) in dates.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        time::write_date(&mut out, d);
        out.push('"');
    }
    out.push_str("],\"columns\":{");
    // One code's rows are a date apart, each in another block.
    let cols = store.columns();
    let mut ahead = Ahead::new(
        fields
            .iter()
            .flat_map(|&c| rows.iter().map(move |&r| (&cols[c], r))),
    );
    for (i, &c) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(store.json_key(c));
        out.push('[');
        for (j, &r) in rows.iter().enumerate() {
            ahead.next();
            if j > 0 {
                out.push(',');
            }
            write_value(&mut out, &cols[c], r);
        }
        out.push(']');
    }
    out.push_str("}}");
    Ok(out)
}

/// Parameters of `stock.top`, as received.
pub struct TopParams<'a> {
    pub by: &'a str,
    pub n: Option<u64>,
    pub order: Option<&'a str>,
    pub date: Option<&'a str>,
    pub industry: Option<&'a str>,
    pub fields: Option<&'a [String]>,
    pub layout: Layout,
}

/// A ranking key: exact integers where the column is integral, f64 for
/// floats; never NULL or NaN.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Key {
    Int(i128),
    Float(f64),
}

fn rank_key(store: &Store, col: usize, row: usize) -> Option<Key> {
    let c = &store.columns()[col];
    if c.is_null(row) {
        return None;
    }
    Some(match &c.data {
        ColumnData::Int2(v) | ColumnData::Int4(v) | ColumnData::Int8(v) => {
            Key::Int(v.get(row) as i128)
        }
        ColumnData::Decimal { values, .. } => Key::Int(values.get(row)?),
        _ => Key::Float(value_f64(c, row)?),
    })
}

/// `stock.top`: rows of one date ranked by a numeric column. NULL and NaN
/// are never ranked; equal keys are ordered by code.
pub fn stock_top(store: &Store, p: &TopParams<'_>, industry_col: &str) -> Result<String, AppError> {
    let by = column(store, p.by)?;
    let kind = store.specs()[by].kind;
    if !kind.is_numeric() {
        let numeric: Vec<&str> = store
            .specs()
            .iter()
            .filter(|s| s.kind.is_numeric())
            .map(|s| s.name.as_str())
            .collect();
        return Err(invalid(
            p.by,
            format!(
                "by '{}' is a {} column; rank by a numeric column: {}",
                p.by,
                store.specs()[by].pg_type,
                numeric.join(", ")
            ),
        ));
    }
    let n = p.n.unwrap_or(limits::DEFAULT_TOP_N);
    if n == 0 {
        return Err(invalid("0", "n is 0; give 1 to 500"));
    }
    if n > limits::MAX_TOP_N {
        return Err(AppError::new(
            ErrorKind::LimitExceeded,
            n.to_string(),
            format!("n = {n} exceeds the limit of {}", limits::MAX_TOP_N),
        ));
    }
    let desc = match p.order.unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        other => {
            return Err(invalid(
                quote(other),
                format!(
                    "order '{}' is not allowed; use 'desc' or 'asc'",
                    quote(other)
                ),
            ))
        }
    };
    let fields = fields(store, p.fields)?;
    let di = match p.date {
        Some(d) => date_index(store, d)?,
        // The newest complete date: a pending (half-inserted) day is
        // served only when asked for by date.
        None => match store.latest_date_index() {
            None => {
                let mut out = String::new();
                match p.layout {
                    Layout::Rows => write_rows(&mut out, store, &[], &fields),
                    Layout::Columns => write_table(&mut out, store, &[], &fields, None),
                }
                return Ok(out);
            }
            Some(di) => di,
        },
    };
    let filter = match p.industry {
        None => None,
        Some(ind) => Some(industry_code(store, industry_col, ind)?),
    };
    let mut cand: Vec<(Key, u32)> = store
        .rows_on(di)
        .filter(|&r| match &filter {
            None => true,
            Some((col, code)) => {
                !store.columns()[*col].is_null(r as usize)
                    && match &store.columns()[*col].data {
                        ColumnData::Text { codes, .. } => codes.get(r as usize) == *code,
                        _ => false,
                    }
            }
        })
        .filter_map(|r| rank_key(store, by, r as usize).map(|k| (k, r)))
        .collect();
    // rows_on is in code order, so the row's position breaks ties by code.
    let cmp = |a: &(Key, u32), b: &(Key, u32)| {
        let o = a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal);
        let o = if desc { o.reverse() } else { o };
        o.then_with(|| {
            store
                .row_code(a.1 as usize)
                .cmp(store.row_code(b.1 as usize))
        })
    };
    let n = (n as usize).min(cand.len());
    if n < cand.len() {
        cand.select_nth_unstable_by(n, cmp);
        cand.truncate(n);
    }
    cand.sort_unstable_by(cmp);
    let rows: Vec<usize> = cand.iter().map(|&(_, r)| r as usize).collect();
    let mut out = String::with_capacity(64 + n * (64 + fields.len() * 24));
    match p.layout {
        Layout::Rows => write_rows(&mut out, store, &rows, &fields),
        Layout::Columns => write_table(&mut out, store, &rows, &fields, None),
    }
    Ok(out)
}

/// The industry column and the dictionary code of `industry` in it.
pub fn industry_code(
    store: &Store,
    industry_col: &str,
    industry: &str,
) -> Result<(usize, u32), AppError> {
    check_len("industry", industry)?;
    let col = store.column(industry_col).ok_or_else(|| {
        AppError::new(
            ErrorKind::MissingColumn,
            industry_col,
            format!(
                "the industry filter needs column '{industry_col}' ([columns] industry), which the table does not have"
            ),
        )
    })?;
    if let ColumnData::Text { dict, .. } = &store.columns()[col].data {
        if let Some(code) = (0..dict.len()).find(|&i| dict.get(i) == industry) {
            return Ok((col, code as u32));
        }
        let mut names: Vec<&str> = (0..dict.len())
            .map(|i| dict.get(i))
            .filter(|s| !s.is_empty())
            .collect();
        names.sort_unstable();
        return Err(AppError::new(
            ErrorKind::UnknownIndustry,
            quote(industry),
            format!(
                "unknown industry '{}'; industries held: {}",
                quote(industry),
                names.join(", ")
            ),
        ));
    }
    Err(AppError::new(
        ErrorKind::MissingColumn,
        industry_col,
        format!("industry column '{industry_col}' is not a text column"),
    ))
}

/// `market.info`.
pub fn market_info(
    store: &Store,
    stale: bool,
    pending: Option<(i32, PendingDay)>,
    columns: &crate::config::ColumnsConfig,
) -> MarketInfo {
    let info = &store.info;
    // The refresh task's account when it has one; else what the store
    // itself holds back (a snapshot restored at start). The account is
    // written just after a new store is put in service: a date the store
    // in hand already serves is no longer pending, whatever the account
    // still says, so one answer never names a date both last and pending.
    let latest = store.served_dates().last().copied();
    let pending = pending.filter(|&(date, _)| latest.is_none_or(|l| date > l));
    let pending = pending.map(|(_, day)| day).or_else(|| {
        let &date = store.pending_dates().last()?;
        let rows = store.pending_rows() as u64;
        Some(PendingDay {
            date: time::date_string(date),
            rows,
            rows_loaded: rows,
            reason: "held back when the store was loaded: fewer rows than \
                     source.min_day_fraction of the day before"
                .into(),
        })
    });
    let since = info
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    MarketInfo {
        dates: DateSpan {
            first: store.served_dates().first().map(|&d| time::date_string(d)),
            last: store.served_dates().last().map(|&d| time::date_string(d)),
            count: store.served_dates().len() as u64,
        },
        stocks: store.stocks() as u64,
        rows: (store.rows() - store.pending_rows()) as u64,
        pending,
        columns: store
            .specs()
            .iter()
            .map(|s| ColumnInfo {
                name: s.name.clone(),
                ty: s.pg_type.clone(),
                nullable: s.nullable,
            })
            .collect(),
        skipped_columns: info
            .provenance
            .skipped
            .iter()
            .map(|(name, ty)| ColumnInfo {
                name: name.clone(),
                ty: ty.clone(),
                nullable: true,
            })
            .collect(),
        source: SourceInfo {
            kind: info.provenance.kind.to_string(),
            detail: info.provenance.detail.clone(),
            stale,
        },
        generation: info.generation,
        loaded_at: time::rfc3339_from_unix(since.as_secs() as i64, since.subsec_micros()),
        window_days: info.provenance.window_days,
        semantic_columns: columns
            .iter()
            .filter(|(_, col)| store.column(col).is_some())
            .map(|(k, col)| (k.to_string(), col.to_string()))
            .collect(),
    }
}

/// `market.dates`: the complete dates (a pending date is named by
/// `market.info` `pending`).
pub fn market_dates(store: &Store) -> Vec<String> {
    store
        .served_dates()
        .iter()
        .map(|&d| time::date_string(d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DemoParams;

    /// The refresh task writes its account of the pending day just after
    /// the store that serves that day is put in service: an answer read in
    /// between must not name the day both last and pending.
    #[test]
    fn market_info_drops_a_pending_account_the_store_has_passed() {
        let mut p = DemoParams::seed();
        p.stocks = 20;
        p.days = 4;
        let mut store = crate::demo::load(&p, 7).expect("demo store");
        let dates = store.dates().to_vec();
        let (newest, before) = (dates[3], dates[2]);
        let account = |date: i32| {
            Some((
                date,
                PendingDay {
                    date: time::date_string(date),
                    rows: 20,
                    rows_loaded: 20,
                    reason: "rows are still arriving".into(),
                },
            ))
        };
        let columns = crate::config::ColumnsConfig::default();

        // Every date served: an account naming the newest one is stale.
        let info = market_info(&store, false, account(newest), &columns);
        assert_eq!(info.dates.last, Some(time::date_string(newest)));
        assert!(info.pending.is_none(), "{:?}", info.pending);

        // The newest date held back: the account is the answer.
        store.hold_back_after(before);
        let info = market_info(&store, false, account(newest), &columns);
        assert_eq!(info.dates.last, Some(time::date_string(before)));
        let pending = info.pending.expect("the held-back day is pending");
        assert_eq!(pending.date, time::date_string(newest));
        assert_eq!(pending.reason, "rows are still arriving");
    }
}
