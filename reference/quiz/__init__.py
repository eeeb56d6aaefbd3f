"""Every multiple-choice question of the decks, as data with computed answers.

``questions(quiz, seed)`` gives one quiz's questions; ``seed=None`` is the lecture's own version,
an integer seed a per-student variant (see :func:`seed_for_student`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from reference.quiz import backprop, python_numpy, sgd, single_layer
from reference.quiz.base import LETTERS, VARIANTS, Question, QuizError, seed_for_student, variant_of

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


@lru_cache(maxsize=128)
def _answers(quiz: str, seed: int | None) -> dict[str, str]:
    return {q.qid: q.answer for q in questions(quiz, seed)}


def key_for(quiz: str, qid: str, student_id: str) -> str:
    """The answer letter of question ``qid`` in the variant this student got: what hidden tests use.

    Cached per (quiz, variant): a notebook's hidden tests ask for every question of one variant.
    """
    answers = _answers(quiz, variant_of(student_id, quiz))
    if qid not in answers:
        raise KeyError(f"quiz {quiz!r} has no question {qid!r}")
    return answers[qid]


__all__ = ["LETTERS", "QUIZZES", "VARIANTS", "Question", "QuizError", "all_questions", "key_for",
           "question", "questions", "seed_for_student", "variant_of"]
