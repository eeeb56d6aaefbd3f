"""The one way hidden tests compare a student's arrays with the expected ones.

Why not ``np.allclose(got, expected)``: it broadcasts. An empty array (``np.empty((0, 5))``)
broadcasts against anything and every comparison of nothing is true, so a function that returns
an empty array, or the right shape only for the public format input, passed hidden tests. The
same holds for ``np.all(got == expected)`` and ``np.array_equal`` of a scalar against an array.
Every comparison here therefore checks, in this order:

1. the value is numeric (booleans, integers, floats: not object, string or complex arrays),
2. its shape is exactly the expected shape (no broadcasting, no ravelling),
3. it is finite wherever the expected value is finite (NaN and inf never pass),
4. the values agree within a tolerance that float32 arithmetic meets and plausible mistakes
   (a missing factor, a transposed matrix, a wrong sign) do not.

Hidden tests also check the *size* of what they receive before they run reference code on it
(:func:`checked_network`, ``max_size``): a student network with a 250 000-unit hidden layer
must fail with a clear message, not make the grading process allocate gigabytes.

Failures raise ``AssertionError`` with a message for instructors (shapes and the worst
deviation, never the expected values themselves); students see the test's name and hint only.
``tests/assignments/test_hidden_test_rules.py`` fails when a hidden test compares arrays any
other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

NUMERIC_KINDS = "biuf"

#: Exceptions of ``mlphys grade``'s sandbox that are not the student's answer (by name: the
#: reference package does not import the grader).
GRADER_FAILURES = frozenset({"SandboxTimeout", "SandboxDied", "SandboxProtocolError"})

#: Default relative tolerance: float32 results (about 1e-7 per operation, 1e-6 after a chain of
#: them) pass; a missing factor 1/2 or a transposed matrix (order-one errors) does not.
RTOL = 1e-5


def as_array(value: Any, what: str, *, shape: tuple[int, ...] | None = None,
             finite: bool = True, max_size: int | None = None) -> np.ndarray:
    """``value`` as a float64 array after checking kind, size, shape and finiteness.

    ``shape`` entries of ``-1`` accept any length in that axis (the number of axes must match).
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists, objects that refuse conversion
        raise AssertionError(f"{what}: not an array of numbers ({type(exc).__name__})") from None
    if arr.dtype.kind not in NUMERIC_KINDS:
        raise AssertionError(f"{what}: expected numbers, got an array of dtype {arr.dtype}")
    if max_size is not None and arr.size > max_size:
        raise AssertionError(f"{what}: {arr.size} numbers, more than the bound of {max_size}")
    if shape is not None and (arr.ndim != len(shape) or any(
            s != -1 and a != s for a, s in zip(arr.shape, shape, strict=True))):
        raise AssertionError(f"{what}: shape {arr.shape}, expected {tuple(shape)}")
    arr = arr.astype(float)
    if finite and not np.all(np.isfinite(arr)):
        raise AssertionError(f"{what}: contains NaN or infinite values")
    return arr


def as_number(value: Any, what: str, *, allow_bool: bool = False) -> float:
    """A single finite real number (a Python or NumPy scalar, or a 0-d or one-element array).

    ``allow_bool``: True/False count as 1/0 (a yes/no verdict); otherwise a bool is refused.
    """
    if allow_bool and isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, str | bytes | bool | np.bool_) or value is None:
        raise AssertionError(f"{what}: expected a number, got {type(value).__name__}")
    arr = as_array(value, what)
    if arr.size != 1 or arr.ndim > 1:
        raise AssertionError(f"{what}: expected one number, got shape {arr.shape}")
    return float(arr.reshape(()))


