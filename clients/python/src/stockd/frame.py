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
column of an Arrow answer comes as decimal128 (exact; to float64 as
mantissa / 10^scale, one division of two exact doubles when the mantissa
fits 2^53, else through its exact text: correctly rounded either way, as
the JSON path's float() of the digits is), or as
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


def _buffer(np, arr, dtype):
    """The values buffer of a fixed-width array as a numpy view (NULL slots
    hold whatever the writer put there): no per-call conversion cost,
    which is most of the time for a small answer of many columns."""
    width = np.dtype(dtype).itemsize
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * width)


def _nulls(np, arr):
    """A boolean mask of the NULL slots (only called when there are some)."""
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + len(arr)] == 0


def _decimal_floats(np, arr):
    """float64 of a decimal128 array without a text round trip: mantissa /
    10^scale is one IEEE division of two doubles that are exact (|mantissa|
    ≤ 2^53, scale ≤ 22), so it is the correctly rounded value of the exact
    decimal, what ``float()`` of its text gives (the JSON path). None when
    a mantissa or the scale is too large for that."""
    scale = arr.type.scale
    if not 0 <= scale <= 22:
        return None
    words = np.frombuffer(arr.buffers()[1], dtype="<i8", count=2 * len(arr), offset=16 * arr.offset)
    lo, hi = words[0::2], words[1::2]
    limit = 1 << 53
    if len(lo) and not (np.all(hi == (lo >> 63)) and np.all((lo <= limit) & (lo >= -limit))):
        return None
    out = lo.astype(np.float64) / float(10**scale)
    if arr.null_count:
        out[_nulls(np, arr)] = np.nan
    return out


def _arrow_column(pd, np, pa, arr, field, numbers: str):
    """One Arrow column (a whole array) as the JSON path types it (see the
    table)."""
    t = field.type
    if pa.types.is_dictionary(t):
        return arr.dictionary_decode().to_numpy(zero_copy_only=False)
    if pa.types.is_decimal(t):
        if numbers == "float":
            fast = _decimal_floats(np, arr)
            if fast is not None:
                return fast
            return arr.cast(pa.string()).cast(pa.float64()).to_numpy(zero_copy_only=False)
        return np.array(arr.to_pylist(), dtype=object)
    if pa.types.is_floating(t):
        if numbers == "float":
            values = _buffer(np, arr, np.float32 if pa.types.is_float32(t) else np.float64)
            if arr.null_count:
                values = values.copy()
                values[_nulls(np, arr)] = np.nan
            return values
        conv = _dec32 if pa.types.is_float32(t) else (lambda v: Decimal(repr(v)))
        return np.array([None if v is None else conv(v) for v in arr.to_pylist()], dtype=object)
    if pa.types.is_integer(t):
        if arr.null_count:
            return pd.array(arr.to_pylist(), dtype="Int64")
        return _buffer(np, arr, t.to_pandas_dtype()).astype(np.int64)
    if pa.types.is_boolean(t):
        if arr.null_count:
            return pd.array(arr.to_pylist(), dtype="boolean")
        return arr.to_numpy(zero_copy_only=False).astype(bool)
    if pa.types.is_date32(t):
        if arr.null_count:
            return np.array(arr.cast(pa.string()).to_pylist(), dtype="datetime64[D]")
        return _buffer(np, arr, np.int32).astype("datetime64[D]")
    if pa.types.is_timestamp(t):
        if arr.null_count:
            naive = np.array(arr.cast(pa.int64()).to_pylist(), dtype="datetime64[us]")
        else:
            naive = _buffer(np, arr, np.int64).astype("datetime64[us]")
        index = pd.DatetimeIndex(naive)
        return (index.tz_localize("UTC") if t.tz is not None else index).array
    if pa.types.is_null(t):
        return [None] * len(arr)
    # utf8: text, or the exact text of a value its type could not hold
    # (NaN in numeric(p,s), numeric without typmod, infinite dates).
    values = arr.to_pylist()
    pg = (field.metadata or {}).get(b"stockd.pg_type", b"").decode()
    if pg and V.kind_of(pg) == V.DECIMAL:
        return _column(pd, np, values, V.DECIMAL, numbers)
    return values


def from_arrow(table, numbers: str = "decimal", by: str = "code"):
    """A DataFrame of an Arrow answer's fields, indexed by its ``code``
    key column (``by="code"``: ``many``, ``top``) or by its ``date`` one
    as a DatetimeIndex (``by="date"``: ``history``): the frame
    :func:`from_table` / :func:`from_columns` build from the JSON answer.
    The key columns are named by the schema's ``stockd.key_columns``."""
    pd = _pandas()
    import numpy as np
    import pyarrow as pa

    meta = table.schema.metadata or {}
    keys = meta.get(b"stockd.key_columns", b"code,date").decode().split(",")
    nkeys = len(keys)
    batch = table.combine_chunks().to_batches()
    if batch:
        arrays = batch[0].columns
    else:
        arrays = [pa.array([], type=f.type) for f in table.schema]
    data: Dict[str, Any] = {}
    for i, field in enumerate(table.schema):
        if i >= nkeys:
            data[field.name] = _arrow_column(pd, np, pa, arrays[i], field, numbers)
    if by == "date":
        dates = arrays[1].cast(pa.string()).to_pylist()
        name = None if "date" in data else "date"
        idx = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates, dtype=object), format="%Y-%m-%d"), name=name)
    else:
        idx = pd.Index(arrays[0].to_pylist(), name="code")
    return pd.DataFrame(data, index=idx)
