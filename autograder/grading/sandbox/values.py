"""The value codec: which Python values may cross between the sandbox and the grader, and how.

Why a hand-made codec: the sandbox side is written by code the student controls, so the
trusted side must decode with a parser that can only ever produce plain data: no pickle, no
dill, no eval, no object hooks that import or call anything. Exact type checks on the encoding
side keep a subclass with a rigged ``__eq__`` from passing as plain data.

``encode_value``/``decode_value`` carry these, and ONLY these, types:

* ``None``, ``bool``, ``int``, ``float``, ``str`` -> JSON scalars;
* ``list`` -> JSON array;
* ``tuple`` -> ``{"$": "tuple", "v": [...]}``;
* ``dict`` with ``str`` keys -> ``{"$": "dict", "v": {...}}`` (always tagged, so a student's
  dict can never be mistaken for a tag);
* ``complex`` -> ``{"$": "complex", "re": float, "im": float}``;
* ``numpy.ndarray`` of a plain dtype (bool, integer, float, complex, ``datetime64``,
  ``timedelta64``, ``str_``, ``bytes_``) -> ``{"$": "nd", "npy": base64 NPY}`` (written and
  read with ``allow_pickle=False``; the NPY header is checked against the data length before
  anything is allocated);
* numpy scalars of those dtypes -> ``{"$": "nps", "npy": ...}`` (a 0-d array);
* dates and times, pandas objects (``Series``, ``DataFrame``, ``Index``, ``Timestamp``...) and
  ``datascience.Table`` -> ``{"$": "x", "v": {...}}`` (see ``richvalues``: real objects of the
  same types on the other side, or a handle when their contents are not data);
* ``slice`` of ints/None -> ``{"$": "slice", "v": [start, stop, step]}``;
* ``set``/``frozenset`` of hashable plain values -> ``{"$": "set"|"frozenset", "v": [...]}``;
* ``dict`` with other hashable plain keys -> ``{"$": "map", "v": [[key, value], ...]}``;
* ``bytes`` -> ``{"$": "bytes", "b64": str}``;
* an allow-listed module -> ``{"$": "module", "name": str}`` (each side resolves it to ITS
  own import of that module);
* a remote object -> ``{"$": "handle", "id": int, "type": str, "flags": [str, ...]}``.

Anything else is a ``ProtocolError``. Nesting depth, item counts and sizes are capped (the
frame limits come from ``channel``).

This module is also copied verbatim into the sandbox (as ``mlphys_values.py``, next to
``mlphys_channel.py`` and ``mlphys_richvalues.py``), so it depends only on the standard
library, ``channel``, ``richvalues`` and, lazily, on NumPy and pandas.
"""

from __future__ import annotations

import base64
import builtins
import functools
import io
import sys
from collections.abc import Callable
from typing import Any

if __package__:  # imported from the package (the trusted side, tests)
    from .channel import MAX_FRAME_BYTES, MAX_ITEMS, ProtocolError
    from .richvalues import DATETIME_TYPES, UTC, NotData, RichValueError
    from .richvalues import decode as decode_rich
    from .richvalues import encode as encode_rich
else:  # inside the sandbox: the copies sit side by side as top-level modules
    from mlphys_channel import MAX_FRAME_BYTES, MAX_ITEMS, ProtocolError
    from mlphys_richvalues import DATETIME_TYPES, UTC, NotData, RichValueError
    from mlphys_richvalues import decode as decode_rich
    from mlphys_richvalues import encode as encode_rich

# Student code shares the runner's process and may rebind ``builtins.len`` & co. Module-level
# copies of the built-ins used here keep this code working whatever the student does to them.
globals().update({_name: getattr(builtins, _name) for _name in (
    "type", "len", "frozenset", "isinstance", "max", "min", "int", "id", "str", "set",
    "bytes", "bytearray", "any", "all", "tuple", "slice", "complex", "list", "getattr",
    "callable", "memoryview", "iter", "next", "dict", "float", "bool", "range", "repr",
    "object", "sorted", "hasattr", "issubclass", "open", "print", "enumerate", "zip",
    "BaseException", "Exception", "MemoryError", "StopIteration", "KeyboardInterrupt",
    "AttributeError", "KeyError", "TypeError", "ValueError", "OSError", "ImportError",
    "BlockingIOError", "BrokenPipeError", "ConnectionResetError", "UnicodeDecodeError",
    "RecursionError", "ProcessLookupError",
)})

