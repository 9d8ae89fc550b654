"""HTTP/1.1 over the daemon's Unix socket: a small pool of keep-alive
connections for the blocking client (``http.client``) and for the asyncio
one (``asyncio.open_unix_connection``).

A pooled connection can die while it waits: the daemon closes idle
keep-alive connections after ``server.client_timeout`` (10 s) and all of
them when it restarts. Such a connection is found before use (readable with
nothing asked means the peer closed it) and, if it fails anyway before a
single byte of the answer came back, the request is sent once more on a
new connection: the daemon never saw it. A failure on a new connection is
reported, never retried.
"""

import asyncio
import errno
import http.client
import os
import select
import socket
import threading
from typing import Dict, List, Optional, Tuple

from .errors import ConnectError, ProtocolError, Timeout

#: What every request sends.
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

#: (status, content type, body)
Answer = Tuple[int, str, bytes]

#: Largest answer accepted (a year of history of every column is a few MiB).
MAX_ANSWER_BYTES = 256 << 20


def default_socket() -> str:
    """The socket the daemon listens on by default, found as ``stockctl``
    finds it: ``$STOCKD_SOCKET``, else ``$RUNTIME_DIRECTORY/stockd.sock``
    (its first entry), else ``/run/stockd/stockd.sock`` when it exists, else
    ``$XDG_RUNTIME_DIR/stockd.sock``, else ``./stockd.sock``."""
    explicit = os.environ.get("STOCKD_SOCKET", "")
    if explicit:
        return explicit

    def first_dir(name: str) -> Optional[str]:
        value = os.environ.get(name, "").split(":")[0]
        return value or None

    runtime = first_dir("RUNTIME_DIRECTORY")
    if runtime:
        return os.path.join(runtime, "stockd.sock")
    if os.path.exists("/run/stockd/stockd.sock"):
        return "/run/stockd/stockd.sock"
    xdg = first_dir("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "stockd.sock")
    return "./stockd.sock"


def connect_error(path: str, err: OSError) -> ConnectError:
    """A :class:`ConnectError` naming the socket and the likely cause."""
    if isinstance(err, FileNotFoundError):
        cause = (
            "it does not exist: stockd is not running, or it listens on another path "
            "(pass socket=... or set STOCKD_SOCKET)"
        )
    elif isinstance(err, PermissionError):
        cause = "permission denied: your user may not open the socket (ask for the daemon's group)"
    elif isinstance(err, ConnectionRefusedError):
        cause = "nobody listens on it: stockd is not running (the socket file is stale)"
    elif err.errno == errno.ENOTDIR or (os.path.exists(path) and not _is_socket(path)):
        cause = "it is not a socket: wrong path"
    else:
        cause = str(err)
    return ConnectError(f"cannot connect to stockd at {path}: {cause}", path)


def _is_socket(path: str) -> bool:
    import stat

    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


# ---------------------------------------------------------------- blocking


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: Optional[float]):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _peer_closed(sock: Optional[socket.socket]) -> bool:
    """Whether an idle connection's peer has closed it (or sent something
    unasked, which makes it unusable too)."""
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class SyncTransport:
    """At most ``pool_size`` connections at once; idle ones are kept for
    the next call. Thread-safe."""

    def __init__(self, path: str, timeout: Optional[float], pool_size: int):
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        self.path = path
        self.timeout = timeout
        self._idle: List[_UnixHTTPConnection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._closed = False

    def _checkout(self) -> Tuple[_UnixHTTPConnection, bool]:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if _peer_closed(conn.sock):
                    conn.close()
                    continue
                return conn, True
        conn = _UnixHTTPConnection(self.path, self.timeout)
        try:
            conn.connect()
        except socket.timeout:
            conn.close()
            raise Timeout(f"connecting to {self.path} took longer than {self.timeout} s") from None
        except OSError as e:
            conn.close()
            raise connect_error(self.path, e) from None
        return conn, False

    def _checkin(self, conn: _UnixHTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def post(self, body: bytes, headers: Optional[Dict[str, str]] = None) -> Answer:
        if self._closed:
            raise ConnectError("this client is closed", self.path)
        if not self._slots.acquire(timeout=self.timeout):
            raise Timeout(f"no free connection to {self.path} within {self.timeout} s")
        try:
            return self._post(body, {**_HEADERS, **(headers or {})})
        finally:
            self._slots.release()

    def _post(self, body: bytes, headers: Dict[str, str]) -> Answer:
        while True:
            conn, reused = self._checkout()
            try:
                conn.request("POST", "/", body, headers)
                resp = conn.getresponse()
                data = resp.read()
            except socket.timeout:
                conn.close()
                raise Timeout(f"stockd at {self.path} did not answer within {self.timeout} s") from None
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine) as e:
                # RemoteDisconnected: closed before any byte of the answer.
                conn.close()
                if reused and isinstance(
                    e, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                ):
                    continue
                raise ProtocolError(f"the connection to {self.path} broke: {e!r}") from None
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                raise ProtocolError(f"the connection to {self.path} broke: {e!r}") from None
            if resp.will_close:
                conn.close()
            else:
                self._checkin(conn)
            return resp.status, resp.getheader("Content-Type", ""), data

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


# ---------------------------------------------------------------- asyncio


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof())

    def abort(self) -> None:
        transport = self.writer.transport
        if transport is not None:
            try:
                transport.abort()
            except RuntimeError:
                # Its event loop is closed already: nothing left to free.
                pass


