"""docs/authoring.md, followed literally: its commands are run and its cells typed in as written.

The page marks each block it shows with ``<!-- walkthrough: KEY -->``; these tests take the
blocks from the page (so the page cannot drift from what works), scaffold a homework and a quiz
in a fresh course folder, fill in the scaffold's cells by their ids, and check what the page
promises: the build refuses unfinished scaffolds, the solutions get full marks and the untouched
student notebook zero under ``mlphys grade``, the listed mutation is caught (and a harmless one
is reported as not caught), and the scaffolded quiz question computes its answer.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.course import PACKAGE_COURSE
from autograder.grading import read_feedback

pytestmark = pytest.mark.slow

DOC = PACKAGE_COURSE / "docs" / "authoring.md"
BLOCK = re.compile(r"<!-- walkthrough: (?P<key>[\w.-]+) -->\n```[\w]*\n(?P<body>.*?)\n```", re.S)
HOMEWORK, QUIZ = "hw06-activations", "quiz05-neurons"


def blocks() -> dict[str, str]:
    found = {}
    for m in BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        assert m["key"] not in found, f"docs/authoring.md: walkthrough block {m['key']} twice"
        found[m["key"]] = m["body"]
    return found


def commands(block: str) -> list[list[str]]:
    """The ``mlphys`` command lines of a shell block, as argument lists (without ``mlphys``)."""
    lines = [shlex.split(line) for line in block.splitlines() if line.strip()]
    assert lines and all(args[0] == "mlphys" for args in lines), block
    return [args[1:] for args in lines]


def run(args: list[str], expect_ok: bool = True):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert (result.exit_code == 0) == expect_ok, result.output
    return result


def fill(master: Path, cells: dict[str, str]) -> None:
    """Replace the scaffold's cells by id with the page's text (what the instructor types)."""
    nb = nbformat.read(master, as_version=4)
    by_id = {c.get("id"): c for c in nb.cells}
    for cell_id, source in cells.items():
        assert cell_id in by_id, f"the scaffold has no cell {cell_id}"
        assert "TODO(mlphys new)" in by_id[cell_id].source, f"{cell_id} had nothing to fill in"
        by_id[cell_id].source = source
    nbformat.write(nb, master)


@pytest.fixture(scope="module")
def page() -> dict[str, str]:
    found = blocks()
    expected = {"course.toml", "homework-new", "introduction", "q1-prompt", "q1-solution",
                "q1-format-test", "q1-hidden-test", "mutations.yml", "homework-check", "quiz-new",
                "quiz-introduction", "quiz-q1-prompt", "quiz-check"}
    assert set(found) == expected
    return found


@pytest.fixture(scope="module")
def course(tmp_path_factory, page) -> Path:
    root = tmp_path_factory.mktemp("mycourse")
    (root / "course.toml").write_text(page["course.toml"] + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def homework(course, page):
    """The homework walkthrough, up to and including `mlphys check`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(course)
        for args in commands(page["homework-new"]):
            run(args)
        folder = course / "assignments" / HOMEWORK
        master = folder / f"{HOMEWORK}.ipynb"
        refused = run(["build", HOMEWORK], expect_ok=False)  # the scaffold as written
        fill(master, {"introduction": page["introduction"], "q1-prompt": page["q1-prompt"],
                      "q1-solution": page["q1-solution"], "q1-format-test": page["q1-format-test"],
                      "q1-hidden-test": page["q1-hidden-test"]})
        with (folder / "mutations.yml").open("a", encoding="utf-8") as f:
            f.write(page["mutations.yml"] + "\n")
        checks = [run(args) for args in commands(page["homework-check"])]
    return {"folder": folder, "refused": refused.output, "check": checks[-1].output,
            "dist": course / "dist" / HOMEWORK}


def test_the_build_refuses_the_scaffold_until_its_todos_are_written(homework):
    lines = homework["refused"].strip().splitlines()
    assert lines[-1].startswith(f"Error: {HOMEWORK}: cell 2, q1 still hold 'TODO(mlphys new)'")
    assert "Traceback" not in homework["refused"]


def test_the_check_passes_and_says_what_it_graded(homework):
    out = homework["check"]
    assert "ok    solutions: 2/2" in out
    assert "ok    untouched student notebook: 0/2" in out
    assert "ok    mutation q1: sign error in the exponent: q1: 0/2" in out
    assert "FAIL" not in out and out.rstrip().endswith("all checks passed")


