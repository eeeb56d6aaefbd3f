"""Build every assignment once per test session and grade notebooks with ``otter run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.build import ASSIGNMENTS, BuiltAssignment, available, build_many

NAMES = available()
STUDENTS = (("ada-lovelace", "Ada Lovelace", "ada.lovelace"),
            ("emmy-noether", "Emmy Noether", "emmy.noether"))
"""(key, name, identity): quizzes are built with a notebook for each (``per-student/<key>/``)"""


class LazyBuilds(dict):
    """Builds an assignment the first time a test asks for it (so ``-k hw01`` builds one)."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    def __missing__(self, name: str) -> BuiltAssignment:
        self[name] = build_many([name], self.out, students=STUDENTS)[0]
        return self[name]


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> LazyBuilds:
    return LazyBuilds(tmp_path_factory.mktemp("dist"))


def otter_scores(autograder_zip: Path, notebook: Path, workdir: Path) -> dict[str, tuple[float, float]]:
    """Per-question (score, max) from ``otter run``'s results.json."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "otter", "run", "-a", str(autograder_zip), "-o", str(workdir),
         str(notebook)], cwd=workdir, capture_output=True, text=True, timeout=600)
    results = workdir / "results.json"
    assert results.exists(), f"otter run produced no results:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    tests = json.loads(results.read_text())["tests"]
    return {t["name"]: (float(t["score"]), float(t["max_score"])) for t in tests if "max_score" in t}


def source_dir(name: str) -> Path:
    return ASSIGNMENTS / name
