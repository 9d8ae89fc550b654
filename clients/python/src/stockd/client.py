"""The clients: :class:`Client` (blocking) and :class:`AsyncClient`
(asyncio), with one method per method of the daemon's contract.

Both share the method definitions of :class:`_Api`: each builds the call
(method name and params) and names how its result is decoded; the blocking
client runs it at once, the asyncio one returns a coroutine. A drift test
compares :data:`METHODS` and each method's parameters with the daemon's
``rpc.discover``, so a method added to the daemon and not here fails.
"""

import datetime as _dt
import itertools
import json
from decimal import Decimal
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from . import _values as V
from . import frame as F
from ._transport import AsyncTransport, SyncTransport, default_socket
from .errors import ProtocolError, error_from_object

try:
    # Optional (pip install 'stockd[fast]'): parses answers 3-5x faster
    # than json. Used only for numbers="float": it has no Decimal mode.
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

__all__ = ["Client", "AsyncClient", "METHODS", "WIRE_NAMES", "CLIENT_CHOSEN", "NOT_OFFERED", "ARROW_METHODS", "ARROW_TYPE"]

#: Contract method → the client method that calls it.
METHODS: Dict[str, str] = {
    "market.info": "market_info",
    "market.dates": "market_dates",
    "stock.list": "stock_list",
    "stock.get": "get",
    "stock.many": "many",
    "stock.history": "history",
    "stock.top": "top",
    "hotspots.ranking": "hotspots",
    "industry.detail": "industry",
    "signals.stock": "signals",
    "rpc.discover": "discover",
    "admin.status": "status",
    "cache.clear": "cache_clear",
    "cache.resize": "cache_resize",
    "store.reload": "store_reload",
    "memory.trim": "memory_trim",
}

#: Params whose Python name differs from the wire name (a keyword).
WIRE_NAMES: Dict[str, str] = {"from_": "from"}

#: Params the client sets itself: it always asks for the compact
#: ``layout: "columns"`` and decodes it into rows or a frame.
CLIENT_CHOSEN = frozenset({"layout"})

#: Contract methods deliberately not offered, and why.
NOT_OFFERED: Dict[str, str] = {
    "admin.subscribe_status": "a WebSocket subscription; poll status() instead",
}

#: The media type of the daemon's Arrow answers (``Accept`` it to get one).
ARROW_TYPE = "application/vnd.apache.arrow.stream"
_ARROW_HEADERS = {"Accept": ARROW_TYPE}

#: Contract methods the daemon answers as Arrow (``Client.table``).
ARROW_METHODS = ("stock.many", "stock.top", "stock.history", "hotspots.ranking", "industry.detail")

_pyarrow_state: Dict[str, Any] = {}


def _pyarrow(required: bool) -> Any:
    """pyarrow (with its IPC reader) if installed, else None; ImportError
    naming the extra when ``required``."""
    if "mod" not in _pyarrow_state:
        try:
            import pyarrow
            import pyarrow.ipc  # noqa: F401
        except ImportError:
            pyarrow = None
        _pyarrow_state["mod"] = pyarrow
    mod = _pyarrow_state["mod"]
    if mod is None and required:
        raise ImportError("Arrow answers need pyarrow: pip install 'stockd[arrow]' (or pyarrow)")
    return mod


DateLike = Union[str, _dt.date]
Post = Callable[[Any, Optional[V.Types]], Any]


def _date(v: Optional[DateLike]) -> Optional[str]:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, _dt.datetime):
        raise TypeError(f"a date is a datetime.date or 'YYYY-MM-DD', not the datetime {v!r}")
    if isinstance(v, _dt.date):
        return v.isoformat()
    raise TypeError(f"a date is a datetime.date or 'YYYY-MM-DD', not {v!r}")


def _names(v: Optional[Iterable[str]], what: str) -> Optional[List[str]]:
    if v is None:
        return None
    if isinstance(v, str):
        # A bare string would be sent as a list of its characters' worth of
        # confusion; a single name is common enough to accept.
        return [v]
    out = list(v)
    for x in out:
        if not isinstance(x, str):
            raise TypeError(f"{what} must be strings; got {x!r}")
    return out


