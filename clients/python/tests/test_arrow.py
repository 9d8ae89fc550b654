"""Arrow answers (``Accept: application/vnd.apache.arrow.stream``): the
frames ``as_frame=True`` builds from them equal the JSON frames (dtypes
and values, both number modes, both clients); ``Client.table`` returns the
exact Arrow types; the views' member tables equal their JSON lists; errors
raise as for JSON calls."""

import asyncio
import math
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

import stockd

MOUTAI = "600519"


def both(demo, mode, numbers, method, *args, **kwargs):
    """(Arrow frame, JSON frame) of one call."""

    def run(arrow):
        if mode == "sync":
            with stockd.Client(demo.socket, numbers=numbers, arrow=arrow) as c:
                return getattr(c, method)(*args, as_frame=True, **kwargs)

        async def go():
            async with stockd.AsyncClient(demo.socket, numbers=numbers, arrow=arrow) as c:
                return await getattr(c, method)(*args, as_frame=True, **kwargs)

        return asyncio.run(go())

    return run(True), run(False)


def same_frames(a, j):
    pd.testing.assert_frame_equal(a, j, check_exact=True)
    assert a.attrs == j.attrs


@pytest.mark.parametrize("numbers", ["float", "decimal"])
def test_top_frames_equal(demo, mode, numbers):
    a, j = both(demo, mode, numbers, "top", "pct_chg", n=500)
    assert a.shape == (500, 83)
    same_frames(a, j)
    a, j = both(demo, mode, numbers, "top", "amount", n=9, order="asc", industry="银行", fields=["amount", "stock_name", "is_st"])
    same_frames(a, j)


@pytest.mark.parametrize("numbers", ["float", "decimal"])
def test_many_frames_equal(demo, mode, numbers):
    with stockd.Client(demo.socket) as c:
        codes = [s["code"] for s in c.stock_list(limit=60)["stocks"]]
        first = c.market_dates()[0]
    a, j = both(demo, mode, numbers, "many", codes + ["NOPE"])
    same_frames(a, j)
    assert a.attrs["missing"] == ["NOPE"]
    a, j = both(demo, mode, numbers, "many", codes[:5], date=first, fields=["close", "pe", "created_at"])
    same_frames(a, j)


@pytest.mark.parametrize("numbers", ["float", "decimal"])
def test_history_frames_equal(demo, mode, numbers):
    a, j = both(demo, mode, numbers, "history", MOUTAI)
    same_frames(a, j)
    assert a.attrs["code"] == MOUTAI and len(a) > 20
    a, j = both(demo, mode, numbers, "history", MOUTAI, fields=["close", "pct_chg", "volume"])
    same_frames(a, j)


def test_table_has_the_exact_types(demo):
    with stockd.Client(demo.socket) as c:
        t = c.table("stock.top", by="pct_chg", n=50)
        row = c.get(t.column("code")[0].as_py())
    s = t.schema
    assert s.metadata[b"stockd.key_columns"] == b"code,_date"  # the table has a date column
    assert s.field("close").type == pa.decimal128(10, 2)
    assert s.field("amount").type == pa.decimal128(20, 2)
    assert s.field("pct_chg").type == pa.float32()
    assert s.field("pe").type == pa.float64()
    assert s.field("volume").type == pa.int64() and s.field("limit_status").type == pa.int16()
    assert s.field("rank").type == pa.int32() and s.field("is_st").type == pa.bool_()
    assert s.field("date").type == pa.date32() and s.field("_date").type == pa.date32()
    assert s.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert pa.types.is_dictionary(s.field("industry").type)
    assert s.field("close").metadata[b"stockd.pg_type"] == b"numeric(10,2)"
    # Exact: the Decimal the JSON row gives, digit for digit.
    first = t.slice(0, 1).to_pylist()[0]
    assert first["close"] == row["values"]["close"] and str(first["close"]) == str(row["values"]["close"])
    assert Decimal(repr(first["pe"])) == row["values"]["pe"] if first["pe"] is not None else True


def view_members(method, result):
    if method == "hotspots.ranking":
        return [
            (ind["industry"], i + 1, m)
            for ind in result["industries"]
            for i, m in enumerate(ind["leaders"])
        ]
    return [
        (side[:-1], i + 1, m)
        for side in ("gainers", "losers")
        for i, m in enumerate(result[side])
    ]


@pytest.mark.parametrize("method", ["hotspots.ranking", "industry.detail"])
def test_view_member_tables_equal_the_json_lists(demo, method):
    with stockd.Client(demo.socket, numbers="float") as c:
        params = {"n": 6} if method == "hotspots.ranking" else {"industry": c.hotspots(n=1)["industries"][0]["industry"]}
        result = c.call(method, **params)
        t = c.table(method, **params)
    members = view_members(method, result)
    assert members and t.num_rows == len(members)
    group = "industry" if method == "hotspots.ranking" else "side"
    assert t.column_names == [group, "rank", "code", "date", "name", "pct_change", "close", "amount", "volume_ratio"]
    rows = t.to_pylist()
    for row, (g, rank, m) in zip(rows, members):
        assert (row[group], row["rank"], row["code"]) == (g, rank, m["code"])
        assert row["date"].isoformat() == result["date"]
        for key in ("name", "pct_change", "close", "amount", "volume_ratio"):
            got, want = row[key], m[key]
            if want is None:
                assert got is None, (key, got)
            elif t.schema.field(key).type == pa.float32():
                # The JSON writes a real in its shortest float4 form.
                import numpy as np

                assert float(str(np.float32(got))) == want, (key, got, want)
            elif isinstance(got, Decimal):
                assert float(got) == want, (key, got, want)
            else:
                assert got == want, (key, got, want)


def test_arrow_errors_raise_as_json_errors(demo):
    with stockd.Client(demo.socket) as c:
        with pytest.raises(stockd.UnknownStock):
            c.history("NOPE", as_frame=True)
        with pytest.raises(stockd.UnknownColumn):
            c.top("pct_chg", fields=["nope"], as_frame=True)
        with pytest.raises(stockd.StockdError) as e:
            c._arrow("market.info", {}, None)
        assert "market.info" in str(e.value) and "stock.top" in str(e.value)
        with pytest.raises(ValueError):
            c.table("market.info")
        # The daemon is still there.
        assert c.market_info()["rows"] > 0


def test_nan_in_a_float_column_is_bit_exact(demo):
    """float columns keep NaN and the exact bits; the frame holds NaN where
    the JSON one does."""
    with stockd.Client(demo.socket, numbers="float") as c:
        t = c.table("stock.top", by="pct_chg", n=500, fields=["pe", "pct_chg"])
        j = c.top("pct_chg", n=500, fields=["pe", "pct_chg"])
    for row, jr in zip(t.to_pylist(), j):
        want = jr["values"]["pe"]
        got = row["pe"]
        if want is None:
            assert got is None
        elif isinstance(want, float) and math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want
