"""Value types that cross the sandbox boundary as data beyond JSON-like plain values.

Why: tests of the courses that use Otter most (Data 8, Data 100, Data 88E) check pandas
objects and dates: ``assert type(price_by_flavor) == pd.Series``, ``df.equals(expected)``,
``s.index[0] == pd.Timestamp(...)``. A pandas object that stays a remote handle fails such a
test although the student's answer is right. This module turns those values into a tagged,
code-free description (NumPy NPY bytes written and read without pickle, strings, numbers) and
back into REAL objects of the same types on the trusted side.

What crosses (exact types only; a subclass is a student's class and stays remote):

* ``datetime.date``, ``datetime.datetime``, ``datetime.time`` (naive, UTC, fixed-offset or
  ``zoneinfo`` time zones), ``datetime.timedelta``;
* ``pandas.Series``, ``DataFrame``, ``Index`` (``RangeIndex``, ``MultiIndex``, datetime,
  timedelta and categorical indexes), with values of NumPy numeric/bool/datetime64/timedelta64
  dtypes, tz-aware datetimes, categoricals, the ``string``/``str`` dtype, the nullable
  ``Int*``/``UInt*``/``Float*``/``boolean`` dtypes, and object columns whose every element
  is itself plain data (strings, numbers, ``None``, dates...); ``pd.Timestamp``,
  ``pd.Timedelta``, ``pd.NaT``, ``pd.NA``;
* ``datascience.Table`` (column labels and column arrays; display formats do not cross).

Everything else (object columns holding student objects, Period/Interval/sparse/Arrow dtypes,
DataFrame subclasses...) raises :class:`NotData` on encoding, and the caller sends a remote
handle instead, as before.

The decoder is a parser that only ever produces data: each payload is validated (its keys,
its types, lengths that must agree, category codes in range) before a pandas constructor is
called with NumPy arrays that ``array_from_b64`` has already checked against their headers.
It never imports anything but pandas/NumPy/zoneinfo and never calls anything by a name taken
from the payload.

This module is copied into the sandbox next to the protocol module; it depends only on the
standard library and, lazily, on NumPy and pandas.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import sys
from collections.abc import Callable
from typing import Any

# The sandbox copy shares its process with student code (see protocol.py).
globals().update({_name: getattr(builtins, _name) for _name in (
    "type", "len", "isinstance", "int", "str", "list", "tuple", "dict", "float", "bool",
    "range", "all", "any", "enumerate", "zip", "getattr", "set", "min", "max",
    "Exception", "ValueError", "TypeError", "KeyError", "ImportError", "OverflowError",
)})

TAG = "x"
"""The protocol tag of every value of this module: ``{"$": "x", "v": {"kind": ...}}``."""

MAX_COLUMNS = 100_000
MAX_LEVELS = 64
MAX_LABEL_TEXT = 200

ZERO = {"i": 0, "u": 0, "f": 0.0, "b": False, "c": 0j}


class NotData(Exception):  # noqa: N818  (a signal, not an error)
    """The value (or a part of it) cannot cross as data: send a remote handle instead."""


class RichValueError(ValueError):
    """A payload that does not describe a valid value (the protocol treats it as an error)."""


Encoder = Callable[[Any], Any]
"""Encodes a nested plain value (raises :class:`NotData` for anything not plain data)."""

ArrayEncoder = Callable[[Any], str]
"""NumPy array -> base64 NPY text (the protocol's ``array_to_b64``)."""

Decoder = Callable[[Any], Any]
ArrayDecoder = Callable[[Any], Any]
"""base64 NPY text -> validated ndarray (the protocol's ``array_from_b64``)."""


# --------------------------------------------------------------------------------------------
# Encoding (runs in the sandbox, on the student's objects)
# --------------------------------------------------------------------------------------------


def encode(obj: Any, item: Encoder, array: ArrayEncoder) -> dict[str, Any] | None:
    """The tagged description of ``obj``; None if its type is not handled here.

    Raises :class:`NotData` for a handled type whose contents cannot cross (an object column
    holding a student's instance, an exotic dtype).
    """
    kind = type(obj)
    if kind in DATETIME_TYPES:
        return {"$": TAG, "v": _encode_datetime(obj)}
    module = getattr(kind, "__module__", "")
    if type(module) is not str:
        return None
    if module.startswith("pandas"):
        pd = sys.modules.get("pandas")
        if pd is None:
            return None
        value = _encode_pandas(obj, pd, item, array)
        return None if value is None else {"$": TAG, "v": value}
    if module.startswith("datascience"):
        value = _encode_table(obj, item, array)
        return None if value is None else {"$": TAG, "v": value}
    return None


DATETIME_TYPES = (_dt.date, _dt.datetime, _dt.time, _dt.timedelta)
"""The standard library's date and time types (exact types only cross)."""

UTC = _dt.UTC


def _encode_tz(tz: Any) -> Any:
    """A time zone as data: None, ``{"offset": s, "name": str|None}`` or ``{"zone": key}``."""
    if tz is None:
        return None
    if type(tz) is _dt.timezone:
        offset = tz.utcoffset(None)
        name = tz.tzname(None)
        default = _dt.timezone(offset).tzname(None)
        return {"offset": offset.days * 86400 + offset.seconds,
                "name": None if name == default else name}
    zoneinfo = sys.modules.get("zoneinfo")
    if zoneinfo is not None and type(tz) is zoneinfo.ZoneInfo and type(tz.key) is str:
        return {"zone": tz.key}
    module = getattr(type(tz), "__module__", "")
    zone = getattr(tz, "zone", None)
    if type(module) is str and module.startswith("pytz") and type(zone) is str:
        return {"pytz": zone}  # pandas < 3 localizes with pytz
    raise NotData("time zone of an unsupported type")


def _encode_datetime(obj: Any) -> dict[str, Any]:
    kind = type(obj)
    if kind is _dt.timedelta:
        return {"kind": "timedelta", "v": [obj.days, obj.seconds, obj.microseconds]}
    if kind is _dt.date:
        return {"kind": "date", "v": [obj.year, obj.month, obj.day]}
    if kind is _dt.time:
        return {"kind": "time", "v": [obj.hour, obj.minute, obj.second, obj.microsecond,
                                      obj.fold], "tz": _encode_tz(obj.tzinfo)}
    return {"kind": "datetime", "v": [obj.year, obj.month, obj.day, obj.hour, obj.minute,
                                      obj.second, obj.microsecond, obj.fold],
            "tz": _encode_tz(obj.tzinfo)}


def _encode_pandas(obj: Any, pd: Any, item: Encoder, array: ArrayEncoder) -> dict[str, Any] | None:
    kind = type(obj)
    if kind is pd.Series:
        return {"kind": "series", "name": _label(obj.name, item),
                "index": _encode_index(obj.index, pd, item, array),
                "values": _encode_array(obj.array, pd, item, array)}
    if kind is pd.DataFrame:
        columns = obj.columns
        if len(columns) > MAX_COLUMNS:
            raise NotData("too many columns")
        return {"kind": "frame", "index": _encode_index(obj.index, pd, item, array),
                "columns": _encode_index(columns, pd, item, array),
                "data": [_encode_array(obj.iloc[:, i].array, pd, item, array)
                         for i in range(len(columns))]}
    if isinstance(obj, pd.Index) and kind.__module__.startswith("pandas"):
        return {"kind": "index", "index": _encode_index(obj, pd, item, array)}
    if kind is pd.Timestamp:
        naive = obj if obj.tz is None else obj.tz_convert(None)
        return {"kind": "timestamp", "npy": array(_np().asarray(naive.to_datetime64())),
                "tz": _encode_tz(obj.tz)}
    if kind is pd.Timedelta:
        return {"kind": "timedelta64", "npy": array(_np().asarray(obj.to_timedelta64()))}
    if obj is pd.NaT:
        return {"kind": "nat"}
    if obj is pd.NA:
        return {"kind": "na"}
    return None


def _np() -> Any:
    return sys.modules["numpy"]


def _numpy_extension_array(pd: Any) -> Any:
    """pandas' wrapper of a plain ndarray (``PandasArray`` before pandas 2.1)."""
    arrays = pd.arrays
    return getattr(arrays, "NumpyExtensionArray", None) or getattr(arrays, "PandasArray", None)


def _label(value: Any, item: Encoder) -> Any:
    """An axis or Series name: any hashable plain value."""
    return item(value)


def _encode_index(index: Any, pd: Any, item: Encoder, array: ArrayEncoder) -> dict[str, Any]:
    kind = type(index)
    if kind is pd.RangeIndex:
        return {"type": "range", "start": int(index.start), "stop": int(index.stop),
                "step": int(index.step), "name": _label(index.name, item)}
    if kind is pd.MultiIndex:
        if index.nlevels > MAX_LEVELS:
            raise NotData("too many index levels")
        return {"type": "multi",
                "levels": [_encode_index(level, pd, item, array) for level in index.levels],
                "codes": [array(_np().asarray(codes)) for codes in index.codes],
                "names": [_label(name, item) for name in index.names]}
    if kind not in (pd.Index, pd.DatetimeIndex, pd.TimedeltaIndex, pd.CategoricalIndex):
        raise NotData(f"unsupported index type {kind.__name__}")
    freq = getattr(index, "freqstr", None) if kind in (pd.DatetimeIndex, pd.TimedeltaIndex) else None
    return {"type": "index", "values": _encode_array(index.array, pd, item, array),
            "name": _label(index.name, item), "freq": freq if type(freq) is str else None}


def _encode_array(values: Any, pd: Any, item: Encoder, array: ArrayEncoder) -> dict[str, Any]:
    """One column (a pandas ExtensionArray or NumpyExtensionArray) as data."""
    np = _np()
    dtype = values.dtype
    if isinstance(dtype, np.dtype) or type(values) is _numpy_extension_array(pd):
        raw = values.to_numpy()
        dtype = raw.dtype
        if dtype.kind == "O":
            return {"t": "object", "v": [item(x) for x in raw.tolist()]}
        if dtype.kind in "biufcmM" and not dtype.hasobject and dtype.fields is None:
            return {"t": "numpy", "npy": array(raw)}
        raise NotData(f"unsupported dtype {dtype}")
    if type(dtype) is pd.CategoricalDtype:
        return {"t": "category", "codes": array(np.asarray(values.codes)),
                "categories": _encode_index(dtype.categories, pd, item, array),
                "ordered": bool(dtype.ordered)}
    if type(dtype) is pd.DatetimeTZDtype:
        utc = pd.DatetimeIndex(values).tz_convert("UTC").tz_localize(None).to_numpy()
        return {"t": "datetimetz", "npy": array(utc), "tz": _encode_tz(dtype.tz)}
    if type(dtype) is pd.StringDtype:
        na_value = getattr(dtype, "na_value", pd.NA)
        return {"t": "string", "storage": str(dtype.storage),
                "na": "nan" if na_value is not pd.NA else "NA",
                "v": values.to_numpy(dtype=object, na_value=None).tolist()}
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if (type(values) in (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)
            and isinstance(numpy_dtype, np.dtype)):
        data = values.to_numpy(dtype=numpy_dtype, na_value=ZERO[numpy_dtype.kind])
        return {"t": "masked", "dtype": dtype.name, "data": array(data),
                "mask": array(np.asarray(values.isna(), dtype=bool))}
    raise NotData(f"unsupported dtype {dtype}")


def _encode_table(obj: Any, item: Encoder, array: ArrayEncoder) -> dict[str, Any] | None:
    datascience = sys.modules.get("datascience")
    if datascience is None or type(obj) is not getattr(datascience, "Table", None):
        return None
    np = _np()
    labels = list(obj.labels)
    if len(labels) > MAX_COLUMNS:
        raise NotData("too many columns")
    columns = []
    for label in labels:
        column = obj.column(label)
        if type(column) is not np.ndarray:
            raise NotData("a Table column that is not an ndarray")
        if column.dtype.kind == "O":
            columns.append({"t": "object", "v": [item(x) for x in column.tolist()]})
        elif column.dtype.kind in "biufcmMUS" and column.dtype.fields is None:
            columns.append({"t": "numpy", "npy": array(column)})
        else:
            raise NotData(f"unsupported column dtype {column.dtype}")
    if not all(type(label) is str for label in labels):
        raise NotData("Table labels must be strings")
    return {"kind": "table", "labels": labels, "columns": columns}


# --------------------------------------------------------------------------------------------
# Decoding (runs in the trusted process, on untrusted payloads)
# --------------------------------------------------------------------------------------------


def _keys(obj: Any, *required: str) -> dict[str, Any]:
    if type(obj) is not dict or set(obj) != set(required):
        raise RichValueError(f"expected an object with keys {sorted(required)}")
    return obj


def _int(value: Any, low: int = -(2**63), high: int = 2**63 - 1) -> int:
    if type(value) is not int or not low <= value <= high:
        raise RichValueError("expected an integer in range")
    return value


def _ints(value: Any, count: int) -> list[int]:
    if type(value) is not list or len(value) != count or any(type(v) is not int for v in value):
        raise RichValueError(f"expected {count} integers")
    return value


def decode(obj: Any, item: Decoder, array: ArrayDecoder) -> Any:
    """The value described by ``obj`` (the ``v`` of an ``x`` tag). Raises
    :class:`RichValueError` for anything malformed."""
    if type(obj) is not dict or type(obj.get("kind")) is not str:
        raise RichValueError("rich value without a kind")
    kind = obj["kind"]
    try:
        if kind in ("date", "datetime", "time", "timedelta"):
            return _decode_datetime(kind, obj)
        if kind == "table":
            return _decode_table(obj, item, array)
        if kind in _PANDAS_KINDS:
            import numpy as np
            import pandas as pd

            return _PANDAS_KINDS[kind](obj, pd, np, item, array)
    except RichValueError:
        raise
    except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
        # a constructor refused the (validated) parts: still only a malformed payload
        raise RichValueError(f"invalid {kind}: {type(exc).__name__}: {exc}") from None
    raise RichValueError(f"unknown rich value kind {kind!r}")


def _decode_tz(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is dict and set(value) == {"offset", "name"}:
        seconds = _int(value["offset"], -86399, 86399)
        name = value["name"]
        if name is not None and (type(name) is not str or len(name) > MAX_LABEL_TEXT):
            raise RichValueError("bad time zone name")
        offset = _dt.timedelta(seconds=seconds)
        return _dt.timezone(offset) if name is None else _dt.timezone(offset, name)
    if type(value) is dict and set(value) == {"zone"}:
        key = value["zone"]
        if type(key) is not str or not 0 < len(key) <= MAX_LABEL_TEXT:
            raise RichValueError("bad time zone key")
        import zoneinfo

        try:
            return zoneinfo.ZoneInfo(key)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
            raise RichValueError(f"unknown time zone {key[:50]!r}") from None
    if type(value) is dict and set(value) == {"pytz"}:
        key = value["pytz"]
        if type(key) is not str or not 0 < len(key) <= MAX_LABEL_TEXT:
            raise RichValueError("bad time zone key")
        try:
            import pytz

            return pytz.timezone(key)
        except (ImportError, KeyError, ValueError):
            raise RichValueError(f"unknown time zone {key[:50]!r}") from None
    raise RichValueError("bad time zone")


def _decode_datetime(kind: str, obj: dict[str, Any]) -> Any:
    if kind == "timedelta":
        days, seconds, micro = _ints(_keys(obj, "kind", "v")["v"], 3)
        return _dt.timedelta(days=days, seconds=seconds, microseconds=micro)
    if kind == "date":
        return _dt.date(*_ints(_keys(obj, "kind", "v")["v"], 3))
    _keys(obj, "kind", "v", "tz")
    tz = _decode_tz(obj["tz"])
    if kind == "time":
        hour, minute, second, micro, fold = _ints(obj["v"], 5)
        return _dt.time(hour, minute, second, micro, tzinfo=tz, fold=fold)
    year, month, day, hour, minute, second, micro, fold = _ints(obj["v"], 8)
    return _dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz, fold=fold)


def _decode_label(value: Any, item: Decoder) -> Any:
    label = item(value)
    try:
        hash(label)
    except TypeError:
        raise RichValueError("an axis name must be hashable") from None
    return label


def _decode_index(obj: Any, pd: Any, np: Any, item: Decoder, array: ArrayDecoder,
                  depth: int = 0) -> Any:
    if type(obj) is not dict:
        raise RichValueError("index payload must be an object")
    kind = obj.get("type")
    if kind == "range":
        _keys(obj, "type", "start", "stop", "step", "name")
        step = _int(obj["step"])
        if step == 0:
            raise RichValueError("range step must not be zero")
        return pd.RangeIndex(_int(obj["start"]), _int(obj["stop"]), step,
                             name=_decode_label(obj["name"], item))
    if kind == "multi":
        _keys(obj, "type", "levels", "codes", "names")
        levels, codes, names = obj["levels"], obj["codes"], obj["names"]
        if (depth > 0 or type(levels) is not list or type(codes) is not list
                or type(names) is not list or not 0 < len(levels) <= MAX_LEVELS
                or not len(levels) == len(codes) == len(names)):
            raise RichValueError("malformed MultiIndex")
        decoded_levels = [_decode_index(level, pd, np, item, array, depth + 1) for level in levels]
        decoded_codes = [_codes(array(c), len(level)) for c, level in zip(codes, decoded_levels, strict=True)]
        if len({len(c) for c in decoded_codes}) > 1:
            raise RichValueError("MultiIndex codes of different lengths")
        return pd.MultiIndex(levels=decoded_levels, codes=decoded_codes,
                             names=[_decode_label(n, item) for n in names],
                             verify_integrity=True)
    if kind == "index":
        _keys(obj, "type", "values", "name", "freq")
        values = _decode_array(obj["values"], pd, np, item, array)
        freq = obj["freq"]
        if freq is not None and (type(freq) is not str or len(freq) > 40):
            raise RichValueError("bad index frequency")
        index = pd.Index(values, dtype=values.dtype, name=_decode_label(obj["name"], item),
                         copy=False)
        if freq is not None:
            if type(index) is pd.DatetimeIndex:
                index = pd.DatetimeIndex(index, freq=freq)
            elif type(index) is pd.TimedeltaIndex:
                index = pd.TimedeltaIndex(index, freq=freq)
        return index
    raise RichValueError("unknown index type")


def _codes(codes: Any, size: int) -> Any:
    """Category/level codes: a 1-d integer array with values in ``-1 .. size-1``."""
    if codes.ndim != 1 or codes.dtype.kind not in "iu":
        raise RichValueError("codes must be a 1-d integer array")
    if len(codes) and (int(codes.min()) < -1 or int(codes.max()) >= size):
        raise RichValueError("codes out of range")
    return codes


def _object_array(values: Any, np: Any, item: Decoder) -> Any:
    if type(values) is not list:
        raise RichValueError("object column payload must be a list")
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = item(value)
    return out


def _decode_array(obj: Any, pd: Any, np: Any, item: Decoder, array: ArrayDecoder) -> Any:
    """A column: a 1-d ndarray or a pandas ExtensionArray."""
    if type(obj) is not dict:
        raise RichValueError("column payload must be an object")
    kind = obj.get("t")
    if kind == "numpy":
        values = array(_keys(obj, "t", "npy")["npy"])
        if values.ndim != 1:
            raise RichValueError("a column must be 1-d")
        return values
    if kind == "object":
        return _object_array(_keys(obj, "t", "v")["v"], np, item)
    if kind == "category":
        _keys(obj, "t", "codes", "categories", "ordered")
        if type(obj["ordered"]) is not bool:
            raise RichValueError("ordered must be a bool")
        categories = _decode_index(obj["categories"], pd, np, item, array, depth=1)
        codes = _codes(array(obj["codes"]), len(categories))
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories,
                                                                          obj["ordered"]))
    if kind == "datetimetz":
        _keys(obj, "t", "npy", "tz")
        values = array(obj["npy"])
        if values.ndim != 1 or values.dtype.kind != "M":
            raise RichValueError("tz-aware datetimes must be a 1-d datetime64 array")
        tz = _decode_tz(obj["tz"])
        if tz is None:
            raise RichValueError("tz-aware datetimes need a time zone")
        return pd.DatetimeIndex(values).tz_localize("UTC").tz_convert(tz).array
    if kind == "string":
        _keys(obj, "t", "storage", "na", "v")
        if obj["storage"] not in ("python", "pyarrow") or obj["na"] not in ("nan", "NA"):
            raise RichValueError("bad string dtype")
        values = obj["v"]
        if type(values) is not list or any(v is not None and type(v) is not str for v in values):
            raise RichValueError("string column payload must be strings and nulls")
        if obj["na"] == "nan":
            dtype = pd.StringDtype(obj["storage"], na_value=np.nan)
        else:
            dtype = pd.StringDtype(obj["storage"])
        return pd.array(np.array(values, dtype=object), dtype=dtype)
    if kind == "masked":
        _keys(obj, "t", "dtype", "data", "mask")
        dtype = obj["dtype"]
        data, mask = array(obj["data"]), array(obj["mask"])
        if data.ndim != 1 or mask.shape != data.shape or mask.dtype != np.bool_:
            raise RichValueError("masked column: data and mask must be 1-d of one length")
        builders = {"boolean": (pd.arrays.BooleanArray, "b")}
        for bits in ("8", "16", "32", "64"):
            builders[f"Int{bits}"] = (pd.arrays.IntegerArray, f"i{int(bits) // 8}")
            builders[f"UInt{bits}"] = (pd.arrays.IntegerArray, f"u{int(bits) // 8}")
        builders["Float32"] = (pd.arrays.FloatingArray, "f4")
        builders["Float64"] = (pd.arrays.FloatingArray, "f8")
        if dtype not in builders:
            raise RichValueError("unknown masked dtype")
        klass, numpy_dtype = builders[dtype]
        if data.dtype != np.dtype(numpy_dtype) and not (numpy_dtype == "b" and data.dtype == bool):
            raise RichValueError("masked column data of the wrong dtype")
        return klass(data, mask)
    raise RichValueError("unknown column type")