def _parse_instant(v: Any) -> Any:
    """An RFC 3339 instant (``...Z`` or ``...+00:00``) as an aware datetime."""
    if not isinstance(v, str):
        return v
    if v.endswith("Z"):
        return V.parse_timestamp(v)
    try:
        return _dt.datetime.fromisoformat(v)
    except ValueError:
        return v


# ------------------------------------------------------------ result decoding


def _post_info(r: Dict[str, Any], _: Optional[V.Types]) -> Dict[str, Any]:
    dates = r.get("dates") or {}
    for k in ("first", "last"):
        dates[k] = V.parse_date(dates.get(k))
    r["loaded_at"] = _parse_instant(r.get("loaded_at"))
    if isinstance(r.get("pending"), dict):
        r["pending"]["date"] = V.parse_date(r["pending"].get("date"))
    return r


def _post_dates(r: List[str], _: Optional[V.Types]) -> List[_dt.date]:
    return [V.parse_date(d) for d in r]


def _post_list(as_frame: bool) -> Post:
    def post(r: Dict[str, Any], _: Optional[V.Types]) -> Any:
        for s in r["stocks"]:
            s["date"] = V.parse_date(s.get("date"))
        if not as_frame:
            return r
        df = F.from_records(r["stocks"], index="code")
        df.attrs.update({k: v for k, v in r.items() if k != "stocks"})
        return df

    return post


def _post_row(r: Dict[str, Any], types: Optional[V.Types]) -> Dict[str, Any]:
    assert types is not None
    r["date"] = V.parse_date(r.get("date"))
    types.values(r["values"])
    return r


def _table_kinds(types: V.Types, fields: Sequence[str]) -> Dict[str, str]:
    return {f: types.kind(f) for f in fields}


def _table_rows(t: Dict[str, Any], types: V.Types) -> List[Dict[str, Any]]:
    values = types.table_rows(t["fields"], t["rows"])
    return [
        {"code": c, "date": V.parse_date(d), "values": v}
        for c, d, v in zip(t["codes"], t["dates"], values)
    ]


def _table_frame(t: Dict[str, Any], types: V.Types):
    return F.from_table(t, _table_kinds(types, t["fields"]), types.numbers)


def _post_many(as_frame: bool) -> Post:
    def post(r: Dict[str, Any], types: Optional[V.Types]) -> Any:
        assert types is not None
        missing = r.get("missing") or []
        if as_frame:
            df = _table_frame(r, types)
            df.attrs["missing"] = missing
            return df
        return {"rows": _table_rows(r, types), "missing": missing}

    return post


def _post_top(as_frame: bool) -> Post:
    def post(r: Dict[str, Any], types: Optional[V.Types]) -> Any:
        assert types is not None
        return _table_frame(r, types) if as_frame else _table_rows(r, types)

    return post


def _post_history(as_frame: bool) -> Post:
    def post(r: Dict[str, Any], types: Optional[V.Types]) -> Any:
        assert types is not None
        columns: Dict[str, List[Any]] = r["columns"]
        if as_frame:
            import pandas as pd

            df = F.from_columns(columns, _table_kinds(types, list(columns)), types.numbers)
            # Named "date" unless a column is: pandas refuses a name that is
            # both an index level and a column.
            name = None if "date" in columns else "date"
            df.index = pd.DatetimeIndex(pd.to_datetime(pd.Series(r["dates"], dtype=object), format="%Y-%m-%d"), name=name)
            df.attrs["code"] = r["code"]
            return df
        r["dates"] = [V.parse_date(d) for d in r["dates"]]
        for name, conv in zip(columns, types.converters(list(columns))):
            if conv is not None:
                columns[name] = [conv(v) if v is not None else None for v in columns[name]]
        return r

    return post


def _post_hotspots(as_frame: bool) -> Post:
    def post(r: Dict[str, Any], _: Optional[V.Types]) -> Any:
        r["date"] = V.parse_date(r.get("date"))
        if not as_frame:
            return r
        df = F.from_records(r["industries"], index="industry")
        df.attrs.update({k: v for k, v in r.items() if k != "industries"})
        return df

    return post


