"""The value codec carries pandas objects, dates and NumPy string/datetime values as data.

Every value goes through the real wire functions (``values.encode_value`` -> JSON text ->
``values.decode_value``) and must come back as an object of the same type that ``equals`` the
original; anything with code in it must stay a handle; malformed payloads must be refused as
protocol errors before anything is built from them.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import subprocess
import sys
import zoneinfo
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autograder.grading.sandbox import values
from autograder.grading.sandbox.channel import ProtocolError

HANDLE = {"$": "handle", "id": 7, "type": "object", "flags": []}


def _wire(value: Any) -> Any:
    """What the other side receives: the encoding as JSON text, parsed back."""
    return json.loads(json.dumps(values.encode_value(value, lambda obj: HANDLE, lambda obj: None)))


def _round_trip(value: Any) -> Any:
    return values.decode_value(_wire(value), lambda *args: "HANDLE", lambda name: None)


FLAVORS = pd.DataFrame({"flavor": ["chocolate", "vanilla", "chocolate", "mint"],
                        "scoops": [1, 1, 2, 1], "price": [2.0, 1.5, 3.0, 4.0]})

PANDAS_VALUES = {
    "frame": FLAVORS,
    "groupby_series": FLAVORS.groupby("flavor")["price"].mean(),
    "str_index": FLAVORS.groupby("flavor")["price"].mean().index,
    "columns": FLAVORS.columns,
    "range_index": pd.RangeIndex(2, 20, 3, name="r"),
    "multi_index_frame": FLAVORS.set_index(["flavor", "scoops"]),
    "tuple_columns": pd.DataFrame({("a", 1): [1], ("b", 2): [2.0]}),
    "empty_frame": pd.DataFrame(index=pd.RangeIndex(3)),
    "categorical": pd.Series(pd.Categorical(["S", "L", "S"], categories=["S", "M", "L"],
                                            ordered=True), name="size"),
    "categorical_index": pd.CategoricalIndex(["a", "b", "a"]),
    "tz_datetimes": pd.Series(pd.date_range("2024-03-30", periods=3, freq="D",
                                            tz="Europe/Zurich")),
    "naive_datetimes_with_nat": pd.Series(pd.to_datetime(["2020-01-01", None])),
    "datetime_index_freq": pd.date_range("2020-01-01", periods=4, freq="h"),
    "timedelta_index": pd.timedelta_range("1D", periods=3, freq="1D"),
    "string_dtype": pd.Series(["ada", None, "emmy"], dtype="string"),
    "nullable_int": pd.Series([1, None, 3], dtype="Int64"),
    "nullable_uint8": pd.Series([1, None], dtype="UInt8"),
    "nullable_float": pd.Series([1.5, None], dtype="Float32"),
    "nullable_bool": pd.Series([True, None], dtype="boolean"),
    "object_plain": pd.Series(["a", None, 3, 2.5, dt.date(2020, 1, 2), [1, 2]], dtype=object),
    "bool_complex_columns": pd.DataFrame({"b": [True, False], "c": [1 + 2j, 3j]}),
}


@pytest.mark.parametrize("name", list(PANDAS_VALUES))
def test_pandas_values_arrive_as_equal_objects_of_the_same_type(name: str) -> None:
    original = PANDAS_VALUES[name]
    back = _round_trip(original)
    assert type(back) is type(original)
    assert back.equals(original)
    assert back.dtypes.tolist() == original.dtypes.tolist() if isinstance(original, pd.DataFrame) \
        else back.dtype == original.dtype
    if isinstance(original, pd.Series | pd.Index):
        assert back.name == original.name
    if isinstance(original, pd.DatetimeIndex):
        assert back.freq == original.freq  # assert_index_equal checks it
    if isinstance(original, pd.DataFrame):
        pd.testing.assert_frame_equal(back, original)
    elif isinstance(original, pd.Series):
        pd.testing.assert_series_equal(back, original)
    else:
        pd.testing.assert_index_equal(back, original)


@pytest.mark.parametrize("value", [
    dt.date(2020, 1, 2), dt.datetime(2020, 1, 2, 3, 4, 5, 6), dt.time(1, 2, 3, 4),
    dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(2021, 11, 7, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    dt.datetime(2020, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=-3), "BRT")),
    dt.timedelta(days=-1, seconds=5, microseconds=7),
    pd.Timestamp("2020-01-01 12:00:00.5", tz="Europe/Paris"), pd.Timestamp("2020-01-01"),
    pd.Timedelta("3h"), {1, 2}, frozenset({"a"}), 1 + 2j, b"\x00\x01",
], ids=repr)
def test_scalars_and_sets_arrive_equal_and_of_the_same_type(value: Any) -> None:
    back = _round_trip(value)
    assert type(back) is type(value) and back == value
    if isinstance(value, dt.datetime):
        assert back.tzinfo == value.tzinfo and back.fold == value.fold
        assert back.utcoffset() == value.utcoffset()


def test_pandas_missing_value_singletons() -> None:
    assert _round_trip(pd.NaT) is pd.NaT and _round_trip(pd.NA) is pd.NA


@pytest.mark.parametrize("dtype", [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "longdouble", "complex64", "complex128",
    "datetime64[s]", "datetime64[ns]", "timedelta64[ms]", "str", "bytes",
])
def test_numpy_scalars_and_arrays_of_every_plain_dtype(dtype: str) -> None:
    array = np.array([1, 0, 2], dtype=dtype) if dtype not in ("str", "bytes") else \
        np.array(["ab", "", "c"], dtype=dtype)
    back = _round_trip(array)
    assert type(back) is np.ndarray and back.dtype == array.dtype
    assert np.array_equal(back, array)
    scalar = array[2]
    got = _round_trip(scalar)
    assert type(got) is type(scalar) and got == scalar


def test_sets_of_numpy_scalars_and_dates_are_data() -> None:
    values_ = {np.int64(3), np.float64(0.5), dt.date(2020, 1, 1)}
    assert _round_trip(values_) == values_


class MySeries(pd.Series):
    """A student's subclass: it could carry a rigged ``__eq__``."""


