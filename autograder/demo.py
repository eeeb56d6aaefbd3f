"""``mlphys demo``: the whole course loop on an embedded default, with no setup beyond the install.

1. build every assignment (``mlphys build``) and write the answer key;
2. invent a class (a Canvas roster of 40 students) and their submissions for each assignment,
   made from the solutions: correct, partly wrong, blank, erroring, crashing, late, malicious,
   and a few resubmissions (:mod:`autograder.democlass`), packed as a Canvas "Download
   Submissions" zip;
3. per assignment: collect (match files to the roster; Canvas zips each current attempt), grade
   (sandboxed), the manual-grading round trip (sheets filled in by a simulated TA), exports for
   Canvas, Moodle and Otter's CSV with a late policy, feedback pages, class report;
4. print where everything is and a one-screen summary.

Each step calls the Python function behind its ``mlphys`` subcommand and writes the equivalent
command line and its output to ``demo.log`` (so the log shows how to redo any step by hand).
Everything is deterministic in ``--seed``.
"""

from __future__ import annotations

import csv
import io
import json
import time
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
import nbformat
import numpy as np

from autograder import csvsafe
from autograder.answer_key import write_answer_key
from autograder.build import ASSIGNMENTS, BuiltAssignment, available, build_many

if TYPE_CHECKING:  # the demo's class generator loads the quiz engine (and matplotlib): lazily
    from autograder.democlass import DemoStudent, DemoSubmission

DUE = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
CANVAS_COURSE_ASSIGNMENT_IDS = 4_200_000
PLACEHOLDER = "_Type your answer here, replacing this text._"  # Otter's empty manual answer


@dataclass
class AssignmentOutcome:
    name: str
    submissions: int
    graded: int
    mean: float
    possible: float
    full: int
    incomplete: int
    late: int
    missing: int
    seconds: float


def canvas_sortable(student: DemoStudent) -> str:
    """Canvas names download files by the sortable name, lowercased, word characters only."""
    name = f"{student.last}, {student.first}".lower()
    return "".join(ch for ch in name if ch.isalnum() or ch == "_")


def points_possible(built: BuiltAssignment) -> float:
    """What an assignment is worth in the LMS: its autograded and its manually graded points."""
    from autograder.grading import load_autograder
    from autograder.lms.questions import read_master

    manual = read_master(ASSIGNMENTS / built.name / f"{built.name}.ipynb", require_manual=False)
    return load_autograder(built.autograder_zip).total_possible + sum(q.points for q in manual.manual)


def write_canvas_roster(students: list[DemoStudent], assignments: dict[str, float],
                        path: Path) -> Path:
    """A Canvas gradebook export: Student, ID, SIS User ID, SIS Login ID, Section, one column per
    assignment, and the Points Possible row (Canvas writes two decimals)."""
    columns = [f"{a} ({CANVAS_COURSE_ASSIGNMENT_IDS + i})" for i, a in enumerate(assignments)]
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csvsafe.writer(f)
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *columns])
        w.writerow(["    Points Possible", "", "", "", "",
                    *[f"{points:.2f}" for points in assignments.values()]])
        for s in students:
            w.writerow([f"{s.last}, {s.first}", s.user_id, s.sis_id, s.login, s.section,
                        *[""] * len(columns)])
    return path


def write_canvas_download(submissions: list[DemoSubmission], assignment: str, path: Path) -> Path:
    """Canvas "Download Submissions": <sortablename>[_LATE]_<userid>_<attachmentid>_<file>.

    Like Canvas, only each student's current attempt is in the zip; a resubmitted file of the
    same name was renamed by Canvas to ``<name>-1.ipynb``."""
    attachment = 9_000_000
    current: dict[int, DemoSubmission] = {}
    for sub in sorted(submissions, key=lambda s: s.submitted_at):
        current[sub.student.user_id] = sub
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for sub in sorted(current.values(), key=lambda s: s.submitted_at):
            attachment += 17
            late = "_LATE" if sub.submitted_at > DUE else ""
            who = f"{canvas_sortable(sub.student)}{late}_{sub.student.user_id}"
            copy = f"-{sub.attempt - 1}" if sub.attempt > 1 else ""
            name = f"{who}_{attachment}_{assignment}{copy}.ipynb"
            name = unicodedata.normalize("NFC", name)
            info = zipfile.ZipInfo(name, date_time=sub.submitted_at.timetuple()[:6])
            zf.writestr(info, nbformat.writes(sub.notebook))
    return path


