"""pandas DataFrames from the daemon's answers (``as_frame=True``).

Two paths build the same frames:

- **Arrow** (when ``pyarrow`` is installed, or ``arrow=True`` on the
  client): ``many``, ``top`` and ``history`` ask for an Arrow IPC stream
  (``Accept: application/vnd.apache.arrow.stream``) and :func:`from_arrow`
  turns its typed columns into the frame: no JSON parse of the values.
- **JSON** (no pyarrow, ``arrow=False``, and the views' frames): the
  ``layout: "columns"`` rows transposed, or ``stock.history``'s columns as
  they come, typed by :func:`from_columns` from the columns' kinds.

Both give the same dtypes and values:

============================  ==========================  ===================
column type                   ``numbers="float"``         ``numbers="decimal"``
============================  ==========================  ===================
smallint / integer / bigint   int64 (Int64 with NULLs)    same
numeric(p,s), numeric         float64                     object (Decimal)
double precision              float64                     object (Decimal)
real                          float32 (bit-exact)         object (Decimal)
boolean                       bool (boolean with NULLs)   same
date                          datetime64                  same
timestamptz                   datetime64, UTC             same
timestamp                     datetime64 (naive)          same
text / varchar / char         strings                     same
============================  ==========================  ===================

NULL is NaN / NaT / ``<NA>`` / None as the dtype has it. A ``numeric``
column of an Arrow answer comes as decimal128 (exact; to float64 through
its exact decimal text, so correctly rounded as the JSON path is), or as
utf8 exact text where decimal128 cannot hold it (no typmod, precision over
38, NaN in the answer): converted the same way. A ``real``/``double`` in
``numbers="decimal"`` mode becomes the Decimal of its shortest
round-tripping text, as the JSON path gives it. For the Arrow types
themselves (decimal128, float32, dictionary-encoded text, date32, ...)
use ``Client.table(method, ...)``, which returns the ``pyarrow.Table``.
"""

from decimal import Decimal
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import _values as V


def _pandas():
    try:
        import pandas
    except ImportError:  # pragma: no cover - exercised only without pandas
        raise ImportError(
            "as_frame=True needs pandas: pip install 'stockd[pandas]' (or pandas)"
        ) from None
    return pandas


def _column(pd, np, values: Sequence[Any], kind: str, numbers: str):
    if kind in (V.DECIMAL, V.FLOAT4, V.FLOAT8):
        if numbers == "float":
            # None → NaN; "NaN"/"Infinity" strings parse as floats too.
            arr = np.array(values, dtype=np.float64)
            return arr.astype(np.float32) if kind == V.FLOAT4 else arr
        conv = V.converter(kind, numbers)
        return np.array([conv(v) for v in values], dtype=object)
    if kind == V.INT:
        if any(v is None for v in values):
            return pd.array(list(values), dtype="Int64")
        return np.array(values, dtype=np.int64)
    if kind == V.BOOL:
        if any(v is None for v in values):
            return pd.array(list(values), dtype="boolean")
        return np.array(values, dtype=bool)
    # numpy parses ISO 8601 text (None → NaT) several times faster than
    # pd.to_datetime; it takes no zone suffix, so timestamptz's Z is cut and
    # the zone set after.
    if kind == V.DATE:
        return np.array(values, dtype="datetime64[D]")
    if kind in (V.TIMESTAMPTZ, V.TIMESTAMP):
        naive = np.array([v[:-1] if v is not None and v.endswith("Z") else v for v in values], dtype="datetime64[us]")
        index = pd.DatetimeIndex(naive)
        return (index.tz_localize("UTC") if kind == V.TIMESTAMPTZ else index).array
    return list(values)


def from_columns(
    columns: Mapping[str, Sequence[Any]],
    kinds: Mapping[str, str],
    numbers: str = "decimal",
    index: Optional[Sequence[Any]] = None,
    index_name: Optional[str] = None,
):
    """A DataFrame of whole columns of JSON values, typed by ``kinds``
    (column → kind, see :mod:`stockd._values`); a column of unknown kind is
    kept as it came."""
    pd = _pandas()
    import numpy as np

    data: Dict[str, Any] = {}
    for name, values in columns.items():
        data[name] = _column(pd, np, values, kinds.get(name, V.TEXT), numbers)
    idx = pd.Index(list(index), name=index_name) if index is not None else None
    return pd.DataFrame(data, index=idx)


def from_table(table: Mapping[str, Any], kinds: Mapping[str, str], numbers: str):
    """A ``layout: "columns"`` answer (``fields``, ``codes``, ``rows``)
    as a DataFrame indexed by code."""
    fields: List[str] = table["fields"]
    rows = table["rows"]
    if rows:
        columns = dict(zip(fields, zip(*rows)))
    else:
        columns = {f: () for f in fields}
    return from_columns(columns, kinds, numbers, index=table["codes"], index_name="code")


def from_records(records: Sequence[Mapping[str, Any]], index: Optional[str] = None):
    """A DataFrame of view records (hot spots, movers, signals, stocks),
    values as they were decoded."""
    pd = _pandas()
    df = pd.DataFrame(list(records))
    if index is not None and index in df.columns:
        df = df.set_index(index)
    return df


def _dec32(v: Any) -> Any:
    """The Decimal of a float32's shortest round-tripping text (numpy's)."""
    import numpy as np

    return Decimal(str(np.float32(v)))