def assert_close(got: Any, expected: Any, what: str = "result", *, rtol: float = RTOL,
                 atol: float = 0.0, exact: bool = False) -> np.ndarray:
    """``got`` equals ``expected`` in kind, shape, finiteness and value; returns ``got`` as floats.

    The tolerance of each element is ``rtol * (|expected_i| + max|expected|) + atol``: relative
    to the array's own scale, so an element that is zero by cancellation is not held to an
    absolute precision that float32 cannot reach. ``exact=True`` demands equality (step
    functions, labels, counts).
    """
    want = np.asarray(expected, dtype=float)
    arr = as_array(got, what, shape=want.shape, finite=bool(np.all(np.isfinite(want))))
    if exact:
        bad = arr != want
    else:
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        bad = np.abs(arr - want) > rtol * (np.abs(want) + scale) + atol
    if np.any(bad):
        count = int(np.count_nonzero(bad))
        worst = float(np.max(np.abs(arr - want)))
        raise AssertionError(f"{what}: {count} of {want.size} values differ "
                             f"(largest deviation {worst:.3g})")
    return arr


def assert_close_list(got: Any, expected: Sequence[Any], what: str = "result", **kw: Any) -> list:
    """A list/tuple of arrays (per layer, say): same length, then :func:`assert_close` each."""
    if isinstance(got, np.ndarray) or not isinstance(got, list | tuple):
        raise AssertionError(f"{what}: expected a list of {len(expected)} arrays, "
                             f"got {type(got).__name__}")
    if len(got) != len(expected):
        raise AssertionError(f"{what}: {len(got)} entries, expected {len(expected)}")
    pairs = enumerate(zip(got, expected, strict=True))
    return [assert_close(g, e, f"{what}[{k}]", **kw) for k, (g, e) in pairs]


def assert_shapes(got: Any, shapes: Sequence[tuple[int, ...]], what: str = "result") -> list:
    """A list/tuple of numeric, finite arrays with exactly these shapes (values not compared)."""
    if isinstance(got, np.ndarray) or not isinstance(got, list | tuple):
        raise AssertionError(f"{what}: expected a list of {len(shapes)} arrays, got {type(got).__name__}")
    if len(got) != len(shapes):
        raise AssertionError(f"{what}: {len(got)} entries, expected {len(shapes)}")
    return [as_array(g, f"{what}[{k}]", shape=tuple(s)) for k, (g, s) in
            enumerate(zip(got, shapes, strict=True))]


def matches_any(got: Any, candidates: Sequence[Any], what: str = "result", **kw: Any) -> bool:
    """True if ``got`` passes :func:`assert_close` against at least one candidate.

    For a later question that may build on an earlier one: the answer is right if it agrees
    with the reference, or with the same computation done with the student's own earlier
    function (so one mistake costs one question). Candidates that are ``None`` (could not be
    computed, e.g. the earlier function raised) are skipped.
    """
    for expected in candidates:
        if expected is None:
            continue
        try:
            if isinstance(expected, list | tuple):
                assert_close_list(got, expected, what, **kw)
            else:
                assert_close(got, expected, what, **kw)
        except AssertionError:
            continue
        return True
    return False


