//! `hotspots.ranking` and `industry.detail`: per-industry statistics of one
//! date, and the heat score that ranks them.

use super::exact::{self, Dec, Sum};
use super::{check_len, date_index, date_string, num, shown, text, text_code, Key, Semantic};
use crate::store::column::ColumnData;
use crate::store::Store;
use std::cmp::Ordering;
use stockd_api::{
    AppError, ErrorKind, HotspotsRanking, IndustryDetail, IndustryHeat, IndustryStats, Member,
    HOTSPOTS_DEFAULT_N, HOTSPOTS_LEADERS, HOTSPOTS_MAX_N, INDUSTRY_MOVERS,
};

/// Weight of breadth, `(up − down) / (up + flat + down)`, in the heat score.
pub const HEAT_BREADTH_WEIGHT: i64 = 5;
/// Weight of each limit-up (and, negated, each limit-down) member.
pub const HEAT_LIMIT_WEIGHT: i64 = 2;
/// Decimals a mean (and the heat score) has beyond its inputs': the mean of
/// 2-decimal pct changes is given to 4 decimals.
pub const MEAN_EXTRA_DECIMALS: u32 = 2;

/// The heat score of an industry on one date:
///
/// ```text
/// heat = avg_pct_change
///      + 5 × (up − down) / (up + flat + down)
///      + 2 × limit_up − 2 × limit_down
/// ```
///
/// - `avg_pct_change` (percent): how far the industry moved on average;
/// - breadth, from −5 (every member with a change fell) to +5 (every one
///   rose), so a move carried by the whole industry outranks one carried
///   by a single stock;
/// - limit moves counted in stocks, not as a share: a limit-up is the
///   strongest sign of a theme being chased, and several in one industry
///   is what "hot" means on an A-share board, whatever the industry's size.
///
/// `pct` is the sum of the members' pct changes; `up + flat + down` is its
/// count, the members that have one. The score is computed exactly from
/// the exact mean (not the rounded one) and rounded once to `scale`
/// decimals, half away from zero, as the mean is (see [`super::exact`]).
/// `None` when no member has a pct change.
pub(crate) fn heat(
    pct: &Sum,
    scale: u32,
    up: u64,
    down: u64,
    limit_up: u64,
    limit_down: u64,
) -> Option<f64> {
    // Counts are bounded by the rows of one date, far below 2^62.
    let breadth = HEAT_BREADTH_WEIGHT * (up as i64 - down as i64);
    let limits = HEAT_LIMIT_WEIGHT * (limit_up as i64 - limit_down as i64);
    pct.mean_plus(scale, breadth, limits)
}

/// The columns the industry views read.
struct Cols {
    industry: usize,
    pct: usize,
    close: usize,
    up_limit: usize,
    down_limit: usize,
    name: Option<usize>,
    amount: Option<usize>,
    net_inflow: Option<usize>,
    volume_ratio: Option<usize>,
    /// Optional columns the table lacks, as `key (column)`.
    missing: Vec<String>,
}

impl Cols {
    /// Required: industry, pct_change, close, up_limit, down_limit (the heat
    /// score needs them all). Optional: name, amount, net_inflow,
    /// volume_ratio.
    fn resolve(sem: &Semantic, view: &str) -> Result<Cols, AppError> {
        let optional = [Key::Name, Key::Amount, Key::NetInflow, Key::VolumeRatio];
        Ok(Cols {
            industry: sem.require(Key::Industry, view)?,
            pct: sem.require(Key::PctChange, view)?,
            close: sem.require(Key::Close, view)?,
            up_limit: sem.require(Key::UpLimit, view)?,
            down_limit: sem.require(Key::DownLimit, view)?,
            name: sem.get(Key::Name),
            amount: sem.get(Key::Amount),
            net_inflow: sem.get(Key::NetInflow),
            volume_ratio: sem.get(Key::VolumeRatio),
            missing: optional
                .iter()
                .filter(|&&k| sem.get(k).is_none())
                .map(|&k| sem.describe(k))
                .collect(),
        })
    }
}

