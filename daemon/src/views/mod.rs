//! The derived views over one store, free of JSON-RPC and I/O:
//! `hotspots.ranking` ([`hotspots`]), `industry.detail`
//! ([`industry_detail`]), `signals.stock` ([`signals`]) and `stock.list`
//! ([`stock_list`], which reads the semantic name, industry, board and
//! listing-date columns). Each is a pure
//! function of the store, the semantic columns and its parameters, returning
//! the typed result of `stockd_api::views` (the server caches and
//! serializes it) or an [`AppError`] naming the bad value.
//!
//! The views read the table through *semantic* columns (`[columns]` in the
//! config): [`Semantic`] resolves them against one store, once per store.
//! A view that needs a column the table lacks (or holds with an unusable
//! type) answers [`ErrorKind::MissingColumn`] naming the semantic key and the
//! configured column; nothing else is affected. Columns a view only
//! displays (`name`, `amount`, `net_inflow`, `volume_ratio`) are optional:
//! without them the figures are `null` and the result lists them in
//! `missing_columns`.
//!
//! Numbers are read as f64 ([`value_f64`]) for comparisons: exact for
//! floats and integers, correctly rounded from the exact decimal for
//! `numeric`. Statistics (sums, means, medians, heat) are computed on exact
//! decimals by [`exact`], without float noise. NULL and NaN are "no value"
//! everywhere, as SQL aggregates skip NULL.

pub mod exact;
mod industry;
mod list;
mod signals;

pub use industry::{hotspots, industry_detail};
pub use list::{stock_list, ListParams};
pub use signals::signals;

use crate::config::ColumnsConfig;
use crate::query;
use crate::store::column::ColumnData;
use crate::store::json::value_f64;
use crate::store::schema::ColumnKind;
use crate::store::{time, Store};
use stockd_api::{limits, AppError, ErrorKind};

/// A semantic column key of `[columns]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Code,
    Date,
    Name,
    Industry,
    Open,
    High,
    Low,
    Close,
    PreClose,
    PctChange,
    Volume,
    Amount,
    TurnoverRate,
    VolumeRatio,
    UpLimit,
    DownLimit,
    NetInflow,
    Rank,
    Pe,
    TotalMv,
    Ma5,
    Ma20,
    MacdDif,
    MacdDea,
    KdjJ,
    Rsi6,
    BollUpper,
    BollLower,
    ConsecutiveLimitUp,
    Board,
    ListDate,
}

impl Key {
    /// Every key, in the declaration order of [`ColumnsConfig`].
    pub const ALL: [Key; 31] = [
        Key::Code,
        Key::Date,
        Key::Name,
        Key::Industry,
        Key::Open,
        Key::High,
        Key::Low,
        Key::Close,
        Key::PreClose,
        Key::PctChange,
        Key::Volume,
        Key::Amount,
        Key::TurnoverRate,
        Key::VolumeRatio,
        Key::UpLimit,
        Key::DownLimit,
        Key::NetInflow,
        Key::Rank,
        Key::Pe,
        Key::TotalMv,
        Key::Ma5,
        Key::Ma20,
        Key::MacdDif,
        Key::MacdDea,
        Key::KdjJ,
        Key::Rsi6,
        Key::BollUpper,
        Key::BollLower,
        Key::ConsecutiveLimitUp,
        Key::Board,
        Key::ListDate,
    ];