def _log(log: io.TextIOBase, args: list[str], lines: list[str]) -> None:
    """The equivalent ``mlphys`` command line of a step and what that command would print."""
    log.write(f"\n$ mlphys {' '.join(args)}\n")
    log.writelines(f"{line}\n" for line in lines)


def _fill_sheets_like_a_ta(sheets: list[Path], rng: np.random.Generator) -> None:
    """A simulated TA: most answers get most of the points, blank answers get none."""
    for sheet in sheets:
        with sheet.open(encoding="utf-8-sig", newline="") as f:
            rows = [{k: csvsafe.restore(v) for k, v in r.items()} for r in csv.DictReader(f)]
        for row in rows:
            top = float(row["max_points"])
            answered = row["answer"].strip() not in {"", "...", PLACEHOLDER}
            points = float(np.round(top * rng.uniform(0.5, 1.0) * 2) / 2) if answered else 0.0
            row["points"] = f"{points:g}"
            row["comment"] = ("no answer" if not answered else
                              "good" if points >= 0.8 * top else "see rubric")
        with sheet.open("w", encoding="utf-8-sig", newline="") as f:
            w = csvsafe.dict_writer(f, list(rows[0].keys()) if rows else ["student_key"])
            w.writeheader()
            w.writerows(rows)


def _has_manual_questions(master: Path) -> bool:
    from autograder.lms.errors import LmsError
    from autograder.lms.questions import read_master

    try:
        return bool(read_master(master).manual)
    except LmsError:  # read_master refuses a master without manual questions
        return False


def _export_grades(name: str, index: int, grades: Path, roster_csv: Path, exports: Path,
                   log: io.TextIOBase) -> None:
    """Canvas and Moodle import files, Otter's CSV and the grade report, with a late policy."""
    from autograder.lms.exporters import otter_csv, report_csv, summary_lines, write_grade_file
    from autograder.lms.grades import load_assignment_grades
    from autograder.lms.late import LatePolicy
    from autograder.lms.registry import adapter

    due, grace, per_day = DUE.strftime("%Y-%m-%dT%H:%M:%SZ"), "1h", "10%"
    policy = LatePolicy.from_options(due=due, grace=grace, penalty_per_day=per_day)
    assignment_grades = load_assignment_grades(grades, policy, roster=roster_csv)
    notes = [f"warning: {w}" for w in assignment_grades.warnings + assignment_grades.problems]
    common = ["--grades", str(grades), "--roster", str(roster_csv), "--due", due, "--grace", grace,
              "--penalty-per-day", per_day, "--missing-as-zero", "--allow-incomplete"]
    fields = {"canvas": {"assignment_name": name,
                         "assignment_id": str(CANVAS_COURSE_ASSIGNMENT_IDS + index)},
              "moodle": {"assignment_name": name, "identifier": "username"}}
    files = {"canvas": "canvas-import.csv", "moodle": "moodle-import.csv", "csv": "final_grades.csv"}
    for lms, file in files.items():
        out = exports / file
        if lms == "csv":
            text = otter_csv(assignment_grades, missing_as_zero=True)
        else:
            text = adapter(lms).export(assignment_grades, missing_as_zero=True, due=policy.due,
                                       **fields[lms])
        write_grade_file(out, text)
        args = ["export", lms, *common]
        for key, value in fields.get(lms, {}).items():
            args += [f"--{key.replace('_', '-')}", value]
        args += ["--out", str(out)]
        if lms == "canvas":
            report = exports / "grade-report.csv"
            write_grade_file(report, report_csv(assignment_grades), bom=True)
            args += ["--report", str(report)]
        _log(log, args, [*notes, *summary_lines(assignment_grades),
                         f"wrote {out} ({len(assignment_grades.rows)} students, out of "
                         f"{assignment_grades.total_possible:g} points)"])


def _submitters(autograder_zip: Path, grades: Path):  # -> Callable[[Path], Submitter] | None
    """What ``mlphys grade`` finds beside ``collect``'s submissions: a quiz is graded as each
    file's submitter (``collection.json``), so the demo runs the path its log shows."""
    from autograder.grading.otter.autograder_zip import load_autograder
    from autograder.identity_sources import COLLECTION_FILE, load_source

    column = load_autograder(autograder_zip).identity_column
    return None if column is None else load_source(grades / COLLECTION_FILE, column).submitter


