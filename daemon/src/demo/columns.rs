//! The 83 columns of the reference layout
//! (`packaging/examples/daily_stock_data.sql`), in table order, as the catalog
//! describes them. The row encoder writes fields in exactly this order (and
//! checks it in debug builds).

use crate::store::schema::{ColumnKind, ColumnSpec};

const N10_2: ColumnKind = ColumnKind::Numeric {
    precision: Some(10),
    scale: Some(2),
};
const N20_2: ColumnKind = ColumnKind::Numeric {
    precision: Some(20),
    scale: Some(2),
};

/// (name, kind, NOT NULL, `format_type()` spelling).
pub(crate) type Column = (&'static str, ColumnKind, bool, &'static str);

use ColumnKind::{Bool, Date, Float4 as F4, Float8 as F8, Int2, Int4, Int8, Text, TimestampTz};

const fn f8(name: &'static str) -> Column {
    (name, F8, false, "double precision")
}
const fn f4(name: &'static str) -> Column {
    (name, F4, false, "real")
}
const fn price(name: &'static str) -> Column {
    (name, N10_2, false, "numeric(10,2)")
}

#[rustfmt::skip]
pub(crate) const COLUMNS: [Column; 83] = [
    ("id", Int8, true, "bigint"),
    ("stock_code", Text, true, "character varying(10)"),
    ("stock_name", Text, false, "character varying(16)"),
    ("date", Date, true, "date"),
    ("industry", Text, false, "character varying(32)"),
    price("open"), price("high"), price("low"), price("close"), price("pre_close"),
    price("change_amt"),
    f4("pct_chg"), f4("amplitude"),
    price("up_limit"), price("down_limit"),
    ("volume", Int8, false, "bigint"),
    ("amount", N20_2, false, "numeric(20,2)"),
    f4("turnover_rate"), f4("turnover_rate_f"), f4("volume_ratio"),
    ("limit_status", Int2, false, "smallint"),
    f8("pe"), f8("pe_ttm"), f8("pb"), f8("ps"), f8("ps_ttm"), f8("dv_ratio"), f8("dv_ttm"),
    f8("total_share"), f8("float_share"), f8("total_mv"), f8("circ_mv"),
    f8("ma5"), f8("ma10"), f8("ma20"), f8("ma30"), f8("ma60"), f8("ma120"), f8("ma250"),
    f8("vol_ma5"), f8("vol_ma10"), f8("vol_ma20"),
    f8("macd_dif"), f8("macd_dea"), f8("macd_hist"),
    f8("kdj_k"), f8("kdj_d"), f8("kdj_j"),
    f8("rsi6"), f8("rsi12"), f8("rsi24"),
    f8("boll_upper"), f8("boll_mid"), f8("boll_lower"),
    f8("atr14"), f8("cci14"), f8("wr14"), f8("obv"),
    f8("bias6"), f8("bias12"), f8("bias24"),
    f8("roc12"), f8("mtm12"), f8("psy12"), f8("trix"),
    f8("net_mf_amount"), f8("buy_lg_amount"), f8("sell_lg_amount"),
    f8("buy_elg_amount"), f8("sell_elg_amount"), f8("main_net_inflow"),
    ("rank", Int4, false, "integer"),
    f4("heat_score"), f4("momentum_score"), f4("value_score"), f4("quality_score"),
    f4("composite_score"),
    ("is_st", Bool, true, "boolean"),
    ("is_new", Bool, true, "boolean"),
    ("consecutive_up_days", Int2, false, "smallint"),
    ("consecutive_limit_up", Int2, false, "smallint"),
    ("created_at", TimestampTz, true, "timestamp with time zone"),
    ("updated_at", TimestampTz, true, "timestamp with time zone"),
];

/// The columns as [`ColumnSpec`]s, with `pg_type` as PostgreSQL's
/// `format_type()` spells it (what catalog discovery reports).
pub(crate) fn specs() -> Vec<ColumnSpec> {
    COLUMNS
        .iter()
        .map(|&(name, kind, not_null, pg_type)| ColumnSpec {
            pg_type: pg_type.to_string(),
            ..ColumnSpec::new(name, kind, !not_null)
        })
        .collect()
}

/// `"id", "stock_code", …` for the COPY column list.
pub(crate) fn quoted_list() -> String {
    COLUMNS
        .iter()
        .map(|c| format!("\"{}\"", c.0))
        .collect::<Vec<_>>()
        .join(", ")
}
