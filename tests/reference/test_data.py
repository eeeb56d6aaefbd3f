"""Data generators: documented shapes, balanced labels, determinism; the Ising model."""

from __future__ import annotations

import numpy as np
import pytest

from reference import data, ising


@pytest.mark.parametrize("n", [2, 10, 64])
def test_gaussian_vs_lorentzian_shapes_balance_and_shapes_of_curves(n):
    x, curves, labels = data.gaussian_vs_lorentzian(n, np.random.default_rng(0), M=80)
    assert x.shape == (80,) and curves.shape == (n, 80) and labels.shape == (n, 2)
    assert labels.sum(axis=0).tolist() == [n / 2, n / 2]
    # every curve has a visible peak and no negative values (noise-free)
    for curve in curves:
        peak = curve.max()
        assert peak > 0.45
        assert np.all(curve >= -1e-12)
    lor = curves[labels[:, 1] == 1]
    gau = curves[labels[:, 0] == 1]
    assert np.mean(lor > 0.01 * lor.max(axis=1, keepdims=True)) > np.mean(
        gau > 0.01 * gau.max(axis=1, keepdims=True))


def test_generators_are_deterministic_per_seed():
    a = data.circles_vs_squares(20, np.random.default_rng(7), noise=0.1)
    b = data.circles_vs_squares(20, np.random.default_rng(7), noise=0.1)
    c = data.circles_vs_squares(20, np.random.default_rng(8), noise=0.1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_circles_vs_squares_shapes_balance_and_geometry():
    images, labels = data.circles_vs_squares(200, np.random.default_rng(1), size=20)
    assert images.shape == (200, 20, 20) and labels.shape == (200, 2)
    assert labels.sum(axis=0).tolist() == [100, 100]
    assert set(np.unique(images)) <= {0.0, 1.0}
    # a filled square fills its bounding box; a circle does not
    for img, label in zip(images, labels, strict=True):
        rows, cols = np.nonzero(img)
        box = img[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
        assert (box.mean() == 1.0) == (label[0] == 1)


def test_noise_is_added_with_the_requested_spread():
    clean, _ = data.circles_vs_squares(50, np.random.default_rng(2))
    noisy, _ = data.circles_vs_squares(50, np.random.default_rng(2), noise=0.3)
    assert abs(np.std(noisy - clean) - 0.3) < 0.02


def test_odd_n_is_refused():
    with pytest.raises(ValueError, match="even"):
        data.rectangle_images(7, np.random.default_rng(0))


def test_rectangle_labels_match_the_psi_lecture():
    assert data.is_one_rectangle([0, 0, 0, 1, 1, 0, 1, 1, 0])
    assert not data.is_one_rectangle([0, 1, 1, 0, 1, 0, 0, 0, 1])
    assert not data.is_one_rectangle([0] * 9)
    assert not data.is_one_rectangle([1, 0, 1, 0, 0, 0, 0, 0, 0])   # two rectangles
    images, labels = data.all_3x3_images()
    assert images.shape == (512, 9)
    # a rectangle is a choice of a row interval and a column interval: (3*4/2)^2 = 36
    assert labels.sum() == (3 * 4 // 2) ** 2


def test_rectangle_sample_is_balanced_and_labelled_consistently():
    x, labels = data.rectangle_images(100, np.random.default_rng(3))
    assert x.shape == (100, 9) and labels.sum(axis=0).tolist() == [50, 50]
    for img, label in zip(x, labels, strict=True):
        assert data.is_one_rectangle(img) == bool(label[1])


def test_ising_energy_and_magnetisation_of_ordered_state():
    up = np.ones((8, 8), dtype=np.int8)
    assert ising.energy(up) == -2 * 64
    assert ising.magnetization(up) == 1.0
    checker = np.where(np.add.outer(np.arange(8), np.arange(8)) % 2, 1, -1)
    assert ising.energy(checker) == 2 * 64 and ising.magnetization(checker) == 0.0


def test_ising_magnetisation_below_and_above_tc():
    rng = np.random.default_rng(0)
    cold, _ = ising.sample_configurations(16, [1.5], 10, rng)
    hot, _ = ising.sample_configurations(16, [3.5], 10, rng)
    assert np.mean([abs(ising.magnetization(s)) for s in cold]) > 0.9
    assert np.mean([abs(ising.magnetization(s)) for s in hot]) < 0.15
    # and from a random start at low T the energy relaxes towards the ground state
    s = ising.metropolis_sweeps(ising.random_spins(16, rng), 1.0, 300, rng)
    assert ising.energy(s) / 256 < -1.7
    np.testing.assert_allclose(ising.T_CRITICAL, 2.269, atol=1e-3)
    labels = ising.phase_labels(np.array([1.0, 3.0]))
    assert labels.tolist() == [[0, 1], [1, 0]]
