"""The letters version of every quiz's solutions (what the build writes for checking a zip) is a
real submission: no ``reference``, no ``key_for``, and full marks under ``mlphys grade``."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import nbformat
import pytest

from tests.assignments.conftest import NAMES, source_dir

QUIZZES = [n for n in NAMES if n.startswith("quiz")]

pytestmark = pytest.mark.slow


def test_every_quiz_has_letters_solutions():
    assert len(QUIZZES) == 4


@pytest.mark.parametrize("name", QUIZZES)
def test_letters_solutions_get_full_marks_under_mlphys_grade(built, name, tmp_path):
    b = built[name]
    assert b.letters == b.solutions.with_name(f"{name}-letters.ipynb") and b.letters.exists()
    nb = nbformat.read(b.letters, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "key_for" not in code and "reference" not in code
    assert 'student_id = "' in code
    handout = nbformat.read(b.student_dir / f"{name}.ipynb", as_version=4)
    assert nb.metadata["otter"] == handout.metadata["otter"]  # public tests only
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(b.letters, submissions / b.letters.name)
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "--autograder",
                           str(b.autograder_zip), "--out", str(tmp_path / "graded"), "--jobs", "1",
                           "--quiet", str(submissions)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with (tmp_path / "graded" / "final_grades.csv").open() as f:
        possible, row = list(csv.DictReader(f))
    assert row["grading_status"] == "Completed"
    assert float(possible["total_points_earned"]) > 0
    assert float(row["total_points_earned"]) == float(possible["total_points_earned"])


def _student_quiz_module(student_dir):
    import importlib.util

    spec = importlib.util.spec_from_file_location("mlphys_quiz_under_test", student_dir / "mlphys_quiz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", QUIZZES)
def test_the_public_check_accepts_exactly_the_letters_of_each_question(built, name):
    """The format check a student runs with ``grader.check``, run on the student's own ``Quiz``:
    every option letter of the student's variant passes; the letter after the last option (which
    "a to h" let through for a question of four options) fails, and the message names the
    letters. The letters come from the reference's questions, not from the notebook."""
    import re

    from reference.quiz import student_question

    b = built[name]
    mlphys_quiz = _student_quiz_module(b.student_dir)
    master = nbformat.read(source_dir(name) / f"{name}.ipynb", as_version=4)
    checks = [c.source for c in master.cells if c.cell_type == "code" and "_is_a_letter(" in c.source]
    assert checks, "every quiz has format checks"
    short = 0
    for identity in ("ada.lovelace", "emmy.noether", "S1004"):
        quiz = mlphys_quiz.Quiz(name, identity, folder=b.student_dir)
        for source in checks:
            namespace: dict = {}
            exec(source, namespace)
            q = re.search(r"def test_(q\d+)_is_a_letter", source)[1]
            qid = re.search(r'quiz\.letters\("([^"]+)"\)', source)[1]
            letters = "".join(student_question(name, qid, identity).options)
            check = namespace[f"test_{q}_is_a_letter"]
            for letter in letters:
                check(f" {letter.upper()} ", quiz)
            beyond = chr(ord(letters[-1]) + 1)
            short += beyond <= "h"
            for wrong in (beyond, "", "ab", letters[0] + letters[0]):
                with pytest.raises(AssertionError, match=f"{q}_answer must be one of the letters "
                                                         f"{', '.join(letters)}"):
                    check(wrong, quiz)
    assert short > 0, "some question has fewer than eight options"
