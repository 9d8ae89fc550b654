"""Every data and admin method, through the blocking and the asyncio client
(the ``mode`` fixture runs each test once per client), against the real
daemon on its demo data."""

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

import stockd

MOUTAI = "600519"


def test_market_info(call):
    info = call("market_info")
    assert info["source"]["kind"] == "demo"
    assert isinstance(info["dates"]["first"], dt.date) and isinstance(info["dates"]["last"], dt.date)
    assert info["dates"]["first"] < info["dates"]["last"]
    assert info["rows"] > 100_000 and info["stocks"] >= 3_000
    assert isinstance(info["loaded_at"], dt.datetime) and info["loaded_at"].tzinfo is not None
    names = [c["name"] for c in info["columns"]]
    assert "close" in names and "pct_chg" in names and len(names) == 83


def test_market_dates(call):
    dates = call("market_dates")
    info = call("market_info")
    assert len(dates) == info["dates"]["count"]
    assert all(isinstance(d, dt.date) for d in dates)
    assert dates == sorted(dates) and dates[-1] == info["dates"]["last"]


def test_stock_list(call):
    page = call("stock_list", name="茅台")
    assert [s["code"] for s in page["stocks"]] == [MOUTAI]
    assert page["stocks"][0]["name"] == "贵州茅台"
    assert isinstance(page["stocks"][0]["date"], dt.date)
    page = call("stock_list", prefix="60", limit=5)
    assert len(page["stocks"]) == 5 and page["next_offset"] == 5 and page["total"] > 5
    df = call("stock_list", industry="银行", as_frame=True)
    assert "000001" in df.index and set(df["industry"]) == {"银行"}
    assert df.attrs["total"] == len(df)


def test_get_decimal_date_and_timestamp(call):
    row = call("get", MOUTAI)
    assert row["code"] == MOUTAI and isinstance(row["date"], dt.date)
    v = row["values"]
    assert v["stock_code"] == MOUTAI and v["stock_name"] == "贵州茅台"
    # numeric(10,2): exact, with its scale kept.
    assert isinstance(v["close"], Decimal) and v["close"].as_tuple().exponent == -2
    assert v["date"] == row["date"]
    assert isinstance(v["created_at"], dt.datetime) and v["created_at"].utcoffset() == dt.timedelta(0)
    # Asking by date (a datetime.date or text) gives the same row.
    again = call("get", MOUTAI, date=row["date"], fields=["close", "pct_chg"])
    assert set(again["values"]) == {"close", "pct_chg"}
    assert again["values"]["close"] == v["close"]
    assert call("get", MOUTAI, date=row["date"].isoformat(), fields="close")["values"] == {"close": v["close"]}


def test_floats_on_request(call_float):
    v = call_float("get", MOUTAI, fields=["close", "pct_chg", "volume"])["values"]
    assert type(v["close"]) is float and type(v["pct_chg"]) is float
    assert isinstance(v["volume"], int)


def test_many(call):
    got = call("many", [MOUTAI, "000001", "999999"], fields=["stock_name", "close"])
    assert [r["code"] for r in got["rows"]] == [MOUTAI, "000001"]
    assert got["missing"] == ["999999"]
    assert isinstance(got["rows"][0]["values"]["close"], Decimal)
    assert isinstance(got["rows"][0]["date"], dt.date)
    df = call("many", [MOUTAI, "000001", "999999"], as_frame=True)
    assert list(df.index) == [MOUTAI, "000001"] and df.attrs["missing"] == ["999999"]
    assert df.loc[MOUTAI, "close"] == got["rows"][0]["values"]["close"]
    assert df.shape[1] == 83


def test_history(call):
    dates = call("market_dates")
    h = call("history", MOUTAI)
    assert h["code"] == MOUTAI and h["dates"] == dates
    assert all(isinstance(x, Decimal) for x in h["columns"]["close"])
    part = call("history", MOUTAI, from_=dates[2], to=dates[5], fields=["close"])
    assert part["dates"] == dates[2:6] and list(part["columns"]) == ["close"]
    assert part["columns"]["close"] == h["columns"]["close"][2:6]
    df = call("history", MOUTAI, as_frame=True)
    assert len(df) == len(dates) and isinstance(df.index, pd.DatetimeIndex)
    assert [d.date() for d in df.index] == dates
    assert list(df["close"]) == h["columns"]["close"]