/// One member's pct change: as a double (for the float fallback and for
/// `Member`), exactly (see [`exact::value`]), and its row.
#[derive(Debug, Clone, Copy)]
struct Move {
    pct: f64,
    exact: Option<Dec>,
    row: u32,
}

/// Running statistics of one industry.
#[derive(Default)]
struct Acc {
    members: u64,
    /// The pct changes of the members that have one.
    moves: Vec<Move>,
    pct: Sum,
    limit_up: u64,
    limit_down: u64,
    amount: Sum,
    net_inflow: Sum,
}

impl Acc {
    fn add(&mut self, store: &Store, c: &Cols, row: usize) {
        self.members += 1;
        let cols = store.columns();
        if let Some(p) = num(store, Some(c.pct), row) {
            let exact = exact::value(&cols[c.pct], row);
            self.moves.push(Move {
                pct: p,
                exact,
                row: row as u32,
            });
            self.pct.add(p, exact);
        }
        if let Some(close) = num(store, Some(c.close), row) {
            if num(store, Some(c.up_limit), row).is_some_and(|u| close >= u) {
                self.limit_up += 1;
            }
            if num(store, Some(c.down_limit), row).is_some_and(|d| close <= d) {
                self.limit_down += 1;
            }
        }
        if let Some(a) = c.amount {
            self.amount.add_row(&cols[a], row);
        }
        if let Some(f) = c.net_inflow {
            self.net_inflow.add_row(&cols[f], row);
        }
    }

    /// The statistics, the mean and heat at `pct_scale` +
    /// [`MEAN_EXTRA_DECIMALS`] decimals; sorts `moves` by pct change
    /// descending, ties by code.
    fn finish(&mut self, store: &Store, pct_scale: u32) -> IndustryStats {
        self.moves
            .sort_unstable_by(|a, b| by_pct(store, a, b, true));
        let (mut up, mut flat, mut down) = (0, 0, 0);
        for m in &self.moves {
            match m.pct.partial_cmp(&0.0) {
                Some(Ordering::Greater) => up += 1,
                Some(Ordering::Less) => down += 1,
                _ => flat += 1,
            }
        }
        let scale = pct_scale + MEAN_EXTRA_DECIMALS;
        IndustryStats {
            members: self.members,
            avg_pct_change: self.pct.mean(scale),
            median_pct_change: exact::median(&self.moves, |m| (m.pct, m.exact)),
            up,
            flat,
            down,
            limit_up: self.limit_up,
            limit_down: self.limit_down,
            amount: self.amount.total(),
            net_inflow: self.net_inflow.total(),
            heat: heat(&self.pct, scale, up, down, self.limit_up, self.limit_down),
        }
    }
}

/// The scale of the pct changes of `date`: the most decimals any of them
/// has (see [`exact`]), over the rows with an industry. Every industry of a
/// date is given at this scale, whatever its own members happen to need.
///
/// Finding it reads every row of the date (a double's decimals are those
/// of its shortest text: 5,400 formatted numbers, half of an
/// `industry.detail`'s CPU at year scale), so it is kept per date for the
/// generation ([`Store::per_date`]), keyed by the two columns it reads.
fn pct_scale(store: &Store, c: &Cols, di: usize) -> u32 {
    let key = (c.pct as u32) << 16 | c.industry as u32;
    store.per_date(key, di, || {
        let col = &store.columns()[c.pct];
        store
            .rows_on(di)
            .filter(|&r| text_code(store, c.industry, r as usize).is_some())
            .filter_map(|r| exact::value(col, r as usize))
            .map(|d| d.scale)
            .max()
            .unwrap_or(0)
    })
}

