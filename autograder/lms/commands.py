"""``mlphys collect``, ``mlphys export canvas|moodle|gradescope|csv``, ``mlphys manual
export|import``: the command-line face of the LMS package.

User mistakes (missing files, malformed LMS files, scores out of range) end in a message and
exit code 1, never a traceback: everything here raises ``LmsError`` for them and the commands
turn it into ``click.ClickException``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from autograder.lms.errors import LmsError


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LmsError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(f"{e.strerror or e}: {e.filename or ''}".rstrip(": ")) from None

    return wrapper


def _write(path: str, text: str, bom: bool = False) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(("\ufeff" if bom else "") + text, encoding="utf-8", newline="")


# -- collect -----------------------------------------------------------------------------------

@click.command("collect")
@click.option("--lms", type=click.Choice(["canvas", "gradescope", "moodle"]), required=True,
              help="Which LMS produced DOWNLOAD.zip.")
@click.option("--roster", type=click.Path(dir_okay=False), default=None,
              help="Roster CSV (Canvas gradebook export, Moodle grades export or worksheet, or "
                   "id,name,email).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory: submissions/ and collection.json go here.")
@click.argument("download", type=click.Path(), metavar="DOWNLOAD.zip")
@_user_errors
def collect_command(lms: str, roster: str | None, out_dir: str, download: str) -> None:
    """Extract one notebook per student from an LMS download zip, matched to the roster."""
    from autograder.lms.collect import collect
    from autograder.lms.roster import read_roster

    r = read_roster(roster) if roster else None
    coll = collect(lms, download, out_dir, r)
    n_super = sum(len(e.superseded) for e in coll.entries)
    click.echo(f"collected {len(coll.entries) - len(coll.unmatched)} student submission(s) into "
               f"{Path(out_dir) / 'submissions'} ({n_super} earlier attempt(s) superseded)")
    for e in coll.entries:
        if e.superseded:
            click.echo(f"  {e.student.display}: kept {e.chosen.original_name} "
                       f"({e.chosen.submission_id or e.chosen.timestamp or 'latest'}), superseded "
                       + ", ".join(c.original_name for c in e.superseded))
    if coll.unmatched:
        click.echo(f"unmatched: {len(coll.unmatched)} file(s) match no roster student:")
        for e in coll.unmatched:
            click.echo(f"  {e.chosen.member} -> {e.file} ({e.matched_by})")
    if coll.missing:
        click.echo(f"missing: {len(coll.missing)} roster student(s) without a submission:")
        for s in coll.missing:
            click.echo(f"  {s.display} ({s.key})")
    if coll.ignored:
        click.echo(f"ignored: {len(coll.ignored)} other file(s) (listed in collection.json)")
    click.echo(f"next: mlphys grade --autograder AUTOGRADER.zip --out {out_dir} "
               f"{Path(out_dir) / 'submissions'}")


# -- export ------------------------------------------------------------------------------------

def _common_export_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--grades", "grades_dir", required=True, type=click.Path(),
                     help="The grading directory (final_grades.csv, gradebook.sqlite)."),
        click.option("--collection", default=None, type=click.Path(),
                     help="collection.json from 'mlphys collect' (default: GRADES/collection.json)."),
        click.option("--roster", default=None, type=click.Path(dir_okay=False),
                     help="Roster CSV: adds students without a submission and LMS id columns."),
        click.option("--due", default=None, help="Due date, ISO 8601 (e.g. 2024-03-01T23:59+01:00)."),
        click.option("--grace", default="0m", show_default=True, help="Grace period (15m, 1h, ...)."),
        click.option("--penalty-per-day", default="0", show_default=True,
                     help="Per started day late: 10% / 0.1 of the points, or 2pt."),
        click.option("--penalty-cap", default=None, help="Maximum total penalty (same units)."),
        click.option("--late-flag-days", default=1, show_default=True, type=click.IntRange(min=0),
                     help="Days late assumed when the LMS only says 'late' (Canvas)."),
        click.option("--missing-as-zero", is_flag=True,
                     help="Write 0 for students without a grade (default: leave blank)."),
        click.option("--allow-incomplete", is_flag=True,
                     help="Export even when results or manual scores are missing."),
        click.option("--report", default=None, type=click.Path(dir_okay=False),
                     help="Also write a CSV with every part of every grade."),
        click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False),
                     help="The CSV file to write."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _gradebook(grades_dir: str, collection: str | None, roster: str | None, due: str | None,
               grace: str, penalty_per_day: str, penalty_cap: str | None, late_flag_days: int,
               allow_incomplete: bool) -> tuple[Any, Any]:
    from autograder.lms.collect import load_collection
    from autograder.lms.grades import build_gradebook
    from autograder.lms.late import LatePolicy, parse_due, parse_duration, parse_penalty
    from autograder.lms.roster import read_roster

    per_day, kind = parse_penalty(penalty_per_day)
    cap = None
    if penalty_cap is not None:
        cap, cap_kind = parse_penalty(penalty_cap)
        if cap_kind != kind and per_day:
            raise LmsError("--penalty-cap must use the same unit as --penalty-per-day")
    policy = LatePolicy(due=parse_due(due) if due else None, grace=parse_duration(grace),
                        per_day=per_day, kind=kind, cap=cap, flagged_days=late_flag_days)
    coll = load_collection(collection or Path(grades_dir) / "collection.json")
    r = read_roster(roster) if roster else None
    gb = build_gradebook(coll, grades_dir, policy, r.students if r else None)
    for w in gb.warnings:
        click.echo(f"warning: {w}", err=True)
    if gb.problems and not allow_incomplete:
        raise LmsError("incomplete grades (pass --allow-incomplete to export anyway):\n  "
                       + "\n  ".join(gb.problems))
    for p in gb.problems:
        click.echo(f"warning: {p}", err=True)
    return gb, policy


def _summary(gb: Any) -> None:
    click.echo(f"{'student':<28} {'status':<14} {'raw':>8} {'late':>5} {'penalty':>8} {'total':>8}")
    from autograder.lms.exporters import num

    for r in gb.rows:
        days = r.late.days_late if r.late else 0
        click.echo(f"{r.student.display[:28]:<28} {r.status[:14]:<14} "
                   f"{num(r.raw_total) if r.total is not None else '':>8} {days:>5} "
                   f"{('-' + num(r.penalty)) if r.penalty else '':>8} {num(r.total):>8}")


def _finish(gb: Any, text: str, out_file: str, report: str | None) -> None:
    from autograder.lms.exporters import report_csv

    _write(out_file, text)
    if report:
        _write(report, report_csv(gb), bom=True)
    _summary(gb)
    click.echo(f"wrote {out_file} ({len(gb.rows)} students, out of {gb.total_possible:g} points)")


@click.group("export")
def export_group() -> None:
    """Write grades in the CSV format an LMS imports."""


@export_group.command("canvas")
@click.option("--assignment-name", required=True, help="The assignment's title in Canvas.")
@click.option("--assignment-id", required=True, help="The number in the assignment's URL.")
@_common_export_options
@_user_errors
def export_canvas(assignment_name: str, assignment_id: str, out_file: str, report: str | None,
                  missing_as_zero: bool, **kw: Any) -> None:
    """Canvas gradebook import CSV (Grades > Import)."""
    from autograder.lms.exporters import canvas_csv

    gb, _ = _gradebook(**kw)
    _finish(gb, canvas_csv(gb, assignment_name, assignment_id, missing_as_zero), out_file, report)


@export_group.command("moodle")
@click.option("--assignment-name", required=True, help="Grade column title (map it on import).")
@_common_export_options
@_user_errors
def export_moodle(assignment_name: str, out_file: str, report: str | None, missing_as_zero: bool,
                  **kw: Any) -> None:
    """Moodle 'Import grades from CSV' file (map from Email address)."""
    from autograder.lms.exporters import moodle_csv

    gb, _ = _gradebook(**kw)
    _finish(gb, moodle_csv(gb, assignment_name, missing_as_zero), out_file, report)


@export_group.command("gradescope")
@_common_export_options
@_user_errors
def export_gradescope(out_file: str, report: str | None, missing_as_zero: bool, **kw: Any) -> None:
    """CSV with Gradescope's grade-export columns (Name, SID, Email, Total Score, ...)."""
    from autograder.lms.exporters import gradescope_csv

    gb, policy = _gradebook(**kw)
    _finish(gb, gradescope_csv(gb, missing_as_zero, policy.due), out_file, report)