def _post_industry(as_frame: bool) -> Post:
    def post(r: Dict[str, Any], _: Optional[V.Types]) -> Any:
        r["date"] = V.parse_date(r.get("date"))
        if not as_frame:
            return r
        movers = [dict(m, side="gainer") for m in r["gainers"]] + [dict(m, side="loser") for m in r["losers"]]
        df = F.from_records(movers)
        if df.empty:
            df = F.from_records([], None).reindex(
                columns=["code", "name", "pct_change", "close", "amount", "volume_ratio", "side"]
            )
        df.attrs.update({k: v for k, v in r.items() if k not in ("gainers", "losers")})
        return df

    return post


def _post_signals(as_frame: bool) -> Post:
    def post(r: Dict[str, Any], _: Optional[V.Types]) -> Any:
        r["date"] = V.parse_date(r.get("date"))
        if not as_frame:
            return r
        df = F.from_records(r["signals"])
        df.attrs.update({k: v for k, v in r.items() if k != "signals"})
        return df

    return post


def _no_layout(params: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in params.items() if k != "layout"}


def _arrow_frame(numbers: str, by: str, attr: Optional[str] = None) -> Callable[[Any], Any]:
    """An Arrow answer → the DataFrame the JSON path gives (see
    :mod:`stockd.frame`), with the answer's ``missing`` / ``code`` in
    ``attrs`` as the JSON path puts them."""

    def post(table: Any) -> Any:
        df = F.from_arrow(table, numbers, by)
        if attr is not None:
            meta = table.schema.metadata or {}
            result = json.loads(meta.get(b"stockd.result", b"{}"))
            df.attrs[attr] = result.get(attr, [] if attr == "missing" else None)
        return df

    return post


# ------------------------------------------------------------------- methods


