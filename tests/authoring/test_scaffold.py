"""``mlphys new``: what it writes follows the house style, and every user mistake is one line.

The scaffolds are built and graded in ``test_authoring_walkthrough.py``; here the fast parts:
the cells and their order, numbering, the quiz wiring into an existing module, and the refusals.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from autograder.build import BuildError, build_assignment
from autograder.cli import main
from autograder.course import PACKAGE_COURSE, load_course
from autograder.scaffold import question_names

ORDER = ["# BEGIN QUESTION", "**Question", "# BEGIN SOLUTION", "def ", "# END SOLUTION", "# BEGIN TESTS",
         '""" # BEGIN TEST CONFIG\npoints: 0', '""" # BEGIN TEST CONFIG\nhidden: true', "# END TESTS",
         "# END QUESTION"]


def invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.exception)
    return result.exit_code, result.output


@pytest.fixture
def course(tmp_path: Path) -> Path:
    (tmp_path / "course.toml").write_text('[quiz]\nsalt = "test"\n')
    return tmp_path


def test_a_homework_scaffold_has_the_house_style_cells_in_order(course):
    code, out = invoke(["new", "assignment", "hw07-waves", "--function", "wave", "--points", "3",
                        "--course", str(course)])
    assert code == 0, out
    code, out = invoke(["new", "question", "hw07-waves", "--kind", "homework", "--function", "speed",
                        "--course", str(course)])
    assert code == 0, out
    master = course / "assignments" / "hw07-waves" / "hw07-waves.ipynb"
    nb = nbformat.read(master, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].source.startswith("# ASSIGNMENT CONFIG\nname: hw07-waves\n")
    assert "- reference" in nb.cells[0].source  # hidden tests import it; students never get it
    assert question_names(nb) == ["q1", "q2"]
    assert nb.cells[-1].id == "the-end"  # questions go before the closing note
    for q, function, points in (("q1", "wave", 3), ("q2", "speed", 1)):
        cells = [c for c in nb.cells if c.id.startswith(f"{q}-")]
        assert [next(m for m in ORDER if c.source.startswith(m)) for c in cells] == ORDER
        assert f"name: {q}\npoints: {points}" in cells[0].source
        hidden = next(c for c in cells if c.id == f"{q}-hidden-test").source
        assert "failure_message:" in hidden and f"def test_{q}_values({function}):" in hidden
        assert '"""TODO(mlphys new): the name of this case' in hidden
        assert "from reference." in hidden
        assert "# BEGIN SOLUTION\n" in next(c for c in cells if c.id == f"{q}-solution").source
    assert (course / "assignments" / "hw07-waves" / "mutations.yml").exists()
    with pytest.raises(BuildError, match=r"cell 2, q1, q2 still hold 'TODO\(mlphys new\)'"):
        build_assignment("hw07-waves", course / "dist", course / "assignments",
                         course=load_course(course))


@pytest.mark.parametrize("args, message", [
    (["new", "assignment", "HW_7"], "bad assignment name 'HW_7'"),
    (["new", "assignment", "hw07-x", "--function", "class"], "bad --function 'class'"),
    (["new", "assignment", "quiz9", "--kind", "quiz", "--function", "f"], "bad --function 'f'"),
    (["new", "assignment", "hw07-x", "--points", "0"], "--points must be at least 1"),
    (["new", "question", "nope", "--kind", "homework"], "no assignment 'nope'"),
])
def test_bad_input_is_one_line(course, args, message):
    code, out = invoke([*args, "--course", str(course)])
    assert code == 1 and out.count("\n") == 1 and out.startswith("Error: ") and message in out, out
    assert not any((course / "assignments" / name).exists() for name in ("hw07-x", "quiz9"))


def test_taken_names_and_wrong_kinds_are_refused(course):
    assert invoke(["new", "assignment", "hw08", "--course", str(course)])[0] == 0
    for args, message in ((["new", "assignment", "hw08"], "already exists"),
                          (["new", "question", "hw08", "--kind", "homework", "--name", "q1"],
                           "already has a question q1"),
                          (["new", "question", "hw08", "--kind", "homework", "--name", "x1"],
                           "bad question name 'x1'"),
                          (["new", "question", "hw08", "--kind", "quiz"], "is a homework master")):
        code, out = invoke([*args, "--course", str(course)])
        assert code == 1 and out.count("\n") == 1 and message in out, out


def test_outside_a_course_folder_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = invoke(["new", "assignment", "hw01"])
    assert code == 1 and out.count("\n") == 1 and "not in a course folder" in out
    assert list(tmp_path.iterdir()) == []


