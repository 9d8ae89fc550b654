//! `stock.list`: the stocks held, each described by its latest row,
//! filtered by industry, code prefix and name, and paged. The contract
//! (which row, which columns, what a missing column gives) is documented
//! in `stockd_api::list`.

use super::{check_len, text, text_code, Key, Semantic};
use crate::query;
use crate::store::column::ColumnData;
use crate::store::{time, Store};
use stockd_api::{AppError, ErrorKind, ListedStock, StockList, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT};

/// Parameters of `stock.list`, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListParams<'a> {
    pub industry: Option<&'a str>,
    pub prefix: Option<&'a str>,
    pub name: Option<&'a str>,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
}

/// Whether `needle` occurs in `hay`, ASCII letters compared without case.
/// Byte-wise on UTF-8: a valid needle can only match at character
/// boundaries, and bytes above 0x7F (every byte of a Chinese name) must be
/// equal, so `银行` finds `招商银行` and `ping` finds `Ping An`.
fn contains_ascii_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// A `list_date` value: a date column as `YYYY-MM-DD`, a text column as
/// held; `None` for NULL.
fn date_or_text(store: &Store, col: Option<usize>, row: usize) -> Option<String> {
    let c = &store.columns()[col?];
    if c.is_null(row) {
        return None;
    }
    match &c.data {
        ColumnData::Date(v) => Some(time::date_string(v.get(row) as i32)),
        _ => text(store, col, row).map(str::to_string),
    }
}