def run_assignment(name: str, built, roster: list[DemoStudent], roster_csv: Path, out: Path,
                   rng: np.random.Generator, jobs: int, log: io.TextIOBase, index: int) -> AssignmentOutcome:
    from autograder.democlass import class_submissions
    from autograder.grading import grade_batch, read_feedback
    from autograder.lms.collect import collect, collection_report, load_collection
    from autograder.lms.manual import export_manual_sheets, import_manual_scores
    from autograder.lms.roster import read_roster
    from autograder.pages.class_report import write_class_report
    from autograder.pages.feedback import people_from_collection, write_feedback_pages

    start = time.perf_counter()
    subs = class_submissions(ASSIGNMENTS / name, built.solutions, built.student_dir / f"{name}.ipynb",
                             roster, DUE, rng)
    lms_dir = out / "lms" / name
    lms_dir.mkdir(parents=True, exist_ok=True)
    download = write_canvas_download(subs, name, lms_dir / "canvas-download.zip")
    grades = out / "graded" / name
    coll = collect("canvas", download, grades, read_roster(roster_csv))
    _log(log, ["collect", "--lms", "canvas", str(download), "--roster", str(roster_csv),
               "--out", str(grades)], collection_report(coll, grades))
    summary = grade_batch(built.autograder_zip, [grades / "submissions"], grades, jobs=jobs,
                          cell_timeout=60, timeout=300, progress=False,
                          submitter_of=_submitters(built.autograder_zip, grades))
    sheets_dir = grades / "manual-sheets"
    master = ASSIGNMENTS / name / f"{name}.ipynb"
    if _has_manual_questions(master):
        written = export_manual_sheets(master, grades, sheets_dir)
        _log(log, ["manual", "export", "--master", str(master), "--grades", str(grades),
                   "--out", str(sheets_dir)], [f"wrote {p}" for p in written])
    sheets = sorted(sheets_dir.glob("*.csv"))
    if sheets:
        _fill_sheets_like_a_ta(sheets, rng)
        rows, notes = import_manual_scores(grades, sheets)
        _log(log, ["manual", "import", "--grades", str(grades), *map(str, sheets)],
             [*(f"note: {n}" for n in notes),
              f"imported {len(rows)} manual score(s) from {len(sheets)} sheet(s)"])
    exports = lms_dir / "exports"
    exports.mkdir(exist_ok=True)
    _export_grades(name, index, grades, roster_csv, exports, log)
    collection = load_collection(grades / "collection.json")
    people = people_from_collection(collection)
    pages = write_feedback_pages(grades, out / "feedback" / name, name, people)
    write_class_report(grades, out / "report" / name, name, people, pages, collection)

    fb = read_feedback(grades)
    return AssignmentOutcome(
        name=name, submissions=len(subs), graded=summary.submissions,
        mean=float(np.mean([f.total for f in fb])) if fb else 0.0,
        possible=fb[0].possible if fb else 0.0,
        full=sum(f.total >= f.possible for f in fb), incomplete=summary.incomplete,
        late=sum(1 for e in collection["entries"] if e.get("late")),
        missing=len(collection.get("missing", [])), seconds=time.perf_counter() - start)


def _summary_table(outcomes: list[AssignmentOutcome]) -> str:
    lines = [f"{'assignment':<22} {'subm.':>5} {'graded':>6} {'mean':>11} {'full':>5} "
             f"{'late':>5} {'missing':>7} {'not ok':>6} {'time':>7}"]
    for o in outcomes:
        lines.append(f"{o.name:<22} {o.submissions:>5} {o.graded:>6} "
                     f"{o.mean:>5.1f}/{o.possible:<5g} {o.full:>5} {o.late:>5} {o.missing:>7} "
                     f"{o.incomplete:>6} {o.seconds:>6.0f}s")
    return "\n".join(lines)


