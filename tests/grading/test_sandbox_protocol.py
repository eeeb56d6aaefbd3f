"""The wire format: only plain data decodes; malformed or oversized input is an error."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.grading.sandbox import channel, values
from autograder.grading.sandbox.channel import ProtocolError


def _no_handle(obj: object) -> dict:
    return {"$": "handle", "id": 7, "type": type(obj).__name__, "flags": []}


def _no_module(obj: object) -> None:
    return None


def roundtrip(value: object) -> object:
    """Encode as the runner does, go through JSON text, decode as the grader does."""
    encoded = values.encode_value(value, _no_handle, _no_module)
    message = channel.parse_payload(json.dumps({"op": "ok", "v": encoded}).encode())
    return values.decode_value(message["v"], lambda i, t, f: ("H", i, t), _fake_module)


def _fake_module(name: str) -> str:
    return f"module:{name}"


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.complex_numbers(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(plain)
def test_plain_data_roundtrips_exactly(value: object) -> None:
    assert roundtrip(value) == value
    assert type(roundtrip(value)) is type(value)


def test_arrays_and_numpy_scalars_roundtrip() -> None:
    for array in (np.arange(12, dtype=np.int32).reshape(3, 4), np.array([True, False]),
                  np.linspace(0, 1, 5), np.array([1 + 2j]), np.zeros((0, 3)),
                  np.asfortranarray(np.ones((2, 3)))):
        back = roundtrip(array)
        assert type(back) is np.ndarray and back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)
    scalar = roundtrip(np.float32(1.5))
    assert type(scalar) is np.float32 and scalar == 1.5
    assert roundtrip(np.int64(3)) == 3 and type(roundtrip(np.int64(3))) is np.int64
    assert roundtrip(slice(1, None, 2)) == slice(1, None, 2)
    for value in ({"a", 1, (2, "b")}, frozenset({1.5}), {1: "x", (2, 3): [4], None: {5}},
                  b"\x00raw", set()):
        back = roundtrip(value)
        assert back == value and type(back) is type(value)
    assert roundtrip(float("inf")) == float("inf")


def test_subclasses_and_foreign_objects_become_handles() -> None:
    class RiggedInt(int):
        def __eq__(self, other: object) -> bool:
            return True

    class RiggedKey(int):
        __hash__ = int.__hash__

        def __eq__(self, other: object) -> bool:
            return True

    class RiggedList(list):
        pass

    class RiggedArray(np.ndarray):
        pass

    class RiggedFloat(np.float64):
        pass

    for value in (RiggedInt(3), RiggedList([1]), np.zeros(2).view(RiggedArray),
                  RiggedFloat(1.0), np.array([object()]), {RiggedKey(1): 2},
                  {RiggedKey(2)}, object(), len):
        assert roundtrip(value)[0] == "H", value
    assert roundtrip([1, RiggedInt(2)])[1][0] == "H"


def test_too_big_values_are_refused_by_the_encoder() -> None:
    with pytest.raises(values.TooBigError):
        values.encode_value(["x" * 1000] * 100_000, _no_handle, _no_module)
    looped: list = []
    looped.extend([looped, looped])
    with pytest.raises(values.TooBigError):
        values.encode_value(looped, _no_handle, _no_module)


def _decode(obj: object) -> object:
    return values.decode_value(obj, lambda i, t, f: ("H", i), _fake_module)


def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("bad", [
    {"a": 1},                                             # untagged object
    {"$": "pickle", "v": "gASV"},                         # unknown tag
    {"$": "tuple", "v": [1], "extra": 2},                 # extra keys
    {"$": "complex", "re": "1", "im": 0},                 # wrong field types
    {"$": "nd", "npy": "!!!not base64"},
    {"$": "nd", "npy": base64.b64encode(b"\x93NUMPY garbage").decode()},
    {"$": "module", "name": "os"},                        # not allow-listed
    {"$": "handle", "id": -1, "type": "x", "flags": []},
    {"$": "handle", "id": 1, "type": "x", "flags": ["eval"]},
    {"$": "slice", "v": [1, "a", None]},
    {"$": "nps", "npy": _npy(np.arange(3))},              # a scalar must be 0-d
    {"$": "set", "v": [[1, 2]]},                          # unhashable member
    {"$": "map", "v": [[[1], 2]]},                        # unhashable key
    {"$": "map", "v": [[1, 2, 3]]},                       # not a pair
    {"$": "set", "v": [{"$": "tuple", "v": [[1]]}]},      # tuple holding a list
    {"$": "bytes", "b64": "***"},
])
def test_malformed_values_are_protocol_errors(bad: object) -> None:
    with pytest.raises(ProtocolError):
        _decode(bad)


def test_object_and_structured_arrays_are_refused() -> None:
    raw = io.BytesIO()
    np.save(raw, np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(ProtocolError):
        _decode({"$": "nd", "npy": base64.b64encode(raw.getvalue()).decode()})
    with pytest.raises(ProtocolError):
        _decode({"$": "nd", "npy": _npy(np.zeros(2, dtype=[("a", "f8")]))})


def test_lying_array_header_is_refused_before_allocation() -> None:
    """A header announcing 10**12 elements with 8 bytes of data must not allocate 8 TB."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    payload = base64.b64encode(header.getvalue() + b"\0" * 8).decode()
    with pytest.raises(ProtocolError, match="length"):
        _decode({"$": "nd", "npy": payload})