/// `stock.list`.
pub fn stock_list(
    store: &Store,
    sem: &Semantic,
    p: &ListParams<'_>,
) -> Result<StockList, AppError> {
    let limit = p.limit.unwrap_or(LIST_DEFAULT_LIMIT);
    if limit == 0 {
        return Err(AppError::new(
            ErrorKind::InvalidParams,
            "0",
            format!("limit is 0; give 1 to {LIST_MAX_LIMIT} (default {LIST_DEFAULT_LIMIT})"),
        ));
    }
    if limit > LIST_MAX_LIMIT {
        return Err(AppError::new(
            ErrorKind::LimitExceeded,
            limit.to_string(),
            format!(
                "limit = {limit} exceeds the limit of {LIST_MAX_LIMIT}; page with offset for more"
            ),
        ));
    }
    let offset = p.offset.unwrap_or(0);
    for (what, v) in [("prefix", p.prefix), ("name", p.name)] {
        if let Some(v) = v {
            check_len(what, v)?;
        }
    }
    let industry = match p.industry {
        None => None,
        Some(ind) => {
            let col = sem.require(Key::Industry, "the industry filter of stock.list")?;
            let (_, code) = query::industry_code(store, sem.column_name(Key::Industry), ind)?;
            Some((col, code))
        }
    };
    let name_col = match p.name {
        None => None,
        Some(_) => Some(sem.require(Key::Name, "the name filter of stock.list")?),
    };
    let [name, ind, board, listed] =
        [Key::Name, Key::Industry, Key::Board, Key::ListDate].map(|k| sem.get(k));

    let mut total = 0u64;
    let mut stocks = Vec::new();
    let end = offset.saturating_add(limit);
    for code in store.codes() {
        if p.prefix.is_some_and(|pre| !code.starts_with(pre)) {
            continue;
        }
        let Some(row) = store.code_id(code).and_then(|id| store.latest_row(id)) else {
            continue;
        };
        if let Some((col, want)) = industry {
            if text_code(store, col, row) != Some(want) {
                continue;
            }
        }
        if let (Some(col), Some(needle)) = (name_col, p.name) {
            if !text(store, Some(col), row).is_some_and(|n| contains_ascii_ci(n, needle)) {
                continue;
            }
        }
        if (offset..end).contains(&total) {
            stocks.push(ListedStock {
                code: code.to_string(),
                name: text(store, name, row).map(str::to_string),
                industry: text(store, ind, row).map(str::to_string),
                board: text(store, board, row).map(str::to_string),
                list_date: date_or_text(store, listed, row),
                date: time::date_string(store.row_date(row)),
            });
        }
        total += 1;
    }
    let missing_columns = [Key::Name, Key::Industry, Key::Board, Key::ListDate]
        .into_iter()
        .filter(|&k| sem.get(k).is_none())
        .map(|k| sem.describe(k))
        .collect();
    Ok(StockList {
        total,
        offset,
        limit,
        next_offset: (end < total).then_some(end),
        stocks,
        missing_columns,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{build, V};
    use super::*;
    use crate::config::ColumnsConfig;
    use crate::store::schema::ColumnKind as K;

    /// Four stocks over two dates; B is suspended on the last one and
    /// changed its name and industry before; D has no name and no industry.
    fn store(list_date: K) -> Store {
        let listed = |s| match list_date {
            K::Date => V::D(s),
            _ => V::T(s),
        };
        build(
            &[
                ("stock_code", K::Text),
                ("date", K::Date),
                ("stock_name", K::Text),
                ("industry", K::Text),
                ("board", K::Text),
                ("list_date", list_date),
            ],
            &[
                vec![
                    V::T("600519"),
                    V::D("2024-01-03"),
                    V::T("贵州茅台"),
                    V::T("白酒"),
                    V::T("main"),
                    listed("2001-08-27"),
                ],
                vec![
                    V::T("000001"),
                    V::D("2024-01-02"),
                    V::T("Ping An Old"),
                    V::T("保险"),
                    V::T("main"),
                    listed("1991-04-03"),
                ],
                vec![
                    V::T("000001"),
                    V::D("2024-01-03"),
                    V::T("平安银行 Ping An"),
                    V::T("银行"),
                    V::T("main"),
                    listed("1991-04-03"),
                ],
                vec![
                    V::T("300750"),
                    V::D("2024-01-02"),
                    V::T("宁德时代"),
                    V::T("电池"),
                    V::T("chinext"),
                    V::Null,
                ],
                vec![
                    V::T("600036"),
                    V::D("2024-01-03"),
                    V::T("招商银行"),
                    V::T("银行"),
                    V::T("main"),
                    listed("2002-04-09"),
                ],
                vec![
                    V::T("688981"),
                    V::D("2024-01-03"),
                    V::Null,
                    V::Null,
                    V::T("star"),
                    listed("2020-07-16"),
                ],
            ],
        )
    }

    fn list(store: &Store, p: ListParams<'_>) -> Result<StockList, AppError> {
        stock_list(store, &Semantic::new(store, &ColumnsConfig::default()), &p)
    }

    fn codes(l: &StockList) -> Vec<&str> {
        l.stocks.iter().map(|s| s.code.as_str()).collect()
    }

    #[test]
    fn every_stock_once_by_code_from_its_latest_row() {
        let s = store(K::Date);
        let l = list(&s, ListParams::default()).unwrap();
        assert_eq!(
            codes(&l),
            ["000001", "300750", "600036", "600519", "688981"]
        );
        assert_eq!((l.total, l.offset, l.limit), (5, 0, LIST_DEFAULT_LIMIT));
        assert_eq!(l.next_offset, None);
        assert!(l.missing_columns.is_empty());
        let pa = &l.stocks[0];
        assert_eq!(pa.name.as_deref(), Some("平安银行 Ping An"));
        assert_eq!(pa.industry.as_deref(), Some("银行"));
        assert_eq!(pa.board.as_deref(), Some("main"));
        assert_eq!(pa.list_date.as_deref(), Some("1991-04-03"));
        assert_eq!(pa.date, "2024-01-03");
        // Suspended on the last date: listed with its own latest row.
        let catl = &l.stocks[1];
        assert_eq!(catl.date, "2024-01-02");
        assert_eq!(catl.list_date, None);
        let smic = &l.stocks[4];
        assert_eq!(
            (smic.name.as_deref(), smic.industry.as_deref()),
            (None, None)
        );
        // A text list_date column is given as held.
        let t = list(&store(K::Text), ListParams::default()).unwrap();
        assert_eq!(t.stocks[0].list_date.as_deref(), Some("1991-04-03"));
    }

    #[test]
    fn filters_combine() {
        let s = store(K::Date);
        let by = |p: ListParams<'static>| {
            let l = list(&s, p).unwrap();
            (codes(&l).join(" "), l.total)
        };
        let p = ListParams::default;
        assert_eq!(
            by(ListParams {
                prefix: Some("600"),
                ..p()
            }),
            ("600036 600519".into(), 2)
        );
        // Industry of the latest row only: 000001 was 保险 before.
        assert_eq!(
            by(ListParams {
                industry: Some("银行"),
                ..p()
            }),
            ("000001 600036".into(), 2)
        );
        assert_eq!(
            by(ListParams {
                industry: Some("保险"),
                ..p()
            }),
            ("".into(), 0)
        );
        for (needle, want) in [
            ("银行", "000001 600036"),
            ("茅台", "600519"),
            ("PING an", "000001"),
            ("old", ""),
            ("", "000001 300750 600036 600519"),
        ] {
            assert_eq!(
                by(ListParams {
                    name: Some(needle),
                    ..p()
                })
                .0,
                want,
                "name {needle:?}"
            );
        }
        assert_eq!(
            by(ListParams {
                name: Some("银行"),
                prefix: Some("6"),
                industry: Some("银行"),
                ..p()
            }),
            ("600036".into(), 1)
        );
    }

    #[test]
    fn pages_cover_every_match_once() {
        let s = store(K::Date);
        let mut seen = Vec::new();
        let mut offset = Some(0);
        while let Some(o) = offset {
            let l = list(
                &s,
                ListParams {
                    offset: Some(o),
                    limit: Some(2),
                    ..ListParams::default()
                },
            )
            .unwrap();
            assert_eq!(l.total, 5);
            assert!(l.stocks.len() <= 2);
            seen.extend(l.stocks.into_iter().map(|x| x.code));
            offset = l.next_offset;
        }
        assert_eq!(seen, ["000001", "300750", "600036", "600519", "688981"]);
        let past = list(
            &s,
            ListParams {
                offset: Some(u64::MAX),
                ..ListParams::default()
            },
        )
        .unwrap();
        assert_eq!(
            (past.stocks.len(), past.total, past.next_offset),
            (0, 5, None)
        );
    }

    #[test]
    fn bad_params_name_the_value_and_the_limit() {
        let s = store(K::Date);
        let e = list(
            &s,
            ListParams {
                limit: Some(1001),
                ..ListParams::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.value.as_str()),
            (ErrorKind::LimitExceeded, "1001")
        );
        assert!(e.message.contains("1000"), "{}", e.message);
        let e = list(
            &s,
            ListParams {
                limit: Some(0),
                ..ListParams::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParams);
        assert!(e.message.contains("1 to 1000"), "{}", e.message);
        let e = list(
            &s,
            ListParams {
                industry: Some("矿业"),
                ..ListParams::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownIndustry);
        assert!(
            e.message.contains("银行"),
            "lists the industries: {}",
            e.message
        );
        let long = "x".repeat(200);
        let e = list(
            &s,
            ListParams {
                name: Some(&long),
                ..ListParams::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
    }

    #[test]
    fn missing_columns_give_null_and_refuse_their_filter() {
        let s = build(
            &[
                ("stock_code", K::Text),
                ("date", K::Date),
                ("close", K::Float8),
            ],
            &[vec![V::T("A1"), V::D("2024-01-02"), V::F(1.0)]],
        );
        let l = list(&s, ListParams::default()).unwrap();
        assert_eq!(codes(&l), ["A1"]);
        assert_eq!(
            l.missing_columns,
            [
                "name (stock_name)",
                "industry (industry)",
                "board (board)",
                "list_date (list_date)"
            ]
        );
        let st = &l.stocks[0];
        assert_eq!(
            (&st.name, &st.industry, &st.board, &st.list_date),
            (&None, &None, &None, &None)
        );
        for p in [
            ListParams {
                name: Some("a"),
                ..ListParams::default()
            },
            ListParams {
                industry: Some("a"),
                ..ListParams::default()
            },
        ] {
            let e = list(&s, p).unwrap_err();
            assert_eq!(e.kind, ErrorKind::MissingColumn, "{}", e.message);
            assert!(e.message.contains("stock.list"), "{}", e.message);
        }
    }

    #[test]
    fn ascii_case_folds_and_utf8_stays_exact() {
        assert!(contains_ascii_ci("Ping An Bank", "an b"));
        assert!(contains_ascii_ci("平安银行", "银行"));
        assert!(contains_ascii_ci("平安银行", "银"));
        assert!(!contains_ascii_ci("平安银行", "银河"));
        assert!(!contains_ascii_ci("ab", "abc"));
        assert!(contains_ascii_ci("", ""));
    }
}
