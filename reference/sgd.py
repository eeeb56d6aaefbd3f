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
    return _eta_of_variance(var)


def _eta_of_variance(var: float) -> float:
    """The root in (0, 1] of Var = 1/(eta(2 - eta)); 1 for Var <= 1 (no smaller variance exists)."""
    return float(1.0 - np.sqrt(max(0.0, 1.0 - 1.0 / var))) if var > 0 else 1.0


def estimate_eta_with_intercept(trajectory: np.ndarray) -> float:
    """eta = 1 - slope of a straight-line fit w_{j+1} = a + b w_j (with intercept a)."""
    w = np.asarray(trajectory, dtype=float)
    x, y = w[:-1] - w[:-1].mean(), w[1:] - w[1:].mean()
    return float(1.0 - np.dot(x, y) / np.dot(x, x))


def estimate_eta_from_autocorrelation(trajectory: np.ndarray) -> float:
    """eta = 1 - (lag-1 autocorrelation coefficient), the first step of the correlation decay."""
    w = np.asarray(trajectory, dtype=float)
    return float(1.0 - np.corrcoef(w[:-1], w[1:])[0, 1])


#: The standard ways to read eta off a trajectory, by name (students may use any of them).
ESTIMATORS = {
    "lag-1 regression": estimate_eta,
    "straight-line fit with intercept": estimate_eta_with_intercept,
    "lag-1 autocorrelation": estimate_eta_from_autocorrelation,
    "stationary variance": estimate_eta_from_variance,
}

#: How many standard errors an answer may lie from an estimator's value (see eta_intervals).
ETA_Z = 4.0


def eta_intervals(trajectory: np.ndarray, z: float = ETA_Z) -> dict[str, tuple[float, float]]:
    """For each standard estimator, the interval of eta values the trajectory supports.

    The statistical uncertainty of each estimator on *this* trajectory, from the asymptotic
    theory of the AR(1) process with phi = 1 - eta and n = len - 1 steps, phi estimated by
    the lag-1 regression (the maximum-likelihood estimate):

    * the three lag-1 estimators: standard error sqrt((1 - phi^2) / n) (the same for all three
      to leading order);
    * the variance: relative standard error sqrt(2 (1 + phi^2) / ((1 - phi^2) n)) of the
      sample variance (Bartlett), mapped through the inverse of Var = 1/(eta(2 - eta)); the
      map is monotonic, so the interval of Var becomes an interval of eta, and near eta = 1
      (where the map is steep) it correctly becomes wide.

    With n eta of a few hundred (the quiz makes its trajectories that long) the intervals are
    narrow enough to reject the known mistakes (1 - eta, the variance itself, 1/Var).
    """
    w = np.asarray(trajectory, dtype=float)
    n = len(w) - 1
    phi = min(max(1.0 - estimate_eta(w), -0.999999), 0.999999)
    se_lag1 = np.sqrt((1.0 - phi**2) / n)
    intervals = {}
    for name, estimator in ESTIMATORS.items():
        value = estimator(w)
        if name == "stationary variance":
            var = float(np.var(w))
            rel = z * np.sqrt(2.0 * (1.0 + phi**2) / ((1.0 - phi**2) * n))
            intervals[name] = (_eta_of_variance(var * (1.0 + rel)),
                               _eta_of_variance(var * (1.0 - rel)) if rel < 1 else 1.0)
        else:
            intervals[name] = (value - z * se_lag1, value + z * se_lag1)
    return intervals


def eta_is_supported(eta: float, trajectory: np.ndarray, z: float = ETA_Z) -> bool:
    """True if ``eta`` lies in the interval of at least one standard estimator (and 0 < eta <= 2).

    Why not "within 25% of our estimate": for slow variants (eta = 0.001) a trajectory holds so
    few correlation times that the estimators, and the true eta, differ by more than that; the
    answer is judged against what the data can support.
    """
    if not np.isfinite(eta) or not 0.0 < eta <= 2.0:
        return False
    return any(lo <= eta <= hi for lo, hi in eta_intervals(trajectory, z).values())


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