_PLAIN_DTYPES = ["<i8", ">i4", "|u1", "|b1", "<f4", ">f8", "<c16", "<M8[s]", "<m8[ns]", "<U3", "|S5",
                 "|S0", "<U0"]


@settings(max_examples=150, deadline=None)
@given(dtype=st.sampled_from(_PLAIN_DTYPES),
       shape=st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple),
       fortran=st.booleans(), version=st.sampled_from([(1, 0), (2, 0)]), seed=st.integers(0, 2**32 - 1))
def test_array_decoding_matches_numpy_load(dtype: str, shape: tuple[int, ...], fortran: bool,
                                           version: tuple[int, int], seed: int) -> None:
    """The decoder's own fast path gives exactly what ``np.load`` gives for the same bytes."""
    kind, size = np.dtype(dtype).kind, int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw_bytes = np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8).tobytes()
    if kind in "US":  # valid text: letters (UTF-32 little-endian code units for "U")
        raw_bytes = bytes(b % 26 + 97 if kind == "S" or i % 4 == 0 else 0 for i, b in enumerate(raw_bytes))
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": fortran, "shape": shape}
    (np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0)(
        buffer, header)
    buffer.write(raw_bytes)
    expected = np.load(io.BytesIO(buffer.getvalue()), allow_pickle=False)
    for _ in range(2):  # the second time the header comes from the cache
        got = _decode({"$": "nd", "npy": base64.b64encode(buffer.getvalue()).decode()})
        assert type(got) is np.ndarray and got.dtype == expected.dtype and got.shape == expected.shape
        assert got.flags.f_contiguous == expected.flags.f_contiguous
        assert got.tobytes(order="A") == expected.tobytes(order="A")
        assert got.flags.writeable and (got.flags.owndata or got.base.flags.owndata)  # not the buffer


@settings(max_examples=150, deadline=None)
@given(dtype=st.sampled_from(_PLAIN_DTYPES),
       shape=st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple),
       layout=st.sampled_from(["C", "F", "strided", "transposed"]), seed=st.integers(0, 2**32 - 1))
def test_array_encoding_is_what_numpy_save_writes(dtype: str, shape: tuple[int, ...], layout: str,
                                                  seed: int) -> None:
    """Byte for byte ``np.save``, for C and Fortran arrays, strided views and transposes, and
    again once the header is cached; and the round trip gives the array back."""
    base = np.random.default_rng(seed).integers(0, 9, size=tuple(2 * d for d in shape)).astype(dtype)
    array = {"C": np.ascontiguousarray(base[tuple(slice(0, d) for d in shape)]),
             "F": np.asfortranarray(base[tuple(slice(0, d) for d in shape)]),
             "strided": base[tuple(slice(0, 2 * d, 2) for d in shape)],
             "transposed": base[tuple(slice(0, d) for d in shape)].T}[layout]
    saved = io.BytesIO()
    np.save(saved, array, allow_pickle=False)
    for _ in range(2):
        text = values.array_to_b64(array)
        assert base64.b64decode(text) == saved.getvalue()
        back = values.array_from_b64(text)
        assert back.dtype == array.dtype and back.shape == array.shape
        assert back.tobytes() == array.tobytes()


def test_array_encoding_of_the_most_dimensions_numpy_allows() -> None:
    array = np.zeros((1,) * 64, dtype="<U7")
    saved = io.BytesIO()
    np.save(saved, array, allow_pickle=False)
    assert base64.b64decode(values.array_to_b64(array)) == saved.getvalue()


def _with_header(header_text: bytes, data: bytes, length: int | None = None) -> dict:
    length = len(header_text) if length is None else length
    raw = b"\x93NUMPY\x01\x00" + length.to_bytes(2, "little") + header_text + data
    return {"$": "nd", "npy": base64.b64encode(raw).decode()}


