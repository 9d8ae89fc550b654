//! Column descriptions: what the catalog said about each column of the source
//! table, reduced to the handful of physical kinds the store knows how to hold.

use std::fmt;

/// PostgreSQL type OIDs the store supports (from `pg_type.h`).
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
}

/// The physical kind of a column. Text, varchar and char all become `Text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(p,s)`: `precision` digits, `scale` of them after the point.
    /// `None` for unconstrained `numeric` (or a negative scale), which is
    /// held as exact decimal text.
    Numeric {
        precision: Option<u16>,
        scale: Option<u16>,
    },
    Bool,
    Date,
    Timestamp,
    TimestampTz,
    Text,
}

impl ColumnKind {
    /// Maps a type OID and its `atttypmod` to a kind; `None` = unsupported.
    pub fn from_pg(type_oid: u32, typmod: i32) -> Option<ColumnKind> {
        Some(match type_oid {
            oid::BOOL => ColumnKind::Bool,
            oid::INT2 => ColumnKind::Int2,
            oid::INT4 => ColumnKind::Int4,
            oid::INT8 => ColumnKind::Int8,
            oid::FLOAT4 => ColumnKind::Float4,
            oid::FLOAT8 => ColumnKind::Float8,
            oid::TEXT | oid::VARCHAR | oid::BPCHAR => ColumnKind::Text,
            oid::DATE => ColumnKind::Date,
            oid::TIMESTAMP => ColumnKind::Timestamp,
            oid::TIMESTAMPTZ => ColumnKind::TimestampTz,
            oid::NUMERIC => numeric_from_typmod(typmod),
            _ => return None,
        })
    }

    /// True for the kinds `stock.top` can rank by.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ColumnKind::Int2
                | ColumnKind::Int4
                | ColumnKind::Int8
                | ColumnKind::Float4
                | ColumnKind::Float8
                | ColumnKind::Numeric { .. }
        )
    }

    /// The type OID a binary COPY of this kind carries.
    pub fn pg_oid(self) -> u32 {
        match self {
            ColumnKind::Int2 => oid::INT2,
            ColumnKind::Int4 => oid::INT4,
            ColumnKind::Int8 => oid::INT8,
            ColumnKind::Float4 => oid::FLOAT4,
            ColumnKind::Float8 => oid::FLOAT8,
            ColumnKind::Numeric { .. } => oid::NUMERIC,
            ColumnKind::Bool => oid::BOOL,
            ColumnKind::Date => oid::DATE,
            ColumnKind::Timestamp => oid::TIMESTAMP,
            ColumnKind::TimestampTz => oid::TIMESTAMPTZ,
            ColumnKind::Text => oid::TEXT,
        }
    }
}

/// Decodes `numeric`'s typmod: `((precision << 16) | (scale & 0x7ff)) + 4`,
/// with the scale an 11-bit signed number since PostgreSQL 15.
fn numeric_from_typmod(typmod: i32) -> ColumnKind {
    if typmod < 4 {
        return ColumnKind::Numeric {
            precision: None,
            scale: None,
        };
    }
    let t = typmod - 4;
    let precision = ((t >> 16) & 0xffff) as u16;
    let scale = (((t & 0x7ff) ^ 1024) - 1024) as i16;
    if scale < 0 {
        // numeric(p, -s) rounds to tens/hundreds; rare enough to hold as text.
        return ColumnKind::Numeric {
            precision: None,
            scale: None,
        };
    }
    ColumnKind::Numeric {
        precision: Some(precision),
        scale: Some(scale as u16),
    }
}

impl fmt::Display for ColumnKind {
    /// The SQL spelling shown in `market.info` (`numeric(10,2)`, `real`, …).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnKind::Int2 => f.write_str("smallint"),
            ColumnKind::Int4 => f.write_str("integer"),
            ColumnKind::Int8 => f.write_str("bigint"),
            ColumnKind::Float4 => f.write_str("real"),
            ColumnKind::Float8 => f.write_str("double precision"),
            ColumnKind::Numeric {
                precision: Some(p),
                scale: Some(s),
            } => write!(f, "numeric({p},{s})"),
            ColumnKind::Numeric { .. } => f.write_str("numeric"),
            ColumnKind::Bool => f.write_str("boolean"),
            ColumnKind::Date => f.write_str("date"),
            ColumnKind::Timestamp => f.write_str("timestamp"),
            ColumnKind::TimestampTz => f.write_str("timestamptz"),
            ColumnKind::Text => f.write_str("text"),
        }
    }
}

/// One column of the source table as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub kind: ColumnKind,
    pub nullable: bool,
    /// The catalog's own spelling (`character varying(10)`), for display.
    pub pg_type: String,
}

impl ColumnSpec {
    pub fn new(name: &str, kind: ColumnKind, nullable: bool) -> ColumnSpec {
        ColumnSpec {
            name: name.to_string(),
            kind,
            nullable,
            pg_type: kind.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_typmod_decodes_precision_and_scale() {
        // numeric(10,2) has typmod (10 << 16 | 2) + 4.
        let k = ColumnKind::from_pg(oid::NUMERIC, (10 << 16 | 2) + 4);
        assert_eq!(
            k,
            Some(ColumnKind::Numeric {
                precision: Some(10),
                scale: Some(2)
            })
        );
        let unconstrained = ColumnKind::from_pg(oid::NUMERIC, -1);
        assert_eq!(
            unconstrained,
            Some(ColumnKind::Numeric {
                precision: None,
                scale: None
            })
        );
        assert_eq!(ColumnKind::from_pg(114 /* json */, -1), None);
    }
}
