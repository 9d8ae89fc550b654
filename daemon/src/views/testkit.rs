//! Small hand-built stores for the view tests: rows of typed values,
//! encoded in PostgreSQL's binary format and pushed through
//! [`StoreBuilder`] exactly as a COPY load would.

use crate::store::schema::{ColumnKind, ColumnSpec};
use crate::store::{time, LoadInfo, Provenance, Store, StoreBuilder};

/// One field value.
#[derive(Debug, Clone, Copy)]
pub enum V<'a> {
    Null,
    /// Text.
    T(&'a str),
    /// A `YYYY-MM-DD` date.
    D(&'a str),
    /// double precision.
    F(f64),
    /// real.
    F4(f32),
    /// smallint.
    I2(i16),
    /// numeric: the mantissa at the column's scale (e.g. 1050 = 10.50 at
    /// scale 2).
    N(i64),
}

/// `numeric(10,2)`, as the reference layout's prices.
pub const PRICE: ColumnKind = ColumnKind::Numeric {
    precision: Some(10),
    scale: Some(2),
};

/// PostgreSQL's binary `numeric` of `mantissa × 10^-scale` (canonical form).
pub fn numeric_bytes(mantissa: i64, scale: u16) -> Vec<u8> {
    let pad = (4 - scale % 4) % 4;
    let frac_groups = ((scale + pad) / 4) as i32;
    let mut v = mantissa.unsigned_abs() as u128 * 10u128.pow(pad as u32);
    let mut groups = Vec::new(); // least significant first
    while v > 0 {
        groups.push((v % 10_000) as u16);
        v /= 10_000;
    }
    while groups.len() < frac_groups as usize {
        groups.push(0);
    }
    groups.reverse(); // most significant first
    let mut weight = groups.len() as i32 - frac_groups - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + 2 * groups.len());
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&(if mantissa < 0 { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&scale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    out
}

fn encode(kind: ColumnKind, v: V<'_>) -> Option<Vec<u8>> {
    Some(match (kind, v) {
        (_, V::Null) => return None,
        (ColumnKind::Text, V::T(s)) => s.as_bytes().to_vec(),
        (ColumnKind::Date, V::D(s)) => time::parse_date(s)
            .unwrap_or_else(|| panic!("bad test date {s}"))
            .to_be_bytes()
            .to_vec(),
        (ColumnKind::Float8, V::F(x)) => x.to_be_bytes().to_vec(),
        (ColumnKind::Float4, V::F4(x)) => x.to_be_bytes().to_vec(),
        (ColumnKind::Int2, V::I2(x)) => x.to_be_bytes().to_vec(),
        (ColumnKind::Numeric { scale, .. }, V::N(m)) => numeric_bytes(m, scale.unwrap_or(0)),
        (k, v) => panic!("test value {v:?} does not fit a {k:?} column"),
    })
}

/// A store of `cols` (the first two must be the text code and date keys)
/// holding `rows`.
pub fn build(cols: &[(&str, ColumnKind)], rows: &[Vec<V<'_>>]) -> Store {
    let specs: Vec<ColumnSpec> = cols
        .iter()
        .map(|&(name, kind)| ColumnSpec::new(name, kind, true))
        .collect();
    let mut b = StoreBuilder::new(specs, cols[0].0, cols[1].0, rows.len()).expect("key columns");
    for row in rows {
        assert_eq!(row.len(), cols.len(), "row {row:?}");
        let fields: Vec<Option<Vec<u8>>> = cols
            .iter()
            .zip(row)
            .map(|(&(_, kind), &v)| encode(kind, v))
            .collect();
        b.push_row(fields.iter().map(|f| f.as_deref()))
            .expect("row decodes");
    }
    b.finish(LoadInfo {
        generation: 1,
        loaded_at: std::time::SystemTime::UNIX_EPOCH,
        load_ms: 0,
        provenance: Provenance {
            kind: "demo",
            detail: "views test".into(),
            window_days: 0,
            skipped: vec![],
        },
        read: crate::store::Read::FULL,
    })
}

#[test]
fn numerics_decode_to_their_values() {
    use crate::store::json::value_f64;
    let cases = [
        0i64,
        1,
        -1,
        1050,
        -1050,
        999_999,
        100_000_000,
        12_345_678_901,
    ];
    let store = build(
        &[
            ("c", ColumnKind::Text),
            ("d", ColumnKind::Date),
            ("n", PRICE),
        ],
        &cases
            .iter()
            .enumerate()
            .map(|(i, &m)| {
                vec![
                    V::T(["a", "b", "c", "d", "e", "f", "g", "h"][i]),
                    V::D("2024-01-02"),
                    V::N(m),
                ]
            })
            .collect::<Vec<_>>(),
    );
    for (i, &m) in cases.iter().enumerate() {
        assert_eq!(value_f64(&store.columns()[2], i), Some(m as f64 / 100.0));
    }
}