class Opaque:
    pass


@pytest.mark.parametrize("value", [
    MySeries([1, 2]),
    pd.Series([Opaque()], dtype=object),
    pd.DataFrame({"a": [1], "f": [len]}),
    pd.Series(pd.period_range("2020-01", periods=2, freq="M")),
    pd.Series(pd.arrays.SparseArray([0, 1])),
    np.array([Opaque()], dtype=object),
    dt.datetime(2020, 1, 1, tzinfo=type("Zone", (dt.tzinfo,), {"utcoffset": lambda s, d: None})()),
], ids=lambda v: type(v).__name__)
def test_values_with_code_in_them_stay_remote(value: Any) -> None:
    assert _wire(value) == HANDLE


def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()


def _lying_npy(descr: str, shape: tuple[int, ...], data: bytes) -> str:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False,
                                                  "shape": shape})
    return base64.b64encode(buffer.getvalue() + data).decode()


def _series(values_payload: dict[str, Any], length: int = 2) -> dict[str, Any]:
    return {"$": "x", "v": {"kind": "series", "name": None, "values": values_payload,
                            "index": {"type": "range", "start": 0, "stop": length, "step": 1,
                                      "name": None}}}


@pytest.mark.parametrize("payload", [
    # category codes out of range (would index past the categories)
    _series({"t": "category", "codes": _npy(np.array([0, 5], dtype=np.int8)), "ordered": False,
             "categories": {"type": "index", "name": None, "freq": None,
                            "values": {"t": "object", "v": ["a"]}}}),
    # values and index of different lengths
    _series({"t": "numpy", "npy": _npy(np.arange(3))}),
    # a lying NPY header: announces a terabyte of datetimes, carries 16 bytes
    _series({"t": "numpy", "npy": _lying_npy("<M8[ns]", (10**11,), b"\0" * 16)}),
    _series({"t": "numpy", "npy": _lying_npy("<U10", (2,), b"\0" * 8)}),
    # an object array smuggled as NPY (would need pickle)
    {"$": "nd", "npy": base64.b64encode(b"\x93NUMPY\x01\x00v\x00{'descr': '|O', "
                                        b"'fortran_order': False, 'shape': (1,), }"
                                        + b" " * 54 + b"\n").decode()},
    # a handle inside data
    _series({"t": "object", "v": [HANDLE, 1]}),
    # unknown kinds, extra keys, wrong types
    {"$": "x", "v": {"kind": "pickle", "data": "gASV"}},
    {"$": "x", "v": {"kind": "date", "v": [2020, 1, 2], "extra": 1}},
    {"$": "x", "v": {"kind": "date", "v": [2020, 13, 2]}},
    {"$": "x", "v": {"kind": "datetime", "v": [2020, 1, 2, 0, 0, 0, 0, 0],
                     "tz": {"zone": "../../etc/passwd"}}},
    _series({"t": "masked", "dtype": "Int64", "data": _npy(np.arange(2)),
             "mask": _npy(np.array([True]))}),
    _series({"t": "string", "storage": "python", "na": "NA", "v": ["a", 3]}),
    {"$": "x", "v": {"kind": "frame", "columns": {"type": "range", "start": 0, "stop": 2,
                                                   "step": 1, "name": None},
                     "index": {"type": "range", "start": 0, "stop": 1, "step": 1, "name": None},
                     "data": [{"t": "numpy", "npy": _npy(np.arange(1))}]}},
])
def test_malformed_payloads_are_protocol_errors(payload: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        values.decode_value(payload, lambda *args: "HANDLE", lambda name: None)


def test_datascience_tables_arrive_as_tables() -> None:
    with np.printoptions():  # importing datascience changes NumPy's print options globally
        from datascience import Table

    table = Table().with_columns("flavor", np.array(["mint", "vanilla"]),
                                 "price", np.array([4.0, 1.5]), "when",
                                 np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[D]"),
                                 "note", np.array(["x", None], dtype=object))
    back = _round_trip(table)
    assert type(back) is Table and back.labels == table.labels
    for label in table.labels:
        assert back.column(label).dtype == table.column(label).dtype
        assert back.column(label).tolist() == table.column(label).tolist()
    assert _wire(Table().with_columns("thing", np.array([Opaque()], dtype=object))) == HANDLE


def test_decoding_a_table_leaves_numpy_print_options_alone() -> None:
    """datascience sets ``legacy='1.13'`` when imported; the grading process imports it to
    build a Table and must not change how later tests print NumPy values."""
    with np.printoptions():
        from datascience import Table

    payload = json.dumps(_wire(Table().with_columns("x", np.array([1.5]))))
    code = ("import json, sys, numpy as np\n"
            "from autograder.grading.sandbox import values\n"
            "table = values.decode_value(json.loads(sys.stdin.read()), None, None)\n"
            "print(type(table).__name__, np.get_printoptions()['legacy'], repr(np.float64(0.5)))\n")
    done = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split() == ["Table", "False", "np.float64(0.5)"]