MAX_DEPTH = 48
"""Deepest nesting of lists/tuples/dicts a decoded value may have."""

MAX_TEXT = 10_000
"""Longest type name / error message / question name kept from the sandbox."""

HANDLE_FLAGS = frozenset({"callable", "iterator", "iterable", "len", "getitem", "class"})
"""Capabilities a remote handle may advertise (used only for local error messages)."""

MODULE_ALLOWLIST = frozenset(
    {
        "numpy", "numpy.linalg", "numpy.random", "numpy.fft", "numpy.testing", "math", "cmath",
        "random", "statistics", "collections", "itertools", "functools", "operator", "re",
        "json", "string", "decimal", "fractions", "datetime", "time", "copy", "typing",
        "dataclasses", "scipy", "scipy.optimize", "scipy.integrate", "scipy.stats",
        "scipy.linalg", "scipy.special", "scipy.signal", "scipy.interpolate", "pandas",
        "matplotlib", "matplotlib.pyplot", "seaborn", "sklearn", "torch",
    }
)
"""Modules that resolve to the receiving side's own import instead of a remote handle."""

NUMERIC_KINDS = frozenset("biufc")

PLAIN_KINDS = frozenset("biufcmMSU")
"""NumPy dtype kinds that cross as NPY data: numbers, bools, datetimes, timedeltas, strings."""

TAGS = frozenset({"tuple", "dict", "complex", "nd", "nps", "slice", "module", "handle", "set",
                  "frozenset", "map", "bytes", "x"})

HASHABLE_KEYS = (type(None), bool, int, float, str, complex, bytes)
_UTC_TYPE = type(UTC)
"""Exact types allowed as set members / map keys (plus tuples and frozensets of them)."""


def clean_text(text: str, limit: int) -> str:
    """Untrusted text: cut to ``limit`` UTF-8 bytes, lone surrogates replaced."""
    raw = text.encode("utf-8", "replace")
    if len(raw) > limit:
        raw = raw[:limit]
    return raw.decode("utf-8", "ignore")


class TooBigError(Exception):
    """Raised by the encoder when a value would not fit in a frame (send a handle instead)."""


class _Budget:
    """Running size estimate of an encoding, so huge or self-referencing values stop early."""

    __slots__ = ("items", "nbytes")

    def __init__(self) -> None:
        self.items = 0
        self.nbytes = 0

    def spend(self, items: int, nbytes: int) -> None:
        self.items += items
        self.nbytes += nbytes
        if self.items > MAX_ITEMS // 2 or self.nbytes > MAX_FRAME_BYTES // 2:
            raise TooBigError("value too large for one frame")


def _numpy() -> Any:
    """NumPy if it is already imported (no array can exist otherwise), else None."""
    return sys.modules.get("numpy")


def is_numeric_dtype(dtype: Any) -> bool:
    """Plain numeric/bool dtype: no objects, no fields, no sub-arrays."""
    return (dtype.kind in NUMERIC_KINDS and not dtype.hasobject
            and dtype.fields is None and dtype.subdtype is None)


def is_plain_dtype(dtype: Any) -> bool:
    """A dtype whose NPY bytes are data only: numbers, bools, datetime64/timedelta64, fixed
    width strings; no objects, no fields, no sub-arrays."""
    return (dtype.kind in PLAIN_KINDS and not dtype.hasobject
            and dtype.fields is None and dtype.subdtype is None)


