"""The built zips run the way Gradescope runs them: /autograder/{source,submission,results},
their own run_autograder as root with Docker's default capabilities, and a results.json in
Gradescope's documented format; and they are self-contained: the emulated container masks this
machine's mlphys and course sources, so only the zip's `reference` (and grader wheel) exist."""

from __future__ import annotations

import copy

import nbformat
import numpy as np
import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.democlass import as_student_work, make_roster
from autograder.gradescope_check import run_like_gradescope, validate_results
from tests.assignments.test_feedback_course import secret_lines

CASES = ["quiz01-single-layer", "hw01-network-basics"]

@pytest.mark.parametrize("name", CASES)
def test_gradescope_run_of_a_correct_and_a_blank_submission(built, name, tmp_path):
    student = make_roster(1, np.random.default_rng(3))[0]
    solutions = nbformat.read(built[name].solutions, as_version=4)
    handout = nbformat.read(built[name].student_dir / f"{name}.ipynb", as_version=4)
    correct = tmp_path / "correct" / f"{name}.ipynb"
    blank = tmp_path / "blank" / f"{name}.ipynb"
    for path, nb in ((correct, as_student_work(solutions, handout, student)),
                     (blank, copy.deepcopy(handout))):
        path.parent.mkdir()
        nbformat.write(nb, path)
    good = run_like_gradescope(built[name].autograder_zip, correct, tmp_path / "gs1")
    assert good.problems == []
    assert good.possible > 0 and good.score == good.possible
    # per-question results (names and hints of hidden tests, never their code) are shown to
    # students once grades are published: the course's choice (course.toml [gradescope]),
    # written into mlphys.json, which the sandboxed grader in the zip applies
    questions = [t for t in good.results["tests"] if "max_score" in t]
    assert questions and {t["visibility"] for t in questions} == {"after_published"}
    empty = run_like_gradescope(built[name].autograder_zip, blank, tmp_path / "gs2")
    assert empty.problems == [] and empty.score == 0
    shown = "".join(t["output"] for t in empty.results["tests"])
    assert "Test case failed" in shown
    assert [line for line in secret_lines(built[name].autograder_zip) if line in shown] == []


def test_the_validator_rejects_what_gradescope_rejects():
    ok = {"tests": [{"name": "q1", "score": 1, "max_score": 1, "visibility": "hidden"}]}
    assert validate_results(ok) == []
    assert validate_results({"score": 3.5, "output": "hi"}) == []
    assert validate_results({"tests": [{"name": "summary", "output": "no score anywhere"}]})
    assert validate_results({**ok, "visibility": "sometimes"})
    assert validate_results({"tests": [{"name": "q1", "score": "1", "max_score": 1}]})
    assert validate_results({**ok, "tests": [{**ok["tests"][0], "status": "ok"}]})
    assert validate_results({**ok, "grade": 5})


def test_gradescope_check_command_reports_a_non_zip(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_text("not a zip")
    nb = tmp_path / "x.ipynb"
    nb.write_text("{}")
    result = CliRunner().invoke(main, ["gradescope-check", "--autograder", str(fake), str(nb)])
    assert result.exit_code != 0 and "is not a zip file" in result.output
    assert "Traceback" not in result.output