def call_or_none(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or ``None`` when ``fn`` is missing, not callable or raises.

    How a hidden test evaluates the student's own *earlier* function on the test's inputs, to
    build the second candidate for :func:`matches_any`. Only ``Exception`` is caught: the
    grader's time budget (a ``KeyboardInterrupt``) still ends the test, and a sandbox that timed
    out or died is reported as such, not taken for a wrong answer.
    """
    if fn is None or not callable(fn):
        return None
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        if type(exc).__name__ in GRADER_FAILURES:
            raise
        return None


def call_each(fn: Any, argument_tuples: Sequence[Sequence[Any]]) -> list[Any]:
    """``[fn(*args) for args in argument_tuples]``: one student function on many inputs.

    Why: under ``mlphys grade`` the student's function lives in the sandbox and each call is
    an exchange between two processes; a test that calls it 500 times (every 3x3 image) spends
    more on the exchanges than on the calls. The grader's remote function offers a batched
    call on its type, used here; in Otter or a student's own kernel ``fn`` is a plain function
    and this is the loop. Same results and the same first exception either way; the one
    difference: every argument is sent before the first call runs, so give each call its own
    objects (a copy), not one that a previous call may have changed.
    """
    calls = [(tuple(args), {}) for args in argument_tuples]
    batched = getattr(type(fn), "_mlphys_call_each", None)
    if batched is not None:
        return list(batched(fn, calls))
    return [fn(*args) for args, _ in calls]


def fraction_equal(got: Any, truth: Any, what: str = "labels") -> float:
    """Fraction of entries of ``got`` equal to ``truth``, after the shape check."""
    want = np.asarray(truth, dtype=float)
    arr = as_array(got, what, shape=want.shape)
    return float(np.mean(arr == want)) if want.size else 0.0


def checked_network(weights: Any, biases: Any, what: str = "network", *, n_in: int, n_out: int,
                    max_width: int, max_layers: int = 10,
                    shapes: Sequence[tuple[int, int]] | None = None,
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A student's network as float arrays, after checking its structure and its size.

    Layers must chain (``weights[j]`` is ``[n_j, n_{j+1}]``, ``biases[j]`` is ``[n_{j+1}]``)
    from ``n_in`` inputs to ``n_out`` outputs, with at most ``max_layers`` layers and
    ``max_width`` neurons per layer (or exactly ``shapes`` when the question fixes them). The
    bound is checked on the *shapes* before any array is converted or used, so an oversized
    network costs the grader nothing.
    """
    for name, value in (("weights", weights), ("biases", biases)):
        if isinstance(value, np.ndarray) or not isinstance(value, list | tuple):
            raise AssertionError(f"{what}: {name} must be a list with one array per layer")
    if len(weights) != len(biases) or not 1 <= len(weights) <= max_layers:
        raise AssertionError(f"{what}: {len(weights)} weight matrices and {len(biases)} bias "
                             f"vectors (1 to {max_layers} layers, as many of each)")
    w_shapes = [np.shape(w) for w in weights]
    b_shapes = [np.shape(b) for b in biases]
    sizes = [n_in] + [s[1] if len(s) == 2 else -1 for s in w_shapes]
    for j, (ws, bs) in enumerate(zip(w_shapes, b_shapes, strict=True)):
        if len(ws) != 2 or ws[0] != sizes[j] or bs != (ws[1],):
            raise AssertionError(f"{what}: layer {j} has weights {ws} and biases {bs}, which do "
                                 f"not chain from {sizes[j]} inputs")
        if ws[1] > max_width:
            raise AssertionError(f"{what}: layer {j} has {ws[1]} neurons, more than the bound "
                                 f"of {max_width} stated in the question")
    if sizes[-1] != n_out:
        raise AssertionError(f"{what}: {sizes[-1]} outputs, expected {n_out}")
    if shapes is not None and [tuple(s) for s in w_shapes] != [tuple(s) for s in shapes]:
        raise AssertionError(f"{what}: weight shapes {w_shapes}, expected {list(shapes)}")
    ws_out = [as_array(w, f"{what} weights[{j}]", shape=s) for j, (w, s) in
              enumerate(zip(weights, w_shapes, strict=True))]
    bs_out = [as_array(b, f"{what} biases[{j}]", shape=s) for j, (b, s) in
              enumerate(zip(biases, b_shapes, strict=True))]
    return ws_out, bs_out


def checked_names(names: Any, allowed: Sequence[str], count: int, what: str = "activations") -> list[str]:
    """A list of ``count`` strings, each one of ``allowed`` (activation names, say)."""
    if isinstance(names, str) or not isinstance(names, list | tuple) or len(names) != count:
        raise AssertionError(f"{what}: expected a list of {count} names")
    if not all(isinstance(n, str) and n in allowed for n in names):
        raise AssertionError(f"{what}: every entry must be one of {', '.join(allowed)}")
    return list(names)