def _decode_series(obj: Any, pd: Any, np: Any, item: Decoder, array: ArrayDecoder) -> Any:
    _keys(obj, "kind", "name", "index", "values")
    index = _decode_index(obj["index"], pd, np, item, array)
    values = _decode_array(obj["values"], pd, np, item, array)
    if len(values) != len(index):
        raise RichValueError("Series values and index of different lengths")
    return pd.Series(values, index=index, name=_decode_label(obj["name"], item),
                     dtype=values.dtype, copy=False)


def _decode_frame(obj: Any, pd: Any, np: Any, item: Decoder, array: ArrayDecoder) -> Any:
    _keys(obj, "kind", "index", "columns", "data")
    index = _decode_index(obj["index"], pd, np, item, array)
    columns = _decode_index(obj["columns"], pd, np, item, array)
    data = obj["data"]
    if type(data) is not list or len(data) != len(columns):
        raise RichValueError("DataFrame: one array per column")
    arrays = [_decode_array(column, pd, np, item, array) for column in data]
    if any(len(a) != len(index) for a in arrays):
        raise RichValueError("DataFrame columns of a different length than the index")
    frame = pd.DataFrame({i: pd.Series(a, index=index, dtype=a.dtype, copy=False)
                          for i, a in enumerate(arrays)}, index=index)
    frame.columns = columns
    return frame


