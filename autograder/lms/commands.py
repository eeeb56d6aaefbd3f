"""``mlphys collect``, ``mlphys export <lms>|csv``, ``mlphys manual export|import``: the
command-line face of the LMS package.

The ``collect --lms`` choices and the ``export`` subcommands come from ``lms.registry``: a new
LMS adapter appears here without changes to this file. The work itself is done by functions the
demo calls too (``collect``, ``load_assignment_grades``, ``export_manual_sheets``...); this
module only parses options and prints.

User mistakes (missing files, malformed LMS files, scores out of range) end in a message and
exit code 1, never a traceback: everything here raises ``LmsError`` for them and the commands
turn it into ``click.ClickException``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from autograder.lms.adapter import LmsAdapter
from autograder.lms.errors import LmsError
from autograder.lms.registry import LMS_ADAPTERS


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


# -- collect -----------------------------------------------------------------------------------

def _picks(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, file = v.partition("=")
        if not sep or not key.strip() or not file.strip():
            raise LmsError(f"--pick {v!r}: write KEY=FILE, e.g. --pick jane-doe-1001=hw01.ipynb")
        out[key.strip()] = file.strip()
    return out


@click.command("collect")
@click.option("--lms", type=click.Choice(list(LMS_ADAPTERS)), required=True,
              help="Which LMS produced DOWNLOAD.zip.")
@click.option("--roster", type=click.Path(dir_okay=False), default=None,
              help="Roster CSV (an LMS's gradebook or group export, a Moodle grading worksheet, "
                   "or name,email,sid,...).")
@click.option("--groups", type=click.Path(dir_okay=False), default=None,
              help="Group assignments: who is in which group (a Canvas group set export, or any "
                   "CSV with a group column); needs --roster.")
@click.option("--notebook", default=None,
              help="The assignment's notebook name (e.g. hw01.ipynb): chooses among several files "
                   "of one submission (default: the most common file name in the download).")
@click.option("--pick", "picks", multiple=True, metavar="KEY=FILE",
              help="Settle an ambiguity 'collect' reported: take FILE for KEY (repeatable).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory: submissions/ and collection.json go here.")
@click.argument("download", type=click.Path(), metavar="DOWNLOAD.zip")
@_user_errors
def collect_command(lms: str, roster: str | None, groups: str | None, notebook: str | None,
                    picks: tuple[str, ...], out_dir: str, download: str) -> None:
    """Extract one notebook per student (or group) from an LMS download zip, matched to the
    roster."""
    from autograder.lms.collect import collect, collection_report
    from autograder.lms.groups import read_groups
    from autograder.lms.roster import read_roster

    r = read_roster(roster) if roster else None
    if groups:
        if r is None:
            raise LmsError("--groups needs --roster (the groups file says who is in which group, "
                           "the roster who is in the course)")
        for problem in read_groups(groups, r):
            click.echo(f"warning: {problem}", err=True)
    coll = collect(lms, download, out_dir, r, notebook=notebook, picks=_picks(picks))
    for line in collection_report(coll, out_dir):
        click.echo(line)


# -- export ------------------------------------------------------------------------------------

def _common_export_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--grades", "grades_dir", required=True, type=click.Path(),
                     help="The grading directory (final_grades.csv, gradebook.sqlite)."),
        click.option("--collection", default=None, type=click.Path(),
                     help="collection.json from 'mlphys collect' (default: GRADES/collection.json)."),
        click.option("--roster", default=None, type=click.Path(dir_okay=False),
                     help="Roster CSV: the students, their LMS ids and the LMS's points possible "
                          "(needed without collection.json)."),
        click.option("--master", default=None, type=click.Path(dir_okay=False),
                     help="The Otter master notebook: its manual questions count (default: those "
                          "'manual export' recorded)."),
        click.option("--rescale", is_flag=True,
                     help="Write totals on the LMS's scale when the roster's points possible "
                          "differ (default: refuse)."),
        click.option("--due", default=None, help="Due date, ISO 8601 (e.g. 2024-03-01T23:59+01:00)."),
        click.option("--grace", default="0m", show_default=True, help="Grace period (15m, 1h, ...)."),
        click.option("--penalty-per-day", default="0", show_default=True,
                     help="Per started day late: 10% / 0.1 of the points, or 2pt."),
        click.option("--penalty-cap", default=None, help="Maximum total penalty (same units)."),
        click.option("--late-flag-days", default=1, show_default=True, type=click.IntRange(min=0),
                     help="Days late assumed when the LMS only says 'late' (Canvas)."),
        click.option("--missing-as-zero", is_flag=True,
                     help="Write 0 for students without a submission (default: no row, so the "
                          "LMS keeps what it has)."),
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


def _grades(grades_dir: str, collection: str | None, roster: str | None, master: str | None,
            due: str | None, grace: str, penalty_per_day: str, penalty_cap: str | None,
            late_flag_days: int, allow_incomplete: bool, missing_as_zero: bool) -> tuple[Any, Any]:
    from autograder.lms.grades import load_assignment_grades
    from autograder.lms.late import LatePolicy

    policy = LatePolicy.from_options(due, grace, penalty_per_day, penalty_cap, late_flag_days)
    grades = load_assignment_grades(grades_dir, policy, collection, roster, master)
    for w in grades.warnings:
        click.echo(f"warning: {w}", err=True)
    if grades.problems and not allow_incomplete:
        raise LmsError("incomplete grades (pass --allow-incomplete to export anyway):\n  "
                       + "\n  ".join(grades.problems))
    for p in grades.problems:
        click.echo(f"warning: {p}", err=True)
    if missing_as_zero and grades.unsure_groups:
        raise LmsError("--missing-as-zero would give 0 to the other members of what look like "
                       "group submissions (an LMS applies a member's grade to the whole group): "
                       + "; ".join(grades.unsure_groups)
                       + ". Collect again with --groups (the group set export), or leave out "
                       "--missing-as-zero")
    return grades, policy


def _finish(grades: Any, text: str, out_file: str, report: str | None, note: str = "") -> None:
    from autograder.lms.exporters import report_csv, summary_lines, write_grade_file

    write_grade_file(out_file, text)
    if report:
        write_grade_file(report, report_csv(grades), bom=True)
    for line in summary_lines(grades):
        click.echo(line)
    click.echo(f"wrote {out_file} ({len(grades.rows)} students, out of "
               f"{grades.total_possible:g} points)")
    if note:
        click.echo(note)


@click.group("export")
def export_group() -> None:
    """Write grades in the CSV format an LMS imports."""


def _lms_export_command(adapter: LmsAdapter) -> click.Command:
    """``mlphys export <lms>``: the adapter's options, then the common ones."""

    @_user_errors
    def export(out_file: str, report: str | None, missing_as_zero: bool, rescale: bool,
               **kw: Any) -> None:
        fields = {f.key: kw.pop(f.key) for f in adapter.export_fields}
        grades, policy = _grades(missing_as_zero=missing_as_zero, **kw)
        text = adapter.export(grades, missing_as_zero=missing_as_zero, due=policy.due,
                              rescale=rescale, **fields)
        note = adapter.import_note(**fields) if adapter.import_note else ""
        _finish(grades, text, out_file, report, note)

    export.__doc__ = adapter.export_help
    command = _common_export_options(export)
    for field in reversed(adapter.export_fields):
        if field.flag:
            option = click.option(field.option, is_flag=True, help=field.help)
        elif field.choices:
            option = click.option(field.option, type=click.Choice(field.choices),
                                  default=field.default, show_default=True, help=field.help)
        else:
            option = click.option(field.option, required=field.default is None,
                                  default=field.default, help=field.help)
        command = option(command)
    return click.command(adapter.name)(command)


for _adapter in LMS_ADAPTERS.values():
    export_group.add_command(_lms_export_command(_adapter))


@export_group.command("csv")
@_common_export_options
@_user_errors
def export_csv(out_file: str, report: str | None, missing_as_zero: bool, rescale: bool,
               **kw: Any) -> None:
    """Otter's final_grades.csv layout, with manual scores and late penalties included."""
    from autograder.lms.exporters import otter_csv

    grades, _ = _grades(missing_as_zero=missing_as_zero, **kw)
    _finish(grades, otter_csv(grades, missing_as_zero), out_file, report)


# -- manual ------------------------------------------------------------------------------------

@click.group("manual")
def manual_group() -> None:
    """Grade manually graded questions in spreadsheets and merge the scores."""


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
    from autograder.lms.manual import export_manual_sheets

    for p in export_manual_sheets(master, grades_dir, out_dir, collection):
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
    from autograder.lms.manual import import_manual_scores

    rows, notes = import_manual_scores(grades_dir, sheets, collection)
    for n in notes:
        click.echo(f"note: {n}")
    click.echo(f"imported {len(rows)} manual score(s) from {len(sheets)} sheet(s)")