class _Closed(Exception):
    """The peer closed before the first byte of the answer."""


async def _read_answer(reader: asyncio.StreamReader) -> Tuple[int, str, bytes, bool]:
    """One HTTP/1.1 response: (status, content type, body, keep-alive)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            raise _Closed() from None
        raise ProtocolError(f"the answer's head was cut short: {e.partial[:200]!r}") from None
    except asyncio.LimitOverrunError:
        raise ProtocolError("the answer's head is too long") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP answer: {lines[0][:200]!r}")
    status = int(parts[1])
    keep_alive = parts[0] == "HTTP/1.1"
    fields: Dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    if "close" in fields.get("connection", "").lower():
        keep_alive = False
    try:
        if "chunked" in fields.get("transfer-encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # Trailers (none expected) end with an empty line.
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                total += size
                if total > MAX_ANSWER_BYTES:
                    raise ProtocolError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(chunks)
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if length > MAX_ANSWER_BYTES:
                raise ProtocolError(f"answer of {length} bytes is larger than {MAX_ANSWER_BYTES}")
            body = await reader.readexactly(length)
        else:
            body = await reader.read(MAX_ANSWER_BYTES)
            keep_alive = False
    except (asyncio.IncompleteReadError, ValueError) as e:
        raise ProtocolError(f"the answer's body was cut short or malformed: {e!r}") from None
    return status, fields.get("content-type", ""), body, keep_alive


class AsyncTransport:
    """The asyncio pool: at most ``pool_size`` requests in flight (others
    wait for a connection), idle connections kept. Bound to the event loop
    that first uses it; used from another loop it starts a new pool."""

    def __init__(self, path: str, timeout: Optional[float], pool_size: int):
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        self.path = path
        self.timeout = timeout
        self.pool_size = pool_size
        self._idle: List[_Conn] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._slots: Optional[asyncio.Semaphore] = None
        self._closed = False

    def _bind(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            # Connections of another (maybe closed) loop cannot be used here.
            for conn in self._idle:
                conn.abort()
            self._idle = []
            self._loop = loop
            self._slots = asyncio.Semaphore(self.pool_size)
        return self._slots

    async def post(self, body: bytes, headers: Optional[Dict[str, str]] = None) -> Answer:
        if self._closed:
            raise ConnectError("this client is closed", self.path)
        slots = self._bind()
        try:
            return await asyncio.wait_for(self._post(slots, body, headers), self.timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"stockd at {self.path} did not answer within {self.timeout} s") from None

    async def _connect(self) -> _Conn:
        try:
            reader, writer = await asyncio.open_unix_connection(self.path)
        except OSError as e:
            raise connect_error(self.path, e) from None
        return _Conn(reader, writer)

    async def _post(self, slots: asyncio.Semaphore, body: bytes, headers: Optional[Dict[str, str]]) -> Answer:
        all_headers = {**_HEADERS, **(headers or {})}
        head = "POST / HTTP/1.1\r\nHost: localhost\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in all_headers.items()
        )
        request = head.encode("latin-1") + b"Content-Length: %d\r\n\r\n" % len(body) + body
        async with slots:
            while True:
                reused = False
                conn = None
                while self._idle:
                    candidate = self._idle.pop()
                    if candidate.usable():
                        conn, reused = candidate, True
                        break
                    candidate.abort()
                if conn is None:
                    conn = await self._connect()
                try:
                    conn.writer.write(request)
                    await conn.writer.drain()
                    status, ctype, data, keep = await _read_answer(conn.reader)
                except (_Closed, ConnectionError) as e:
                    conn.abort()
                    if reused:
                        continue
                    raise ProtocolError(f"the connection to {self.path} broke: {e!r}") from None
                except BaseException:
                    # Cancelled (a timeout) or a bad answer: the connection is
                    # in an unknown state.
                    conn.abort()
                    raise
                if keep and not self._closed:
                    self._idle.append(conn)
                else:
                    conn.abort()
                return status, ctype, data

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        if self._loop is not asyncio.get_running_loop():
            # Connections of another loop: that loop must not be called.
            for conn in idle:
                conn.abort()
            return
        for conn in idle:
            conn.writer.close()
        for conn in idle:
            try:
                await conn.writer.wait_closed()
            except (OSError, RuntimeError):
                pass