@export_group.command("csv")
@_common_export_options
@_user_errors
def export_csv(out_file: str, report: str | None, missing_as_zero: bool, **kw: Any) -> None:
    """Otter's final_grades.csv layout, with manual scores and late penalties included."""
    from autograder.lms.exporters import otter_csv

    gb, _ = _gradebook(**kw)
    _finish(gb, otter_csv(gb, missing_as_zero), out_file, report)


# -- manual ------------------------------------------------------------------------------------

@click.group("manual")
def manual_group() -> None:
    """Grade manually graded questions in spreadsheets and merge the scores."""


def _entries(grades_dir: str, collection: str | None) -> tuple[dict[str, Any], Path]:
    from autograder.lms.collect import COLLECTION_FILE, load_collection

    path = Path(collection) if collection else Path(grades_dir) / COLLECTION_FILE
    coll = load_collection(path)
    base = path.parent if path.suffix == ".json" else path
    return coll, base


@manual_group.command("export")
@click.option("--master", required=True, type=click.Path(dir_okay=False),
              help="The Otter master notebook (its BEGIN QUESTION cells say which are manual).")
@click.option("--grades", "grades_dir", required=True, type=click.Path(file_okay=False),
              help="The grading directory (manual questions are stored in its gradebook.sqlite).")
