"""Homework 5 hands out a reference simulation (``ising_configs.npz``): it is exactly what
``reference.ising.course_dataset`` computes (the hidden tests recompute it instead of reading a
file the student could edit), and it shows the physics the questions rely on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.ising import (
    COURSE_SCAN_TEMPERATURES,
    COURSE_TRAIN_TEMPERATURES,
    T_CRITICAL,
    _neighbour_sum,
    course_dataset,
    crossing_temperatures,
)

FILE = Path(__file__).resolve().parents[2] / "assignments" / "hw05-ising-phases" / "ising_configs.npz"


def test_the_handed_out_file_is_the_reference_simulation():
    computed = course_dataset()
    with np.load(FILE) as stored:
        assert sorted(stored.files) == sorted(computed)
        for name, array in computed.items():
            assert stored[name].dtype == array.dtype, name
            np.testing.assert_array_equal(stored[name], array, err_msg=name)


def test_the_data_shows_the_two_phases():
    data = course_dataset()
    m = np.abs(data["train_configs"].mean(axis=(1, 2)))
    cold = data["train_T"] < T_CRITICAL
    assert set(np.unique(data["train_T"])) == set(COURSE_TRAIN_TEMPERATURES)
    assert m[cold].mean() > 0.9 and m[~cold].mean() < 0.2
    scan_m = [np.abs(data["scan_configs"][data["scan_T"] == T].mean(axis=(1, 2))).mean()
              for T in COURSE_SCAN_TEMPERATURES]
    # <|m|> falls through 1/2 near Tc on this finite lattice
    crossing = crossing_temperatures(COURSE_SCAN_TEMPERATURES, scan_m)
    assert len(crossing) == 1 and abs(crossing[0] - T_CRITICAL) < 0.2
    assert not data["scan_configs"].flags.writeable  # the cached copy cannot be changed by a test


def test_crossings_by_linear_interpolation():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert crossing_temperatures(t, [0.9, 0.7, 0.3, 0.1]) == [2.5]
    assert crossing_temperatures(t, [0.9, 0.4, 0.6, 0.1]) == [1.8, 2.5, 3.2]
    assert crossing_temperatures(t, [0.9, 0.8, 0.7, 0.6]) == []
    assert crossing_temperatures(t, [0.9, 0.5, 0.3, 0.1]) == [2.0]


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 7), cols=st.integers(1, 7), dtype=st.sampled_from([np.int8, np.int64, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_the_neighbour_sum_is_the_four_periodic_shifts(rows, cols, dtype, seed):
    """The sweep's neighbour sum (written with slices for speed) is the four ``np.roll`` shifts,
    for every lattice shape down to 1x1, where a site is its own neighbour."""
    spins = np.random.default_rng(seed).choice(np.array([-1, 1]), size=(rows, cols)).astype(dtype)
    rolled = sum(np.roll(spins, shift, axis) for shift in (1, -1) for axis in (0, 1))
    got = _neighbour_sum(spins)
    assert got.dtype == spins.dtype
    np.testing.assert_array_equal(got, rolled)
