"""Stochastic gradient descent as a stochastic process (the SGD quiz and lecture-2 homework 3).

Quiz process: w_{j+1} = w_j - eta w_j + xi_j with <xi^2> = 1. It is an AR(1) process with
coefficient (1 - eta), so its stationary variance solves Var = (1 - eta)^2 Var + 1:

    Var = 1 / (eta (2 - eta))

and eta can be read off a trajectory two independent ways: from the lag-1 regression of w_{j+1}
on w_j (:func:`estimate_eta`), or from the variance (:func:`estimate_eta_from_variance`).

Homework 3: SGD on C = 1/2 sum_j (w x_j - w~ x_j)^2 with Gaussian x_j shifts w (measured from w~)
by w_{t+1} = w_t (1 - eta S_t), S_t = sum_j x_j^2. The lecture's Gaussian approximation
S = N + sqrt(2N) xi together with w_{t+1} = w_t exp(-eta S_t) gives

    <w_t> = w0 exp(-eta N t + eta^2 N t)            (:func:`lecture_mean_slope`)

which is exact for that exponential model (:func:`simulate_slope` with ``model="lecture"``). For
the literal update (``model="sgd"``) the exact mean is w0 (1 - eta N)^t (:func:`exact_mean_slope`);
the two agree to first order in eta, and their log-ratio per step is ln(1 - eta N) + eta N - eta^2 N
~ -eta^2 N (N + 2) / 2. The homework asks students to find that out by simulation.
"""

from __future__ import annotations

import numpy as np


def simulate_quiz_process(
    eta: float, steps: int, rng: np.random.Generator, w0: float = 0.0, burn_in: int = 0
) -> np.ndarray:
    """A trajectory of w_{j+1} = (1 - eta) w_j + xi_j with standard normal xi."""
    xi = rng.standard_normal(steps + burn_in)
    w = np.empty(steps + burn_in + 1)
    w[0] = w0
    for j in range(steps + burn_in):
        w[j + 1] = (1.0 - eta) * w[j] + xi[j]
    return w[burn_in:]


def stationary_variance(eta: float) -> float:
    return 1.0 / (eta * (2.0 - eta))


def estimate_eta(trajectory: np.ndarray) -> float:
    """eta = 1 - (least-squares slope of w_{j+1} against w_j)."""
    w = np.asarray(trajectory, dtype=float)
    return float(1.0 - np.dot(w[1:], w[:-1]) / np.dot(w[:-1], w[:-1]))


def estimate_eta_from_variance(trajectory: np.ndarray) -> float:
    """Invert Var = 1/(eta(2 - eta)) for the root in (0, 1]."""
    var = float(np.var(trajectory))
    return float(1.0 - np.sqrt(max(0.0, 1.0 - 1.0 / var)))


def lecture_mean_slope(w0: float, eta: float, N: int, t: np.ndarray | float) -> np.ndarray:
    """The lecture's Gaussian-approximation result <w_t> = w0 exp(-eta N t + eta^2 N t)."""
    t = np.asarray(t, dtype=float)
    return w0 * np.exp(-eta * N * t + eta**2 * N * t)


def exact_mean_slope(w0: float, eta: float, N: int, t: np.ndarray | float) -> np.ndarray:
    """Exact <w_t> of the literal SGD update: w0 (1 - eta N)^t (S_t independent of w_t)."""
    t = np.asarray(t, dtype=float)
    return w0 * (1.0 - eta * N) ** t


def simulate_slope(
    w0: float,
    eta: float,
    N: int,
    steps: int,
    runs: int,
    rng: np.random.Generator,
    model: str = "sgd",
) -> np.ndarray:
    """Trajectories ``[runs, steps + 1]`` of the slope (measured from the true slope).

    ``model="sgd"``: w_{t+1} = w_t (1 - eta sum_j x_j^2) with N fresh Gaussian samples per step.
    ``model="lecture"``: w_{t+1} = w_t exp(-eta (N + sqrt(2N) xi_t)), the lecture's approximation.
    """
    if model == "sgd":
        S = np.sum(rng.standard_normal((runs, steps, N)) ** 2, axis=2)
        factors = 1.0 - eta * S
    elif model == "lecture":
        S = N + np.sqrt(2.0 * N) * rng.standard_normal((runs, steps))
        factors = np.exp(-eta * S)
    else:
        raise ValueError(f"model must be 'sgd' or 'lecture', not {model!r}")
    w = np.empty((runs, steps + 1))
    w[:, 0] = w0
    w[:, 1:] = w0 * np.cumprod(factors, axis=1)
    return w