/// Orders moves by pct (descending if `desc`), then code ascending.
fn by_pct(store: &Store, a: &Move, b: &Move, desc: bool) -> Ordering {
    // Exact values compare exactly; otherwise the doubles (no NaN here:
    // read as "no value", so partial_cmp is total; unlike total_cmp it
    // holds -0.0 equal to 0.0, as SQL does).
    let o = match (a.exact, b.exact) {
        (Some(x), Some(y)) => x.cmp_exact(y),
        _ => None,
    };
    let o = o
        .or_else(|| a.pct.partial_cmp(&b.pct))
        .unwrap_or(Ordering::Equal);
    let o = if desc { o.reverse() } else { o };
    o.then_with(|| {
        store
            .row_code(a.row as usize)
            .cmp(store.row_code(b.row as usize))
    })
}

fn member(store: &Store, c: &Cols, m: Move) -> Member {
    let row = m.row as usize;
    Member {
        code: store.row_code(row).to_string(),
        name: text(store, c.name, row).map(str::to_string),
        pct_change: shown(store, Some(c.pct), row).unwrap_or(m.pct),
        close: shown(store, Some(c.close), row),
        amount: shown(store, c.amount, row),
        volume_ratio: shown(store, c.volume_ratio, row),
    }
}

/// The industry's name for a dictionary code.
fn industry_name(store: &Store, col: usize, code: u32) -> &str {
    match &store.columns()[col].data {
        ColumnData::Text { dict, .. } => dict.get(code as usize),
        _ => "",
    }
}

/// `hotspots.ranking`: the industries of `date` (default: the latest held)
/// ranked by [`heat`] descending (as given, rounded), then by name (industries without a heat
/// last), cut to `n` (default [`HOTSPOTS_DEFAULT_N`], 1 to
/// [`HOTSPOTS_MAX_N`]). Rows with a NULL industry are in no industry.
/// Each industry carries its [`IndustryStats`] and its
/// [`HOTSPOTS_LEADERS`] leading members by pct change.
///
/// Errors: `n` of 0 (invalid params) or over the limit (limit exceeded), a
/// date not held (unknown date), a required column missing (missing
/// column: industry, pct_change, close, up_limit, down_limit).
pub fn hotspots(
    store: &Store,
    sem: &Semantic,
    date: Option<&str>,
    n: Option<u64>,
) -> Result<HotspotsRanking, AppError> {
    let n = n.unwrap_or(HOTSPOTS_DEFAULT_N);
    if n == 0 {
        return Err(AppError::new(
            ErrorKind::InvalidParams,
            "0",
            format!("n is 0; give 1 to {HOTSPOTS_MAX_N}"),
        ));
    }
    if n > HOTSPOTS_MAX_N {
        return Err(AppError::new(
            ErrorKind::LimitExceeded,
            n.to_string(),
            format!("n = {n} exceeds the limit of {HOTSPOTS_MAX_N}"),
        ));
    }
    let c = Cols::resolve(sem, "hotspots.ranking")?;
    let di = date_index(store, date)?;

    // Grouped by the industry column's dictionary code.
    let mut groups: Vec<Option<Acc>> = Vec::new();
    for r in store.rows_on(di) {
        let r = r as usize;
        let Some(code) = text_code(store, c.industry, r) else {
            continue;
        };
        let code = code as usize;
        if groups.len() <= code {
            groups.resize_with(code + 1, || None);
        }
        groups[code]
            .get_or_insert_with(Acc::default)
            .add(store, &c, r);
    }
    let scale = pct_scale(store, &c, di);
    let mut ranked: Vec<(u32, IndustryStats, Acc)> = groups
        .into_iter()
        .enumerate()
        .filter_map(|(code, acc)| {
            let mut acc = acc?;
            let stats = acc.finish(store, scale);
            Some((code as u32, stats, acc))
        })
        .collect();
    let total = ranked.len() as u64;
    ranked.sort_by(|a, b| {
        let by_heat = match (a.1.heat, b.1.heat) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_heat.then_with(|| {
            industry_name(store, c.industry, a.0).cmp(industry_name(store, c.industry, b.0))
        })
    });
    ranked.truncate(n as usize);
    let industries = ranked
        .into_iter()
        .map(|(code, stats, acc)| IndustryHeat {
            industry: industry_name(store, c.industry, code).to_string(),
            stats,
            leaders: acc
                .moves
                .iter()
                .take(HOTSPOTS_LEADERS)
                .map(|&m| member(store, &c, m))
                .collect(),
        })
        .collect();
    Ok(HotspotsRanking {
        date: date_string(store, di),
        industries,
        total_industries: total,
        missing_columns: c.missing,
    })
}