class _Api:
    """The contract's methods, defined once for both clients. Each returns
    what :meth:`_call` returns: the decoded result (blocking client) or a
    coroutine of it (asyncio client)."""

    def _call(self, method: str, params: Dict[str, Any], post: Optional[Post] = None, typed: bool = False) -> Any:
        raise NotImplementedError

    def _arrow(self, method: str, params: Dict[str, Any], post: Optional[Callable[[Any], Any]]) -> Any:
        raise NotImplementedError

    def _arrow_frames(self) -> bool:
        raise NotImplementedError

    # -- data

    def market_info(self) -> Any:
        """``market.info``: what the store holds: dates (``first``/``last``
        as :class:`datetime.date`), stocks, rows, columns and their types,
        source, generation, ``loaded_at`` (aware datetime), a pending day."""
        return self._call("market.info", {}, _post_info)

    def market_dates(self) -> Any:
        """``market.dates``: the complete trading dates held, ascending, as
        :class:`datetime.date`."""
        return self._call("market.dates", {}, _post_dates)

    def stock_list(
        self,
        industry: Optional[str] = None,
        prefix: Optional[str] = None,
        name: Optional[str] = None,
        offset: Optional[int] = None,
        limit: Optional[int] = None,
        *,
        as_frame: bool = False,
    ) -> Any:
        """``stock.list``: the stocks held, filtered by ``industry`` (exact),
        code ``prefix`` and ``name`` (substring), paged by ``offset`` and
        ``limit`` (100, at most 1000). ``as_frame``: the stocks as a
        DataFrame indexed by code, the rest of the answer in ``attrs``."""
        params = {"industry": industry, "prefix": prefix, "name": name, "offset": offset, "limit": limit}
        return self._call("stock.list", params, _post_list(as_frame))

    def get(self, code: str, date: Optional[DateLike] = None, fields: Optional[Iterable[str]] = None) -> Any:
        """``stock.get``: one row, ``{"code", "date", "values": {column:
        value}}``, on ``date`` (default: the stock's latest)."""
        params = {"code": code, "date": _date(date), "fields": _names(fields, "fields")}
        return self._call("stock.get", params, _post_row, typed=True)

    def many(
        self,
        codes: Iterable[str],
        date: Optional[DateLike] = None,
        fields: Optional[Iterable[str]] = None,
        *,
        as_frame: bool = False,
    ) -> Any:
        """``stock.many``: up to 1000 stocks' rows on ``date`` (default: each
        one's latest): ``{"rows": [row...], "missing": [codes]}``;
        ``as_frame``: a DataFrame indexed by code (``attrs["missing"]``)."""
        params = {
            "codes": _names(codes, "codes"),
            "date": _date(date),
            "fields": _names(fields, "fields"),
            "layout": "columns",
        }
        if as_frame and self._arrow_frames():
            return self._arrow("stock.many", _no_layout(params), _arrow_frame(self.numbers, "code", "missing"))
        return self._call("stock.many", params, _post_many(as_frame), typed=True)

    def history(
        self,
        code: str,
        from_: Optional[DateLike] = None,
        to: Optional[DateLike] = None,
        fields: Optional[Iterable[str]] = None,
        *,
        as_frame: bool = False,
    ) -> Any:
        """``stock.history``: one stock from ``from_`` to ``to`` (default:
        the whole window), ``{"code", "dates", "columns": {column:
        [values]}}``; ``as_frame``: a DataFrame indexed by date."""
        params = {"code": code, "from": _date(from_), "to": _date(to), "fields": _names(fields, "fields")}
        if as_frame and self._arrow_frames():
            return self._arrow("stock.history", params, _arrow_frame(self.numbers, "date", "code"))
        return self._call("stock.history", params, _post_history(as_frame), typed=True)

    def top(
        self,
        by: str,
        n: Optional[int] = None,
        order: Optional[str] = None,
        date: Optional[DateLike] = None,
        industry: Optional[str] = None,
        fields: Optional[Iterable[str]] = None,
        *,
        as_frame: bool = False,
    ) -> Any:
        """``stock.top``: the ``n`` (20, at most 500) rows of ``date``
        (default: the latest complete date) ranked by the numeric column
        ``by``, ``order`` ``"desc"`` (default) or ``"asc"``, optionally in
        one ``industry``: a list of rows; ``as_frame``: a DataFrame indexed
        by code, in rank order."""
        params = {
            "by": by,
            "n": n,
            "order": order,
            "date": _date(date),
            "industry": industry,
            "fields": _names(fields, "fields"),
            "layout": "columns",
        }
        if as_frame and self._arrow_frames():
            return self._arrow("stock.top", _no_layout(params), _arrow_frame(self.numbers, "code"))
        return self._call("stock.top", params, _post_top(as_frame), typed=True)

    def hotspots(self, date: Optional[DateLike] = None, n: Optional[int] = None, *, as_frame: bool = False) -> Any:
        """``hotspots.ranking``: industries of ``date`` ranked by heat, with
        their statistics and leaders; ``as_frame``: the industries as a
        DataFrame indexed by industry, the rest in ``attrs``."""
        return self._call("hotspots.ranking", {"date": _date(date), "n": n}, _post_hotspots(as_frame))

    def industry(self, industry: str, date: Optional[DateLike] = None, *, as_frame: bool = False) -> Any:
        """``industry.detail``: one industry's statistics, top gainers and
        losers; ``as_frame``: gainers and losers as one DataFrame (column
        ``side``), the statistics in ``attrs``."""
        return self._call("industry.detail", {"industry": industry, "date": _date(date)}, _post_industry(as_frame))

    def signals(self, code: str, date: Optional[DateLike] = None, *, as_frame: bool = False) -> Any:
        """``signals.stock``: technical signals active for ``code`` on
        ``date`` with the values behind them; ``as_frame``: the active
        signals as a DataFrame, ``checked``/``skipped`` in ``attrs``."""
        return self._call("signals.stock", {"code": code, "date": _date(date)}, _post_signals(as_frame))

    def discover(self) -> Any:
        """``rpc.discover``: the OpenRPC document of every method."""
        return self._call("rpc.discover", {})

    # -- admin (root, the daemon's uid, admin_uids, admin_groups)

    def status(self) -> Any:
        """``admin.status``: store, memory, pool, caches, requests, source."""
        return self._call("admin.status", {})

    def cache_clear(self, name: Optional[str] = None) -> Any:
        """``cache.clear``: drops one cache's entries (every cache's without
        ``name``); says what was dropped."""
        return self._call("cache.clear", {"name": name})

    def cache_resize(self, name: str, max_bytes: Union[int, str]) -> Any:
        """``cache.resize``: sets a cache's cap (bytes, or ``"4MiB"``) and
        evicts down to it now."""
        return self._call("cache.resize", {"name": name, "max_bytes": max_bytes})

    def store_reload(self) -> Any:
        """``store.reload``: reloads from the source now and waits."""
        return self._call("store.reload", {})

    def memory_trim(self) -> Any:
        """``memory.trim``: sheds caches to half their caps and returns freed
        memory to the OS: RSS before and after."""
        return self._call("memory.trim", {})

    def table(self, method: str, **params: Any) -> Any:
        """The Arrow answer of a row-list method (one of
        :data:`ARROW_METHODS`) as a ``pyarrow.Table`` with the exact types:
        decimal128(p,s) for ``numeric(p,s)``, float32/float64, int16/32/64,
        date32, timestamp(us[, UTC]), dictionary-encoded text; the key
        columns first (named in ``schema.metadata[b"stockd.key_columns"]``)
        and the JSON answer's other members as JSON in
        ``schema.metadata[b"stockd.result"]``. Needs pyarrow. Params by
        their wire names (``from_`` for ``from``), e.g. ``table("stock.top", by="pct_chg", n=500)``,
        ``table("industry.detail", industry="银行")`` (gainers and losers)."""
        if method not in ARROW_METHODS:
            raise ValueError(f"{method!r} has no Arrow answer; methods with one: {', '.join(ARROW_METHODS)}")
        _pyarrow(True)
        return self._arrow(method, {WIRE_NAMES.get(k, k): v for k, v in params.items()}, None)

    def call(self, method: str, **params: Any) -> Any:
        """Any method by name, its result as parsed (numbers per the
        client's ``numbers``, nothing else converted)."""
        return self._call(method, params)