@click.option("--collection", default=None, type=click.Path(),
              help="collection.json (default: GRADES/collection.json).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Where the sheets (and extracted images) go.")
@_user_errors
def manual_export(master: str, grades_dir: str, collection: str | None, out_dir: str) -> None:
    """One sheet per manual question: student, answer, images, points (empty), max, comment."""
    from autograder.lms.collect import SUBMISSIONS_DIR
    from autograder.lms.manual import ManualStore, SheetStudent, export_sheets
    from autograder.lms.questions import read_master
    from autograder.lms.roster import Student

    info = read_master(master)
    coll, base = _entries(grades_dir, collection)
    students = []
    for e in coll["entries"]:
        s = Student.from_json(e["student"])
        nb = base / SUBMISSIONS_DIR / e["file"]
        students.append(SheetStudent(s.key, s.display, nb if nb.exists() else None))
    with ManualStore(grades_dir) as store:
        store.set_questions(info.manual)
    for p in export_sheets(info, students, out_dir):
        click.echo(f"wrote {p}")


@manual_group.command("import")
@click.option("--grades", "grades_dir", required=True, type=click.Path(file_okay=False),
              help="The grading directory whose gradebook.sqlite receives the scores.")
@click.option("--collection", default=None, type=click.Path(),
              help="collection.json (default: GRADES/collection.json).")
@click.argument("sheets", nargs=-1, required=True, type=click.Path(), metavar="SHEET.csv ...")
@_user_errors
def manual_import(grades_dir: str, collection: str | None, sheets: tuple[str, ...]) -> None:
    """Merge filled-in sheets (all rows valid, or nothing is imported)."""
    from autograder.lms.manual import ManualStore, read_sheets

    coll, _ = _entries(grades_dir, collection)
    keys = {e["student"]["key"] for e in coll["entries"]}
    with ManualStore(grades_dir) as store:
        questions = {q.name: q for q in store.questions()}
        if not questions:
            raise LmsError(f"no manual questions recorded in {store.path}: "
                           "run 'mlphys manual export' first")
        rows, notes = read_sheets(sheets, questions, keys)
        store.put_scores(rows)
    for n in notes:
        click.echo(f"note: {n}")
    click.echo(f"imported {len(rows)} manual score(s) from {len(sheets)} sheet(s)")
