"""pandas DataFrames from the daemon's answers (``as_frame=True``).

Every frame is built by :func:`from_columns` from whole columns (name →
sequence of JSON values) plus the columns' kinds: the JSON answers are
turned into columns first (``layout: "columns"`` rows transposed, or
``stock.history``'s columns as they come). An Arrow answer
(``Accept: application/vnd.apache.arrow.stream``, issue #17 item 2) would
enter at the same place, handing over typed columns instead of JSON lists.

dtypes by column type:

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

NULL is NaN / NaT / ``<NA>`` / None as the dtype has it.
"""

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
