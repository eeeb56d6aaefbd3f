"""Helpers for the ``mlphys grade`` tests: fixture paths and submission builders.

(Not a conftest: the sandbox tests in this directory belong to another module's owner.)
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent


def ag_zip(name: str) -> Path:
    return FIXTURES / name / "autograder.zip"


def student_nb(name: str) -> nbformat.NotebookNode:
    return nbformat.read(FIXTURES / name / "student.ipynb", as_version=4)


def solution_answers(name: str) -> dict[str, str]:
    """The solution code of each question, from the master notebook's ANSWER cells."""
    nb = nbformat.read(FIXTURES / name / "master.ipynb", as_version=4)
    out = {}
    for c in nb.cells:
        if c.cell_type == "code" and c.source.startswith("# ANSWER "):
            q = c.source.splitlines()[0].split()[-1]
            body = [ln for ln in c.source.splitlines()[1:]
                    if ln.strip() not in ("# BEGIN SOLUTION", "# END SOLUTION")]
            out[q] = "\n".join(body)
    return out


def build_notebook(name: str, answers: dict[str, str] | None = None, *,
                   extra_cells: list[tuple[int, str]] | None = None) -> nbformat.NotebookNode:
    """The student notebook with every question answered by the solution, except the questions
    in ``answers`` (replaced by that code). ``extra_cells``: (position, source) code cells to
    insert (position in the final cell list; -1 appends)."""
    nb = copy.deepcopy(student_nb(name))
    sol = solution_answers(name)
    given = {**sol, **(answers or {})}
    for c in nb.cells:
        if c.cell_type == "code" and c.source.startswith("# ANSWER "):
            q = c.source.splitlines()[0].split()[-1]
            c.source = f"# ANSWER {q}\n{given[q]}"
    for pos, src in extra_cells or []:
        cell = nbformat.v4.new_code_cell(src)
        if pos == -1:
            nb.cells.append(cell)
        else:
            nb.cells.insert(pos, cell)
    return nb


def write_nb(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def nb_json(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb)


def otter_run(submission: Path, autograder: Path, out_dir: Path, timeout: float = 300) -> dict:
    """Grade one submission with ``otter run`` and return its results.json (or raise)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    subprocess.run(
        [str(VENV_BIN / "otter"), "run", str(submission), "-a", str(autograder), "-o",
         str(out_dir), "--no-logo"],
        check=True, capture_output=True, timeout=timeout, cwd=out_dir, env=env,
    )
    return json.loads((out_dir / "results.json").read_text())


def otter_scores(results: dict) -> dict[str, float]:
    return {t["name"]: t["score"] for t in results["tests"] if "score" in t}