/// Distinct non-NULL values of the industry column across the store, sorted.
fn industries_held(store: &Store, col: usize) -> Vec<&str> {
    let mut seen = Vec::new();
    for r in (0..store.held_rows()).filter(|&r| store.is_held(r)) {
        if let Some(code) = text_code(store, col, r) {
            let code = code as usize;
            if seen.len() <= code {
                seen.resize(code + 1, false);
            }
            seen[code] = true;
        }
    }
    let mut names: Vec<&str> = seen
        .iter()
        .enumerate()
        .filter(|(_, &s)| s)
        .map(|(code, _)| industry_name(store, col, code as u32))
        .collect();
    names.sort_unstable();
    names
}

/// `industry.detail`: one industry on `date` (default: the latest held):
/// its [`IndustryStats`] (heat included), its top [`INDUSTRY_MOVERS`]
/// gainers (pct change > 0, highest first) and losers (pct change < 0,
/// lowest first), ties by code.
///
/// An industry held in the store but with no member on the date answers
/// `members: 0` and `null` figures. Errors: an industry not held (unknown
/// industry, listing those held), a date not held, a required column
/// missing (as [`hotspots`]).
pub fn industry_detail(
    store: &Store,
    sem: &Semantic,
    industry: &str,
    date: Option<&str>,
) -> Result<IndustryDetail, AppError> {
    check_len("industry", industry)?;
    let c = Cols::resolve(sem, "industry.detail")?;
    let di = date_index(store, date)?;
    let code = match &store.columns()[c.industry].data {
        ColumnData::Text { dict, .. } => (0..dict.len()).find(|&i| dict.get(i) == industry),
        _ => None,
    };
    let mut acc = Acc::default();
    if let Some(code) = code {
        for r in store.rows_on(di) {
            if text_code(store, c.industry, r as usize) == Some(code as u32) {
                acc.add(store, &c, r as usize);
            }
        }
    }
    if acc.members == 0 {
        // Absent from the dictionary, or only there as the placeholder of
        // NULL industries (the dictionary does not tell): check the rows.
        let held = industries_held(store, c.industry);
        if !held.contains(&industry) {
            return Err(AppError::new(
                ErrorKind::UnknownIndustry,
                industry,
                format!(
                    "unknown industry '{industry}'; industries held: {}",
                    held.join(", ")
                ),
            ));
        }
    }
    let stats = acc.finish(store, pct_scale(store, &c, di));
    let gainers = acc
        .moves
        .iter()
        .take_while(|m| m.pct > 0.0)
        .take(INDUSTRY_MOVERS)
        .map(|&m| member(store, &c, m))
        .collect();
    let mut falling: Vec<Move> = acc.moves.iter().copied().filter(|m| m.pct < 0.0).collect();
    falling.sort_unstable_by(|a, b| by_pct(store, a, b, false));
    let losers = falling
        .into_iter()
        .take(INDUSTRY_MOVERS)
        .map(|m| member(store, &c, m))
        .collect();
    Ok(IndustryDetail {
        industry: industry.to_string(),
        date: date_string(store, di),
        stats,
        gainers,
        losers,
        missing_columns: c.missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ColumnsConfig;
    use crate::store::schema::ColumnKind as K;
    use crate::views::testkit::{build, PRICE, V};
    use V::{Null, D, F, F4, N, T};

    const AMOUNT: K = K::Numeric {
        precision: Some(20),
        scale: Some(2),
    };

    fn cols() -> Vec<(&'static str, K)> {
        vec![
            ("stock_code", K::Text),
            ("date", K::Date),
            ("stock_name", K::Text),
            ("industry", K::Text),
            ("close", PRICE),
            ("pct_chg", K::Float4),
            ("up_limit", PRICE),
            ("down_limit", PRICE),
            ("amount", AMOUNT),
            ("main_net_inflow", K::Float8),
            ("volume_ratio", K::Float4),
        ]
    }

    /// (code, date, name, industry, close, pct, up, down, amount, inflow, vr)
    #[allow(clippy::type_complexity)]
    fn rows() -> Vec<Vec<V<'static>>> {
        let d3 = D("2024-01-03");
        let r = |code, date, name, ind, close, pct, up, down, amount, inflow, vr| {
            vec![
                T(code),
                date,
                name,
                ind,
                close,
                pct,
                up,
                down,
                amount,
                inflow,
                vr,
            ]
        };
        let bank = T("Bank");
        vec![
            // Bank: limit-up, up, limit-down, flat, no pct (no band), down.
            r(
                "A1",
                d3,
                T("Alpha"),
                bank,
                N(1100),
                F4(10.0),
                N(1100),
                N(900),
                N(100_000),
                F(5.0),
                F4(1.5),
            ),
            r(
                "A2",
                d3,
                Null,
                bank,
                N(1000),
                F4(2.5),
                N(1100),
                N(900),
                N(50_050),
                F(-1.0),
                Null,
            ),
            r(
                "A3",
                d3,
                T("Gamma"),
                bank,
                N(900),
                F4(-10.0),
                N(1100),
                N(900),
                Null,
                Null,
                Null,
            ),
            r(
                "A4",
                d3,
                T("Delta"),
                bank,
                N(1000),
                F4(0.0),
                N(1100),
                N(900),
                Null,
                Null,
                Null,
            ),
            r(
                "A5",
                d3,
                T("Eps"),
                bank,
                N(1000),
                Null,
                Null,
                Null,
                N(125),
                Null,
                Null,
            ),
            r(
                "A6",
                d3,
                T("Zeta"),
                bank,
                N(950),
                F4(-10.0),
                N(1100),
                N(900),
                Null,
                Null,
                Null,
            ),
            // Tech: all up, a tie on 3.0 broken by code.
            r(
                "B1",
                d3,
                T("B one"),
                T("Tech"),
                N(2000),
                F4(1.0),
                N(2200),
                N(1800),
                Null,
                Null,
                Null,
            ),
            r(
                "B3",
                d3,
                T("B three"),
                T("Tech"),
                N(2000),
                F4(3.0),
                N(2200),
                N(1800),
                Null,
                Null,
                Null,
            ),
            r(
                "B2",
                d3,
                T("B two"),
                T("Tech"),
                N(2000),
                F4(3.0),
                N(2200),
                N(1800),
                Null,
                Null,
                Null,
            ),
            // No industry: never counted.
            r(
                "C1",
                d3,
                T("C"),
                Null,
                N(100),
                F4(50.0),
                N(100),
                N(90),
                N(1),
                F(1.0),
                Null,
            ),
            // An industry with no pct change at all: no heat, ranked last.
            r(
                "E1",
                d3,
                T("E"),
                T("Flat"),
                N(100),
                Null,
                N(110),
                N(90),
                Null,
                Null,
                Null,
            ),
            // Held, but only on the earlier date.
            r(
                "D1",
                D("2024-01-02"),
                T("D"),
                T("Empty"),
                N(100),
                F4(1.0),
                N(110),
                N(90),
                Null,
                Null,
                Null,
            ),
        ]
    }

    fn fixture() -> (Store, Semantic) {
        let store = build(&cols(), &rows());
        let sem = Semantic::new(&store, &ColumnsConfig::default());
        (store, sem)
    }

    fn bank_stats() -> IndustryStats {
        IndustryStats {
            members: 6,
            avg_pct_change: Some(-1.5),
            median_pct_change: Some(0.0),
            up: 2,
            flat: 1,
            down: 2,
            limit_up: 1,
            limit_down: 1,
            amount: Some(1501.75),
            net_inflow: Some(4.0),
            heat: Some(-1.5),
        }
    }

    #[test]
    fn heat_formula() {
        let sum = |vals: &[i128]| {
            let mut s = Sum::default();
            for &m in vals {
                s.add(m as f64 / 100.0, Some(Dec { m, scale: 2 }));
            }
            s
        };
        assert_eq!(heat(&sum(&[]), 4, 0, 0, 3, 0), None);
        // avg 1, breadth 5 × (3 − 1) / 4, limits 2 × (2 − 1).
        assert_eq!(
            heat(&sum(&[100, 300, -100, 100]), 4, 3, 1, 2, 1),
            Some(1.0 + 2.5 + 4.0 - 2.0)
        );
        assert_eq!(heat(&sum(&[-200]), 4, 0, 0, 0, 0), Some(-2.0));
        // avg 0.01 + 5 × 2 / 3 = 3.343333… → 3.3433, rounded once.
        assert_eq!(heat(&sum(&[1, 1, 1]), 4, 3, 1, 0, 0), Some(3.3433));
    }

    #[test]
    fn hotspots_rank_industries_by_heat() {
        let (store, sem) = fixture();
        let h = hotspots(&store, &sem, None, None).unwrap();
        assert_eq!(h.date, "2024-01-03");
        assert_eq!(h.total_industries, 3);
        assert!(h.missing_columns.is_empty());
        let names: Vec<&str> = h.industries.iter().map(|i| i.industry.as_str()).collect();
        assert_eq!(names, ["Tech", "Bank", "Flat"]);

        let tech = &h.industries[0];
        // (1 + 3 + 3) / 3 at the date's pct scale (1: 2.5) + 2 decimals.
        let avg = 2.333;
        assert_eq!(
            tech.stats,
            IndustryStats {
                members: 3,
                avg_pct_change: Some(avg),
                median_pct_change: Some(3.0),
                up: 3,
                flat: 0,
                down: 0,
                limit_up: 0,
                limit_down: 0,
                amount: None,
                net_inflow: None,
                heat: Some(7.333),
            }
        );
        let leaders: Vec<&str> = tech.leaders.iter().map(|m| m.code.as_str()).collect();
        assert_eq!(leaders, ["B2", "B3", "B1"], "ties by code");

        let bank = &h.industries[1];
        assert_eq!(bank.stats, bank_stats());
        assert_eq!(
            bank.leaders[0],
            Member {
                code: "A1".into(),
                name: Some("Alpha".into()),
                pct_change: 10.0,
                close: Some(11.0),
                amount: Some(1000.0),
                volume_ratio: Some(1.5),
            }
        );
        let leaders: Vec<&str> = bank.leaders.iter().map(|m| m.code.as_str()).collect();
        assert_eq!(leaders, ["A1", "A2", "A4"]);
        assert_eq!(bank.leaders[1].name, None);

        let flat = &h.industries[2];
        assert_eq!((flat.stats.members, flat.stats.heat), (1, None));
        assert_eq!(flat.stats.avg_pct_change, None);
        assert!(flat.leaders.is_empty());
    }

    #[test]
    fn hotspots_n_date_and_limits() {
        let (store, sem) = fixture();
        let h = hotspots(&store, &sem, None, Some(1)).unwrap();
        assert_eq!(h.industries.len(), 1);
        assert_eq!(h.total_industries, 3);
        let h = hotspots(&store, &sem, Some("2024-01-02"), Some(100)).unwrap();
        assert_eq!(h.date, "2024-01-02");
        assert_eq!(h.industries.len(), 1);
        assert_eq!(h.industries[0].industry, "Empty");

        let e = hotspots(&store, &sem, None, Some(0)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParams);
        let e = hotspots(&store, &sem, None, Some(101)).unwrap_err();
        assert_eq!(
            (e.kind, e.value.as_str()),
            (ErrorKind::LimitExceeded, "101")
        );
        assert!(e.message.contains("100"), "{}", e.message);
        let e = hotspots(&store, &sem, Some("2024-01-04"), None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownDate);
        let e = hotspots(&store, &sem, Some("01/03/2024"), None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParams);
    }

    #[test]
    fn industry_detail_has_the_same_stats_and_movers() {
        let (store, sem) = fixture();
        let d = industry_detail(&store, &sem, "Bank", None).unwrap();
        assert_eq!(
            (d.industry.as_str(), d.date.as_str()),
            ("Bank", "2024-01-03")
        );
        assert_eq!(d.stats, bank_stats());
        let codes = |v: &[Member]| v.iter().map(|m| m.code.clone()).collect::<Vec<_>>();
        assert_eq!(codes(&d.gainers), ["A1", "A2"], "only pct > 0");
        assert_eq!(codes(&d.losers), ["A3", "A6"], "lowest first, ties by code");
        assert_eq!(d.losers[1].close, Some(9.5));

        let tech = industry_detail(&store, &sem, "Tech", Some("2024-01-03")).unwrap();
        assert_eq!(codes(&tech.gainers), ["B2", "B3", "B1"]);
        assert!(tech.losers.is_empty());
    }

    #[test]
    fn industry_detail_of_an_industry_absent_that_day_is_empty() {
        let (store, sem) = fixture();
        let d = industry_detail(&store, &sem, "Empty", None).unwrap();
        assert_eq!(d.stats.members, 0);
        assert_eq!(
            (d.stats.avg_pct_change, d.stats.heat, d.stats.amount),
            (None, None, None)
        );
        assert!(d.gainers.is_empty() && d.losers.is_empty());
        let d = industry_detail(&store, &sem, "Empty", Some("2024-01-02")).unwrap();
        assert_eq!(d.stats.members, 1);
    }

    #[test]
    fn unknown_industry_lists_those_held() {
        let (store, sem) = fixture();
        for bad in ["Nope", ""] {
            let e = industry_detail(&store, &sem, bad, None).unwrap_err();
            assert_eq!(e.kind, ErrorKind::UnknownIndustry);
            assert_eq!(e.value, bad);
            assert_eq!(
                e.message,
                format!("unknown industry '{bad}'; industries held: Bank, Empty, Flat, Tech")
            );
        }
        let long = "x".repeat(200);
        let e = industry_detail(&store, &sem, &long, None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
    }

    #[test]
    fn missing_columns_fail_only_when_required() {
        // No money-flow column: figures null, listed, still served.
        let keep: Vec<_> = cols()
            .into_iter()
            .filter(|c| c.0 != "main_net_inflow")
            .collect();
        let rows: Vec<Vec<V>> = rows()
            .into_iter()
            .map(|mut r| {
                r.remove(9);
                r
            })
            .collect();
        let store = build(&keep, &rows);
        let sem = Semantic::new(&store, &ColumnsConfig::default());
        let h = hotspots(&store, &sem, None, None).unwrap();
        assert_eq!(h.missing_columns, ["net_inflow (main_net_inflow)"]);
        assert_eq!(h.industries[1].stats.net_inflow, None);
        assert_eq!(h.industries[1].stats.amount, Some(1501.75));

        // pct_change mapped to a column the table lacks: both views refuse.
        let columns = ColumnsConfig {
            pct_change: "change_pct".into(),
            ..ColumnsConfig::default()
        };
        let sem = Semantic::new(&store, &columns);
        let e = hotspots(&store, &sem, None, None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingColumn);
        assert_eq!(
            e.message,
            "hotspots.ranking needs column 'change_pct' ([columns] pct_change), \
             which the table does not have"
        );
        let e = industry_detail(&store, &sem, "Bank", None).unwrap_err();
        assert!(e
            .message
            .starts_with("industry.detail needs column 'change_pct'"));
    }
}
