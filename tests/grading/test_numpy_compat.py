"""NumPy 1 doctest expectations under NumPy 2: the repr-only detector and the legacy option."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from autograder.grading.otter.numpy_compat import legacy_scalar_repr, numpy1_spelling, numpy_repr_only

NUMPY2 = int(np.__version__.split(".")[0]) >= 2


@pytest.mark.parametrize(("value", "numpy1"), [
    (np.True_, "True"), (np.False_, "False"), (np.float64(0.5), "0.5"), (np.int64(3), "3"),
    (np.uint8(7), "7"), (np.float32(1.5), "1.5"), (np.str_("a"), "'a'"),
    ((np.int64(1), np.float64(2.5)), "(1, 2.5)"), ([np.True_, np.False_], "[True, False]"),
    (np.complex128(1 + 2j), "(1+2j)"), (np.datetime64("2020-01-02"), "numpy.datetime64('2020-01-02')"),
])
def test_numpy1_spelling_matches_what_numpy1_printed(value: object, numpy1: str) -> None:
    assert numpy1_spelling(repr(value)) == numpy1
    with legacy_scalar_repr():  # the option prints exactly what the detector expects
        assert repr(value) == numpy1


def test_repr_only_detector() -> None:
    got = repr(np.isclose(3.3333333, 3.33333333)) + "\n"
    assert numpy_repr_only("True\n", got) is NUMPY2
    assert not numpy_repr_only("False\n", got)  # a real difference stays a failure
    assert not numpy_repr_only("True\n", "True\n")  # not failing at all
    assert numpy_repr_only("0.3333\n", "np.float64(0.3333333)\n") is False  # precision differs
    assert numpy_repr_only("0.333...\n", "np.float64(0.3333333)\n", doctest.ELLIPSIS)
    assert np.get_printoptions()["legacy"] is False  # the option does not leak out of its context