class _Base(_Api):
    def __init__(self, socket: Optional[str], numbers: str, arrow: Optional[bool] = None):
        if numbers not in V.NUMBERS:
            raise ValueError(f"numbers must be one of {', '.join(V.NUMBERS)}; got {numbers!r}")
        if arrow not in (None, True, False):
            raise ValueError(f"arrow must be None (when pyarrow is installed), True or False; got {arrow!r}")
        if arrow:
            _pyarrow(True)
        #: Frames of many/top/history from Arrow answers: None = when
        #: pyarrow is installed.
        self.arrow = arrow
        self.socket = str(socket) if socket is not None else default_socket()
        self.numbers = numbers
        self._types: Optional[V.Types] = None
        self._ids = itertools.count(1)
        #: Whether orjson may be used (when installed); tests turn it off.
        self._fast = True

    def _encode(self, method: str, params: Dict[str, Any]) -> bytes:
        body = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": {k: v for k, v in params.items() if v is not None},
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode()

    def _decode(self, status: int, ctype: str, data: bytes) -> Any:
        try:
            reply = None
            if self.numbers == "float" and _orjson is not None and self._fast:
                try:
                    reply = _orjson.loads(data)
                except _orjson.JSONDecodeError:
                    # Whatever orjson refuses, json may still take.
                    reply = None
            if reply is None:
                reply = json.loads(data, parse_float=Decimal if self.numbers == "decimal" else None)
        except ValueError:
            raise ProtocolError(
                f"HTTP {status} from {self.socket} with a body that is not JSON ({ctype}): {data[:200]!r}"
            ) from None
        if not isinstance(reply, dict):
            raise ProtocolError(f"HTTP {status}: not a JSON-RPC answer: {data[:200]!r}")
        if "error" in reply:
            raise error_from_object(reply["error"])
        if "result" not in reply:
            raise ProtocolError(f"HTTP {status}: a JSON-RPC answer with neither result nor error: {data[:200]!r}")
        return reply["result"]

    def _arrow_frames(self) -> bool:
        if self.arrow is None:
            return _pyarrow(False) is not None
        return self.arrow

    def _decode_arrow(self, status: int, ctype: str, data: bytes) -> Any:
        """An Arrow answer as a ``pyarrow.Table``; an error answer (JSON)
        raises as any call does."""
        if ctype.split(";")[0].strip().lower() == ARROW_TYPE:
            pa = _pyarrow(True)
            try:
                return pa.ipc.open_stream(data).read_all()
            except pa.ArrowInvalid as e:
                raise ProtocolError(f"HTTP {status}: an Arrow answer that does not read: {e}") from None
        self._decode(status, ctype, data)
        raise ProtocolError(
            f"HTTP {status}: asked for an Arrow answer, got {ctype or 'no content type'}: "
            "this stockd does not serve Arrow answers (use arrow=False)"
        )

    def _remember(self, info: Dict[str, Any]) -> V.Types:
        kinds = {c["name"]: V.kind_of(c["type"]) for c in info.get("columns", [])}
        self._types = V.Types(kinds, self.numbers)
        return self._types