def test_a_cached_header_is_checked_against_each_payload_data() -> None:
    """The header cache keeps what a header says, never that a payload was fine: the same header
    with too little or too much data is refused every time, after it decoded once."""
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }".ljust(117) + b"\n"
    assert _decode(_with_header(header, b"\0" * 24)).tolist() == [0.0, 0.0, 0.0]
    for data in (b"\0" * 16, b"\0" * 32, b""):
        with pytest.raises(ProtocolError, match="length"):
            _decode(_with_header(header, data))


@pytest.mark.parametrize("payload", [
    # header length pointing past the end of the payload
    _with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n", b"", length=60_000),
    # header length shorter than the header text: it ends mid-dictionary
    _with_header(b"{'descr': '<i1', 'fortran_order': False, 'shape': (2,), }\n", b"", length=40),
    # negative and boolean dimensions, a shape that is not a tuple
    _with_header(b"{'descr': '<i1', 'fortran_order': False, 'shape': (-2, -3), }\n", b"\0" * 6),
    _with_header(b"{'descr': '<i1', 'fortran_order': False, 'shape': (True,), }\n", b"\0"),
    _with_header(b"{'descr': '<i1', 'fortran_order': False, 'shape': [2], }\n", b"\0\0"),
    # a header over NumPy's limit for untrusted files, an unknown NPY version, no magic
    _with_header(b"{'descr': '<i1', 'fortran_order': False, 'shape': (1,), " + b" " * 20_000 + b"}\n",
                 b"\0", length=65_000),
    {"$": "nd", "npy": base64.b64encode(b"\x93NUMPY\x03\x00" + b"\0" * 20).decode()},
    {"$": "nd", "npy": base64.b64encode(b"\x93NUMP").decode()},
    # Python code where the header's literal belongs (NumPy parses it with literal_eval)
    _with_header(b"{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (1,)}\n",
                 b"\0"),
])
def test_forged_npy_headers_are_protocol_errors(payload: dict) -> None:
    with pytest.raises(ProtocolError):
        _decode(payload)


def test_deep_nesting_and_bad_frames() -> None:
    deep: object = 1
    for _ in range(values.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ProtocolError):
        _decode(deep)
    for payload in (b"\xff\xfe", b"[1,2]", b'{"op": 3}', b"{" * 100_000, b'{"op":"x"',
                    b'{"op":"ok","v":1' + b"9" * 5000 + b"}"):
        with pytest.raises(ProtocolError):
            channel.parse_payload(payload)
    with pytest.raises(ProtocolError, match="items"):
        channel.parse_payload(b"[" + b"0," * (channel.MAX_ITEMS + 1) + b"0]")


def test_frame_reader_refuses_oversized_header_and_reports_eof() -> None:
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, struct.pack(">I", channel.MAX_FRAME_BYTES + 1) + b"xx")
        with pytest.raises(ProtocolError, match="announces"):
            channel.FrameReader(read_fd).read(deadline=None)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, struct.pack(">I", 10) + b"abc")
    os.close(write_fd)
    with pytest.raises(channel.PeerClosedError):
        channel.FrameReader(read_fd).read(deadline=None)
    os.close(read_fd)


def test_frame_reader_times_out_on_a_partial_frame() -> None:
    import time

    read_fd, write_fd = os.pipe()
    os.write(write_fd, struct.pack(">I", 10) + b"abc")
    started = time.monotonic()
    with pytest.raises(channel.FrameTimeoutError):
        channel.FrameReader(read_fd).read(deadline=time.monotonic() + 0.2)
    assert time.monotonic() - started < 2
    os.close(read_fd)
    os.close(write_fd)


def test_frames_roundtrip_through_a_pipe() -> None:
    read_fd, write_fd = os.pipe()
    message = {"op": "ok", "value": values.encode_value(np.arange(200_000), _no_handle,
                                                          _no_module)}
    writer = threading.Thread(target=channel.write_frame, args=(write_fd, message))
    writer.start()
    got = channel.FrameReader(read_fd).read(deadline=None)
    writer.join()
    np.testing.assert_array_equal(_decode(got["value"]), np.arange(200_000))
    os.close(read_fd)
    os.close(write_fd)


def test_no_unsafe_deserializers_in_trusted_modules() -> None:
    """The trusted side must never unpickle, dill-load or eval what the sandbox sends."""
    import autograder.grading.sandbox.remote as remote
    import autograder.grading.sandbox.sandbox as sandbox

    for module in (channel, values, sandbox, remote):
        source = Path(module.__file__).read_text(encoding="utf-8")
        for word in ("import pickle", "import dill", "eval(", "exec(", "allow_pickle=True",
                     "marshal"):
            assert word not in source, (module.__name__, word)