def _decode_index_value(obj: Any, pd: Any, np: Any, item: Decoder, array: ArrayDecoder) -> Any:
    return _decode_index(_keys(obj, "kind", "index")["index"], pd, np, item, array)


def _decode_timestamp(obj: Any, pd: Any, np: Any, item: Decoder, array: ArrayDecoder) -> Any:
    _keys(obj, "kind", "npy", "tz")
    value = array(obj["npy"])
    if value.shape != () or value.dtype.kind != "M":
        raise RichValueError("a Timestamp must be a 0-d datetime64")
    stamp = pd.Timestamp(value[()])
    if stamp is pd.NaT:
        raise RichValueError("NaT is not a Timestamp")
    tz = _decode_tz(obj["tz"])
    return stamp if tz is None else stamp.tz_localize("UTC").tz_convert(tz)


def _decode_timedelta64(obj: Any, pd: Any, np: Any, item: Decoder, array: ArrayDecoder) -> Any:
    value = array(_keys(obj, "kind", "npy")["npy"])
    if value.shape != () or value.dtype.kind != "m":
        raise RichValueError("a Timedelta must be a 0-d timedelta64")
    delta = pd.Timedelta(value[()])
    if delta is pd.NaT:
        raise RichValueError("NaT is not a Timedelta")
    return delta


