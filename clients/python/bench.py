#!/usr/bin/env python3
"""stockd vs PostgreSQL vs Redis vs DuckDB, from Python, end to end (call →
DataFrame ready, or one row as a dict), side by side in one run.

    pip install -e 'clients/python[bench]'
    cargo build --release -p stockd
    python clients/python/bench.py --scales seed            # seed: the demo data set

Operations:

- ``top500``: ``top(by="pct_chg", n=500)`` of the last date, all columns,
  as a DataFrame.
- ``history``: one stock's whole window, all columns, as a DataFrame.
- ``get``: one stock's latest row, all columns, as a dict.

Targets, on the same rows (one table in PostgreSQL, database
``stockd_pybench``, which stockd serves too):

- ``stockd-arrow``: :class:`stockd.Client` / :class:`stockd.AsyncClient`
  with ``arrow=True``: the frame is built from the daemon's Arrow answer
  (``Accept: application/vnd.apache.arrow.stream``), ``numbers="float"``
  (numeric as float64, what ``read_sql`` and DuckDB give). Frames only.
- ``stockd-json``: the same clients with ``arrow=False``, over JSON
  (``layout: "columns"``), ``numbers="float"`` for frames and the default
  exact Decimals for ``get`` (what psycopg gives).
- ``postgres``: psycopg 3, ``pandas.read_sql`` (blocking) or an
  ``AsyncConnection`` per task and ``DataFrame.from_records(...,
  coerce_float=True)`` (asyncio), on the indexed table.
- ``redis``: redis-py, one hash per row (``HGETALL``, pipelined), a sorted
  set per date for the ranking, strings converted to the columns' dtypes.
  Keys under ``pyb:`` in ``--redis-db`` (9); ``get`` returns the raw dict
  of strings (no conversion: Redis' best case).
- ``duckdb``: the same rows and types in an in-memory DuckDB in this
  process (loaded from a CSV export of the table), ``.df()``; asyncio
  tasks run it in threads with a cursor each.

Each is measured for ``--duration`` seconds with one client and with
``--tasks`` (8) concurrent asyncio tasks (one event loop; the blocking
clients in threads). Printed: ms per operation (mean latency), operations
per second, and how many times faster stockd is (its ops/s over theirs:
stockd-arrow's for the frames, stockd-json's for ``get``).
The load average is printed before and after: run it on a quiet machine.

Scales: ``seed`` is the demo data set (3,600 stocks × 30 days, from
``stockd --export-demo``); ``year`` is 5,400 stocks × 244 trading days
built from it in SQL (the seed's days repeated, 1,800 stocks copied under
new codes), about 1.3 M rows; at ``year`` Redis holds only the rows the
operations read (the last date's and the sampled stocks' histories).
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE / "src"))

import stockd  # noqa: E402

DB = "stockd_pybench"
OPS = ["top500", "history", "get"]
TARGETS = ["stockd-arrow", "stockd-json", "postgres", "redis", "duckdb"]
#: The operations each target has (stockd's get is one row as a dict: no
#: Arrow answer, so stockd-arrow has no get).
TARGET_OPS = {"stockd-arrow": ["top500", "history"]}


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ setup


def with_db(url: str, db: str) -> str:
    head, _, query = url.partition("?")
    scheme, _, rest = head.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/{db}" + (f"?{query}" if query else "")


def check_local(url: str) -> None:
    import psycopg.conninfo

    host = psycopg.conninfo.conninfo_to_dict(url).get("host") or ""
    if host not in ("", "127.0.0.1", "localhost", "::1") and not host.startswith("/"):
        raise SystemExit(f"--pg-url host {host!r}: only a local PostgreSQL is benchmarked")


def prepare_pg(base: str, scale: str, stockd_bin: Path, regenerate: bool) -> Tuple[str, str]:
    """The benchmark database's URL and the table of ``scale`` (made if
    missing)."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone():
            admin.execute(f'CREATE DATABASE "{DB}"')
    url = with_db(base, DB)
    table = f"pybench_{scale}"
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
        if exists and not regenerate:
            return url, table
        t0 = time.monotonic()
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        ddl = (REPO / "packaging" / "examples" / "daily_stock_data.sql").read_text()
        if scale == "seed":
            conn.execute(ddl.replace("daily_stock_data", table))
            env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKD_")}
            demo = subprocess.run([str(stockd_bin), "--export-demo"], env=env, capture_output=True, check=True).stdout
            with conn.cursor() as cur:
                with cur.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                    copy.write(demo)
        elif scale == "year":
            seed_url, seed = prepare_pg(base, "seed", stockd_bin, False)
            conn.execute(ddl.replace("daily_stock_data", table))
            cols = [
                r[0]
                for r in conn.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                    "AND NOT attisdropped ORDER BY attnum",
                    (seed,),
                ).fetchall()
            ]
            # 244 weekdays ending on the seed's last date; day i takes the
            # seed's day (i mod 30). 3,600 stocks plus 1,800 copies under
            # codes 'Y' || code.
            sel = []
            for c in cols:
                if c == "id":
                    continue
                elif c == "date":
                    sel.append("d.day AS date")
                elif c == "stock_code":
                    sel.append("CASE WHEN k.copy THEN 'Y' || s.stock_code ELSE s.stock_code END AS stock_code")
                else:
                    sel.append(f"s.{c}")
            conn.execute(
                f"""
                INSERT INTO {table} ({', '.join(c for c in cols if c != 'id')})
                WITH seed_days AS (
                    SELECT date, row_number() OVER (ORDER BY date) - 1 AS i FROM (SELECT DISTINCT date FROM {seed}) x),
                last AS (SELECT max(date) AS d FROM {seed}),
                weekdays AS (
                    SELECT g::date AS day FROM last, generate_series(last.d - 400, last.d, interval '1 day') g
                    WHERE extract(isodow FROM g) < 6 ORDER BY g DESC LIMIT 244),
                days AS (SELECT day, (row_number() OVER (ORDER BY day) - 1) % 30 AS i FROM weekdays),
                codes AS (SELECT stock_code, row_number() OVER (ORDER BY stock_code) AS n
                          FROM (SELECT DISTINCT stock_code FROM {seed}) c),
                k AS (SELECT stock_code, false AS copy FROM codes
                      UNION ALL SELECT stock_code, true FROM codes WHERE n <= 1800)
                SELECT {', '.join(sel)}
                FROM days d JOIN seed_days sd ON sd.i = d.i
                JOIN {seed} s ON s.date = sd.date JOIN k ON k.stock_code = s.stock_code
                ORDER BY 1
                """
            )
            del seed_url
        else:
            raise SystemExit(f"unknown scale {scale!r} (seed, year)")
        conn.execute(f"CREATE INDEX ON {table} (date, pct_chg DESC)")
        conn.execute(f"VACUUM ANALYZE {table}")
        n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        log(f"  {table}: {n} rows made in {time.monotonic() - t0:.0f} s")
    return url, table


