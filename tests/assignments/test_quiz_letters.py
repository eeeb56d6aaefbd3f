"""The letters version of every quiz's solutions (what the build writes for checking a zip) is a
real submission: no ``reference``, no ``key_for``, and full marks under ``mlphys grade``."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import nbformat
import pytest

from tests.assignments.conftest import NAMES

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
