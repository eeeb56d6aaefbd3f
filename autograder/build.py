"""``mlphys build``: turn the master notebooks under ``assignments/`` into what people use.

For each assignment it stages a copy of the master with the files the build provides (the
``reference`` package for the hidden tests, and for quizzes the student-side ``mlphys_quiz.py``
and ``<quiz>.quiz.npz``), runs ``otter assign`` there (which also grades the solutions against
every test), and lays the result out with stable names:

    dist/<name>/student/                       what students get
    dist/<name>/autograder/<name>-autograder.zip  for Gradescope, ``otter grade`` and ``mlphys grade``
    dist/<name>/solutions/<name>.ipynb         the solutions notebook

The zip is self-contained: ``reference`` travels inside it (Otter copies support files next to
the notebook being graded), so it grades without this repository installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import nbformat
import yaml

from autograder import zip_additions

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = REPO / "assignments"
SUPPORT = Path(__file__).resolve().parent / "assignment_support"
REFERENCE = REPO / "reference"


class BuildError(click.ClickException):
    """A build that cannot produce a correct assignment (bad master, failing solutions)."""


@dataclass(frozen=True)
class BuiltAssignment:
    name: str
    student_dir: Path
    autograder_zip: Path
    solutions: Path
    seconds: float


def master_path(name: str, root: Path = ASSIGNMENTS) -> Path:
    path = root / name / f"{name}.ipynb"
    if not path.exists():
        known = ", ".join(available(root)) or "none"
        raise BuildError(f"no assignment {name!r} (expected {path}); available: {known}")
    return path


def available(root: Path = ASSIGNMENTS) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}.ipynb").exists()) if root.exists() else []


def assignment_config(master: Path) -> dict:
    """The YAML of the master's ``# ASSIGNMENT CONFIG`` raw cell."""
    nb = nbformat.read(master, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("# ASSIGNMENT CONFIG"):
            return yaml.safe_load(cell.source.split("\n", 1)[1]) or {}
    raise BuildError(f"{master.name} has no '# ASSIGNMENT CONFIG' raw cell")


def _stage(name: str, root: Path, staging: Path) -> Path:
    """Copy the master and provide the files its config asks for that the build generates."""
    source_dir = master_path(name, root).parent
    shutil.copytree(source_dir, staging, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "mutations.yml"))
    shutil.copytree(REFERENCE, staging / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    config = assignment_config(staging / f"{name}.ipynb")
    for entry in [*config.get("files", []), *config.get("autograder_files", [])]:
        target = staging / entry
        if target.exists():
            continue
        if entry == "mlphys_quiz.py":
            shutil.copy(SUPPORT / "mlphys_quiz.py", target)
        elif entry.endswith(".quiz.npz"):
            from autograder.quizpack import write_quiz_pack

            write_quiz_pack(entry.removesuffix(".quiz.npz"), target)
        else:
            raise BuildError(f"{name}: config lists {entry!r} but there is no such file")
    return staging / f"{name}.ipynb"


def _failure_summary(output: str) -> str:
    """The lines of Otter's output that say which questions failed."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "Some autograder tests failed" in line:
            return "\n".join(lines[i: i + 40])
    return "\n".join(lines[-25:])


def build_assignment(name: str, out: Path, root: Path = ASSIGNMENTS,
                     run_tests: bool = True) -> BuiltAssignment:
    """Build one assignment into ``out/<name>/``; raise :class:`BuildError` if it is not correct."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mlphys-build-{name}-") as tmp:
        staging = Path(tmp) / "src"
        master = _stage(name, root, staging)
        result = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "otter", "assign", str(master), str(result), "--no-pdfs"]
        if not run_tests:
            cmd.append("--no-run-tests")
        proc = subprocess.run(cmd, cwd=staging, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"{name}: otter assign failed; the solutions do not pass their tests "
                             f"or the master is malformed:\n{_failure_summary(proc.stdout + proc.stderr)}")
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        (target / "autograder").mkdir(parents=True)
        (target / "solutions").mkdir()
        shutil.copytree(result / "student", target / "student")
        zips = sorted((result / "autograder").glob("*-autograder_*.zip"))
        if len(zips) != 1:
            raise BuildError(f"{name}: expected one autograder zip, found {len(zips)}")
        autograder_zip = target / "autograder" / f"{name}-autograder.zip"
        shutil.copy(zips[0], autograder_zip)
        solutions = target / "solutions" / f"{name}.ipynb"
        shutil.copy(result / "autograder" / f"{name}.ipynb", solutions)
        _add_manifest(autograder_zip, assignment_config(master))
    _check_zip(name, autograder_zip)
    return BuiltAssignment(name, target / "student", autograder_zip, solutions,
                           time.perf_counter() - start)


def _add_manifest(autograder_zip: Path, config: dict) -> None:
    """``mlphys.json`` for ``mlphys grade`` and the Gradescope feedback plugin
    (:mod:`autograder.zip_additions`). Otter ignores the extra files."""
    zip_additions.add_to_zip(autograder_zip, config)


def _check_zip(name: str, path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if "otter_config.json" not in names or not any(n.startswith("tests/") for n in names):
        raise BuildError(f"{name}: {path.name} is not a complete Otter autograder zip")
    if not any(re.match(r"files/reference/__init__\.py$", n) for n in names):
        raise BuildError(f"{name}: the reference package did not make it into {path.name}")


def _build_one(args: tuple[str, Path, Path, bool]) -> BuiltAssignment:
    return build_assignment(*args)


def build_many(names: Iterable[str], out: Path, root: Path = ASSIGNMENTS, jobs: int = 1,
               run_tests: bool = True) -> list[BuiltAssignment]:
    names = list(names)
    for name in names:
        master_path(name, root)  # fail fast on a typo, before any build starts
    if jobs <= 1 or len(names) <= 1:
        return [build_assignment(n, out, root, run_tests) for n in names]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_build_one, [(n, out, root, run_tests) for n in names]))


@click.command("build")
@click.argument("names", nargs=-1)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("dist"),
              show_default=True, help="Output root: dist/<name>/{student,autograder,solutions}.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Assignments built in parallel.")
@click.option("--assignments", "root", type=click.Path(file_okay=False, path_type=Path),
              default=ASSIGNMENTS, show_default=True, help="Folder of assignment sources.")
def build_command(names: tuple[str, ...], out: Path, jobs: int, root: Path) -> None:
    """Build assignments (all of them when no NAME is given) with otter assign."""
    selected = list(names) or available(root)
    if not selected:
        raise click.ClickException(f"no assignments found under {root}")
    click.echo(f"building {len(selected)} assignment(s) into {out}/ ...")
    built = build_many(selected, out, root, jobs)
    for b in built:
        click.echo(f"  {b.name:24s} {b.seconds:6.1f} s  {b.autograder_zip}")
    summary = {b.name: round(b.seconds, 1) for b in built}
    (out / "build-times.json").write_text(json.dumps(summary, indent=2))