class Daemon:
    def __init__(self, binary: Path, url: str, table: str):
        self.dir = Path(tempfile.mkdtemp(prefix="stockd-pybench-"))
        self.socket = str(self.dir / "stockd.sock")
        (self.dir / "stockd.toml").write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKD_")}
        self.proc = subprocess.Popen(
            [str(binary), "--socket", self.socket, "--config", str(self.dir / "stockd.toml"),
             "--database-url", url, "--table", table, "--window-days", "0", "--log", "warn"],
            cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
            stdout=open(self.dir / "log", "wb"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 600
        with stockd.Client(self.socket, timeout=5) as c:
            while True:
                if self.proc.poll() is not None:
                    raise SystemExit(f"stockd exited: {(self.dir / 'log').read_text()[-2000:]}")
                try:
                    c.market_info()
                    break
                except stockd.StockdError:
                    if time.monotonic() > deadline:
                        raise SystemExit("stockd did not load the table within 600 s")
                    time.sleep(0.2)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def column_types(url: str, table: str) -> List[Tuple[str, str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (table,),
        ).fetchall()


def duck_type(pg: str) -> str:
    if pg.startswith("numeric"):
        return pg.replace("numeric", "DECIMAL")
    return {
        "real": "REAL",
        "double precision": "DOUBLE",
        "smallint": "SMALLINT",
        "integer": "INTEGER",
        "bigint": "BIGINT",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp with time zone": "TIMESTAMPTZ",
        "timestamp without time zone": "TIMESTAMP",
    }.get(pg, "VARCHAR")


def prepare_duckdb(url: str, table: str, types: List[Tuple[str, str]]):
    """An in-memory DuckDB holding the table with the same types."""
    import duckdb
    import psycopg

    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="stockd-pybench-duck-"))
    path = tmp / "t.csv"
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        with conn.cursor() as cur, open(path, "wb") as f:
            with cur.copy(f"COPY {table} TO STDOUT (FORMAT csv, HEADER)") as copy:
                for chunk in copy:
                    f.write(chunk)
    con = duckdb.connect(":memory:")
    con.execute(f"CREATE TABLE t ({', '.join(f'{n} {duck_type(ty)}' for n, ty in types)})")
    cols = "{" + ", ".join(f"'{n}': '{duck_type(ty)}'" for n, ty in types) + "}"
    con.execute(f"INSERT INTO t SELECT * FROM read_csv('{path}', header = true, columns = {cols})")
    con.execute("CREATE INDEX t_code ON t (stock_code)")
    shutil.rmtree(tmp, ignore_errors=True)
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    log(f"  duckdb: {n} rows loaded in {time.monotonic() - t0:.0f} s")
    return con


def prepare_redis(args, url: str, table: str, scale: str, last: str, history_codes: List[str], get_codes: List[str]):
    """Hashes ``pyb:<scale>:<code>:<date>`` (NULL columns left out) and the
    ranking ``pyb:<scale>:top:<date>``. Only ``pyb:`` keys are written or
    deleted, in ``--redis-db``."""
    import psycopg
    import redis

    host, _, port = args.redis.rpartition(":")
    r = redis.Redis(host=host, port=int(port), db=args.redis_db, decode_responses=True)
    prefix = f"pyb:{scale}:"
    marker = f"{prefix}loaded"
    want = f"{url}|{table}|{last}|{','.join(history_codes)}"
    if r.get(marker) == want and not args.regenerate:
        return
    t0 = time.monotonic()
    for batch in _chunks(list(r.scan_iter(match=prefix + "*", count=10_000)), 10_000):
        r.delete(*batch)
    where = ""
    params: Tuple[Any, ...] = ()
    if scale != "seed":
        where = "WHERE date = %s OR stock_code = ANY(%s)"
        params = (last, list(set(history_codes) | set(get_codes)))
    n = 0
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        with conn.cursor(name="redis_load") as cur:
            cur.itersize = 2000
            cur.execute(f"SELECT * FROM {table} {where}", params)
            names = None
            pipe = r.pipeline(transaction=False)
            for row in cur:
                if names is None:
                    names = [d.name for d in cur.description]
                rec = {k: _text(v) for k, v in zip(names, row) if v is not None}
                key = f"{prefix}{rec['stock_code']}:{rec['date']}"
                pipe.hset(key, mapping=rec)
                if rec["date"] == last and rec.get("pct_chg") not in (None, "NaN"):
                    pipe.zadd(f"{prefix}top:{last}", {rec["stock_code"]: float(rec["pct_chg"])})
                n += 1
                if n % 1000 == 0:
                    pipe.execute()
            pipe.execute()
    r.set(marker, want)
    log(f"  redis: {n} rows loaded in {time.monotonic() - t0:.0f} s")


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "t" if v else "f"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _chunks(xs: List[Any], n: int):
    for i in range(0, len(xs), n):
        yield xs[i : i + n]


# ------------------------------------------------------------- operations


class Targets:
    """One function per (target, op, mode) that does one operation."""

    def __init__(self, args, url: str, table: str, socket: str, types, duck, scale: str, last: str, dates: List[str]):
        self.args, self.url, self.table, self.socket = args, url, table, socket
        self.types, self.duck, self.scale, self.last, self.dates = types, duck, scale, last, dates
        self.names = [n for n, _ in types]
        numeric = ("numeric", "real", "double precision", "smallint", "integer", "bigint")
        self.redis_dtypes = {}
        for n, t in types:
            if t.startswith(numeric):
                self.redis_dtypes[n] = "float32" if t == "real" else "float64"
        self.redis_dates = [n for n, t in types if t == "date"]
        self.redis_ts = [n for n, t in types if t.startswith("timestamp")]
        self.top_sql = (
            f"SELECT * FROM {table} WHERE date = %s AND pct_chg IS NOT NULL AND pct_chg <> 'NaN' "
            "ORDER BY pct_chg DESC, stock_code LIMIT 500"
        )
        self.history_sql = f"SELECT * FROM {table} WHERE stock_code = %s ORDER BY date"
        self.get_sql = f"SELECT * FROM {table} WHERE stock_code = %s ORDER BY date DESC LIMIT 1"
        self.duck_top = self.top_sql.replace("%s", "?").replace(table, "t")
        self.duck_history = self.history_sql.replace("%s", "?").replace(table, "t")
        # DuckDB's index serves an equality lookup, not ORDER BY ... LIMIT 1:
        # give it the date (its best case).
        self.duck_get = "SELECT * FROM t WHERE stock_code = ? AND date = ?"

    # --- Redis rows to a typed frame
    def redis_frame(self, records: List[Dict[str, str]]):
        import pandas as pd

        df = pd.DataFrame.from_records(records, columns=self.names)
        df = df.astype({k: v for k, v in self.redis_dtypes.items()})
        for c in self.redis_dates:
            df[c] = pd.to_datetime(df[c], format="%Y-%m-%d")
        for c in self.redis_ts:
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
        return df

    # --- blocking
    def sync_ops(self, target: str) -> Tuple[Dict[str, Callable[[str], Any]], Callable[[], None]]:
        import pandas as pd

        if target.startswith("stockd"):
            arrow = target == "stockd-arrow"
            frames = stockd.Client(self.socket, numbers="float", arrow=arrow)
            exact = stockd.Client(self.socket, arrow=False)
            ops = {
                "top500": lambda code: frames.top("pct_chg", n=500, date=self.last, as_frame=True),
                "history": lambda code: frames.history(code, as_frame=True),
                "get": lambda code: exact.get(code),
            }
            return ops, lambda: (frames.close(), exact.close())
        if target == "postgres":
            import psycopg
            from psycopg.rows import dict_row

            conn = psycopg.connect(self.url)
            conn.execute("SET TimeZone = 'UTC'")
            dconn = psycopg.connect(self.url, row_factory=dict_row)
            warnings.filterwarnings("ignore", message=".*SQLAlchemy.*")
            ops = {
                "top500": lambda code: pd.read_sql(self.top_sql, conn, params=(self.last,)),
                "history": lambda code: pd.read_sql(self.history_sql, conn, params=(code,)),
                "get": lambda code: dconn.execute(self.get_sql, (code,)).fetchone(),
            }
            return ops, lambda: (conn.close(), dconn.close())
        if target == "redis":
            import redis

            host, _, port = self.args.redis.rpartition(":")
            r = redis.Redis(host=host, port=int(port), db=self.args.redis_db, decode_responses=True)
            p = f"pyb:{self.scale}:"

            def top(code):
                codes = r.zrevrange(f"{p}top:{self.last}", 0, 499)
                pipe = r.pipeline(transaction=False)
                for c in codes:
                    pipe.hgetall(f"{p}{c}:{self.last}")
                return self.redis_frame(pipe.execute())

            def history(code):
                pipe = r.pipeline(transaction=False)
                for d in self.dates:
                    pipe.hgetall(f"{p}{code}:{d}")
                return self.redis_frame([x for x in pipe.execute() if x])

            ops = {"top500": top, "history": history, "get": lambda code: r.hgetall(f"{p}{code}:{self.last}")}
            return ops, r.close
        if target == "duckdb":
            cur = self.duck.cursor()
            ops = {
                "top500": lambda code: cur.execute(self.duck_top, [self.last]).df(),
                "history": lambda code: cur.execute(self.duck_history, [code]).df(),
                "get": lambda code: _duck_dict(cur.execute(self.duck_get, [code, self.last])),
            }
            return ops, cur.close
        raise ValueError(target)

    # --- asyncio: a factory of per-task operation functions
    async def async_ops(self, target: str, tasks: int):
        import pandas as pd

        if target.startswith("stockd"):
            arrow = target == "stockd-arrow"
            frames = stockd.AsyncClient(self.socket, numbers="float", pool_size=tasks, arrow=arrow)
            exact = stockd.AsyncClient(self.socket, pool_size=tasks, arrow=False)
            ops = {
                "top500": lambda code: frames.top("pct_chg", n=500, date=self.last, as_frame=True),
                "history": lambda code: frames.history(code, as_frame=True),
                "get": lambda code: exact.get(code),
            }

            async def close():
                await frames.close()
                await exact.close()

            return [ops] * tasks, close
        if target == "postgres":
            import psycopg
            from psycopg.rows import dict_row

            conns = [await psycopg.AsyncConnection.connect(self.url) for _ in range(tasks)]
            for c in conns:
                await c.execute("SET TimeZone = 'UTC'")

            def per(conn):
                async def frame(sql, params):
                    cur = await conn.execute(sql, params)
                    rows = await cur.fetchall()
                    return pd.DataFrame.from_records(rows, columns=[d.name for d in cur.description], coerce_float=True)

                async def get(code):
                    cur = conn.cursor(row_factory=dict_row)
                    await cur.execute(self.get_sql, (code,))
                    return await cur.fetchone()

                return {
                    "top500": lambda code: frame(self.top_sql, (self.last,)),
                    "history": lambda code: frame(self.history_sql, (code,)),
                    "get": get,
                }

            async def close():
                for c in conns:
                    await c.close()

            return [per(c) for c in conns], close
        if target == "redis":
            import redis.asyncio as aredis

            host, _, port = self.args.redis.rpartition(":")
            r = aredis.Redis(host=host, port=int(port), db=self.args.redis_db, decode_responses=True,
                             max_connections=tasks)
            p = f"pyb:{self.scale}:"

            async def top(code):
                codes = await r.zrevrange(f"{p}top:{self.last}", 0, 499)
                pipe = r.pipeline(transaction=False)
                for c in codes:
                    pipe.hgetall(f"{p}{c}:{self.last}")
                return self.redis_frame(await pipe.execute())

            async def history(code):
                pipe = r.pipeline(transaction=False)
                for d in self.dates:
                    pipe.hgetall(f"{p}{code}:{d}")
                return self.redis_frame([x for x in await pipe.execute() if x])

            async def get(code):
                return await r.hgetall(f"{p}{code}:{self.last}")

            async def close():
                await r.aclose()

            return [{"top500": top, "history": history, "get": get}] * tasks, close
        if target == "duckdb":
            pool = ThreadPoolExecutor(tasks)
            local = threading.local()

            def cursor():
                if not hasattr(local, "cur"):
                    local.cur = self.duck.cursor()
                return local.cur

            def run(fn, *a):
                return asyncio.get_running_loop().run_in_executor(pool, fn, *a)

            ops = {
                "top500": lambda code: run(lambda: cursor().execute(self.duck_top, [self.last]).df()),
                "history": lambda code: run(lambda: cursor().execute(self.duck_history, [code]).df()),
                "get": lambda code: run(lambda: _duck_dict(cursor().execute(self.duck_get, [code, self.last]))),
            }

            async def close():
                pool.shutdown()

            return [ops] * tasks, close
        raise ValueError(target)


def _duck_dict(cur) -> Dict[str, Any]:
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row))


