"""Our assignments under `mlphys grade`: the same per-question scores as `otter run` for honest
work, and the hidden tests' `reference` package out of the student's reach (under `otter run`
it sits next to the notebook, and importing it earns the points)."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.democlass import apply_mutation, as_student_work, load_mutations, make_roster
from autograder.grading import grade_batch, read_feedback
from tests.assignments.conftest import otter_scores, source_dir

CASES = ["quiz02-python-numpy", "hw02-backprop", "hw04-feedforward"]


def _student(name: str, built) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    solutions = nbformat.read(built.solutions, as_version=4)
    handout = nbformat.read(built.student_dir / f"{name}.ipynb", as_version=4)
    return solutions, handout


def _ours(built, notebooks: dict[str, nbformat.NotebookNode], tmp: Path) -> dict[str, dict]:
    folder = tmp / "submissions"
    folder.mkdir()
    for stem, nb in notebooks.items():
        nbformat.write(nb, folder / f"{stem}.ipynb")
    grade_batch(built.autograder_zip, [folder], tmp / "graded", jobs=2, progress=False)
    return {Path(f.path).stem: {q.name: (q.score, q.possible) for q in f.questions}
            for f in read_feedback(tmp / "graded")}


@pytest.mark.parametrize("name", CASES)
def test_honest_work_scores_as_under_otter_run(built, name, tmp_path):
    student = make_roster(1, np.random.default_rng(1))[0]
    solutions, handout = _student(name, built[name])
    correct = as_student_work(solutions, handout, student)
    partial = as_student_work(solutions, handout, student,
                              wrong_letters={"q1", "q3"} if name.startswith("quiz") else set())
    for mutation in load_mutations(source_dir(name))[:2]:
        apply_mutation(partial, mutation)
    ours = _ours(built[name], {"correct": correct, "partial": partial}, tmp_path)
    for stem, nb in (("correct", correct), ("partial", partial)):
        path = tmp_path / "otter" / stem / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        otter = otter_scores(built[name].autograder_zip, path, path.parent / "out")
        assert {q: s for q, s in ours[stem].items()} == {q: otter[q] for q in ours[stem]}, stem
    assert sum(s for s, _ in ours["partial"].values()) < sum(s for s, _ in ours["correct"].values())


CHEAT = """
# the cheat: take the course's reference implementation that the autograder ships
import os, sys
from reference.backprop import forward, backprop, cost
with open(os.path.join("reference", "backprop.py")) as f:
    print(len(f.read()))
"""


def test_the_reference_package_is_out_of_the_students_reach(built, tmp_path):
    name = "hw02-backprop"
    _, handout = _student(name, built[name])
    cheater = copy.deepcopy(handout)
    cells = [c for c in cheater.cells if c.cell_type == "code" and "def forward(" in c.source]
    assert cells, "the handout defines forward()"
    cells[0].source += "\n" + CHEAT  # replaces the stub before grader.check("q1") runs
    ours = _ours(built[name], {"cheater": cheater}, tmp_path)
    assert ours["cheater"]["q1"][0] == 0
    path = tmp_path / "otter" / f"{name}.ipynb"
    path.parent.mkdir()
    nbformat.write(cheater, path)
    otter = otter_scores(built[name].autograder_zip, path, tmp_path / "otter" / "out")
    # under otter run the same notebook earns forward points it never wrote (all but the 'jump'
    # case, whose training stand-in the reference's forward leaves out by default)
    assert otter["q1"][0] >= otter["q1"][1] - 1 > 0