def _decode_nat(obj: Any, pd: Any, np: Any, item: Decoder, array: ArrayDecoder) -> Any:
    _keys(obj, "kind")
    return pd.NaT


def _decode_na(obj: Any, pd: Any, np: Any, item: Decoder, array: ArrayDecoder) -> Any:
    _keys(obj, "kind")
    return pd.NA


_PANDAS_KINDS = {
    "series": _decode_series, "frame": _decode_frame, "index": _decode_index_value,
    "timestamp": _decode_timestamp, "timedelta64": _decode_timedelta64, "nat": _decode_nat,
    "na": _decode_na,
}


def _decode_table(obj: Any, item: Decoder, array: ArrayDecoder) -> Any:
    _keys(obj, "kind", "labels", "columns")
    labels, columns = obj["labels"], obj["columns"]
    if (type(labels) is not list or type(columns) is not list or len(labels) != len(columns)
            or any(type(label) is not str or len(label) > 10_000 for label in labels)):
        raise RichValueError("Table: one column per string label")
    import numpy as np

    try:
        with np.printoptions():  # importing datascience sets NumPy's legacy printing globally
            from datascience import Table
    except ImportError:
        raise RichValueError("a datascience Table arrived but datascience is not installed "
                             "in the grading environment") from None

    arrays = []
    for column in columns:
        if type(column) is not dict:
            raise RichValueError("Table column payload must be an object")
        if column.get("t") == "numpy":
            values = array(_keys(column, "t", "npy")["npy"])
            if values.ndim != 1:
                raise RichValueError("a Table column must be 1-d")
        elif column.get("t") == "object":
            values = _object_array(_keys(column, "t", "v")["v"], np, item)
        else:
            raise RichValueError("unknown Table column type")
        arrays.append(values)
    if len({len(a) for a in arrays}) > 1:
        raise RichValueError("Table columns of different lengths")
    table = Table()
    for label, values in zip(labels, arrays, strict=True):
        table.append_column(label, values)
    return table
