"""The hidden tests' comparison helper refuses what ``np.allclose`` lets through."""

from __future__ import annotations

import time

import numpy as np
import pytest

from reference.checks import (
    as_number,
    assert_close,
    assert_close_list,
    checked_names,
    checked_network,
    fraction_equal,
    matches_any,
)

EXPECTED = np.random.default_rng(0).normal(size=(3, 5))


def test_what_np_allclose_accepts_and_the_helper_refuses():
    empty = np.empty((0,) + EXPECTED.shape)
    assert np.allclose(empty, EXPECTED)                       # the hole: it broadcasts
    for wrong in (empty, np.empty((0,)), np.empty((0, 5)), EXPECTED[:1], EXPECTED.mean(), EXPECTED.ravel(),
                  EXPECTED.T, EXPECTED[None], EXPECTED.astype(object), EXPECTED.astype(complex),
                  np.where(EXPECTED > 1, np.nan, EXPECTED), EXPECTED.astype(str), None,
                  [list(r) for r in EXPECTED[:, :4]] + [[1.0]], 2 * EXPECTED):
        with pytest.raises(AssertionError):
            assert_close(wrong, EXPECTED)


def test_correct_answers_in_other_forms_pass():
    assert_close(EXPECTED.astype(np.float32), EXPECTED)        # float32 arithmetic
    assert_close(EXPECTED.tolist(), EXPECTED)                   # nested lists
    assert_close(EXPECTED + 1e-9, EXPECTED)
    assert_close(np.array([True, False]), [1.0, 0.0], exact=True)
    # an element that is zero by cancellation is held to the array's scale, not to 0
    assert_close([1000.0, 1e-4], [1000.0, 0.0])
    with pytest.raises(AssertionError):
        assert_close([1.0, 1e-4], [1.0, 0.0], exact=True)


def test_lists_and_alternatives():
    assert_close_list([EXPECTED, EXPECTED[0]], [EXPECTED, EXPECTED[0]])
    with pytest.raises(AssertionError):
        assert_close_list([EXPECTED], [EXPECTED, EXPECTED[0]])
    with pytest.raises(AssertionError):
        assert_close_list(EXPECTED, [EXPECTED[0], EXPECTED[1], EXPECTED[2]])
    assert matches_any(EXPECTED, [None, 2 * EXPECTED, EXPECTED])
    assert not matches_any(np.empty((0, 5)), [None, EXPECTED])


def test_numbers_and_fractions():
    assert as_number(np.float32(2.5), "x") == 2.5
    assert as_number(np.array([[3.0]]).reshape(1), "x") == 3.0
    for bad in ("1.0", True, None, np.ones(2), float("nan")):
        with pytest.raises(AssertionError):
            as_number(bad, "x")
    assert fraction_equal([1, 0, 1, 1], [1, 1, 1, 1]) == 0.75
    with pytest.raises(AssertionError):
        fraction_equal(np.empty(0), [1, 1, 1, 1])


def test_network_bound_is_checked_on_shapes_before_any_work():
    rng = np.random.default_rng(1)
    ok = checked_network([rng.normal(size=(9, 20)), rng.normal(size=(20, 1))],
                         [np.zeros(20), np.zeros(1)], n_in=9, n_out=1, max_width=1000)
    assert [w.shape for w in ok[0]] == [(9, 20), (20, 1)]
    huge = [np.zeros((9, 250_000)), np.zeros((250_000, 1))]
    start = time.perf_counter()
    with pytest.raises(AssertionError, match="bound"):
        checked_network(huge, [np.zeros(250_000), np.zeros(1)], n_in=9, n_out=1, max_width=1000)
    assert time.perf_counter() - start < 0.5  # refused without converting 18 MB of weights
    for weights, biases in (([np.zeros((9, 4))], [np.zeros(4)]),              # 4 outputs
                            ([np.zeros((8, 1))], [np.zeros(1)]),              # 8 inputs
                            ([np.zeros((9, 3)), np.zeros((4, 1))], [np.zeros(3), np.zeros(1)]),
                            ([np.zeros((9, 1))], [np.zeros(2)]),
                            (np.zeros((1, 9, 1)), [np.zeros(1)])):
        with pytest.raises(AssertionError):
            checked_network(weights, biases, n_in=9, n_out=1, max_width=1000)
    with pytest.raises(AssertionError):
        checked_network([np.zeros((9, 1))], [np.zeros(1)], n_in=9, n_out=1, max_width=10,
                        shapes=[(9, 2)])


def test_names():
    assert checked_names(["tanh", "sigmoid"], ["tanh", "sigmoid"], 2) == ["tanh", "sigmoid"]
    for bad in ("tanh", ["tanh"], ["tanh", "swish"], ["tanh", 3]):
        with pytest.raises(AssertionError):
            checked_names(bad, ["tanh", "sigmoid"], 2)
