"""Build every assignment once per test run and grade notebooks with ``otter run``.

Why the builds are shared between pytest's processes: ``python3 run.py test`` runs two (``-n 2
--dist loadfile``) and the test files that need the built assignments land on both, so each
process used to build most of the nine (about a minute each on a loaded 2-core machine). Now
the first process to ask for an assignment builds it into a folder both processes see, under a
lock, and the other one waits for it and reads the same build. The folder's name carries a
hash of everything a build reads (the assignment's sources, the course's ``reference``
package, mlphys itself and the students), so a stale build can never be taken for a new one.
Tests only read what is built (they copy before they change anything).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

import autograder
from autograder.build import ASSIGNMENTS, BuiltAssignment, available, build_many

NAMES = available()
STUDENTS = (("ada-lovelace", "Ada Lovelace", "ada.lovelace"),
            ("emmy-noether", "Emmy Noether", "emmy.noether"))
"""(key, name, identity): quizzes are built with a notebook for each (``per-student/<key>/``)"""


BUILD_INPUTS = (ASSIGNMENTS.parent / "reference", Path(autograder.__file__).parent)
"""What every build reads besides the assignment's own folder."""


def build_key(name: str) -> str:
    """A hash of the files a build of ``name`` reads (and of the students it is built for)."""
    digest = hashlib.sha256(repr(STUDENTS).encode())
    for top in (ASSIGNMENTS / name, *BUILD_INPUTS):
        for path in sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(top.parent)).encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


@contextmanager
def exclusive(lock: Path):
    """Hold an exclusive lock on the file ``lock`` (between processes; released on exit)."""
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _record(b: BuiltAssignment) -> str:
    return json.dumps({k: (str(v) if isinstance(v, Path) else v)
                       for k, v in dataclasses.asdict(b).items()})


def _from_record(text: str) -> BuiltAssignment:
    fields = json.loads(text)
    paths = {f.name for f in dataclasses.fields(BuiltAssignment) if "Path" in str(f.type)}
    return BuiltAssignment(**{k: (Path(v) if k in paths and v is not None else v)
                              for k, v in fields.items()})


class LazyBuilds(dict):
    """Builds an assignment the first time a test asks for it (so ``-k hw01`` builds one),
    or takes the build another pytest process of this run made (``shared``)."""

    def __init__(self, shared: Path) -> None:
        super().__init__()
        self.shared = shared
        self.built_here: list[str] = []
        """the names this process built itself (the others it read)"""

    def __missing__(self, name: str) -> BuiltAssignment:
        folder = self.shared / f"{name}-{build_key(name)}"
        record = folder / "built.json"
        folder.mkdir(parents=True, exist_ok=True)
        with exclusive(folder / ".lock"):
            if not record.exists():
                b = build_many([name], folder, students=STUDENTS)[0]
                record.write_text(_record(b))
                self.built_here.append(name)
        self[name] = _from_record(record.read_text())
        return self[name]


def shared_build_dir(tmp_path_factory) -> Path:
    """One folder for the whole run: under pytest-xdist the parent of the processes' own
    temporary folders (that run's, not shared with other runs), else this process's own."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return base.parent / "built-assignments"
    return base / "built-assignments"


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> LazyBuilds:
    return LazyBuilds(shared_build_dir(tmp_path_factory))


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