    /// The key as written in `[columns]`, e.g. `pct_change`.
    pub const fn name(self) -> &'static str {
        match self {
            Key::Code => "code",
            Key::Date => "date",
            Key::Name => "name",
            Key::Industry => "industry",
            Key::Open => "open",
            Key::High => "high",
            Key::Low => "low",
            Key::Close => "close",
            Key::PreClose => "pre_close",
            Key::PctChange => "pct_change",
            Key::Volume => "volume",
            Key::Amount => "amount",
            Key::TurnoverRate => "turnover_rate",
            Key::VolumeRatio => "volume_ratio",
            Key::UpLimit => "up_limit",
            Key::DownLimit => "down_limit",
            Key::NetInflow => "net_inflow",
            Key::Rank => "rank",
            Key::Pe => "pe",
            Key::TotalMv => "total_mv",
            Key::Ma5 => "ma5",
            Key::Ma20 => "ma20",
            Key::MacdDif => "macd_dif",
            Key::MacdDea => "macd_dea",
            Key::KdjJ => "kdj_j",
            Key::Rsi6 => "rsi6",
            Key::BollUpper => "boll_upper",
            Key::BollLower => "boll_lower",
            Key::ConsecutiveLimitUp => "consecutive_limit_up",
            Key::Board => "board",
            Key::ListDate => "list_date",
        }
    }

    /// What the views need the column to hold.
    fn usable(self, kind: ColumnKind) -> bool {
        match self {
            Key::Code | Key::Name | Key::Industry | Key::Board => kind == ColumnKind::Text,
            Key::Date => kind == ColumnKind::Date,
            Key::ListDate => matches!(kind, ColumnKind::Date | ColumnKind::Text),
            _ => kind.is_numeric(),
        }
    }

    fn wanted(self) -> &'static str {
        match self {
            Key::Code | Key::Name | Key::Industry | Key::Board => "a text column",
            Key::Date => "a date column",
            Key::ListDate => "a date or text column",
            _ => "a numeric column",
        }
    }
}

/// One semantic column resolved against a store.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resolved {
    /// The configured column name.
    column: String,
    /// Its index, if the table has it with a usable type.
    index: Option<usize>,
    /// The SQL type, if the table has the column with an unusable type.
    wrong_type: Option<String>,
}

/// The semantic columns of `[columns]` resolved against one store: an
/// `Option<usize>` column index per key. Cheap to build (29 lookups); build
/// it once per store generation, next to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semantic {
    /// Indexed by `Key as usize`.
    cols: Vec<Resolved>,
}

impl Semantic {
    pub fn new(store: &Store, columns: &ColumnsConfig) -> Semantic {
        let cols = Key::ALL
            .iter()
            .map(|&key| {
                let column = columns
                    .iter()
                    .find(|(k, _)| *k == key.name())
                    .map_or("", |(_, c)| c)
                    .to_string();
                let (index, wrong_type) = match store.column(&column) {
                    Some(i) if key.usable(store.specs()[i].kind) => (Some(i), None),
                    Some(i) => (None, Some(store.specs()[i].pg_type.clone())),
                    None => (None, None),
                };
                Resolved {
                    column,
                    index,
                    wrong_type,
                }
            })
            .collect();
        Semantic { cols }
    }

    fn slot(&self, key: Key) -> &Resolved {
        &self.cols[key as usize]
    }

    /// The column index of `key`, if the table has it with a usable type
    /// (text for code/name/industry, date for date, numeric otherwise).
    pub fn get(&self, key: Key) -> Option<usize> {
        self.slot(key).index
    }

    /// The configured column name of `key`.
    pub fn column_name(&self, key: Key) -> &str {
        &self.slot(key).column
    }

    /// The column of `key`, or the missing-column error of `view`.
    pub fn require(&self, key: Key, view: &str) -> Result<usize, AppError> {
        let r = self.slot(key);
        r.index.ok_or_else(|| {
            let why = match &r.wrong_type {
                Some(ty) => format!(" as {}, but the table has it as {ty}", key.wanted()),
                None => ", which the table does not have".to_string(),
            };
            AppError::new(
                ErrorKind::MissingColumn,
                r.column.clone(),
                format!(
                    "{view} needs column '{}' ([columns] {}){why}",
                    r.column,
                    key.name()
                ),
            )
        })
    }

    /// `key (column)` for a `missing_columns` list.
    fn describe(&self, key: Key) -> String {
        format!("{} ({})", key.name(), self.column_name(key))
    }
}

/// The date index to read: `date`, or the latest held.
fn date_index(store: &Store, date: Option<&str>) -> Result<usize, AppError> {
    match date {
        Some(d) => query::date_index(store, d),
        // The newest complete date; a pending day only when asked for.
        None => store.latest_date_index().ok_or_else(|| {
            AppError::new(
                ErrorKind::UnknownDate,
                "",
                "no complete trading dates are held (the table is empty, or its only date is still pending; see market.info)",
            )
        }),
    }
}

