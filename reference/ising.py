"""The 2D Ising model E = -J sum_<ij> s_i s_j on an L x L periodic lattice, by Metropolis MC.

Sweeps update the two checkerboard sublattices in turn: spins of one colour do not interact with
each other, so each half-sweep is a vectorised, exact Metropolis update of L^2/2 independent
spins. Tc = 2 / ln(1 + sqrt 2) ~ 2.269 for J = 1: ferromagnetic (|m| ~ 1) below, paramagnetic
(m ~ 0) above.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

T_CRITICAL = 2.0 / np.log(1.0 + np.sqrt(2.0))


def _neighbour_sum(spins: np.ndarray) -> np.ndarray:
    """Sum of the four periodic neighbours of every site: the four ``np.roll`` shifts, written
    as slices (a third of the time on a 16x16 lattice, where ``np.roll``'s own overhead is
    most of the cost; same dtype and values, so the same chains)."""
    s = spins
    h = np.empty_like(s)
    h[1:] = s[:-1]
    h[0] = s[-1]
    h[:-1] += s[1:]
    h[-1] += s[0]
    h[:, 1:] += s[:, :-1]
    h[:, 0] += s[:, -1]
    h[:, :-1] += s[:, 1:]
    h[:, -1] += s[:, 0]
    return h


def energy(spins: np.ndarray, J: float = 1.0) -> float:
    """Total energy, each nearest-neighbour bond counted once."""
    s = np.asarray(spins, dtype=float)
    return float(-J * np.sum(s * (np.roll(s, 1, axis=0) + np.roll(s, 1, axis=1))))


def magnetization(spins: np.ndarray) -> float:
    """Mean spin m = (1/L^2) sum_i s_i, between -1 and 1."""
    return float(np.mean(spins))


def random_spins(L: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(L, L))


def metropolis_sweeps(
    spins: np.ndarray, T: float, sweeps: int, rng: np.random.Generator, J: float = 1.0
) -> np.ndarray:
    """Return a new configuration after ``sweeps`` Metropolis sweeps at temperature T."""
    if T <= 0:
        raise ValueError(f"temperature must be positive, got {T}")
    s = np.array(spins, dtype=np.int8)
    L = s.shape[0]
    checker = (np.add.outer(np.arange(L), np.arange(L)) % 2).astype(bool)
    for _ in range(sweeps):
        for colour in (checker, ~checker):
            dE = 2.0 * J * s * _neighbour_sum(s)
            accept = rng.random(s.shape) < np.exp(-np.maximum(dE, 0) / T)
            flip = colour & accept
            s[flip] *= -1
    return s


def sample_configurations(
    L: int,
    temperatures: np.ndarray,
    n_per_T: int,
    rng: np.random.Generator,
    equilibration: int = 200,
    spacing: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Configurations ``[len(T) * n_per_T, L, L]`` and their temperatures.

    Each temperature starts from an ordered state (fast equilibration below Tc), is equilibrated
    for ``equilibration`` sweeps, then sampled every ``spacing`` sweeps.
    """
    configs, temps = [], []
    for T in np.asarray(temperatures, dtype=float):
        s = np.ones((L, L), dtype=np.int8)
        s = metropolis_sweeps(s, T, equilibration, rng)
        for _ in range(n_per_T):
            s = metropolis_sweeps(s, T, spacing, rng)
            configs.append(s.copy())
            temps.append(T)
    return np.array(configs), np.array(temps)


def phase_labels(temperatures: np.ndarray) -> np.ndarray:
    """One-hot labels: column 1 = ordered (T < Tc), column 0 = disordered."""
    ordered = np.asarray(temperatures) < T_CRITICAL
    return np.eye(2)[ordered.astype(int)]


#: The configurations homework 5 hands out (``ising_configs.npz`` next to the notebook): its
#: network questions train and measure on a *reference* simulation, so that they judge the
#: network and the crossing, not the student's Monte Carlo of question 3 a second time.
COURSE_L = 16
COURSE_TRAIN_TEMPERATURES = np.concatenate([np.linspace(1.0, 1.8, 5), np.linspace(2.8, 3.6, 5)])
COURSE_SCAN_TEMPERATURES = np.linspace(1.5, 3.3, 19)


def course_dataset() -> dict[str, np.ndarray]:
    """Training set (50 per temperature, far from Tc) and scan (40 per temperature, 1.5 to 3.3).

    Deterministic (fixed seeds, PCG64): ``tests/reference`` checks that the committed file is
    exactly this, and hidden tests recompute the scan instead of trusting a file the student
    could edit. Cached (about a second to compute); the arrays are read-only.
    """
    return dict(_course_dataset())


@lru_cache(maxsize=1)
def _course_dataset() -> dict[str, np.ndarray]:
    train, train_T = sample_configurations(COURSE_L, COURSE_TRAIN_TEMPERATURES, 50,
                                           np.random.default_rng(5_2024), equilibration=100, spacing=5)
    scan, scan_T = sample_configurations(COURSE_L, COURSE_SCAN_TEMPERATURES, 40,
                                         np.random.default_rng(6_2024), equilibration=200, spacing=5)
    out = {"train_configs": train.astype(np.int8), "train_T": train_T,
           "scan_configs": scan.astype(np.int8), "scan_T": scan_T}
    for array in out.values():
        array.flags.writeable = False
    return out


def crossing_temperatures(temperatures: np.ndarray, p_ordered: np.ndarray) -> list[float]:
    """Every temperature where the curve p_ordered(T) crosses 1/2, by linear interpolation
    between neighbouring scan temperatures (a non-monotonic curve may cross more than once)."""
    t = np.asarray(temperatures, dtype=float)
    p = np.asarray(p_ordered, dtype=float) - 0.5
    out = []
    for k in range(len(t) - 1):
        if p[k] == 0:
            out.append(float(t[k]))
        elif p[k] * p[k + 1] < 0:
            out.append(float(t[k] + (t[k + 1] - t[k]) * p[k] / (p[k] - p[k + 1])))
    if len(p) and p[-1] == 0:
        out.append(float(t[-1]))
    return out
