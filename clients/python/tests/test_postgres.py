"""Against PostgreSQL: the daemon serving a real table, every value the
client decodes equal to what psycopg reads from the same rows: numeric as
the same Decimal (digits and scale), real and double bit for bit, dates,
timestamps and NULLs."""

import asyncio
import struct
from decimal import Decimal

import psycopg
import pytest

import stockd


@pytest.fixture(scope="module")
def sample(pg_url):
    """60 rows picked at random (seeded), and the column types."""
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SELECT setseed(0.17)")
        keys = conn.execute(
            "SELECT stock_code, date FROM daily_stock_data ORDER BY random() LIMIT 60"
        ).fetchall()
        types = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'daily_stock_data'::regclass AND attnum > 0 AND NOT attisdropped"
            ).fetchall()
        )
        rows = {}
        for code, date in keys:
            cur = conn.execute("SELECT * FROM daily_stock_data WHERE stock_code = %s AND date = %s", (code, date))
            names = [d.name for d in cur.description]
            rows[(code, date)] = dict(zip(names, cur.fetchone()))
    return rows, types


def f32(x):
    return struct.pack("<f", x)


def f64(x):
    return struct.pack("<d", x)


def assert_same(column, sql_type, ours, theirs):
    where = f"{column} ({sql_type}): {ours!r} vs PostgreSQL {theirs!r}"
    if theirs is None:
        assert ours is None, where
    elif sql_type.startswith("numeric"):
        assert isinstance(ours, Decimal), where
        # Same value and same digits: 12.30 stays 12.30.
        assert str(ours) == str(theirs), where
    elif sql_type == "real":
        assert f32(float(ours)) == f32(theirs), where
    elif sql_type == "double precision":
        assert f64(float(ours)) == f64(theirs), where
    else:
        assert ours == theirs and type(ours) is type(theirs), where


def test_source_is_postgres(pg_daemon):
    with stockd.Client(pg_daemon.socket) as c:
        info = c.market_info()
    assert info["source"]["kind"] == "postgres"
    assert "password" not in str(info)


def test_sampled_rows_are_exact(pg_daemon, sample, mode):
    rows, types = sample

    async def fetch_async():
        async with stockd.AsyncClient(pg_daemon.socket) as c:
            return await asyncio.gather(*(c.get(code, date=date) for code, date in rows))

    if mode == "sync":
        with stockd.Client(pg_daemon.socket) as c:
            got = [c.get(code, date=date) for code, date in rows]
    else:
        got = asyncio.run(fetch_async())
    assert len(got) == len(rows)
    nulls = 0
    for ours, ((code, date), theirs) in zip(got, rows.items()):
        assert ours["code"] == code and ours["date"] == date
        assert set(ours["values"]) == set(theirs)
        for column, value in theirs.items():
            nulls += value is None
            assert_same(column, types[column], ours["values"][column], value)
    assert nulls > 0, "the sample should hold NULLs (loss makers' pe)"


def test_frames_equal_postgres(pg_daemon, pg_url):
    """top(as_frame) in float mode equals PostgreSQL's ranking read with
    read_sql-style float coercion, row for row."""
    with stockd.Client(pg_daemon.socket, numbers="float") as c:
        df = c.top("pct_chg", n=100, as_frame=True)
        last = c.market_info()["dates"]["last"]
    with psycopg.connect(pg_url) as conn:
        ranked = conn.execute(
            "SELECT stock_code, close, pct_chg FROM daily_stock_data WHERE date = %s AND pct_chg IS NOT NULL "
            "AND pct_chg <> 'NaN' ORDER BY pct_chg DESC, stock_code LIMIT 100",
            (last,),
        ).fetchall()
    assert list(df.index) == [r[0] for r in ranked]
    assert list(df["close"]) == [float(r[1]) for r in ranked]
    pct = [f32(x) for x in df["pct_chg"]] if df["pct_chg"].dtype == "float32" else None
    if pct is not None:
        assert pct == [f32(r[2]) for r in ranked]


def test_decimal_history_equals_postgres(pg_daemon, pg_url):
    with stockd.Client(pg_daemon.socket) as c:
        h = c.history("600519", fields=["close", "amount"])
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT date, close, amount FROM daily_stock_data WHERE stock_code = '600519' ORDER BY date"
        ).fetchall()
    assert h["dates"] == [r[0] for r in rows]
    assert [str(x) for x in h["columns"]["close"]] == [str(r[1]) for r in rows]
    assert [str(x) for x in h["columns"]["amount"]] == [str(r[2]) for r in rows]
