"""``mlphys build``: turn a course's master notebooks into what people use.

Which course: ``--course DIR``, else the course folder around the current directory, else the
course shipped with mlphys (:mod:`autograder.course`); the command prints the folders it uses.
For each assignment it stages a copy of the master with the files the build provides (the
course's ``reference`` package with the course's quiz pool in ``reference/quiz/pool.json``, and
for quizzes the student-side ``mlphys_quiz.py`` and ``<quiz>.quiz.npz``), runs ``otter assign``
there (which also grades the solutions against every test), and lays the result out with stable
names:

    dist/<name>/student/                          what students get
    dist/<name>/autograder/<name>-autograder.zip  for Gradescope, ``otter grade`` and ``mlphys grade``
    dist/<name>/solutions/<name>.ipynb            the solutions notebook
    dist/<name>/solutions/<name>-letters.ipynb    quizzes: the solutions as letters (a submission)
    dist/<name>/per-student/<key>/<name>.ipynb    quizzes with a roster: each student's own notebook

The zip is self-contained: ``reference`` travels inside it (Otter copies support files next to
the notebook being graded), so it grades without this repository installed; and its
``run_autograder`` grades with mlphys's sandbox (the grader travels as a wheel in the zip:
:mod:`autograder.gradescope.hardened_zip`), so on Gradescope and under ``otter grade`` the
notebook cannot reach the tests or ``reference``. The quiz pack is
computed in a separate Python with the staged ``reference`` first on its path, so the student's
pictures and the grader's keys come from the same code and the same pool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import nbformat
import yaml

from autograder import csvsafe, zip_additions
from autograder.assignment_support.mlphys_quiz import variant_of
from autograder.course import Course, discover_course, load_course
from autograder.gradescope.hardened_zip import add_sandboxed_runner
from autograder.quiz_notebooks import (
    QuizNotebookError,
    guard_quiz_import,
    letters_solutions,
    per_student_notebook,
    solution_identity,
)
from autograder.quizpack import embed_variant, pack_meta
from autograder.scaffold import TODO, unfinished_cells

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
    letters: Path | None = None
    """quizzes: the solutions with letters instead of ``reference`` calls (gradable as a submission)"""
    per_student: Path | None = None
    """quizzes built with a roster: the folder of per-student notebooks"""


RosterEntry = tuple[str, str, str]
"""(folder key, display name, identity) of one student"""
PER_STUDENT = "per-student"
POOL_MEMBER = "files/reference/quiz/pool.json"


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


def _run_quiz_worker(name: str, staging: Path, pack: Path, solution_id: str) -> dict:
    """Write the quiz pack and compute the solutions' keys with the COURSE's reference (the
    staged copy, with the course's pool.json), in a separate Python: this process may have
    imported another ``reference`` (the installed one) already."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(staging), *filter(None, [os.environ.get("PYTHONPATH")])]), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "autograder.quizpack", name, "--pack", str(pack),
                           "--keys-for", solution_id], cwd=staging, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"{name}: computing the quiz's variants failed: {last}")
    result = json.loads(proc.stdout)
    if Path(result["reference"]) != (staging / "reference").resolve():
        raise BuildError(f"{name}: the quiz was computed with {result['reference']}, not the "
                         f"course's reference; is another 'reference' first on PYTHONPATH?")
    return result


def _stage(name: str, course: Course, root: Path, staging: Path) -> tuple[Path, dict | None]:
    """Copy the master and provide the files its config asks for that the build generates;
    for a quiz also return the keys of the solutions' student (from the course's reference)."""
    source_dir = master_path(name, root).parent
    unfinished = unfinished_cells(source_dir / f"{name}.ipynb")
    if unfinished:
        raise BuildError(f"{name}: {', '.join(unfinished)} still hold{'s' if len(unfinished) == 1 else ''} "
                         f"'{TODO}' text from the scaffold: write them first (docs/authoring.md)")
    shutil.copytree(source_dir, staging, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "mutations.yml"))
    if (staging / "reference").exists():
        raise BuildError(f"{name}: the assignment folder has its own reference/; the course's "
                         "reference/ (next to assignments/) is the one the build ships")
    course.stage_reference(staging)
    master = staging / f"{name}.ipynb"
    config = assignment_config(master)
    quiz_result = None
    for entry in [*config.get("files", []), *config.get("autograder_files", [])]:
        target = staging / entry
        if target.exists():
            continue
        if entry == "mlphys_quiz.py":
            shutil.copy(SUPPORT / "mlphys_quiz.py", target)
        elif entry.endswith(".quiz.npz"):
            if entry != f"{name}.quiz.npz":
                raise BuildError(f"{name}: config lists {entry!r}; a quiz's pack is {name}.quiz.npz")
            try:
                solution_id = solution_identity(master)
                guard_quiz_import(master, name)
            except QuizNotebookError as e:
                raise BuildError(f"{name}: {e}") from None
            quiz_result = _run_quiz_worker(name, staging, target, solution_id)
            quiz_result["solution_id"] = solution_id
        else:
            raise BuildError(f"{name}: config lists {entry!r} but there is no such file")
    return master, quiz_result


