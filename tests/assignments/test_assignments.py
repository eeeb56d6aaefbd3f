"""Every assignment: builds; solutions score full under ``otter run``; the untouched student
notebook runs top to bottom and scores 0; nothing secret reaches students. (Wrong answers and
correct alternatives: test_fair_grading.py.)"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.assignments.conftest import NAMES, otter_scores, source_dir


def autograded(scores: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    return {q: s for q, s in scores.items() if s[1] > 0}


@pytest.mark.parametrize("name", NAMES)
def test_build_layout(built, name):
    b = built[name]
    assert b.autograder_zip.name == f"{name}-autograder.zip"
    assert (b.student_dir / f"{name}.ipynb").exists()
    assert b.solutions.exists()
    with zipfile.ZipFile(b.autograder_zip) as zf:
        names = zf.namelist()
    assert "otter_config.json" in names and "run_autograder" in names
    assert "files/reference/quiz/__init__.py" in names  # self-contained: hidden tests need it


@pytest.mark.parametrize("name", NAMES)
def test_solutions_score_full_points(built, name, tmp_path):
    scores = autograded(otter_scores(built[name].autograder_zip, built[name].solutions, tmp_path))
    assert scores, "no autograded question"
    assert {q: s for q, s in scores.items() if s[0] != s[1]} == {}


@pytest.mark.parametrize("name", NAMES)
def test_untouched_student_notebook_runs_and_scores_zero(built, name, tmp_path):
    work = tmp_path / "student"
    shutil.copytree(built[name].student_dir, work)
    notebook = work / f"{name}.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(work)}}).execute()
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert any("grader.check" in c.source for c in nb.cells if c.cell_type == "code")
    scores = autograded(otter_scores(built[name].autograder_zip, notebook, tmp_path / "graded"))
    assert scores and all(score == 0 for score, _ in scores.values()), scores


def _solution_lines(master: Path) -> set[str]:
    """Solution text of the master: lines marked `# SOLUTION` and lines of BEGIN/END SOLUTION."""
    lines: set[str] = set()
    for cell in nbformat.read(master, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            s = line.strip()
            if s.startswith("# BEGIN SOLUTION"):
                inside = True
                continue
            if s.startswith("# END SOLUTION"):
                inside = False
                continue
            if inside or s.endswith("# SOLUTION"):
                text = s.removesuffix("# SOLUTION").strip()
                if "=" in text:  # keep the right-hand side: `x = ...` is what students see
                    text = text.split("=", 1)[1].strip()
                if len(text) >= 8:
                    lines.add(text)
    return lines


def _hidden_test_bodies(autograder_zip: Path) -> list[str]:
    bodies = []
    with zipfile.ZipFile(autograder_zip) as zf:
        for n in zf.namelist():
            if n.startswith("tests/") and n.endswith(".py"):
                source = zf.read(n).decode()
                for block in re.split(r"\n(?=@test_case)", source):
                    if "hidden=True" in block.split("\n", 1)[0]:
                        body = [ln.strip() for ln in block.splitlines()[2:] if len(ln.strip()) > 12]
                        bodies.extend(body)
    return bodies


@pytest.mark.parametrize("name", NAMES)
def test_nothing_secret_reaches_students(built, name):
    student_files = [p for p in built[name].student_dir.rglob("*") if p.is_file()]
    texts = {p: p.read_bytes().decode("utf-8", "replace") for p in student_files}
    assert not any("reference" in p.parts for p in student_files)
    secrets = _hidden_test_bodies(built[name].autograder_zip) + sorted(
        _solution_lines(source_dir(name) / f"{name}.ipynb"))
    assert secrets, "the check found nothing to look for"
    leaks = [(p.name, s) for p in texts for s in secrets if s in texts[p]]
    assert leaks == []
    nb = nbformat.read(built[name].student_dir / f"{name}.ipynb", as_version=4)
    for question, test in nb.metadata.get("otter", {}).get("tests", {}).items():
        assert "hidden=True" not in test, f"{question}: a hidden test is in the student notebook"
        assert "key_for" not in test and "from reference" not in test
    for p in student_files:
        if p.name.endswith(".quiz.npz"):
            import numpy as np

            meta = json.loads(bytes(np.load(p)["meta"]).decode())
            fields = {k for variant in meta["questions"].values() for q in variant for k in q}
            assert fields.isdisjoint({"answer", "reason", "data"})