# ------------------------------------------------------------ measurement


def measure_sync(fn: Callable[[str], Any], codes: List[str], warmup: float, duration: float) -> Tuple[int, float]:
    rng = random.Random(1)
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        fn(rng.choice(codes))
    n = 0
    start = time.perf_counter()
    end = start + duration
    while True:
        fn(rng.choice(codes))
        n += 1
        now = time.perf_counter()
        if now >= end:
            return n, now - start


async def measure_async(fns: List[Callable[[str], Any]], codes: List[str], warmup: float, duration: float) -> Tuple[int, float, float]:
    """(operations, seconds, mean latency in s) with one task per function."""

    async def worker(fn, seed, until, lat):
        rng = random.Random(seed)
        n = 0
        while time.perf_counter() < until:
            t = time.perf_counter()
            await fn(rng.choice(codes))
            lat.append(time.perf_counter() - t)
            n += 1
        return n

    until = time.perf_counter() + warmup
    await asyncio.gather(*(worker(f, i, until, []) for i, f in enumerate(fns)))
    lat: List[float] = []
    start = time.perf_counter()
    counts = await asyncio.gather(*(worker(f, i, start + duration, lat) for i, f in enumerate(fns)))
    took = time.perf_counter() - start
    return sum(counts), took, (sum(lat) / len(lat) if lat else 0.0)