def test_top(call):
    rows = call("top", "pct_chg", n=5, fields=["stock_name", "pct_chg"])
    assert len(rows) == 5
    pct = [r["values"]["pct_chg"] for r in rows]
    assert pct == sorted(pct, reverse=True)
    asc = call("top", "pct_chg", n=5, order="asc", industry="银行")
    assert [r["values"]["pct_chg"] for r in asc] == sorted(r["values"]["pct_chg"] for r in asc)
    assert {r["values"]["industry"] for r in asc} == {"银行"}
    df = call("top", "pct_chg", n=500, as_frame=True)
    assert df.shape == (500, 83) and df.index.name == "code"
    assert list(df["pct_chg"])[:5] == pct


def test_top_frame_dtypes(call_float):
    df = call_float("top", "pct_chg", n=50, as_frame=True)
    assert df["close"].dtype == "float64"
    assert str(df["date"].dtype).startswith("datetime64")
    assert str(df["created_at"].dtype).startswith("datetime64") and "UTC" in str(df["created_at"].dtype)
    assert df["volume"].dtype.kind in "iu" or str(df["volume"].dtype) == "Int64"
    row = call_float("get", df.index[0])["values"]
    assert df["close"].iloc[0] == row["close"]


def test_hotspots(call):
    r = call("hotspots", n=3)
    assert isinstance(r["date"], dt.date) and len(r["industries"]) == 3
    heats = [i["heat"] for i in r["industries"]]
    assert heats == sorted(heats, reverse=True)
    assert isinstance(heats[0], Decimal)
    df = call("hotspots", n=3, as_frame=True)
    assert list(df.index) == [i["industry"] for i in r["industries"]]
    assert df.attrs["date"] == r["date"] and df.attrs["total_industries"] == r["total_industries"]


def test_industry(call):
    r = call("industry", "银行")
    assert r["industry"] == "银行" and r["members"] > 0 and isinstance(r["date"], dt.date)
    df = call("industry", "银行", as_frame=True)
    assert len(df) == len(r["gainers"]) + len(r["losers"])
    assert set(df["side"]) <= {"gainer", "loser"} and df.attrs["members"] == r["members"]


def test_signals(call):
    r = call("signals", MOUTAI)
    assert r["code"] == MOUTAI and isinstance(r["date"], dt.date)
    assert len(r["checked"]) + len(r["skipped"]) == 12
    df = call("signals", MOUTAI, as_frame=True)
    assert len(df) == len(r["signals"]) and df.attrs["checked"] == r["checked"]


def test_discover(call):
    doc = call("discover")
    assert doc["openrpc"].startswith("1.")
    assert "stock.get" in {m["name"] for m in doc["methods"]}


def test_admin_methods(call):
    status = call("status")
    assert status["store"]["loaded"] is True
    names = {c["name"] for c in status["caches"]}
    assert "query" in names
    call("top", "pct_chg", n=3)
    dropped = call("cache_clear", "query")
    assert [d["name"] for d in dropped["dropped"]] == ["query"]
    assert {d["name"] for d in call("cache_clear")["dropped"]} == names
    resized = call("cache_resize", "query", "4MiB")
    assert resized["max_bytes"] == 4 << 20
    assert call("cache_resize", "query", 16 << 20)["max_bytes"] == 16 << 20
    trimmed = call("memory_trim")
    assert trimmed["rss_before"] > 0 and trimmed["rss_after"] > 0
    reloaded = call("store_reload")
    assert reloaded["rows"] == call("market_info")["rows"]


def test_raw_call(call):
    assert call("call", "market.dates") == [d.isoformat() for d in call("market_dates")]


def test_async_concurrency_shares_a_small_pool(demo):
    import asyncio

    async def go():
        async with stockd.AsyncClient(demo.socket, pool_size=4) as c:
            results = await asyncio.gather(*(c.get(code) for code in [MOUTAI, "000001", "300750"] * 8))
            assert len(c._transport._idle) <= 4
            return results

    results = asyncio.run(go())
    assert [r["code"] for r in results[:3]] == [MOUTAI, "000001", "300750"]


def test_sync_client_reuses_one_connection(demo):
    with stockd.Client(demo.socket) as c:
        for _ in range(5):
            c.get(MOUTAI, fields=["close"])
        assert len(c._transport._idle) == 1
        first = c._transport._idle[0]
        c.get(MOUTAI, fields=["close"])
        assert c._transport._idle == [first]


