"""The homework-only quantities: XOR truth table, roughness, the training target, <w_t^2>."""

from __future__ import annotations

import numpy as np
import pytest

from reference.homework import exact_slope_second_moment, roughness, wave_packet, xor_target
from reference.network import apply_net
from reference.sgd import exact_mean_slope, simulate_slope


def test_xor_target_is_one_in_the_second_and_fourth_quadrants():
    points = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1], [0, 2], [2, 0], [0.5, -3]])
    np.testing.assert_array_equal(xor_target(points), [0, 1, 0, 1, 0, 0, 1])


def test_xor_target_agrees_with_the_hint_network():
    weights = [np.array([[-1.0, 0, 1, 0], [0, 1, 0, -1]]),
               np.array([[1.0, 0], [1, 0], [0, 1], [0, 1]]), np.array([[1.0], [1.0]])]
    biases = [np.zeros(4), np.array([-1.5, -1.5]), np.zeros(1)]
    points = np.random.default_rng(0).uniform(-3, 3, size=(500, 2))
    out = apply_net(points, weights, biases, ["jump", "jump", "linear"])[:, 0]
    np.testing.assert_array_equal(out, xor_target(points))


def test_roughness_of_simple_images():
    assert roughness(np.full((5, 7), 3.0)) == 0.0
    ramp = np.tile(np.arange(6.0), (4, 1))          # changes by 1 along columns only
    assert roughness(ramp) == pytest.approx(0.5)
    assert roughness(ramp.T) == pytest.approx(0.5)
    checker = np.indices((4, 4)).sum(axis=0) % 2     # every neighbour differs by 1
    assert roughness(checker) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        roughness(np.arange(5.0))


def test_roughness_grows_with_the_spread_of_random_weights():
    from reference.network import random_network
    from reference.visualize import output_on_plane

    def mean_roughness(spread):
        rng = np.random.default_rng(3)
        values = []
        for _ in range(5):
            w, b = random_network([2, 20, 20, 20, 1], rng, spread)
            values.append(roughness(output_on_plane(w, b, "sigmoid", M=60)))
        return np.mean(values)

    assert mean_roughness(0.3) < mean_roughness(3.0) < mean_roughness(20.0)


def test_wave_packet_shape_and_values():
    y = np.array([[0.0, 0.0], [0.3, -0.2], [1.0, 1.0]])
    out = wave_packet(y)
    assert out.shape == (3, 1)
    np.testing.assert_allclose(out[:, 0], np.exp(-3 * (y**2).sum(1)) * np.cos(5 * y[:, 0]))
    assert wave_packet(np.array([0.0, 0.0])).shape == (1, 1)


def test_second_moment_matches_simulation():
    w0, eta, N, steps = 1.5, 0.02, 10, 12
    w = simulate_slope(w0, eta, N, steps, 20000, np.random.default_rng(4))
    t = np.arange(steps + 1)
    m2 = exact_slope_second_moment(w0, eta, N, t)
    np.testing.assert_allclose(np.mean(w**2, axis=0), m2, rtol=0.03)
    assert np.all(m2 >= exact_mean_slope(w0, eta, N, t) ** 2)  # a variance is never negative