def _arrow_column(pd, np, pa, col, field, numbers: str):
    """One Arrow column as the JSON path would type it (see the table)."""
    t = field.type
    meta = field.metadata or {}
    pg = meta.get(b"stockd.pg_type", b"").decode()
    kind = V.kind_of(pg) if pg else None
    if pa.types.is_dictionary(t) or pa.types.is_null(t):
        return col.to_pylist()
    if pa.types.is_decimal(t):
        if numbers == "float":
            return col.cast(pa.string()).cast(pa.float64()).to_numpy(zero_copy_only=False)
        return np.array(col.to_pylist(), dtype=object)
    if pa.types.is_floating(t):
        if numbers == "float":
            return col.to_numpy(zero_copy_only=False)
        conv = _dec32 if pa.types.is_float32(t) else (lambda v: Decimal(repr(v)))
        return np.array([None if v is None else conv(v) for v in col.to_pylist()], dtype=object)
    if pa.types.is_integer(t):
        if col.null_count:
            return pd.array(col.to_pylist(), dtype="Int64")
        return col.to_numpy().astype(np.int64)
    if pa.types.is_boolean(t):
        if col.null_count:
            return pd.array(col.to_pylist(), dtype="boolean")
        return col.to_numpy(zero_copy_only=False).astype(bool)
    if pa.types.is_date32(t):
        return col.cast(pa.int32()).to_numpy(zero_copy_only=False).astype("datetime64[D]") if not col.null_count \
            else np.array(col.cast(pa.string()).to_pylist(), dtype="datetime64[D]")
    if pa.types.is_timestamp(t):
        naive = col.cast(pa.int64()).to_numpy(zero_copy_only=False).astype("datetime64[us]") if not col.null_count \
            else np.array([None if v is None else v for v in col.cast(pa.int64()).to_pylist()], dtype="datetime64[us]")
        index = pd.DatetimeIndex(naive)
        return (index.tz_localize("UTC") if t.tz is not None else index).array
    # utf8: text, or a value the exact Arrow type could not hold, as the
    # JSON answer writes it.
    values = col.to_pylist()
    if kind == V.DECIMAL:
        return _column(pd, np, values, V.DECIMAL, numbers)
    return values


def _needs_python(pa, field, col, numbers: str) -> bool:
    """Whether a column is converted on its own (in Python) rather than by
    pyarrow's ``to_pandas`` of the whole table: NULLs in an integer or
    boolean column (nullable pandas dtypes), floats as Decimals, and utf8
    text of a value the exact type could not hold."""
    t = field.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return col.null_count > 0
    if pa.types.is_floating(t):
        return numbers == "decimal"
    if pa.types.is_string(t):
        return b"stockd.pg_type" in (field.metadata or {}) and V.kind_of(field.metadata[b"stockd.pg_type"].decode()) != V.TEXT
    return pa.types.is_null(t)


def _arrow_cast(pa, field, col, numbers: str):
    """The column as ``to_pandas`` should see it to give the JSON path's
    dtype (see the table)."""
    t = field.type
    if pa.types.is_dictionary(t):
        return col.cast(pa.string())
    if pa.types.is_decimal(t) and numbers == "float":
        # Through the exact decimal text: correctly rounded, as the JSON
        # path's float() of the same digits.
        return col.cast(pa.string()).cast(pa.float64())
    if pa.types.is_integer(t):
        return col.cast(pa.int64())
    if pa.types.is_date32(t):
        return col.cast(pa.timestamp("s"))
    return col


def from_arrow(table, numbers: str = "decimal", by: str = "code"):
    """A DataFrame of an Arrow answer's fields, indexed by its ``code``
    key column (``by="code"``: ``many``, ``top``) or by its ``date`` one
    as a DatetimeIndex (``by="date"``: ``history``). The key columns are
    named by the schema's ``stockd.key_columns``; the frame is the one
    :func:`from_table` / :func:`from_columns` build from the JSON answer."""
    pd = _pandas()
    import numpy as np
    import pyarrow as pa

    meta = table.schema.metadata or {}
    keys = meta.get(b"stockd.key_columns", b"code,date").decode().split(",")
    nkeys = len(keys)
    names: List[str] = []
    bulk_names: List[str] = []
    bulk_cols: List[Any] = []
    own: Dict[int, Any] = {}
    for i, field in enumerate(table.schema):
        if i < nkeys:
            continue
        col = table.column(i)
        names.append(field.name)
        if _needs_python(pa, field, col, numbers):
            own[len(names) - 1] = _arrow_column(pd, np, pa, col.combine_chunks(), field, numbers)
        else:
            bulk_names.append(str(len(names) - 1))
            bulk_cols.append(_arrow_cast(pa, field, col, numbers))
    if by == "date":
        dates = table.column(keys[1]).cast(pa.string()).to_pylist()
        name = None if "date" in names else "date"
        idx = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates, dtype=object), format="%Y-%m-%d"), name=name)
    else:
        idx = pd.Index(table.column(keys[0]).to_pylist(), name="code")
    # One to_pandas for every column it converts as the JSON path would
    # (positions as names: the fields may repeat a name); the rest added.
    bulk = pa.table(bulk_cols, names=bulk_names).to_pandas() if bulk_cols else pd.DataFrame(index=range(table.num_rows))
    for pos, values in own.items():
        bulk[str(pos)] = values
    df = bulk[[str(i) for i in range(len(names))]] if names else pd.DataFrame(index=range(table.num_rows))
    df.columns = pd.Index(names) if names else df.columns
    df.index = idx
    # Repeated names keep the last column, as the JSON path's dict does.
    if len(set(names)) != len(names):
        df = df.loc[:, ~df.columns.duplicated(keep="last")]
    return df