def array_to_b64(array: Any) -> str:
    """NPY bytes of an array of a plain dtype, base64 text: byte for byte what ``np.save``
    writes (``allow_pickle=False``).

    Why not ``np.save`` itself: it formats and pads the header text on every call (about 40
    microseconds, most of the cost of a small array), and a test that calls a student function
    a thousand times sends the same few shapes over and over; the header is cached here.
    """
    if not is_plain_dtype(array.dtype):
        raise TypeError(f"dtype {array.dtype} cannot cross as data")
    fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)
    header = _npy_header_for(array.dtype.str, fortran, tuple(array.shape))
    return base64.b64encode(header + array.tobytes(order="F" if fortran else "C")).decode("ascii")


@functools.lru_cache(maxsize=256)
def _npy_header_for(descr: str, fortran: bool, shape: tuple[int, ...]) -> bytes:
    """Magic string and header of an NPY file for arrays of this dtype (``dtype.str``, which
    is what ``np.save`` writes for a plain dtype), order and shape, as ``np.save`` writes them
    (version 1.0: a plain dtype and at most 64 dimensions never need 2.0's longer header)."""
    from numpy.lib import format as npy_format

    fields = {"descr": descr, "fortran_order": fortran, "shape": shape}
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, fields)
    return buffer.getvalue()


NPY_MAGIC = b"\x93NUMPY"
NPY_HEADER_LENGTH_BYTES = {(1, 0): 2, (2, 0): 4}
"""NPY versions accepted, and how many little-endian bytes give each one's header length."""

MAX_NPY_HEADER = 10_000
"""Longest NPY header accepted (NumPy's own default limit for untrusted files)."""


def array_from_b64(text: Any) -> Any:
    """Decode base64 NPY into an ndarray of a plain dtype, validating before allocating.

    Why the manual header check: ``np.load`` on a byte buffer allocates the array announced
    by the header before reading the data, so a lying header could ask for terabytes.
    Why the header is parsed once and cached: NumPy parses it with ``ast.literal_eval`` (about
    35 microseconds), and a test that calls a student's function many times sends the same few
    headers over and over; the data is then copied straight out of the buffer.
    """
    import numpy as np

    if type(text) is not str:
        raise ProtocolError("array payload must be a string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        if raw[:6] != NPY_MAGIC or len(raw) < 8:
            raise ProtocolError("array payload is not NPY data")
        version = (raw[6], raw[7])
        width = NPY_HEADER_LENGTH_BYTES.get(version)
        if width is None:
            raise ProtocolError(f"unsupported NPY version {version}")
        start = 8 + width
        header_length = int.from_bytes(raw[8:start], "little")
        if header_length > MAX_NPY_HEADER or len(raw) < start + header_length:
            raise ProtocolError("NPY header is cut short or too long")
        shape, fortran, dtype = _npy_header(raw[:start + header_length])
        count = 1
        for dim in shape:
            count *= dim
        offset = start + header_length
        if count * dtype.itemsize != len(raw) - offset:
            raise ProtocolError("array data length does not match its header")
        # as numpy.lib.format.read_array does for a byte stream: np.ndarray handles the
        # zero-width string dtypes that np.empty does not, and the copy owns writable memory
        array = np.ndarray(count, dtype=dtype)
        if dtype.itemsize > 0:
            array[...] = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
        array = array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)
    except ProtocolError:
        raise
    except Exception as exc:  # any parse failure of untrusted bytes is a protocol error
        raise ProtocolError(f"bad array payload: {type(exc).__name__}: {exc}") from None
    if type(array) is not np.ndarray or not is_plain_dtype(array.dtype):
        raise ProtocolError("array payload did not decode to a plain ndarray")
    return array


