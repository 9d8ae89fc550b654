"""From the daemon's JSON values to Python values, by column type.

The daemon writes every value as JSON (docs/methods.md, *Values*): numeric
columns with their exact decimal digits, ``real``/``double`` in their
shortest round-tripping form, NaN and infinities as the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"``, dates as ``YYYY-MM-DD``, timestamps as
``YYYY-MM-DDTHH:MM:SS[.ffffff]`` with ``Z`` for ``timestamptz``. Which
column is which comes from ``market.info`` (the catalog's type names).

Numbers: ``"decimal"`` (the default) gives :class:`decimal.Decimal` for
numeric, real and double columns (exactly the digits the daemon sent),
``"float"`` gives Python floats. Integers stay ``int``. Dates become
:class:`datetime.date`, ``timestamptz`` an aware :class:`datetime.datetime`
in UTC and ``timestamp`` (without time zone) a naive one: it names no zone,
and inventing one would be wrong.
"""

import datetime as _dt
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Sequence

INT = "int"
DECIMAL = "decimal"  # numeric(p,s) and numeric
FLOAT4 = "float4"  # real
FLOAT8 = "float8"  # double precision
BOOL = "bool"
DATE = "date"
TIMESTAMPTZ = "timestamptz"
TIMESTAMP = "timestamp"
TEXT = "text"

NUMBERS = ("decimal", "float")

Convert = Optional[Callable[[Any], Any]]


def kind_of(sql_type: str) -> str:
    """The kind of a column from its type as ``market.info`` spells it
    (``numeric(10,2)``, ``double precision``, ``timestamp with time zone``...)."""
    t = sql_type.strip().lower()
    if t.startswith(("numeric", "decimal")):
        return DECIMAL
    if t in ("real", "float4"):
        return FLOAT4
    if t in ("double precision", "float8", "double"):
        return FLOAT8
    if t in ("smallint", "integer", "bigint", "int2", "int4", "int8", "int"):
        return INT
    if t in ("boolean", "bool"):
        return BOOL
    if t == "date":
        return DATE
    if t.startswith("timestamp"):
        return TIMESTAMPTZ if ("with time zone" in t or t.startswith("timestamptz")) else TIMESTAMP
    return TEXT


def parse_date(v: Any) -> Any:
    return _dt.date.fromisoformat(v) if isinstance(v, str) else v


_UTC = _dt.timezone.utc


def parse_timestamp(v: Any) -> Any:
    """``YYYY-MM-DDTHH:MM:SS[.f...][Z]``: aware (UTC) when it ends in Z."""
    if not isinstance(v, str):
        return v
    aware = v.endswith("Z")
    text = v[:-1] if aware else v
    base, _, frac = text.partition(".")
    # Python < 3.11 takes only 3 or 6 fraction digits.
    micro = int((frac + "000000")[:6]) if frac else 0
    ts = _dt.datetime.fromisoformat(base).replace(microsecond=micro)
    return ts.replace(tzinfo=_UTC) if aware else ts


def _to_decimal(v: Any) -> Any:
    if v is None or type(v) is Decimal:
        return v
    if isinstance(v, (int, str)) and not isinstance(v, bool):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    return v


def _to_float(v: Any) -> Any:
    if v is None or type(v) is float:
        return v
    if isinstance(v, (int, str, Decimal)) and not isinstance(v, bool):
        return float(v)
    return v


def converter(kind: str, numbers: str) -> Convert:
    """The function that turns one JSON value of a ``kind`` column into its
    Python value; None when the JSON value is already it."""
    if kind in (DECIMAL, FLOAT4, FLOAT8):
        return _to_decimal if numbers == "decimal" else _to_float
    if kind == DATE:
        return parse_date
    if kind in (TIMESTAMPTZ, TIMESTAMP):
        return parse_timestamp
    return None


class UnknownColumns(Exception):
    """A value of a column the cached types do not know: the store was
    reloaded with other columns; read ``market.info`` again."""


class Types:
    """Column name → kind, from ``market.info``, and the number mode."""

    def __init__(self, kinds: Dict[str, str], numbers: str):
        self.kinds = kinds
        self.numbers = numbers
        self._convs = {name: converter(kind, numbers) for name, kind in kinds.items()}

    def kind(self, column: str) -> str:
        try:
            return self.kinds[column]
        except KeyError:
            raise UnknownColumns(column) from None

    def converters(self, columns: Sequence[str]) -> List[Convert]:
        return [converter(self.kind(c), self.numbers) for c in columns]

    def values(self, values: Dict[str, Any]) -> Dict[str, Any]:
        """A row's ``values`` object, converted in place."""
        convs = self._convs
        for column, v in values.items():
            try:
                conv = convs[column]
            except KeyError:
                raise UnknownColumns(column) from None
            if conv is not None and v is not None:
                values[column] = conv(v)
        return values

    def table_rows(self, fields: Sequence[str], rows: List[List[Any]]) -> List[Dict[str, Any]]:
        """``layout: columns`` rows as ``{column: value}`` dicts."""
        convs = self.converters(fields)
        out = []
        for row in rows:
            out.append(
                {f: (c(v) if c is not None and v is not None else v) for f, c, v in zip(fields, convs, row)}
            )
        return out
