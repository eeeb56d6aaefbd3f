"""Small quantities the homework assignments grade that the rest of ``reference`` does not define.

* :func:`xor_target`: the "exclusive or" of the lecture-1 homework on the plane, 1 where
  y0 * y1 < 0 and 0 elsewhere (also 0 on the axes).
* :func:`roughness`: how jagged a network's output over the (y0, y1) plane is, for the question
  on the spread of random weights (lecture-1 homework 4). For an image ``v[i, j]`` (row i = y1,
  column j = y0) it is the mean absolute difference between neighbouring pixels, averaged over
  the two directions: R = 1/2 (<|v[i+1, j] - v[i, j]|> + <|v[i, j+1] - v[i, j]|>). A constant
  image has R = 0; larger weights give sharper, more structured outputs and a larger R.
* :func:`wave_packet`: the fixed 2D target of the lecture-2 training homework,
  exp(-3 (y0^2 + y1^2)) cos(5 y0), as a column ``[batch, 1]``.
* :func:`exact_slope_second_moment`: <w_t^2> for the literal SGD update of the slope homework,
  w_{t+1} = w_t (1 - eta S_t) with S_t a sum of N squared standard normals (chi-square, mean N,
  variance 2N), so <(1 - eta S)^2> = 1 - 2 eta N + eta^2 N (N + 2) and
  <w_t^2> = w0^2 (1 - 2 eta N + eta^2 N (N + 2))^t. With :func:`reference.sgd.exact_mean_slope`
  it gives the standard error a statistical test of a simulation needs.
* :func:`chi_square_cdf` and :func:`ks_distance`: whether a simulation draws S_t as the prompt
  prescribes (a sum of N squared standard normals, chi-square with N degrees of freedom) and not
  from the Gaussian approximation N + sqrt(2N) xi, which has the same mean and variance: a
  Kolmogorov-Smirnov distance to the chi-square distribution tells them apart.
"""

from __future__ import annotations

import numpy as np


def xor_target(points: np.ndarray) -> np.ndarray:
    """1.0 where y0 * y1 < 0 (opposite signs), else 0.0; ``points`` is ``[batch, 2]``."""
    points = np.asarray(points, dtype=float)
    return np.where(points[:, 0] * points[:, 1] < 0, 1.0, 0.0)


def roughness(values: np.ndarray) -> float:
    """Mean absolute neighbour difference of a 2D image, averaged over both directions."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or min(v.shape) < 2:
        raise ValueError(f"roughness needs a 2D image of at least 2 x 2 pixels, got shape {v.shape}")
    return 0.5 * float(np.mean(np.abs(np.diff(v, axis=0))) + np.mean(np.abs(np.diff(v, axis=1))))


def wave_packet(y: np.ndarray) -> np.ndarray:
    """exp(-3 (y0^2 + y1^2)) cos(5 y0) for a batch ``y[batch, 2]``, shape ``[batch, 1]``."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    r2 = y[:, 0] ** 2 + y[:, 1] ** 2
    return (np.exp(-3.0 * r2) * np.cos(5.0 * y[:, 0]))[:, None]


def exact_slope_second_moment(w0: float, eta: float, N: int, t: np.ndarray | float) -> np.ndarray:
    """<w_t^2> = w0^2 (1 - 2 eta N + eta^2 N (N + 2))^t for w_{t+1} = w_t (1 - eta sum_j x_j^2)."""
    t = np.asarray(t, dtype=float)
    return w0**2 * (1.0 - 2.0 * eta * N + eta**2 * N * (N + 2.0)) ** t


def chi_square_cdf(x: np.ndarray, dof: int) -> np.ndarray:
    """P(S <= x) for S chi-square with an even number ``dof`` of degrees of freedom.

    For dof = 2k: 1 - exp(-x/2) sum_{j<k} (x/2)^j / j!, exact and without SciPy.
    """
    if dof <= 0 or dof % 2:
        raise ValueError(f"the closed form needs an even, positive number of degrees of freedom, not {dof}")
    half = np.maximum(np.asarray(x, dtype=float), 0.0) / 2.0
    term, total = np.ones_like(half), np.zeros_like(half)
    for j in range(dof // 2):
        total += term
        term = term * half / (j + 1)
    return 1.0 - np.exp(-half) * total


def ks_distance(samples: np.ndarray, cdf: np.ndarray | None = None, dof: int | None = None) -> float:
    """Kolmogorov-Smirnov distance between the samples' empirical CDF and chi-square(dof)."""
    s = np.sort(np.asarray(samples, dtype=float).ravel())
    n = len(s)
    model = chi_square_cdf(s, dof) if cdf is None else np.asarray(cdf, dtype=float)
    above = np.arange(1, n + 1) / n - model
    below = model - np.arange(0, n) / n
    return float(max(above.max(), below.max()))