def run_scale(args, scale: str, binary: Path) -> List[Dict[str, Any]]:
    log(f"[{scale}] preparing")
    url, table = prepare_pg(args.pg_url, scale, binary, args.regenerate)
    d = Daemon(binary, url, table)
    results: List[Dict[str, Any]] = []
    try:
        with stockd.Client(d.socket) as c:
            info = c.market_info()
            dates = [x.isoformat() for x in c.market_dates()]
            codes_all = [s["code"] for s in c.stock_list(limit=1000)["stocks"]]
            # A fixed sample of stocks that trade on every date.
            rng = random.Random(7)
            sample = []
            for code in rng.sample(codes_all, min(200, len(codes_all))):
                if len(c.history(code, fields=["close"])["dates"]) == len(dates):
                    sample.append(code)
                if len(sample) == 50:
                    break
        last = dates[-1]
        log(f"  stockd: {info['rows']} rows, {len(dates)} dates, RSS {d.rss_mib():.0f} MiB")
        types = column_types(url, table)
        duck = prepare_duckdb(url, table, types) if "duckdb" in args.targets else None
        if "redis" in args.targets:
            prepare_redis(args, url, table, scale, last, sample, sample)
        tg = Targets(args, url, table, d.socket, types, duck, scale, last, dates)
        for op in args.ops:
            for target in args.targets:
                if op not in TARGET_OPS.get(target, OPS):
                    continue
                ops, close = tg.sync_ops(target)
                try:
                    n, took = measure_sync(ops[op], sample, args.warmup, args.duration)
                finally:
                    close()
                results.append(dict(scale=scale, op=op, target=target, clients=1, ops=n, seconds=took,
                                    ms=1000 * took / n, ops_per_s=n / took))
                log(f"  {op:8} {target:9} 1 client : {1000 * took / n:8.2f} ms/op")

                async def conc():
                    fns, aclose = await tg.async_ops(target, args.tasks)
                    try:
                        return await measure_async([f[op] for f in fns], sample, args.warmup, args.duration)
                    finally:
                        await aclose()

                n, took, mean = asyncio.run(conc())
                results.append(dict(scale=scale, op=op, target=target, clients=args.tasks, ops=n, seconds=took,
                                    ms=1000 * mean, ops_per_s=n / took))
                log(f"  {op:8} {target:9} {args.tasks} tasks  : {1000 * mean:8.2f} ms/op, {n / took:8.0f} ops/s")
        results.append(dict(scale=scale, rows=info["rows"], stockd_rss_mib=d.rss_mib()))
    finally:
        d.stop()
    return results