def test_sync_client_from_threads(demo):
    from concurrent.futures import ThreadPoolExecutor

    with stockd.Client(demo.socket, pool_size=3) as c:
        with ThreadPoolExecutor(8) as pool:
            closes = list(pool.map(lambda code: c.get(code, fields=["close"])["values"]["close"], [MOUTAI] * 40))
        assert len(set(closes)) == 1
        assert len(c._transport._idle) <= 3


def test_default_socket(monkeypatch, tmp_path):
    for var in ("STOCKD_SOCKET", "RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    packaged = "/run/stockd/stockd.sock"
    import os

    fallback = packaged if os.path.exists(packaged) else "./stockd.sock"
    assert stockd.default_socket() == fallback
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    if fallback == "./stockd.sock":
        assert stockd.default_socket() == "/run/user/1000/stockd.sock"
    monkeypatch.setenv("RUNTIME_DIRECTORY", "/run/a:/run/b")
    assert stockd.default_socket() == "/run/a/stockd.sock"
    monkeypatch.setenv("STOCKD_SOCKET", str(tmp_path / "s.sock"))
    assert stockd.default_socket() == str(tmp_path / "s.sock")
    assert stockd.Client().socket == str(tmp_path / "s.sock")


def test_bad_arguments_are_refused_locally():
    with pytest.raises(ValueError, match="numbers must be one of decimal, float; got 'double'"):
        stockd.Client("/nonexistent.sock", numbers="double")
    with stockd.Client("/nonexistent.sock") as c:
        with pytest.raises(TypeError, match="not the datetime"):
            c.get(MOUTAI, date=dt.datetime(2024, 1, 2))
        with pytest.raises(TypeError, match="fields must be strings; got 3"):
            c.get(MOUTAI, fields=["close", 3])


def test_float_answers_are_the_same_with_and_without_orjson(demo):
    """numbers="float" parses with orjson when installed (the test extra
    installs it), else with json: both give the same values."""
    from stockd import client as C

    assert C._orjson is not None, "the test extra installs orjson: both parsers are tested"
    with stockd.Client(demo.socket, numbers="float") as fast, stockd.Client(demo.socket, numbers="float") as plain:
        plain._fast = False
        a = fast.top("pct_chg", n=500, as_frame=True)
        b = plain.top("pct_chg", n=500, as_frame=True)
        pd.testing.assert_frame_equal(a, b)
        assert fast.get(MOUTAI) == plain.get(MOUTAI)
        assert fast.hotspots() == plain.hotspots()


def test_big_integers_in_float_mode():
    """An unconstrained numeric may hold an integer beyond 64 bits: with
    numbers="float" it is a float (whichever parser), with "decimal" exact."""
    big = b'{"jsonrpc":"2.0","id":1,"result":{"v":123456789012345678901234567890,"f":1.5}}'
    with stockd.Client("/nonexistent.sock", numbers="float") as c:
        got = c._decode(200, "application/json", big)
        assert float(got["v"]) == 1.2345678901234568e29 and got["f"] == 1.5
    with stockd.Client("/nonexistent.sock") as c:
        assert c._decode(200, "application/json", big) == {"v": 123456789012345678901234567890, "f": Decimal("1.5")}


def test_frames_hold_the_same_values_as_rows(call_float):
    """Every cell of a top frame equals the value the row form gives:
    dates, aware timestamps, floats (float32 for real), ints, text, NULLs."""
    import math

    import numpy as np

    df = call_float("top", "pct_chg", n=200, as_frame=True)
    rows = call_float("top", "pct_chg", n=200)
    assert list(df.index) == [r["code"] for r in rows]
    for r in rows:
        got = df.loc[r["code"]]
        for column, want in r["values"].items():
            cell = got[column]
            if want is None or (isinstance(want, float) and math.isnan(want)):
                assert pd.isna(cell), (r["code"], column, cell)
            elif isinstance(want, dt.datetime):
                assert cell.to_pydatetime() == want, (column, cell, want)
            elif isinstance(want, dt.date):
                assert cell.date() == want, (column, cell, want)
            elif df[column].dtype == np.float32:
                assert cell == np.float32(want), (column, cell, want)
            else:
                assert cell == want, (column, cell, want)