fn date_string(store: &Store, di: usize) -> String {
    time::date_string(store.dates()[di])
}

/// The value of a numeric column (`None` for NULL, NaN or no column).
#[inline]
fn num(store: &Store, col: Option<usize>, row: usize) -> Option<f64> {
    col.and_then(|c| value_f64(&store.columns()[c], row))
}

/// The value of a numeric column as a result shows it: as [`num`], except
/// that a `real` (float4) value is given in its shortest float4 form, as
/// `stock.get` writes it (`20.01`, not the widened `20.010000228881836`).
/// Read back as float4 it is the same value, bit for bit. Comparisons and
/// statistics use [`num`], the exact value.
fn shown(store: &Store, col: Option<usize>, row: usize) -> Option<f64> {
    let c = col?;
    match &store.columns()[c].data {
        ColumnData::Float4(v) if !store.columns()[c].is_null(row) && v.f32(row).is_finite() => {
            ryu::Buffer::new().format_finite(v.f32(row)).parse().ok()
        }
        _ => num(store, col, row),
    }
}

/// The value of a text column (`None` for NULL or no column).
fn text(store: &Store, col: Option<usize>, row: usize) -> Option<&str> {
    let c = &store.columns()[col?];
    if c.is_null(row) {
        return None;
    }
    match &c.data {
        ColumnData::Text { dict, codes } => Some(dict.get(codes.get(row) as usize)),
        _ => None,
    }
}

/// The dictionary code of a text column at `row` (`None` for NULL).
#[inline]
fn text_code(store: &Store, col: usize, row: usize) -> Option<u32> {
    let c = &store.columns()[col];
    if c.is_null(row) {
        return None;
    }
    match &c.data {
        ColumnData::Text { codes, .. } => Some(codes.get(row)),
        _ => None,
    }
}