def test_solutions_full_and_blank_zero_under_mlphys_grade(homework, tmp_path):
    """Graded again here with `mlphys grade` itself, not through the check."""
    dist = homework["dist"]
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(dist / "solutions" / f"{HOMEWORK}.ipynb", submissions / "solutions.ipynb")
    shutil.copy(dist / "student" / f"{HOMEWORK}.ipynb", submissions / "blank.ipynb")
    run(["grade", "--autograder", str(dist / "autograder" / f"{HOMEWORK}-autograder.zip"),
         "--out", str(tmp_path / "graded"), "--jobs", "2", "--quiet", str(submissions)])
    feedback = {Path(f.path).stem: f for f in read_feedback(tmp_path / "graded")}
    scores = {stem: {q.name: (q.score, q.possible) for q in f.questions} for stem, f in feedback.items()}
    assert scores == {"solutions": {"q1": (2.0, 2.0)}, "blank": {"q1": (0.0, 2.0)}}
    # what the blank notebook's student is told: the hidden case by its docstring, with the hint
    hidden = [c for c in feedback["blank"].questions[0].cases if c.hidden]
    hint = re.search(r'failure_message: "(.*)"', blocks()["q1-hidden-test"])[1]
    assert [(c.title, c.passed) for c in hidden] == [("sigmoid on random arrays of several shapes", False)]
    assert hidden[0].hint.startswith(hint)
    assert "expected_fn" not in hidden[0].message and "60601" not in hidden[0].message
    student = (dist / "student" / f"{HOMEWORK}.ipynb").read_text()
    assert "np.exp(-z)" not in student and "reference.activations" not in student


def test_a_mutation_the_tests_cannot_see_is_reported(homework, course):
    """The check can fail: a 'wrong answer' that computes the same thing survives, and says so."""
    mutations = homework["folder"] / "mutations.yml"
    original = mutations.read_text()
    mutations.write_text(original + '- question: q1\n  description: the same sum written the other way\n'
                         '  find: "(1.0 + np.exp(-z))"\n  replace: "(np.exp(-z) + 1.0)"\n')
    try:
        result = CliRunner().invoke(main, ["check", HOMEWORK, "--course", str(course)])
    finally:
        mutations.write_text(original)
    assert result.exit_code == 1
    assert ("FAIL  mutation q1: the same sum written the other way: q1: 2/2 (still full marks)"
            in result.output)
    assert result.output.strip().splitlines()[-1].startswith("Error: 1 check(s) failed")


@pytest.fixture(scope="module")
def quiz(course, page):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(course)
        new = [run(args) for args in commands(page["quiz-new"])]
        master = course / "assignments" / QUIZ / f"{QUIZ}.ipynb"
        fill(master, {"introduction": page["quiz-introduction"], "q1-prompt": page["quiz-q1-prompt"]})
        checks = [run(args) for args in commands(page["quiz-check"])]
    return {"new": new[-1].output, "check": checks[-1].output}


def test_the_quiz_scaffold_copies_reference_and_registers_its_module(quiz, course):
    assert f"created  {course / 'reference'}" in quiz["new"]
    module = course / "reference" / "quiz" / "neurons.py"
    assert f'QUIZ = "{QUIZ}"' in module.read_text()
    init = (course / "reference" / "quiz" / "__init__.py").read_text()
    assert "neurons.QUIZ: neurons.questions," in init
    assert "neurons" not in (PACKAGE_COURSE / "reference" / "quiz" / "__init__.py").read_text()


def test_the_scaffolded_quiz_checks_out(quiz):
    out = quiz["check"]
    assert "ok    solutions: 1/1" in out
    assert "ok    untouched student notebook: 0/1" in out
    assert "ok    mutation q1: another option's letter: q1: 0/1" in out
    assert out.rstrip().endswith("all checks passed")


QUESTIONS = """
import json, sys
import reference
from reference.quiz import questions
out = [{"qid": q.qid, "prompt": q.prompt, "options": dict(q.options), "answer": q.answer}
       for seed in [None, *range(1, 9)] for q in questions(sys.argv[1], seed)]
print(json.dumps({"reference": reference.__file__, "questions": out}))
"""
NUMBERS = re.compile(r"w = \((-?\d+), (-?\d+)\)\$ and bias \$b = (-?\d+)\$ gets the input "
                     r"\$y = \((-?\d+), (-?\d+)\)\$")


def test_the_scaffolded_quiz_question_computes_its_answer(quiz, course):
    """Every variant's key is the option equal to w . y + b, recomputed here from the prompt."""
    proc = subprocess.run([sys.executable, "-c", QUESTIONS, QUIZ], cwd=course, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(course)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert Path(data["reference"]).is_relative_to(course)  # the course's copy, not the installed one
    assert {q["qid"] for q in data["questions"]} == {"neurons.q1"}
    for q in data["questions"]:
        w0, w1, b, y0, y1 = map(int, NUMBERS.search(q["prompt"]).groups())
        assert q["options"][q["answer"]] == str(w0 * y0 + w1 * y1 + b)
        assert len(set(q["options"].values())) == len(q["options"]) == 4
    assert len({q["prompt"] for q in data["questions"]}) >= 6  # variants differ