def _failure_summary(output: str) -> str:
    """The lines of Otter's output that say which questions failed."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "Some autograder tests failed" in line:
            return "\n".join(lines[i: i + 40])
    return "\n".join(lines[-25:])


def build_assignment(name: str, out: Path, root: Path = ASSIGNMENTS, run_tests: bool = True,
                     course: Course | None = None,
                     students: Sequence[RosterEntry] = ()) -> BuiltAssignment:
    """Build one assignment into ``out/<name>/``; raise :class:`BuildError` if it is not correct.

    ``course`` gives the reference package and the quiz pool (default: the course folder that
    holds ``root``); ``students`` (key, name, identity) adds one notebook per student to a quiz."""
    start = time.perf_counter()
    course = course or course_of(root)
    with tempfile.TemporaryDirectory(prefix=f"mlphys-build-{name}-") as tmp:
        staging = Path(tmp) / "src"
        master, quiz = _stage(name, course, root, staging)
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
        _add_manifest(autograder_zip, assignment_config(master), course.identity if quiz else None,
                      course.question_visibility)
        add_sandboxed_runner(autograder_zip,  # Gradescope and `otter grade` use our sandbox
                             roster=gradescope_roster(course) if quiz else None)
    _check_zip(name, autograder_zip, course if quiz else None)
    letters = per_student = None
    if quiz is not None:
        letters = _write_letters(name, target, quiz["keys"])
        if students:
            per_student = _write_per_student(name, target, students)
    return BuiltAssignment(name, target / "student", autograder_zip, solutions,
                           time.perf_counter() - start, letters, per_student)


def _write_letters(name: str, target: Path, keys: dict[str, str]) -> Path:
    """``solutions/<name>-letters.ipynb``: the solutions as a student submits them (letters, no
    ``reference``), for checking the zip with ``mlphys grade`` or ``otter run``."""
    solutions = nbformat.read(target / "solutions" / f"{name}.ipynb", as_version=4)
    handout = nbformat.read(target / "student" / f"{name}.ipynb", as_version=4)
    try:
        nb = letters_solutions(solutions, handout, keys)
    except QuizNotebookError as e:
        raise BuildError(f"{name}: {e}") from None
    path = target / "solutions" / f"{name}-letters.ipynb"
    nbformat.write(nb, path)
    return path


def _write_per_student(name: str, target: Path, students: Sequence[RosterEntry]) -> Path:
    """``per-student/<key>/<name>.ipynb`` for everybody, and ``per-student/students.csv``."""
    handout = nbformat.read(target / "student" / f"{name}.ipynb", as_version=4)
    pack = target / "student" / f"{name}.quiz.npz"
    meta = pack_meta(pack)
    folder = target / PER_STUDENT
    folder.mkdir()
    rows = []
    for key, student_name, identity in students:
        variant = variant_of(identity, name, meta["variants"], meta["mapping_key"])
        try:
            nb = per_student_notebook(handout, name, identity, student_name,
                                      embed_variant(pack, variant, identity))
        except QuizNotebookError as e:
            raise BuildError(f"{name}: {e}") from None
        (folder / key).mkdir()
        nbformat.write(nb, folder / key / f"{name}.ipynb")
        rows.append({"key": key, "name": student_name, "identity": identity, "variant": variant,
                     "notebook": f"{key}/{name}.ipynb"})
    with (folder / "students.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csvsafe.dict_writer(f, list(rows[0]))  # roster names are people's text
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _add_manifest(autograder_zip: Path, config: dict, identity_column: str | None = None,
                  question_visibility: str = zip_additions.DEFAULT_VISIBILITY) -> None:
    """``mlphys.json`` for ``mlphys grade`` (autograder-only files, the Gradescope visibility of
    per-question results: :mod:`autograder.zip_additions`).
    For a quiz also which roster column is a student's identity (``[roster] identity``), for a
    grader that takes the identity from the LMS's submitter (``autograder.identity``).
    ``question_visibility``: the course's (``[gradescope]`` in course.toml), unless the
    assignment's config says otherwise. Otter ignores the extra files."""
    extra = {"quiz_identity_column": identity_column} if identity_column is not None else {}
    zip_additions.add_to_zip(autograder_zip, config, extra, question_visibility)


