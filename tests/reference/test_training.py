"""Training loop, curve fitting with local minima, the SGD process and the slope homework."""

from __future__ import annotations

import numpy as np

from reference import sgd
from reference.backprop import Network
from reference.curve_fitting import (
    escape_fraction,
    f_true,
    local_minima,
    reduced_cost,
    sgd_fit,
    two_peak_target,
)


def test_training_loop_lowers_the_cost():
    rng = np.random.default_rng(1)
    net = Network.random([2, 30, 30, 1], ["sigmoid", "sigmoid", "linear"], rng, spread=1.0)

    def target(y):
        return np.sin(3 * y[:, :1]) * np.cos(2 * y[:, 1:])

    history = net.train(target, steps=3000, batchsize=50, eta=0.5, rng=rng)
    assert history.shape == (3000,)
    assert np.mean(history[-200:]) < 0.3 * np.mean(history[:200])


def test_jump_layers_train_with_the_surrogate_derivative():
    rng = np.random.default_rng(2)
    net = Network.random([1, 10, 1], ["jump", "linear"], rng)
    net.forward(rng.uniform(-1, 1, size=(5, 1)))
    assert np.any(net.df_layer[0] != 0)  # the true step derivative would be all zero


def test_sgd_fit_recovers_the_practice_session_parameters():
    theta, history = sgd_fit(np.array([1.0, -1.0]), np.random.default_rng(0), f_true, eta=0.3,
                             steps=3000)
    np.testing.assert_allclose(theta, [3.0, 0.5], atol=0.05)
    assert history.shape == (3001, 2)


def test_two_peak_target_has_two_non_equivalent_local_minima():
    minima = local_minima(two_peak_target)
    assert len(minima) == 2
    (a0, a1, ca), (b0, b1, cb) = minima
    assert a1 > 1.0 and b1 < -1.0          # one per peak (peaks at +2 and -2)
    assert cb > 1.5 * ca                    # not equivalent: the shallow one costs more
    x = np.random.default_rng(0).normal(scale=2.0, size=200_000)
    costs, _ = reduced_cost(np.array([a1, b1, 0.0]), x)
    assert costs[0] < costs[1] and costs[2] > costs[1]  # a barrier between them


def test_sampling_noise_helps_escape_the_shallow_minimum():
    (_, deep1, _), (shallow0, shallow1, _) = local_minima()
    start = np.array([shallow0, shallow1])
    noisy = escape_fraction(start, 0.0, np.random.default_rng(5), batchsize=1, runs=20)
    quiet = escape_fraction(start, 0.0, np.random.default_rng(5), batchsize=200, runs=10)
    assert noisy >= 0.3 and quiet == 0.0


def test_quiz_process_stationary_variance_and_eta_estimates():
    rng = np.random.default_rng(3)
    for eta in (0.5, 0.1, 0.02):
        w = sgd.simulate_quiz_process(eta, 200_000, rng, burn_in=2000)
        expected = sgd.stationary_variance(eta)
        assert abs(np.var(w) / expected - 1) < 0.1
        assert abs(sgd.estimate_eta(w) / eta - 1) < 0.15
        assert abs(sgd.estimate_eta_from_variance(w) / eta - 1) < 0.15
    assert sgd.stationary_variance(1.0) == 1.0


def test_lecture_slope_formula_is_exact_for_its_model_and_first_order_for_sgd():
    rng = np.random.default_rng(4)
    w0, eta, N, steps, runs = 1.0, 0.002, 10, 50, 40_000
    t = np.arange(steps + 1)
    lecture = sgd.simulate_slope(w0, eta, N, steps, runs, rng, model="lecture").mean(axis=0)
    np.testing.assert_allclose(lecture, sgd.lecture_mean_slope(w0, eta, N, t), rtol=0.01)
    literal = sgd.simulate_slope(w0, eta, N, steps, runs, rng, model="sgd").mean(axis=0)
    np.testing.assert_allclose(literal, sgd.exact_mean_slope(w0, eta, N, t), rtol=0.01)
    # the two means differ at second order in eta: ratio ~ exp(-eta^2 N (N + 2) t / 2)
    ratio = sgd.exact_mean_slope(w0, eta, N, t) / sgd.lecture_mean_slope(w0, eta, N, t)
    predicted = np.exp(-(eta**2) * N * (N + 2) * t / 2)
    np.testing.assert_allclose(ratio, predicted, rtol=1e-3)
    assert ratio[-1] < 0.99
