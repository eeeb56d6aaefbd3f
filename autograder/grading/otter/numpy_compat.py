"""Doctests written under NumPy 1, graded under NumPy 2.

Why: NumPy 2 changed the ``repr`` of its scalars (``np.True_``, ``np.float64(0.5)``,
``np.int64(3)`` instead of ``True``, ``0.5``, ``3``). A doctest-style Otter test whose expected
output was recorded with NumPy 1 (``np.isclose(x, 3.33)`` -> ``True``) fails under NumPy 2 for
every student, the instructor's own solution included, under ``otter run`` as much as here.
Since our tests run in the trusted grading process, two remedies are possible and both are
offered:

* :func:`legacy_scalar_repr`: an opt-in context in which NumPy prints scalars as NumPy 1 did
  (``np.printoptions(legacy="1.25")``), so such tests grade as they did when they were written;
* :func:`numpy_repr_only`: tells whether a failing doctest differs from its expectation only by
  NumPy 2's scalar spelling, so the instructor's log and class report can say so even when the
  option is off.
"""

from __future__ import annotations

import contextlib
import doctest
import re
from collections.abc import Iterator

_SCALAR_TYPES = (
    r"(?:u?int(?:8|16|32|64|c|p)?|float(?:16|32|64|96|128)?|complex(?:64|128|192|256)?"
    r"|longlong|ulonglong|longdouble|clongdouble|half|single|double|short|ushort|byte|ubyte"
    r"|str_|bytes_|bool_?)"
)
_CALL = re.compile(r"\bnp\.(" + _SCALAR_TYPES + r")\(((?:[^()]|\([^()]*\))*)\)")
_BOOL = re.compile(r"\bnp\.(True|False)_")
_DATETIME = re.compile(r"\bnp\.(datetime64|timedelta64)\(")

LEGACY = "1.25"
"""The NumPy print-options ``legacy`` value that restores NumPy 1's scalar ``repr``."""


def numpy1_spelling(text: str) -> str:
    """``text`` with NumPy 2 scalar reprs rewritten as NumPy 1 printed them."""
    text = _BOOL.sub(r"\1", text)
    text = _DATETIME.sub(r"numpy.\1(", text)
    previous = None
    while previous != text:  # nested, e.g. a tuple of scalars inside np.complex128(...)
        previous = text
        text = _CALL.sub(_unwrap, text)
    return text


def _unwrap(match: re.Match[str]) -> str:
    kind, inner = match.group(1), match.group(2)
    if kind.startswith("complex") and not inner.startswith("("):
        return f"({inner})" if "j" in inner and ("+" in inner[1:] or "-" in inner[1:]) else inner
    return inner


def numpy_repr_only(want: str, got: str, optionflags: int = 0) -> bool:
    """True if ``got`` fails to match ``want`` but would match once NumPy 2's scalar reprs are
    spelled as NumPy 1 spelled them (same doctest option flags)."""
    checker = doctest.OutputChecker()
    if checker.check_output(want, got, optionflags):
        return False
    fixed = numpy1_spelling(got)
    return fixed != got and checker.check_output(want, fixed, optionflags)


@contextlib.contextmanager
def legacy_scalar_repr(enabled: bool = True, legacy: str | None = None) -> Iterator[None]:
    """NumPy prints scalars as NumPy 1 did while this context is active (no-op on NumPy 1 or
    when ``enabled`` is false). ``legacy``: that ``legacy`` print option instead (the
    notebook's own, e.g. ``'1.13'`` set by ``datascience``), whether enabled or not."""
    if not enabled and legacy is None:
        yield
        return
    import numpy as np

    if int(np.__version__.split(".")[0]) < 2:
        yield
        return
    with np.printoptions(legacy=legacy or LEGACY):
        yield