def _check_zip(name: str, path: Path, quiz_course: Course | None = None) -> None:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pool = zf.read(POOL_MEMBER) if POOL_MEMBER in names else None
    if "otter_config.json" not in names or not any(n.startswith("tests/") for n in names):
        raise BuildError(f"{name}: {path.name} is not a complete Otter autograder zip")
    if not any(re.match(r"files/reference/__init__\.py$", n) for n in names):
        raise BuildError(f"{name}: the reference package did not make it into {path.name}")
    if quiz_course is not None and (pool is None or json.loads(pool) != quiz_course.pool_json()):
        raise BuildError(f"{name}: {path.name} does not carry the course's quiz pool ({POOL_MEMBER})")


def course_of(root: Path) -> Course:
    """The course whose assignments folder is ``root`` (its parent folder, with its config)."""
    return load_course(root.resolve().parent).with_assignments(root)


def roster_entries(course: Course) -> list[RosterEntry]:
    """(folder key, name, identity) of every student on the course's roster."""
    if course.roster is None:
        return []
    from autograder.identity import IdentityError, identities
    from autograder.lms.errors import LmsError
    from autograder.lms.roster import read_roster

    try:
        roster = read_roster(course.roster)
        return [(s.key, s.display or s.name, identity)
                for s, identity, _ in identities(roster.students, course.identity)]
    except (LmsError, IdentityError) as e:
        raise BuildError(str(e)) from None


def gradescope_roster(course: Course) -> list[dict[str, str]] | None:
    """Each roster student's identity with the email and sid Gradescope reports for them
    (for ``autograder.gradescope.metadata``); None without a roster."""
    if course.roster is None:
        return None
    from autograder.identity import IdentityError, identities
    from autograder.lms.errors import LmsError
    from autograder.lms.roster import read_roster

    try:
        return [{"identity": identity, "email": s.email, "sid": s.sis_user_id}
                for s, identity, _ in identities(read_roster(course.roster).students,
                                                 course.identity)]
    except (LmsError, IdentityError) as e:
        raise BuildError(str(e)) from None


def _build_one(args: tuple) -> BuiltAssignment:
    return build_assignment(*args)


def build_many(names: Iterable[str], out: Path, root: Path = ASSIGNMENTS, jobs: int = 1,
               run_tests: bool = True, course: Course | None = None,
               students: Sequence[RosterEntry] = ()) -> list[BuiltAssignment]:
    names = list(names)
    course = course or course_of(root)
    for name in names:
        master_path(name, root)  # fail fast on a typo, before any build starts
    tasks = [(n, out, root, run_tests, course, tuple(students)) for n in names]
    if jobs <= 1 or len(names) <= 1:
        return [_build_one(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_build_one, tasks))


@click.command("build")
@click.argument("names", nargs=-1)
@click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Course folder (default: the nearest of the current folder and its parents with "
                   "course.toml or assignments/, else the course shipped with mlphys).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output root: <out>/<name>/{student,autograder,solutions}  [default: <course>/dist, "
                   "or ./dist when no course folder is found]")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Assignments built in parallel.")
@click.option("--assignments", "root", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder of assignment sources  [default: <course>/assignments]")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Roster CSV (Canvas, Moodle or plain): also one notebook per student for each "
                   "quiz, in <out>/<quiz>/per-student/  [default: [roster] file in course.toml]")
def build_command(names: tuple[str, ...], course_dir: Path | None, out: Path | None, jobs: int,
                  root: Path | None, roster: Path | None) -> None:
    """Build assignments (all of them when no NAME is given) with otter assign."""
    course = discover_course(course_dir)
    if root is not None:
        course = course.with_assignments(root)
    if roster is not None:
        if not roster.is_file():
            raise click.ClickException(f"roster {roster} does not exist")
        course = course.with_roster(roster)
    if out is None:  # next to the course's assignments, never inside the installed package
        out = Path("dist").resolve() if course.is_fallback else course.root / "dist"
    for line in course.describe():
        click.echo(line)
    click.echo(f"  output:      {out}")
    for warning in course.warnings():
        click.secho(warning, fg="yellow", err=True)
    students = roster_entries(course)  # a bad roster fails before anything is built
    if not course.assignments.is_dir():
        raise click.ClickException(f"no assignments folder {course.assignments}")
    selected = list(names) or available(course.assignments)
    if not selected:
        raise click.ClickException(f"no assignments found under {course.assignments}")
    click.echo(f"building {len(selected)} assignment(s) into {out}/ ...")
    built = build_many(selected, out, course.assignments, jobs, course=course, students=students)
    for b in built:
        click.echo(f"  {b.name:24s} {b.seconds:6.1f} s  {b.autograder_zip}")
        if b.letters:
            click.echo(f"  {'':24s} letters solutions (to check the zip): {b.letters}")
        if b.per_student:
            click.echo(f"  {'':24s} {len(students)} per-student notebooks: {b.per_student}/")
    if students and not any(b.per_student for b in built):
        click.echo("  (per-student notebooks are made for quizzes only: homework has no student_id)")
    summary = {b.name: round(b.seconds, 1) for b in built}
    (out / "build-times.json").write_text(json.dumps(summary, indent=2))
