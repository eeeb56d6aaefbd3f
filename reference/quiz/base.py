"""What a quiz question is: data (prompt, options, figure) plus an answer found by computation.

Every question module has a ``make_*(seed)`` function per question. ``seed=None`` gives the
lecture's own version; an integer seed gives a randomized variant (other weights, arrays, eta,
layer sizes). In both cases the answer is not stored anywhere: the module builds the options,
then runs the computation the question is about (render and compare regions, execute the
snippet, estimate eta, finite differences, count evaluations, evaluate the shape) and picks the
single option the computation agrees with. If none or several agree, the question is broken and
:class:`QuizError` says so instead of producing a wrong key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure

LETTERS = "abcdefgh"

class QuizError(RuntimeError):
    """A question whose computation does not single out exactly one option."""


@dataclass(frozen=True)
class Question:
    qid: str
    quiz: str
    title: str
    prompt: str
    options: Mapping[str, str]
    answer: str
    reason: str
    seed: int | None = None
    code: str | None = None
    figure: Callable[[], Figure] | None = field(default=None, compare=False, repr=False)
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.answer not in self.options:
            raise QuizError(f"{self.qid}: answer {self.answer!r} is not one of the options")


def rng_for(seed: int, qid: str) -> np.random.Generator:
    """A generator per (seed, question), so adding a question never changes another's variant."""
    digest = hashlib.sha256(f"{seed}:{qid}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def lettered(options: Sequence[str]) -> dict[str, str]:
    return {LETTERS[i]: text for i, text in enumerate(options)}


def single_match(qid: str, matches: Mapping[str, bool]) -> str:
    """The one letter whose check passed; :class:`QuizError` otherwise."""
    hits = [letter for letter, ok in matches.items() if ok]
    if len(hits) != 1:
        raise QuizError(f"{qid}: the computation matches {hits or 'no option'}, not exactly one")
    return hits[0]


def shuffled(items: Sequence[Any], rng: np.random.Generator) -> list[Any]:
    return [items[i] for i in rng.permutation(len(items))]