@functools.lru_cache(maxsize=256)
def _npy_header(magic_and_header: bytes) -> tuple[tuple[int, ...], bool, Any]:
    """Shape, Fortran order and dtype of one NPY header, parsed by NumPy's own reader.

    Cached on the exact bytes, so a header is parsed the same way whether seen first or again;
    the checks a cached header has passed (plain dtype, shape of non-negative ints) are part of
    what is cached, and the data length is checked on every call by the caller.
    """
    from numpy.lib import format as npy_format

    stream = io.BytesIO(magic_and_header)
    version = npy_format.read_magic(stream)
    reader = (npy_format.read_array_header_1_0 if version == (1, 0)
              else npy_format.read_array_header_2_0)
    shape, fortran, dtype = reader(stream, max_header_size=MAX_NPY_HEADER)
    if not is_plain_dtype(dtype):
        raise ProtocolError(f"array dtype {dtype} is not a plain dtype")
    if type(shape) is not tuple or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise ProtocolError("NPY shape is not a tuple of non-negative integers")
    return shape, bool(fortran), dtype


def _check_text(value: Any, what: str, limit: int = MAX_TEXT) -> str:
    if type(value) is not str or len(value) > limit:
        raise ProtocolError(f"{what} must be a string of at most {limit} characters")
    return value


def decode_value(obj: Any,
                 make_handle: Callable[[int, str, frozenset[str]], Any],
                 resolve_module: Callable[[str], Any],
                 depth: int = 0) -> Any:
    """Turn one parsed JSON value into plain data (see the module docstring for the types).

    ``make_handle(id, type_name, flags)`` builds the local stand-in for a remote object;
    ``resolve_module(name)`` returns the local module for an allow-listed name. Neither is
    ever given anything but validated ints/strings.
    """
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    kind = type(obj)
    if obj is None or kind in (bool, int, float, str):
        return obj
    if kind is list:
        return [decode_value(item, make_handle, resolve_module, depth + 1) for item in obj]
    if kind is not dict:
        raise ProtocolError(f"unexpected JSON type {kind.__name__}")
    tag = obj.get("$")
    if type(tag) is not str or tag not in TAGS:
        raise ProtocolError("JSON object without a known '$' tag")
    return _decode_tagged(tag, obj, make_handle, resolve_module, depth)


_TAG_KEYS = {
    "tuple": {"$", "v"}, "dict": {"$", "v"}, "complex": {"$", "re", "im"}, "nd": {"$", "npy"},
    "nps": {"$", "npy"}, "slice": {"$", "v"}, "module": {"$", "name"},
    "handle": {"$", "id", "type", "flags"}, "set": {"$", "v"}, "frozenset": {"$", "v"},
    "map": {"$", "v"}, "bytes": {"$", "b64"}, "x": {"$", "v"},
}


def _is_plain_hashable(value: Any, depth: int = 0) -> bool:
    """Hashable plain data only, so hashing it can never run anybody's ``__hash__``."""
    kind = type(value)
    if kind in HASHABLE_KEYS:
        return True
    if kind in (tuple, frozenset) and depth < 8:
        return all(_is_plain_hashable(item, depth + 1) for item in value)
    if kind in DATETIME_TYPES and (
            getattr(value, "tzinfo", None) is None or type(value.tzinfo) is _UTC_TYPE):
        return True  # dates and naive or fixed-offset times: hashed by C code
    np = _numpy()
    return np is not None and isinstance(value, np.generic) and kind.__module__ == "numpy"


def _no_handles(handle_id: int, type_name: str, flags: frozenset[str]) -> Any:
    raise ProtocolError("a remote handle inside a data value")


def _decode_rich(value: Any, resolve_module: Callable[[str], Any], depth: int) -> Any:
    """A date, pandas object or Table; its parts are plain data (never handles)."""
    def item(part: Any) -> Any:
        return decode_value(part, _no_handles, resolve_module, depth + 1)

    try:
        return decode_rich(value, item, array_from_b64)
    except RichValueError as exc:
        raise ProtocolError(f"bad value: {str(exc)[:200]}") from None