def table(results: List[Dict[str, Any]]) -> str:
    lines = []
    for scale in dict.fromkeys(r["scale"] for r in results):
        meta = next((r for r in results if r["scale"] == scale and "rows" in r), {})
        lines.append(f"\nscale {scale}: {meta.get('rows', '?')} rows; stockd RSS {meta.get('stockd_rss_mib', 0):.0f} MiB")
        lines.append("| op | clients | target | ms/op | ops/s | stockd × faster |")
        lines.append("|---|---:|---|---:|---:|---:|")
        rows = [r for r in results if r["scale"] == scale and "op" in r]
        for op in dict.fromkeys(r["op"] for r in rows):
            for clients in dict.fromkeys(r["clients"] for r in rows):
                group = [r for r in rows if r["op"] == op and r["clients"] == clients]
                ref = next((r for r in group if r["target"] == "stockd-arrow"), None) or next(
                    (r for r in group if r["target"] == "stockd-json"), None
                )
                for r in group:
                    ratio = f"{ref['ops_per_s'] / r['ops_per_s']:.2f}" if ref else "–"
                    lines.append(f"| {op} | {clients} | {r['target']} | {r['ms']:.2f} | {r['ops_per_s']:.0f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="seed", help="comma-separated: seed, year [seed]")
    ap.add_argument("--ops", default=",".join(OPS), help=f"comma-separated: {', '.join(OPS)}")
    ap.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated: {', '.join(TARGETS)}")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds measured per cell [3]")
    ap.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up per cell [0.5]")
    ap.add_argument("--tasks", type=int, default=8, help="concurrent asyncio tasks [8]")
    ap.add_argument("--stockd", help="stockd binary [<repo>/target/release/stockd]")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help=f"local PostgreSQL; database {DB} is made there")
    ap.add_argument("--redis", default="127.0.0.1:6379", help="local Redis host:port")
    ap.add_argument("--redis-db", type=int, default=9, help="Redis database; only pyb: keys are touched [9]")
    ap.add_argument("--regenerate", action="store_true", help="rebuild the tables and Redis keys")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    args.ops = [o for o in args.ops.split(",") if o]
    args.targets = [t for t in args.targets.split(",") if t]
    for o in args.ops:
        if o not in OPS:
            ap.error(f"--ops: unknown operation {o!r}; known: {', '.join(OPS)}")
    for t in args.targets:
        if t not in TARGETS:
            ap.error(f"--targets: unknown target {t!r}; known: {', '.join(TARGETS)}")
    if not any(t.startswith("stockd") for t in args.targets):
        ap.error("--targets must include stockd-arrow or stockd-json (the ratios are against them)")
    host = args.redis.rpartition(":")[0]
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        ap.error(f"--redis {args.redis!r}: only a local Redis is benchmarked")
    if not 0 <= args.redis_db <= 15:
        ap.error(f"--redis-db must be 0..15, not {args.redis_db}")
    if not (0 < args.duration <= 600) or args.tasks < 1:
        ap.error("--duration must be in (0, 600] and --tasks at least 1")
    check_local(args.pg_url)
    binary = Path(args.stockd) if args.stockd else REPO / "target" / "release" / "stockd"
    if not binary.exists():
        ap.error(f"{binary} does not exist: cargo build --release -p stockd (or --stockd PATH)")
    if "release" not in str(binary):
        log(f"warning: {binary} may not be a release build; stockd's figures would not be representative")
    import duckdb
    import pandas
    import psycopg
    import pyarrow
    import redis

    versions = (f"python {sys.version.split()[0]}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, "
                f"psycopg {psycopg.__version__}, redis-py {redis.__version__}, duckdb {duckdb.__version__}")
    load_before = os.getloadavg()
    results: List[Dict[str, Any]] = []
    for scale in [s for s in args.scales.split(",") if s]:
        results += run_scale(args, scale, binary)
    load_after = os.getloadavg()
    print(f"bench.py --scales {args.scales} --duration {args.duration:g} --tasks {args.tasks}; {versions}")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; {os.cpu_count()} CPUs")
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(versions=versions, load=[load_before, load_after], results=results), indent=1))


if __name__ == "__main__":
    main()
