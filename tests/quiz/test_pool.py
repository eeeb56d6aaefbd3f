"""The pool of quiz variants: one variant decision, a fresh pool per salt, the size from config,
and the student side agreeing with the grader side without learning the salt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata

import pytest

from autograder import course as course_module
from autograder.assignment_support import mlphys_quiz
from autograder.course import load_course
from reference.quiz import (
    DEFAULT_SALT,
    DEFAULT_VARIANTS,
    Pool,
    key_for,
    questions,
    questions_for_student,
    seed_for_student,
    variant_of,
    variant_questions,
)
from reference.quiz.pool import MAX_VARIANTS
from reference.quiz.pool import normalize_identity as reference_normalize

QUIZ = "quiz04-backprop"
IDS = [f"student.{i:03d}" for i in range(400)]


def fingerprint(qs):
    return [(q.qid, q.prompt, dict(q.options), q.answer) for q in qs]


def test_the_variant_depends_on_the_normalized_identity_only():
    pool = Pool("ws2025", 32)
    nfd = unicodedata.normalize("NFD", "josé.müller")
    same = ["Ada.Lovelace", "  ada.lovelace ", "ADA.LOVELACE\t"]
    assert len({variant_of(s, QUIZ, pool) for s in same}) == 1
    assert variant_of(nfd, QUIZ, pool) == variant_of("JOSÉ.MÜLLER", QUIZ, pool)
    for bad in ("", "   ", None, 42):
        with pytest.raises(ValueError):
            variant_of(bad, QUIZ, pool)


def test_the_student_gets_the_pool_seed_of_their_variant_not_a_raw_hash():
    pool = Pool("ws2025", 8)
    for sid in IDS[:20]:
        k = variant_of(sid, QUIZ, pool)
        assert 0 <= k < 8
        assert seed_for_student(sid, QUIZ, pool) == pool.seed(QUIZ, k)
        assert fingerprint(questions_for_student(QUIZ, sid, pool)) == fingerprint(
            variant_questions(QUIZ, k, pool))
        assert key_for(QUIZ, "backprop.shape", sid, pool) == variant_questions(QUIZ, k, pool)[2].answer


def test_two_terms_give_different_pools_and_different_variants():
    a, b = Pool("term-2025-winter", 6), Pool("term-2026-summer", 6)
    # the pools themselves: different seeds, so different questions (and keys) at every index
    assert {a.seed(QUIZ, k) for k in range(6)}.isdisjoint({b.seed(QUIZ, k) for k in range(6)})
    differing = sum(fingerprint(variant_questions(QUIZ, k, a)) != fingerprint(variant_questions(QUIZ, k, b))
                    for k in range(6))
    assert differing == 6
    # the mapping of students to variants changes too
    moved = sum(variant_of(s, QUIZ, a) != variant_of(s, QUIZ, b) for s in IDS)
    assert moved > len(IDS) // 2
    # and the default pool is neither, and not the old seeds 0..31
    default = Pool()
    assert default.salt == DEFAULT_SALT and default.variants == DEFAULT_VARIANTS
    assert {default.seed(QUIZ, k) for k in range(32)}.isdisjoint(range(1000))


@pytest.mark.parametrize("size", [1, 5, 32, 100])
def test_the_pool_size_is_configuration_and_the_whole_pool_is_used(size):
    pool = Pool("any", size)
    used = {variant_of(s, QUIZ, pool) for s in IDS}
    assert used == set(range(size)) if size <= 32 else used <= set(range(size))
    assert len(used) >= min(size, 32)
    with pytest.raises(IndexError):
        pool.seed(QUIZ, size)


@pytest.mark.parametrize("bad", [0, -1, MAX_VARIANTS + 1, 2.5, True])
def test_a_pool_size_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="number of variants"):
        Pool("x", bad)


def test_student_module_agrees_with_the_reference_from_the_mapping_key_alone():
    for pool in (Pool(), Pool("ws2025", 32), Pool("ünïcödé salt: with \"quotes\"", 7)):
        for quiz in ("quiz01-single-layer", QUIZ):
            mine = [mlphys_quiz.variant_of(s, quiz, pool.variants, pool.mapping_key) for s in IDS]
            assert mine == [variant_of(s, quiz, pool) for s in IDS]
        assert pool.salt not in pool.mapping_key
    for s in ("  Émilie.du.Châtelet ", unicodedata.normalize("NFD", "Søren"), "X"):
        assert mlphys_quiz.normalize_identity(s) == reference_normalize(s)


def test_the_course_module_defaults_are_the_reference_defaults():
    assert (course_module.DEFAULT_SALT, course_module.DEFAULT_VARIANTS, course_module.MAX_VARIANTS) == (
        DEFAULT_SALT, DEFAULT_VARIANTS, MAX_VARIANTS)


def test_a_built_reference_reads_its_pool_from_pool_json(tmp_path):
    """The package copy the zip ships decides with the course's pool, with no argument given."""
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "course.toml").write_text('[quiz]\nsalt = "ws2030"\nvariants = 5\n')
    course = load_course(tmp_path / "course")
    course.stage_reference(tmp_path / "staged")
    program = ("import json, reference.quiz as q\n"
               f"ids = {IDS[:50]!r}\n"
               f"print(json.dumps([q.__file__, q.active_pool().to_json(), [q.variant_of(s, {QUIZ!r}) "
               f"for s in ids], q.key_for({QUIZ!r}, 'backprop.shape', ids[0])]))")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "staged"), MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout
    where, pool, variants, key = json.loads(out)
    assert where.startswith(str(tmp_path / "staged"))
    assert pool == {"salt": "ws2030", "variants": 5}
    expected = Pool("ws2030", 5)
    assert variants == [variant_of(s, QUIZ, expected) for s in IDS[:50]]
    assert key == key_for(QUIZ, "backprop.shape", IDS[0], expected)


def test_the_lecture_version_is_untouched_by_pools():
    assert fingerprint(questions(QUIZ)) == fingerprint(questions(QUIZ, None))


def test_the_attack_a_student_with_the_package_and_their_files_does_not_get_the_keys():
    """Everything a student has: the package (this reference), the pack's mapping key and size,
    their id. The plausible ways to turn that into keys all miss the course's real keys."""
    course = Pool("ws2025-secret-salt", 32)
    quiz, qids = QUIZ, ("backprop.derivative", "backprop.brute_force", "backprop.shape")
    students = IDS[:40]

    def keys(sid, pool=None, seed=None):
        qs = questions(quiz, seed) if seed is not None else questions_for_student(quiz, sid, pool)
        return [q.answer for q in qs if q.qid in qids]

    real = {s: keys(s, course) for s in students}
    assert all(real[s] == [key_for(quiz, q, s, course) for q in qids] for s in students)
    k_of = {s: mlphys_quiz.variant_of(s, quiz, course.variants, course.mapping_key) for s in students}
    attacks = {
        "the default pool": {s: keys(s, Pool()) for s in students},
        "the mapping key taken for the salt": {s: keys(s, Pool(course.mapping_key, 32)) for s in students},
        "seed = variant number (the old pool)": {s: keys(s, seed=k_of[s]) for s in students},
    }
    for how, guessed in attacks.items():
        right = sum(guessed[s] == real[s] for s in students)
        assert right <= len(students) // 4, f"{how}: {right} of {len(students)} students' keys"