/// Refuses over-long names, as the data methods do.
fn check_len(what: &str, s: &str) -> Result<(), AppError> {
    if s.len() > limits::MAX_NAME_LEN {
        let shown = if s.chars().count() <= 64 {
            s.to_string()
        } else {
            format!("{}…", s.chars().take(61).collect::<String>())
        };
        return Err(AppError::new(
            ErrorKind::LimitExceeded,
            shown.clone(),
            format!(
                "{what} '{shown}' is {} bytes long; at most {} are allowed",
                s.len(),
                limits::MAX_NAME_LEN
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests {
    use super::testkit::{build, V};
    use super::*;
    use crate::config::DEFAULT_SIGNALS;
    use crate::store::schema::ColumnKind as K;

    #[test]
    fn real_values_are_shown_in_their_float4_form() {
        let store = build(
            &[
                ("c", K::Text),
                ("d", K::Date),
                ("r", K::Float4),
                ("f", K::Float8),
            ],
            &[
                vec![V::T("A"), V::D("2024-01-02"), V::F4(20.01), V::F(0.1)],
                vec![V::T("B"), V::D("2024-01-02"), V::Null, V::Null],
            ],
        );
        assert_eq!(num(&store, Some(2), 0), Some(20.01f32 as f64));
        assert_eq!(shown(&store, Some(2), 0), Some(20.01));
        assert_eq!(shown(&store, Some(2), 0).map(|v| v as f32), Some(20.01f32));
        assert_eq!(shown(&store, Some(3), 0), Some(0.1));
        assert_eq!(shown(&store, Some(2), 1), None);
        assert_eq!(shown(&store, None, 0), None);
    }

    #[test]
    fn keys_match_the_config() {
        let names: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
        let config: Vec<&str> = ColumnsConfig::DEFAULTS.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, config);
        for (i, k) in Key::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
    }

    #[test]
    fn semantic_resolves_present_absent_and_mistyped() {
        let store = build(
            &[
                ("stock_code", K::Text),
                ("date", K::Date),
                ("industry", K::Float8),
                ("pct_chg", K::Float4),
            ],
            &[vec![V::T("A"), V::D("2024-01-02"), V::F(1.0), V::F4(0.5)]],
        );
        let columns = ColumnsConfig {
            close: "px".into(),
            ..ColumnsConfig::default()
        };
        let sem = Semantic::new(&store, &columns);
        assert_eq!(sem.get(Key::PctChange), Some(3));
        assert_eq!(sem.get(Key::Code), Some(0));
        assert_eq!(sem.get(Key::Close), None);
        assert_eq!(sem.column_name(Key::Close), "px");
        let e = sem.require(Key::Close, "hotspots.ranking").unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingColumn);
        assert_eq!(e.value, "px");
        assert_eq!(
            e.message,
            "hotspots.ranking needs column 'px' ([columns] close), which the table does not have"
        );
        let e = sem.require(Key::Industry, "industry.detail").unwrap_err();
        assert_eq!(
            e.message,
            "industry.detail needs column 'industry' ([columns] industry) as a text column, \
             but the table has it as double precision"
        );
    }

    /// The views agree with each other on the demo data set (reference
    /// layout, every column type the views meet); the SQL comparison is
    /// the integration test `tests/tests/views.rs`.
    #[test]
    fn views_agree_on_demo_data() {
        let params = crate::demo::DemoParams {
            stocks: 400,
            days: 25,
            suspended: 30,
            warmup_days: 40,
            ..crate::demo::DemoParams::seed()
        };
        let store = crate::demo::load(&params, 1).expect("demo loads");
        let sem = Semantic::new(&store, &ColumnsConfig::default());
        assert_eq!(
            sem.get(Key::ConsecutiveLimitUp),
            store.column("consecutive_limit_up")
        );
        let ind = sem.get(Key::Industry).unwrap();
        for di in [0, store.dates().len() - 1] {
            let date = date_string(&store, di);
            let h = hotspots(&store, &sem, Some(&date), Some(100)).unwrap();
            assert!(h.missing_columns.is_empty());
            assert_eq!(h.industries.len() as u64, h.total_industries);
            assert!(h.total_industries >= 20, "{}", h.total_industries);
            let with_industry = store
                .rows_on(di)
                .filter(|&r| !store.columns()[ind].is_null(r as usize))
                .count() as u64;
            let members: u64 = h.industries.iter().map(|i| i.stats.members).sum();
            assert_eq!(members, with_industry);
            for pair in h.industries.windows(2) {
                assert!(pair[0].stats.heat >= pair[1].stats.heat);
            }
            for i in &h.industries {
                let d = industry_detail(&store, &sem, &i.industry, Some(&date)).unwrap();
                assert_eq!(d.stats, i.stats, "{}", i.industry);
                let s = &d.stats;
                assert!(s.up + s.flat + s.down <= s.members);
                for (l, g) in i.leaders.iter().zip(&d.gainers) {
                    assert!(l.pct_change >= g.pct_change);
                }
            }
        }
        let new_highs = store
            .codes()
            .take(200)
            .map(|code| signals(&store, &sem, &DEFAULT_SIGNALS, code, None).unwrap())
            .inspect(|s| {
                let mut all: Vec<&str> = s.checked.iter().map(String::as_str).collect();
                all.extend(s.skipped.iter().map(|k| k.name.as_str()));
                all.sort_unstable();
                let mut want = stockd_api::SIGNAL_NAMES.to_vec();
                want.sort_unstable();
                assert_eq!(all, want, "{}", s.code);
            })
            .filter(|s| s.signals.iter().any(|g| g.name == "new_high"))
            .count();
        assert!(new_highs > 0, "some stock closes at a 20-day high");
    }

    #[test]
    fn default_date_is_the_latest_and_an_empty_store_has_none() {
        let store = build(
            &[("stock_code", K::Text), ("date", K::Date)],
            &[
                vec![V::T("A"), V::D("2024-01-03")],
                vec![V::T("A"), V::D("2024-01-02")],
            ],
        );
        assert_eq!(date_index(&store, None), Ok(1));
        assert_eq!(date_index(&store, Some("2024-01-02")), Ok(0));
        let e = date_index(&store, Some("2024-01-04")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownDate);
        let empty = build(&[("stock_code", K::Text), ("date", K::Date)], &[]);
        assert_eq!(
            date_index(&empty, None).unwrap_err().kind,
            ErrorKind::UnknownDate
        );
    }
}
