"""The connection pool: timeouts, errors before an answer, idle
connections the daemon closed, and a daemon restart under a live client."""

import asyncio
import os
import shutil
import socket
import tempfile
import threading
import time

import pytest

import stockd
from conftest import Daemon


def test_missing_socket_names_path_and_cause(mode, tmp_path):
    path = str(tmp_path / "nobody-here.sock")
    from conftest import Caller

    c = Caller(path, mode)
    with pytest.raises(stockd.ConnectError) as info:
        c("market_info")
    assert path in str(info.value) and "does not exist" in str(info.value)
    assert info.value.socket == path and isinstance(info.value, ConnectionError)
    c.close()


def test_stale_socket_file(mode, tmp_path):
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    from conftest import Caller

    c = Caller(path, mode)
    with pytest.raises(stockd.ConnectError, match="nobody listens on it"):
        c("market_info")
    c.close()


def test_timeout(mode):
    """A server that accepts and never answers: the call gives up after
    the client's timeout with Timeout (a TimeoutError)."""
    d = tempfile.mkdtemp(prefix="stockd-py-mute-")
    path = os.path.join(d, "mute.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except socket.timeout:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        from conftest import Caller

        c = Caller(path, mode, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(stockd.Timeout) as info:
            c("market_info")
        assert 0.4 < time.monotonic() - started < 5
        assert isinstance(info.value, TimeoutError) and path in str(info.value)
        c.close()
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        server.close()
        shutil.rmtree(d, ignore_errors=True)


def test_not_http(mode):
    """Something that is not stockd on the socket: ProtocolError."""
    d = tempfile.mkdtemp(prefix="stockd-py-junk-")
    path = os.path.join(d, "junk.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)

    def serve():
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    from conftest import Caller

    c = Caller(path, mode, timeout=5)
    with pytest.raises(stockd.ProtocolError):
        c("market_info")
    c.close()
    t.join(5)
    server.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def short_keepalive():
    """A daemon that closes idle keep-alive connections after 1 s."""
    d = Daemon(config='[server]\nclient_timeout = "1s"\n')
    yield d
    d.cleanup()


def test_idle_connection_closed_by_the_daemon_is_replaced(short_keepalive):
    with stockd.Client(short_keepalive.socket) as c:
        c.get("600519", fields=["close"])
        time.sleep(1.6)
        assert c.get("600519", fields=["close"])["code"] == "600519"

    async def go():
        async with stockd.AsyncClient(short_keepalive.socket) as c:
            await c.get("600519", fields=["close"])
            await asyncio.sleep(1.6)
            return await c.get("600519", fields=["close"])

    assert asyncio.run(go())["code"] == "600519"


def test_reconnects_after_a_daemon_restart():
    d = Daemon()
    try:
        sync = stockd.Client(d.socket)
        before = sync.market_info()["generation"]

        async def scenario():
            async with stockd.AsyncClient(d.socket) as c:
                await c.get("600519")
                await asyncio.get_running_loop().run_in_executor(None, restart)
                return await c.get("600519")

        def restart():
            d.stop()
            # While it is down: a clear ConnectError, not a hang.
            with pytest.raises(stockd.ConnectError):
                sync.market_info()
            d.start()

        assert asyncio.run(scenario())["code"] == "600519"
        # The blocking client's pooled connection died with the old process.
        assert sync.market_info()["generation"] >= 1 and before >= 1
        d.stop()
        d.start()
        assert sync.get("600519")["code"] == "600519"
        sync.close()
    finally:
        d.cleanup()


def test_async_client_survives_a_new_event_loop(demo):
    c = stockd.AsyncClient(demo.socket)
    assert asyncio.run(c.get("600519"))["code"] == "600519"
    # A second asyncio.run is another loop: the pool starts over.
    assert asyncio.run(c.get("000001"))["code"] == "000001"
    asyncio.run(c.close())


def test_closed_client_refuses(demo):
    c = stockd.Client(demo.socket)
    c.close()
    with pytest.raises(stockd.ConnectError, match="closed"):
        c.market_info()