def grading_page_hint(out_dir: Path, names: list[str]) -> list[str]:
    """How to open the hand-grading page for the demo's class (the first assignment with
    questions graded by hand; the simulated TA's sheet scores are already in it)."""
    manual = [n for n in names if _has_manual_questions(ASSIGNMENTS / n / f"{n}.ipynb")]
    if not manual:
        return ["  (none of these assignments has questions graded by hand: no grading page)"]
    name = manual[0]
    return ["hand grading in a web page (rubric, comments, keyboard; Ctrl+C stops it):",
            f"  mlphys manual serve --grades {out_dir / 'graded' / name} "
            f"--master {ASSIGNMENTS / name / f'{name}.ipynb'}",
            "  then open the link it prints (add --anonymous to hide names until the end)"]


DEMO_MARKER = ".mlphys-demo"
GENERATED = ("dist", "answer-key", "lms", "graded", "feedback", "report", "summary.json", "demo.log")


def _prepare_out_dir(out_dir: Path) -> None:
    """An empty folder, or the folder of an earlier demo run (replaced); never someone's files."""
    import shutil

    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / DEMO_MARKER).exists():
            raise click.UsageError(f"{out_dir} is not empty and not an earlier demo's output: "
                                   "choose another --out")
        for name in GENERATED:
            target = out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / DEMO_MARKER).write_text("written by `mlphys demo`; a new run replaces this folder\n")


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("mlphys-demo"), show_default=True, help="Where everything is written.")
@click.option("--students", type=click.IntRange(min=12), default=40, show_default=True,
              help="Class size.")
@click.option("--assignments", "names", default=None,
              help="Comma-separated assignment names (default: all).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Parallel grading workers (default: CPU count).")
@click.option("--seed", type=int, default=2026, show_default=True, help="Seed of the whole demo.")
def demo_command(out_dir: Path, students: int, names: str | None, jobs: int | None,
                 seed: int) -> None:
    """Run the course loop on the embedded default and say where the results are."""
    import os

    from autograder.democlass import make_roster

    selected = names.split(",") if names else available()
    unknown = sorted(set(selected) - set(available()))
    if unknown:
        raise click.UsageError(f"unknown assignment(s): {', '.join(unknown)}; "
                               f"available: {', '.join(available())}")
    jobs = jobs or os.cpu_count() or 1
    _prepare_out_dir(out_dir)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    click.echo(f"[1/4] building {len(selected)} assignments and the answer key ...")
    built = {b.name: b for b in build_many(selected, out_dir / "dist", jobs=min(jobs, 2))}
    key = write_answer_key(out_dir / "answer-key")
    roster = make_roster(students, rng)
    (out_dir / "lms").mkdir(parents=True, exist_ok=True)
    roster_csv = write_canvas_roster(roster, {n: points_possible(built[n]) for n in selected},
                                     out_dir / "lms" / "canvas-roster.csv")
    click.echo(f"[2/4] a class of {students} students: {roster_csv}")
    outcomes = []
    log_path = out_dir / "demo.log"
    with log_path.open("w", encoding="utf-8") as log:
        for i, name in enumerate(selected):
            click.echo(f"[3/4] {name}: submissions -> Canvas zip -> collect -> grade -> export ...")
            outcomes.append(run_assignment(name, built[name], roster, roster_csv, out_dir,
                                           rng, jobs, log, i))
            click.echo(f"      {outcomes[-1].graded} graded, mean {outcomes[-1].mean:.1f}/"
                       f"{outcomes[-1].possible:g} in {outcomes[-1].seconds:.0f} s")
    (out_dir / "summary.json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))
    click.echo(f"[4/4] done in {time.perf_counter() - t0:.0f} s\n")
    click.echo(_summary_table(outcomes))
    click.echo(f"""
where things are (under {out_dir}/):
  dist/<assignment>/student|autograder|solutions   what students get, the Gradescope/Otter zip
  answer-key/index.html                            computed quiz answer key ({key.name})
  lms/canvas-roster.csv, lms/<a>/canvas-download.zip   the class as Canvas hands it out
  graded/<a>/gradebook.sqlite, final_grades.csv, results/*.json, collection.json
  lms/<a>/exports/canvas-import.csv, moodle-import.csv, final_grades.csv, grade-report.csv
  feedback/<a>/<student>.html                      one feedback page per student
  report/<a>/index.html                            class report (plots, failures, outliers)
  demo.log                                         every step as its mlphys command and output""")
    click.echo("")
    for line in grading_page_hint(out_dir, selected):
        click.echo(line)
