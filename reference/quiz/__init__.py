"""Every multiple-choice question of the decks, as data with computed answers.

``questions(quiz, seed)`` gives one quiz's questions; ``seed=None`` is the lecture's own version,
an integer seed a randomized variant. Per-student quizzes draw from a course's pool of variants
(:mod:`reference.quiz.pool`); which variant a student gets is decided by :func:`variant_of` and
nothing else: the hidden tests (:func:`key_for`), the answer key page and the build all go
through it, and the student-side ``mlphys_quiz.py`` reproduces it (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from reference.quiz import backprop, python_numpy, sgd, single_layer
from reference.quiz.base import LETTERS, Question, QuizError
from reference.quiz.pool import (
    DEFAULT_SALT,
    DEFAULT_VARIANTS,
    Pool,
    active_pool,
    normalize_identity,
    variant_from_mapping_key,
)

VARIANTS = DEFAULT_VARIANTS  # the default pool size (kept for older callers)

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


def variant_of(student_id: str, quiz: str, pool: Pool | None = None) -> int:
    """THE variant decision: the variant (0 .. pool.variants-1) of ``quiz`` this student gets.

    A pure function of (quiz, normalized identity, the pool's salt, the pool's size). ``pool``
    defaults to the course this package was built for (:func:`active_pool`)."""
    pool = pool or active_pool()
    return variant_from_mapping_key(pool.mapping_key, quiz, student_id, pool.variants)


def seed_for_student(student_id: str, quiz: str, pool: Pool | None = None) -> int:
    """The generator seed of the variant this student gets (never the raw hash of the id)."""
    pool = pool or active_pool()
    return pool.seed(quiz, variant_of(student_id, quiz, pool))


def variant_questions(quiz: str, variant: int, pool: Pool | None = None) -> list[Question]:
    """The questions of pool variant ``variant`` of ``quiz``."""
    return questions(quiz, (pool or active_pool()).seed(quiz, variant))


def questions_for_student(quiz: str, student_id: str, pool: Pool | None = None) -> list[Question]:
    """The questions this student sees (and is graded on)."""
    return questions(quiz, seed_for_student(student_id, quiz, pool))


def student_question(quiz: str, qid: str, student_id: str, pool: Pool | None = None) -> Question:
    """Question ``qid`` as this student sees it: for hidden tests that need more than the key
    (the data the question gave, e.g. the SGD trajectory)."""
    for q in questions_for_student(quiz, student_id, pool):
        if q.qid == qid:
            return q
    raise KeyError(f"quiz {quiz!r} has no question {qid!r}")


@lru_cache(maxsize=128)
def _answers(quiz: str, seed: int | None) -> dict[str, str]:
    return {q.qid: q.answer for q in questions(quiz, seed)}


def key_for(quiz: str, qid: str, student_id: str, pool: Pool | None = None) -> str:
    """The answer letter of question ``qid`` in the variant this student got: what hidden tests use.

    Cached per (quiz, seed): a notebook's hidden tests ask for every question of one variant.
    """
    answers = _answers(quiz, seed_for_student(student_id, quiz, pool))
    if qid not in answers:
        raise KeyError(f"quiz {quiz!r} has no question {qid!r}")
    return answers[qid]


__all__ = ["DEFAULT_SALT", "DEFAULT_VARIANTS", "LETTERS", "QUIZZES", "VARIANTS", "Pool", "Question",
           "QuizError", "active_pool", "all_questions", "key_for", "normalize_identity", "question",
           "questions", "questions_for_student", "seed_for_student", "student_question", "variant_of",
           "variant_questions"]