QUESTIONS = """
import json, sys
import numpy as np
from reference.quiz import questions
qs = [q for seed in (None, 5, 6) for q in questions(sys.argv[1], seed)]
print(json.dumps([[q.qid, q.prompt, dict(q.options), q.answer] for q in qs]))
"""


def test_a_quiz_question_joins_an_existing_quiz_module(tmp_path):
    """quiz03-sgd's module gains make_q3, listed in questions(); the old question is unchanged."""
    shutil.copytree(PACKAGE_COURSE / "reference", tmp_path / "reference",
                    ignore=shutil.ignore_patterns("__pycache__", "pool.json"))
    shutil.copytree(PACKAGE_COURSE / "assignments" / "quiz03-sgd", tmp_path / "assignments" / "quiz03-sgd")
    master = tmp_path / "assignments" / "quiz03-sgd" / "quiz03-sgd.ipynb"
    before = question_names(nbformat.read(master, as_version=4))
    code, out = invoke(["new", "question", "quiz03-sgd", "--kind", "quiz", "--course", str(tmp_path)])
    assert code == 0, out
    nb = nbformat.read(master, as_version=4)
    new = f"q{len([q for q in before if q.startswith('q')]) + 1}"
    assert question_names(nb) == [*before, new]
    assert any(c.source == f'quiz.show("sgd.{new}")' for c in nb.cells)
    assert f'{new}_answer = key_for("quiz03-sgd", "sgd.{new}", student_id)  # SOLUTION' in "".join(
        c.source for c in nb.cells)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def run(root: Path) -> list:
        proc = subprocess.run([sys.executable, "-c", QUESTIONS, "quiz03-sgd"], cwd=root, env=env | {
            "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    after, original = run(tmp_path), run(PACKAGE_COURSE)
    assert [q for q in after if q[0] != f"sgd.{new}"] == original
    added = [q for q in after if q[0] == f"sgd.{new}"]
    assert len(added) == 3 and all(q[2][q[3]] for q in added)
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--config",
                           str(PACKAGE_COURSE / "pyproject.toml"), str(tmp_path / "reference" / "quiz")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_a_quiz_module_it_cannot_extend_is_left_alone(tmp_path):
    """quiz02's questions() is not a list literal: one line, and neither file changes."""
    shutil.copytree(PACKAGE_COURSE / "reference", tmp_path / "reference",
                    ignore=shutil.ignore_patterns("__pycache__", "pool.json"))
    shutil.copytree(PACKAGE_COURSE / "assignments" / "quiz02-python-numpy",
                    tmp_path / "assignments" / "quiz02-python-numpy")
    files = [tmp_path / "reference" / "quiz" / "python_numpy.py",
             tmp_path / "assignments" / "quiz02-python-numpy" / "quiz02-python-numpy.ipynb"]
    before = [f.read_bytes() for f in files]
    code, out = invoke(["new", "question", "quiz02-python-numpy", "--kind", "quiz",
                        "--course", str(tmp_path)])
    assert code == 1 and out.count("\n") == 1 and "cannot be listed in it automatically" in out, out
    assert [f.read_bytes() for f in files] == before


def test_mlphys_check_holds_a_mutation_to_its_declared_collateral_losses() -> None:
    """One mistake, one penalty: a mutation that also costs a question it does not declare in
    ``also_costs`` fails the check; a declared one passes and is named."""
    from autograder.assignment_check import mutation_verdict

    full = {"q1": (2.0, 2.0), "q2": (3.0, 3.0), "q3": (1.0, 1.0)}
    clean = mutation_verdict("m", "q1", {"q1": (0.0, 2.0), "q2": (3.0, 3.0), "q3": (1.0, 1.0)},
                             full, [])
    assert clean.ok and "also costs" not in clean.detail
    spill = {"q1": (0.0, 2.0), "q2": (1.0, 3.0), "q3": (1.0, 1.0)}
    undeclared = mutation_verdict("m", "q1", spill, full, [])
    assert not undeclared.ok and "q2, not declared in also_costs" in undeclared.detail
    declared = mutation_verdict("m", "q1", spill, full, ["q2"])
    assert declared.ok and "also costs q2 (declared)" in declared.detail
    missed = mutation_verdict("m", "q1", {"q1": (2.0, 2.0), "q2": (3.0, 3.0)}, full, ["q2"])
    assert not missed.ok and "(still full marks)" in missed.detail
