"""Exceptions: one class per error the daemon can answer, plus the ways a
call can fail before an answer arrives.

Every daemon error is an :class:`RpcError` carrying ``code``, ``message``
and ``data`` (``{"kind", "value"}``: the error's stable name and the
offending input). The subclasses mirror ``ErrorKind`` in
``daemon/api/src/error.rs`` and JSON-RPC's own codes; a drift test checks
them against that file. A code this client does not know still raises an
``RpcError`` with that code.
"""

from typing import Any, Dict, Optional, Type

__all__ = [
    "StockdError",
    "ConnectError",
    "Timeout",
    "ProtocolError",
    "RpcError",
    "ParseError",
    "InvalidRequest",
    "UnknownMethod",
    "InvalidParams",
    "InternalError",
    "UnknownStock",
    "UnknownDate",
    "UnknownColumn",
    "UnknownIndustry",
    "UnknownCache",
    "StoreNotLoaded",
    "Forbidden",
    "Overloaded",
    "LimitExceeded",
    "MissingColumn",
    "ReloadFailed",
    "ERRORS_BY_CODE",
    "error_from_object",
]


class StockdError(Exception):
    """Base of every exception this package raises."""


class ConnectError(StockdError, ConnectionError):
    """The socket could not be opened (daemon not running, wrong path, no
    permission). The message names the socket and the likely cause."""

    def __init__(self, message: str, socket: str):
        super().__init__(message)
        self.socket = socket


class Timeout(StockdError, TimeoutError):
    """No complete answer within the client's ``timeout``."""


class ProtocolError(StockdError):
    """The daemon's answer was not the HTTP/JSON-RPC it should be (or the
    connection closed in the middle of it)."""


class RpcError(StockdError):
    """The daemon answered with a JSON-RPC error object."""

    #: The JSON-RPC error code this class stands for (None: any).
    code_: Optional[int] = None
    #: ``data.kind`` as the daemon spells it.
    kind_: Optional[str] = None

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data

    @property
    def kind(self) -> Optional[str]:
        """``data.kind``: the error's stable name, e.g. ``unknown_stock``."""
        if isinstance(self.data, dict):
            kind = self.data.get("kind")
            if isinstance(kind, str):
                return kind
        return self.kind_

    @property
    def value(self) -> Any:
        """``data.value``: the offending input, e.g. the unknown code."""
        if isinstance(self.data, dict):
            return self.data.get("value")
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, data={self.data!r})"


def _kind(name: str, code: int, kind: str, doc: str) -> Type[RpcError]:
    cls = type(name, (RpcError,), {"code_": code, "kind_": kind, "__doc__": doc})
    cls.__module__ = __name__
    return cls


# JSON-RPC 2.0's own codes.
ParseError = _kind("ParseError", -32700, "parse_error", "The request body was not JSON (-32700).")
InvalidRequest = _kind(
    "InvalidRequest", -32600, "invalid_request", "Valid JSON that is not a JSON-RPC request (-32600)."
)
UnknownMethod = _kind("UnknownMethod", -32601, "unknown_method", "No method of that name (-32601).")
InvalidParams = _kind(
    "InvalidParams",
    -32602,
    "invalid_params",
    "Params that do not fit the method (-32602); the message names the param.",
)
InternalError = _kind("InternalError", -32603, "internal_error", "A failure inside the daemon (-32603).")

# stockd's application codes (daemon/api/src/error.rs).
UnknownStock = _kind("UnknownStock", 1001, "unknown_stock", "No such stock code (1001).")
UnknownDate = _kind("UnknownDate", 1002, "unknown_date", "A date the store does not hold, or malformed (1002).")
UnknownColumn = _kind("UnknownColumn", 1003, "unknown_column", "No such column, or not a usable one (1003).")
UnknownIndustry = _kind("UnknownIndustry", 1004, "unknown_industry", "No such industry (1004).")
UnknownCache = _kind("UnknownCache", 1005, "unknown_cache", "No such cache (1005).")
StoreNotLoaded = _kind(
    "StoreNotLoaded", 1006, "store_not_loaded", "Nothing loaded yet: the first load has not succeeded (1006)."
)
Forbidden = _kind("Forbidden", 1007, "forbidden", "An admin method called by a process that is not an admin (1007).")
Overloaded = _kind(
    "Overloaded", 1008, "overloaded", "Memory is critical: expensive requests are refused for now (1008)."
)
LimitExceeded = _kind(
    "LimitExceeded", 1009, "limit_exceeded", "A documented limit was passed (body size, codes, n, ...) (1009)."
)
MissingColumn = _kind(
    "MissingColumn", 1010, "missing_column", "A derived method needs a column the table does not have (1010)."
)
ReloadFailed = _kind(
    "ReloadFailed", 1011, "reload_failed", "store.reload failed; an older store keeps serving (1011)."
)

#: Every known error class by its code.
ERRORS_BY_CODE: Dict[int, Type[RpcError]] = {
    cls.code_: cls  # type: ignore[misc]
    for cls in (
        ParseError,
        InvalidRequest,
        UnknownMethod,
        InvalidParams,
        InternalError,
        UnknownStock,
        UnknownDate,
        UnknownColumn,
        UnknownIndustry,
        UnknownCache,
        StoreNotLoaded,
        Forbidden,
        Overloaded,
        LimitExceeded,
        MissingColumn,
        ReloadFailed,
    )
}


def error_from_object(obj: Any) -> RpcError:
    """The exception for a JSON-RPC error object."""
    if not isinstance(obj, dict) or not isinstance(obj.get("code"), int):
        return RpcError(0, f"malformed error object from the daemon: {obj!r}")
    code = obj["code"]
    cls = ERRORS_BY_CODE.get(code, RpcError)
    return cls(code, str(obj.get("message", "")), obj.get("data"))
