"""Build every assignment once per test session and grade notebooks with ``otter run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.build import ASSIGNMENTS, BuiltAssignment, available, build_many

NAMES = available()


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict[str, BuiltAssignment]:
    out = tmp_path_factory.mktemp("dist")
    return {b.name: b for b in build_many(NAMES, out, jobs=2)}


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
