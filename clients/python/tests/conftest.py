"""Fixtures: the real daemon on a temporary socket, on its demo data and on
a PostgreSQL table, and a private PostgreSQL cluster to hold that table.

The daemon binary is ``$STOCKD_BIN``, else ``<repo>/target/debug/stockd``
(what ``cargo test --workspace`` builds). PostgreSQL: ``$STOCKD_TEST_PG`` (a
maintenance URL such as ``postgresql://postgres@127.0.0.1:5432/postgres``)
when set, else a private cluster started here (``initdb`` in a temporary
directory, its own port and socket directory, as ``postgres`` via
``runuser`` when root), stopped at the end. Nothing is skipped: a missing
binary or PostgreSQL fails the tests that need it, naming what to install.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

import stockd

REPO = Path(__file__).resolve().parents[3]
PACKAGE_SRC = Path(__file__).resolve().parents[1] / "src"
TABLE_SQL = REPO / "packaging" / "examples" / "daily_stock_data.sql"


def stockd_bin() -> Path:
    path = Path(os.environ.get("STOCKD_BIN") or REPO / "target" / "debug" / "stockd").resolve()
    if not path.exists():
        pytest.fail(
            f"the stockd binary {path} does not exist: run `cargo build -p stockd` "
            "(tests/run builds it with `cargo test --workspace`) or set STOCKD_BIN"
        )
    return path


def _clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("STOCKD_") and k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC")
    }
    env["RUST_BACKTRACE"] = "1"
    env.update(extra or {})
    return env


class Daemon:
    """A running stockd on ``<dir>/stockd.sock``, stopped by :meth:`stop`."""

    def __init__(
        self,
        database_url: Optional[str] = None,
        args: Optional[List[str]] = None,
        config: str = "",
        directory: Optional[Path] = None,
    ):
        self.dir = directory or Path(tempfile.mkdtemp(prefix="stockd-py-"))
        self.socket = str(self.dir / "stockd.sock")
        self.database_url = database_url
        self.args = list(args or [])
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "stockd.toml").write_text(config)
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self, timeout: float = 60.0) -> None:
        cmd = [str(stockd_bin()), "--socket", self.socket, "--config", str(self.dir / "stockd.toml")]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        cmd += self.args
        self.log = self.dir / "stderr.log"
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.dir,
                env=_clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        last: Optional[BaseException] = None
        with stockd.Client(self.socket, timeout=5) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"stockd exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    c.market_info()
                    return
                except stockd.StockdError as e:
                    last = e
                    time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"stockd did not answer market.info within {timeout} s ({last!r}):\n{self.tail()}")

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------- PostgreSQL


def _bindir() -> Path:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    versions = sorted(
        (int(p.name), p / "bin")
        for p in Path("/usr/lib/postgresql").glob("*")
        if p.name.isdigit() and (p / "bin" / "initdb").exists()
    )
    if not versions:
        pytest.fail(
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
            "apt-get install postgresql, or set STOCKD_TEST_PG to a maintenance URL"
        )
    return versions[-1][1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """A private cluster: initdb (trust, user postgres), own port and socket
    directory, fsync off."""

    def __init__(self) -> None:
        self.bin = _bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="stockd-py-pg-"))
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = _free_port()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\nfsync = off\nsynchronous_commit = off\n"
                "full_page_writes = off\nshared_buffers = 16MB\nmax_connections = 50\n"
            )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start")
        self.running = True

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True)
        if r.returncode != 0:
            log = ""
            try:
                log = (self.dir / "server.log").read_text(errors="replace")[-2000:]
            except OSError:
                pass
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}\n{log}")

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)


def _with_db(url: str, db: str) -> str:
    head, _, query = url.partition("?")
    scheme, _, rest = head.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{db}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def pg_url():
    """URL of a fresh database holding the demo data set in the reference
    table ``daily_stock_data`` (loaded with ``stockd --export-demo``)."""
    import psycopg

    cluster = None
    base = os.environ.get("STOCKD_TEST_PG", "").strip()
    if not base:
        cluster = PgCluster()
        base = cluster.url("postgres")
    db = f"stockd_py_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    url = _with_db(base, db)
    try:
        demo = subprocess.run(
            [str(stockd_bin()), "--export-demo"], env=_clean_env(), capture_output=True, check=True
        ).stdout
        with psycopg.connect(url) as conn:
            conn.execute(TABLE_SQL.read_text())
            with conn.cursor() as cur:
                with cur.copy("COPY daily_stock_data FROM STDIN (FORMAT binary)") as copy:
                    copy.write(demo)
            conn.execute("ANALYZE daily_stock_data")
        yield url
    finally:
        if cluster is not None:
            cluster.stop()
        else:
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.fixture(scope="session")
def demo():
    """A daemon on the embedded demo data."""
    d = Daemon()
    yield d
    d.cleanup()


@pytest.fixture(scope="session")
def pg_daemon(pg_url):
    """A daemon on the PostgreSQL table (every day held)."""
    d = Daemon(database_url=pg_url, args=["--window-days", "0"])
    yield d
    d.cleanup()


@pytest.fixture(params=["sync", "async"])
def mode(request):
    return request.param


class Caller:
    """Calls a client method the way ``mode`` says: on a blocking
    :class:`stockd.Client`, or on an :class:`stockd.AsyncClient` inside
    ``asyncio.run``."""

    def __init__(self, socket_path: str, mode: str, **options):
        self.socket = socket_path
        self.mode = mode
        self.options = options
        self._sync = stockd.Client(socket_path, **options) if mode == "sync" else None

    def __call__(self, _method: str, /, *args, **kwargs):
        if self._sync is not None:
            return getattr(self._sync, _method)(*args, **kwargs)

        async def go():
            async with stockd.AsyncClient(self.socket, **self.options) as c:
                return await getattr(c, _method)(*args, **kwargs)

        return asyncio.run(go())

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()


@pytest.fixture
def call(demo, mode):
    c = Caller(demo.socket, mode)
    yield c
    c.close()


@pytest.fixture
def call_float(demo, mode):
    c = Caller(demo.socket, mode, numbers="float")
    yield c
    c.close()


def as_user(uid: int, gid: int) -> List[str]:
    """The command prefix that runs a program as ``uid``/``gid`` with no
    supplementary groups."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]


def python_for(uid: int, gid: int) -> str:
    """A Python interpreter that ``uid`` may run (the venv's may live under
    /root, which others cannot enter)."""
    for exe in ("/usr/bin/python3", sys.executable):
        r = subprocess.run([*as_user(uid, gid), exe, "-c", "pass"], capture_output=True)
        if r.returncode == 0:
            return exe
    pytest.fail(f"no Python interpreter that uid {uid} may run (tried /usr/bin/python3 and {sys.executable})")