def _decode_tagged(tag: str, obj: dict[str, Any],
                   make_handle: Callable[[int, str, frozenset[str]], Any],
                   resolve_module: Callable[[str], Any], depth: int) -> Any:
    """Decode one tagged object after checking it has exactly the expected keys."""
    if set(obj) != _TAG_KEYS[tag]:
        raise ProtocolError(f"tag {tag!r} with unexpected keys")
    value = obj.get("v")
    if tag == "tuple":
        if type(value) is not list:
            raise ProtocolError("tuple payload must be a list")
        return tuple(decode_value(item, make_handle, resolve_module, depth + 1) for item in value)
    if tag == "dict":
        if type(value) is not dict:
            raise ProtocolError("dict payload must be an object")
        return {key: decode_value(item, make_handle, resolve_module, depth + 1)
                for key, item in value.items()}
    if tag in ("set", "frozenset", "map"):
        if type(value) is not list:
            raise ProtocolError(f"{tag} payload must be a list")
        items = [decode_value(item, make_handle, resolve_module, depth + 1) for item in value]
        if tag == "map":
            if not all(type(pair) is list and len(pair) == 2 for pair in items):
                raise ProtocolError("map payload must be a list of pairs")
            keys = [pair[0] for pair in items]
        else:
            keys = items
        if not all(_is_plain_hashable(key) for key in keys):
            raise ProtocolError(f"{tag} members must be hashable plain values")
        if tag == "map":
            return {pair[0]: pair[1] for pair in items}
        return set(items) if tag == "set" else frozenset(items)
    if tag == "bytes":
        if type(obj["b64"]) is not str:
            raise ProtocolError("bytes payload must be a string")
        try:
            return base64.b64decode(obj["b64"].encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise ProtocolError("bad bytes payload") from None
    if tag == "complex":
        re_, im_ = obj["re"], obj["im"]
        if type(re_) not in (int, float) or type(im_) not in (int, float):
            raise ProtocolError("complex parts must be numbers")
        return complex(re_, im_)
    if tag == "x":
        return _decode_rich(value, resolve_module, depth)
    if tag == "nd":
        return array_from_b64(obj["npy"])
    if tag == "nps":
        array = array_from_b64(obj["npy"])
        if array.shape != ():
            raise ProtocolError("numpy scalar payload must be 0-d")
        return array[()]
    if tag == "slice":
        if (type(value) is not list or len(value) != 3
                or any(v is not None and type(v) is not int for v in value)):
            raise ProtocolError("slice payload must be three ints or nulls")
        return slice(*value)
    if tag == "module":
        name = _check_text(obj["name"], "module name", 200)
        if name not in MODULE_ALLOWLIST:
            raise ProtocolError(f"module {name!r} is not allow-listed")
        return resolve_module(name)
    handle_id, flags = obj["id"], obj["flags"]
    if type(handle_id) is not int or handle_id < 0:
        raise ProtocolError("handle id must be a non-negative int")
    type_name = _check_text(obj["type"], "handle type name", 200)
    if type(flags) is not list or any(type(f) is not str or f not in HANDLE_FLAGS for f in flags):
        raise ProtocolError("handle flags must be known strings")
    return make_handle(handle_id, type_name, frozenset(flags))


def encode_value(obj: Any,
                 handle_for: Callable[[Any], dict[str, Any]],
                 module_name: Callable[[Any], str | None],
                 budget: _Budget | None = None,
                 depth: int = 0) -> Any:
    """Encode ``obj`` for the wire, using EXACT type checks.

    Why exact types: a subclass of ``int``/``list``/``ndarray`` can carry a rigged ``__eq__``
    or ``__repr__``; it must reach the other side as an opaque handle, never as a look-alike
    of plain data. ``handle_for(obj)`` returns the handle tag for anything not plain;
    ``module_name(obj)`` returns an allow-listed module name or None. Raises ``TooBigError`` when
    the value would not fit in a frame (callers then send a handle for the whole value).
    """
    budget = budget if budget is not None else _Budget()
    kind = type(obj)
    if obj is None or kind is bool or kind is float:
        budget.spend(1, 24)
        return obj
    if kind is int:
        if obj.bit_length() > 12_000:  # JSON ints beyond ~4300 digits are refused by Python
            return handle_for(obj)
        budget.spend(1, 24 + obj.bit_length() // 3)
        return obj
    if kind is str:
        budget.spend(1, 2 + len(obj) * 2)
        return obj
    if kind is complex:
        budget.spend(1, 64)
        return {"$": "complex", "re": obj.real, "im": obj.imag}
    if depth >= MAX_DEPTH:
        return handle_for(obj)
    if kind is list or kind is tuple:
        budget.spend(len(obj) + 1, 8)
        items = [encode_value(item, handle_for, module_name, budget, depth + 1) for item in obj]
        return items if kind is list else {"$": "tuple", "v": items}
    if kind is dict:
        budget.spend(len(obj) + 1, 8)
        if all(type(key) is str for key in obj):
            return {"$": "dict", "v": {key: encode_value(value, handle_for, module_name,
                                                         budget, depth + 1)
                                       for key, value in obj.items()}}
        if not all(_is_plain_hashable(key) for key in obj):
            return handle_for(obj)
        return {"$": "map", "v": [[encode_value(key, handle_for, module_name, budget, depth + 1),
                                   encode_value(value, handle_for, module_name, budget,
                                                depth + 1)] for key, value in obj.items()]}
    if kind is set or kind is frozenset:
        if not all(_is_plain_hashable(item) for item in obj):
            return handle_for(obj)
        budget.spend(len(obj) + 1, 8)
        return {"$": "set" if kind is set else "frozenset",
                "v": [encode_value(item, handle_for, module_name, budget, depth + 1)
                      for item in obj]}
    if kind is bytes:
        budget.spend(1, len(obj) * 4 // 3 + 16)
        return {"$": "bytes", "b64": base64.b64encode(obj).decode("ascii")}
    if kind is slice:
        parts = [obj.start, obj.stop, obj.step]
        if all(p is None or type(p) is int for p in parts):
            budget.spend(4, 64)
            return {"$": "slice", "v": parts}
        return handle_for(obj)
    encoded = _encode_numpy(obj, budget)
    if encoded is not None:
        return encoded
    encoded = _encode_rich(obj, handle_for, budget, depth)
    if encoded is not None:
        return encoded
    name = module_name(obj)
    if name is not None:
        return {"$": "module", "name": name}
    return handle_for(obj)


def _encode_numpy(obj: Any, budget: _Budget) -> dict[str, Any] | None:
    """Encode exact ndarrays and numpy scalars of plain dtypes; None for anything else."""
    np = _numpy()
    if np is None:
        return None
    kind = type(obj)
    if kind is np.ndarray and is_plain_dtype(obj.dtype):
        budget.spend(1, int(obj.nbytes) * 4 // 3 + 200)
        return {"$": "nd", "npy": array_to_b64(obj)}
    if (isinstance(obj, np.generic) and kind.__module__ == "numpy"
            and is_plain_dtype(obj.dtype)):
        budget.spend(1, 300)
        return {"$": "nps", "npy": array_to_b64(np.asarray(obj))}
    return None


def _refuse(obj: Any) -> dict[str, Any]:
    raise NotData(type(obj).__name__)


def _encode_rich(obj: Any, handle_for: Callable[[Any], dict[str, Any]], budget: _Budget,
                 depth: int) -> dict[str, Any] | None:
    """Dates, pandas objects and Tables as data; a handle when their contents are not data
    (or when the object's own code fails while being read); None for other types."""
    def item(part: Any) -> Any:
        return encode_value(part, _refuse, _no_module, budget, depth + 1)

    def array(values: Any) -> str:
        budget.spend(1, int(values.nbytes) * 4 // 3 + 200)
        return array_to_b64(values)

    try:
        return encode_rich(obj, item, array)
    except TooBigError:
        raise
    except Exception:  # NotData, or reading the object failed: it stays where it is
        return handle_for(obj)


def _no_module(obj: Any) -> None:
    return None
