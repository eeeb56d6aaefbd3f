"""Every multiple-choice question of the decks, as data with computed answers.

``questions(quiz, seed)`` gives one quiz's questions; ``seed=None`` is the lecture's own version,
an integer seed a per-student variant (see :func:`seed_for_student`).
"""

from __future__ import annotations

from collections.abc import Callable

from reference.quiz import backprop, python_numpy, sgd, single_layer
from reference.quiz.base import LETTERS, Question, QuizError, seed_for_student

QUIZZES: dict[str, Callable[[int | None], list[Question]]] = {
    single_layer.QUIZ: single_layer.questions,
    python_numpy.QUIZ: python_numpy.questions,
    sgd.QUIZ: sgd.questions,
    backprop.QUIZ: backprop.questions,
}


def questions(quiz: str, seed: int | None = None) -> list[Question]:
    if quiz not in QUIZZES:
        raise KeyError(f"unknown quiz {quiz!r}; known: {', '.join(QUIZZES)}")
    return QUIZZES[quiz](seed)


def all_questions(seed: int | None = None) -> list[Question]:
    return [q for make in QUIZZES.values() for q in make(seed)]


def question(qid: str, seed: int | None = None) -> Question:
    for q in all_questions(seed):
        if q.qid == qid:
            return q
    raise KeyError(f"unknown question {qid!r}")


__all__ = ["LETTERS", "QUIZZES", "Question", "QuizError", "all_questions", "question", "questions",
           "seed_for_student"]
