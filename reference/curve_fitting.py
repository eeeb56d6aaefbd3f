"""Nonlinear curve fitting by stochastic gradient descent (practice session 1).

Model f_theta(x) = theta0 / ((x - theta1)^2 + 1); cost C = 1/2 <(f_theta(x) - f_true(x))^2>
averaged over x drawn from a Gaussian; step theta -= eta * <(f_theta - f_true) * grad f_theta>.

The gradient is the corrected one (mistake 3 of the original code):
d f / d theta0 = 1 / ((x - theta1)^2 + 1)
d f / d theta1 = 2 theta0 (x - theta1) / ((x - theta1)^2 + 1)^2

Several non-equivalent local minima (homework 1, question 5): fitting the single-peak model to a
two-peak target gives one minimum per peak, with different costs. Because the model is linear
in theta0, the best theta0 for each theta1 is explicit, and the reduced cost landscape C(theta1)
shows the minima directly (:func:`reduced_cost`, :func:`local_minima`). Whether SGD started in
the shallower basin escapes to the deeper one depends on the sampling noise, i.e. the batch size
(:func:`escape_fraction`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Target = Callable[[np.ndarray], np.ndarray]


def f_theta(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    return theta[0] / ((x - theta[1]) ** 2 + 1.0)


def grad_f_theta(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gradient of f_theta with respect to theta, shape ``[2, len(x)]``."""
    denom = (x - theta[1]) ** 2 + 1.0
    return np.array([1.0 / denom, 2.0 * theta[0] * (x - theta[1]) / denom**2])


def f_true(x: np.ndarray) -> np.ndarray:
    """The practice session's true function 3 / ((x - 0.5)^2 + 1)."""
    return 3.0 / ((x - 0.5) ** 2 + 1.0)


def two_peak_target(x: np.ndarray) -> np.ndarray:
    """A target with two peaks of different heights: one local minimum per peak."""
    return 3.0 / ((x - 2.0) ** 2 + 1.0) + 2.0 / ((x + 2.0) ** 2 + 1.0)


def sample_cost(theta: np.ndarray, x: np.ndarray, target: Target = f_true) -> float:
    return 0.5 * float(np.mean((f_theta(theta, x) - target(x)) ** 2))


def sgd_fit(
    theta_start: np.ndarray,
    rng: np.random.Generator,
    target: Target = f_true,
    eta: float = 0.2,
    steps: int = 2000,
    batchsize: int = 100,
    x_spread: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """SGD on fresh Gaussian samples each step; returns the final theta and its history."""
    theta = np.array(theta_start, dtype=float)
    history = np.empty((steps + 1, 2))
    history[0] = theta
    for step in range(steps):
        x = rng.normal(scale=x_spread, size=batchsize)
        deviation = f_theta(theta, x) - target(x)
        theta -= eta * np.mean(deviation * grad_f_theta(theta, x), axis=1)
        history[step + 1] = theta
    return theta, history


def reduced_cost(
    theta1: np.ndarray, x: np.ndarray, target: Target = two_peak_target,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """C(theta1) with theta0 set to its optimum for each theta1; returns (cost, theta0).

    The average over x is the plain mean of the samples ``x``, or with ``weights`` (summing to
    1) a quadrature of the x distribution.
    """
    theta1 = np.atleast_1d(theta1)
    w = np.full(len(x), 1.0 / len(x)) if weights is None else weights
    g = 1.0 / ((x[None, :] - theta1[:, None]) ** 2 + 1.0)
    t = target(x)[None, :]
    theta0 = (g * t) @ w / ((g * g) @ w)
    costs = 0.5 * ((theta0[:, None] * g - t) ** 2) @ w
    return costs, theta0


def local_minima(
    target: Target = two_peak_target,
    theta1_range: tuple[float, float] = (-6.0, 6.0),
    resolution: int = 2401,
    x_spread: float = 2.0,
    n_quadrature: int = 4001,
) -> list[tuple[float, float, float]]:
    """Local minima of the cost as (theta0, theta1, cost), deepest first.

    The average over Gaussian x is done by quadrature on a fine grid, so the landscape is the
    exact (noise-free) one that plain gradient descent sees.
    """
    x = np.linspace(-8 * x_spread, 8 * x_spread, n_quadrature)
    weight = np.exp(-0.5 * (x / x_spread) ** 2)
    weight /= weight.sum()
    theta1 = np.linspace(*theta1_range, resolution)
    costs, theta0 = reduced_cost(theta1, x, target, weight)
    inner = np.flatnonzero((costs[1:-1] < costs[:-2]) & (costs[1:-1] < costs[2:])) + 1
    minima = [(float(theta0[i]), float(theta1[i]), float(costs[i])) for i in inner]
    return sorted(minima, key=lambda m: m[2])


def escape_fraction(
    theta_start: np.ndarray,
    basin_boundary: float,
    rng: np.random.Generator,
    batchsize: int,
    runs: int = 40,
    eta: float = 0.5,
    steps: int = 1500,
    target: Target = two_peak_target,
) -> float:
    """Fraction of SGD runs started at ``theta_start`` whose theta1 ends beyond the boundary.

    Small batches mean noisy gradients; this measures whether that noise carries the fit out of
    the shallower basin (theta1 < boundary) into the deeper one.
    """
    escaped = 0
    for _ in range(runs):
        theta, _ = sgd_fit(theta_start, rng, target, eta, steps, batchsize)
        escaped += theta[1] > basin_boundary
    return escaped / runs
