"""Quiz "stochastic gradient descent": read eta off a noisy trajectory.

The trajectory of w_{j+1} = w_j - eta w_j + xi_j (<xi^2> = 1) is generated here; the key is the
option closest (on a log scale) to eta estimated from that trajectory by lag-1 regression
(:func:`reference.sgd.estimate_eta`). The deck's own picture is lost; the lecture version uses
eta = 0.02 (option d) with seed 2020, and the generator checks that the estimate is unambiguous.

The numeric question (estimate eta yourself) is judged by :func:`reference.sgd.eta_is_supported`:
every standard estimator within its own statistical uncertainty. That only separates right from
wrong answers (1 - eta, the variance, 1/Var) when the trajectory holds enough correlation times
(1/eta steps each), so a trajectory has at least ``CORRELATION_TIMES / eta`` steps: 200 000 for
eta = 0.001 instead of the 10 000 (ten correlation times) that made even the true eta fail.
The values are rounded to float32, the precision the student file stores, so that the hidden
test and the student see the same numbers.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from reference.quiz.base import Question, lettered, rng_for, single_match
from reference.sgd import estimate_eta, simulate_quiz_process, stationary_variance

QUIZ = "quiz03-sgd"
QID = "sgd.eta"
ETA_OPTIONS = [1.0, 0.1, 0.2, 0.02, 0.01, 0.001]
STEPS = 10000
CORRELATION_TIMES = 200
LECTURE_ETA, LECTURE_SEED = 0.02, 2020


def nearest_option(eta_estimate: float, options: list[float] = ETA_OPTIONS) -> int:
    """Index of the option closest to the estimate in log(eta)."""
    logs = np.log(np.asarray(options))
    return int(np.argmin(np.abs(logs - np.log(max(eta_estimate, 1e-6)))))


def steps_for(eta: float) -> int:
    """At least STEPS, and at least CORRELATION_TIMES correlation times (1/eta steps each)."""
    return max(STEPS, int(round(CORRELATION_TIMES / eta)))


def trajectory(eta: float, rng: np.random.Generator, steps: int | None = None) -> np.ndarray:
    """A stationary trajectory (start drawn from the stationary distribution), float32 values."""
    w0 = rng.normal(scale=np.sqrt(stationary_variance(eta)))
    w = simulate_quiz_process(eta, steps_for(eta) if steps is None else steps, rng, w0=w0)
    return w.astype(np.float32).astype(float)


def _figure(w: np.ndarray) -> Figure:
    fig = Figure(figsize=(7.5, 2.6), layout="constrained")
    ax = fig.subplots()
    shown = w[:4000]
    ax.plot(np.arange(len(shown)), shown, linewidth=0.7)
    ax.set_xlabel("step $j$")
    ax.set_ylabel("$w_j$")
    ax.set_title("SGD trajectory (first 4000 of the steps)")
    return fig


def make(seed: int | None = None) -> Question:
    if seed is None:
        eta, rng = LECTURE_ETA, np.random.default_rng(LECTURE_SEED)
    else:
        rng = rng_for(seed, QID)
        eta = float(rng.choice(ETA_OPTIONS))
    w = trajectory(eta, rng)
    while nearest_option(estimate_eta(w)) != ETA_OPTIONS.index(eta):  # ambiguous data: redraw
        w = trajectory(eta, rng)
    estimate = estimate_eta(w)
    chosen = nearest_option(estimate)
    letters = lettered([f"{e:g}" for e in ETA_OPTIONS])
    answer = single_match(QID, {k: i == chosen for i, k in enumerate(letters)})
    reason = (f"regressing w_(j+1) on w_j over {len(w) - 1} steps gives eta = {estimate:.4f}, "
              f"closest to {ETA_OPTIONS[chosen]:g}; the variance {np.var(w):.2f} agrees with "
              f"1/(eta(2-eta)) = {stationary_variance(ETA_OPTIONS[chosen]):.2f}")
    return Question(
        qid=QID, quiz=QUIZ, title="Stochastic gradient descent: what is eta?", seed=seed,
        prompt=("The weight follows $w_{j+1} = w_j - \\eta w_j + \\xi_j$ with "
                "$\\langle \\xi_j^2 \\rangle = 1$. The trajectory is shown (and given as data). "
                "What is the value of $\\eta$?"),
        options=letters, answer=answer, reason=reason, figure=lambda: _figure(w),
        data={"trajectory": w, "eta": eta},  # only the trajectory goes to students
    )


def questions(seed: int | None = None) -> list[Question]:
    return [make(seed)]