def _json_default(v: Any) -> Any:
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    raise TypeError(f"cannot send {v!r} ({type(v).__name__}) as JSON")


class Client(_Base):
    """The blocking client.

    ``socket``: the daemon's socket (default: as ``stockctl`` finds it,
    see :func:`stockd.default_socket`). ``timeout``: seconds for one call,
    connecting included (None: wait forever). ``numbers``: ``"decimal"``
    (exact, the default) or ``"float"``. ``pool_size``: connections kept
    and used at once (threads beyond it wait for one).

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        socket: Optional[str] = None,
        *,
        timeout: Optional[float] = 30.0,
        numbers: str = "decimal",
        pool_size: int = 4,
        arrow: Optional[bool] = None,
    ):
        super().__init__(socket, numbers, arrow)
        self._transport = SyncTransport(self.socket, timeout, pool_size)

    def _rpc(self, method: str, params: Dict[str, Any]) -> Any:
        status, ctype, data = self._transport.post(self._encode(method, params))
        return self._decode(status, ctype, data)

    def _call(self, method: str, params: Dict[str, Any], post: Optional[Post] = None, typed: bool = False) -> Any:
        result = self._rpc(method, params)
        if method == "market.info":
            self._remember(result)
        if post is None:
            return result
        if not typed:
            return post(result, None)
        types = self._types or self._remember(self._rpc("market.info", {}))
        try:
            return post(result, types)
        except V.UnknownColumns:
            # The store was reloaded with other columns since types were read.
            return post(result, self._remember(self._rpc("market.info", {})))

    def _arrow(self, method: str, params: Dict[str, Any], post: Optional[Callable[[Any], Any]]) -> Any:
        status, ctype, data = self._transport.post(self._encode(method, params), _ARROW_HEADERS)
        table = self._decode_arrow(status, ctype, data)
        return post(table) if post is not None else table

    def close(self) -> None:
        """Closes the idle connections; the client cannot be used after."""
        self._transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"stockd.Client(socket={self.socket!r}, numbers={self.numbers!r})"


class AsyncClient(_Base):
    """The asyncio client: every method returns a coroutine. Keep one for
    the application's lifetime (e.g. FastAPI's lifespan); it holds up to
    ``pool_size`` keep-alive connections, and concurrent calls beyond that
    wait for one. Arguments as for :class:`Client`.

    Use it as an async context manager, or await :meth:`close`.
    """

    def __init__(
        self,
        socket: Optional[str] = None,
        *,
        timeout: Optional[float] = 30.0,
        numbers: str = "decimal",
        pool_size: int = 8,
        arrow: Optional[bool] = None,
    ):
        super().__init__(socket, numbers, arrow)
        self._transport = AsyncTransport(self.socket, timeout, pool_size)

    async def _rpc(self, method: str, params: Dict[str, Any]) -> Any:
        status, ctype, data = await self._transport.post(self._encode(method, params))
        return self._decode(status, ctype, data)

    async def _call(
        self, method: str, params: Dict[str, Any], post: Optional[Post] = None, typed: bool = False
    ) -> Any:
        result = await self._rpc(method, params)
        if method == "market.info":
            self._remember(result)
        if post is None:
            return result
        if not typed:
            return post(result, None)
        types = self._types or self._remember(await self._rpc("market.info", {}))
        try:
            return post(result, types)
        except V.UnknownColumns:
            return post(result, self._remember(await self._rpc("market.info", {})))

    async def _arrow(self, method: str, params: Dict[str, Any], post: Optional[Callable[[Any], Any]]) -> Any:
        status, ctype, data = await self._transport.post(self._encode(method, params), _ARROW_HEADERS)
        table = self._decode_arrow(status, ctype, data)
        return post(table) if post is not None else table

    async def close(self) -> None:
        """Closes the idle connections; the client cannot be used after."""
        await self._transport.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"stockd.AsyncClient(socket={self.socket!r}, numbers={self.numbers!r})"
