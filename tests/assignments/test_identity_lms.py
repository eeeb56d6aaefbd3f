"""The issue-10 copy case through the real commands: `mlphys collect` (a Canvas download and the
Canvas gradebook export as roster) -> `mlphys grade` (finds collect's collection.json by itself)
-> `mlphys export canvas`. A student who hands in a classmate's quiz notebook is graded against
their own variant, and the export says so (a warning, the report's identity_check column and
the Moodle-style comment); a typo in the id is graded as the submitter; honest students are
unchanged. Expected points come from the variants' keys (`reference.quiz` through
`democlass.as_student_work`), never typed in."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import nbformat
from click.testing import CliRunner

from autograder.cli import main
from autograder.lms.grades import load_assignment_grades
from autograder.lms.late import LatePolicy
from tests.assignments.test_identity_grading import QUIZ, agreement, letters, notebook

# (Canvas user id, first, last, SIS id, SIS login = the course identity, notebook answered for)
CLASS = [
    (2001, "Ada", "Lovelace", "S2001", "ada.lovelace", "ada.lovelace"),   # honest
    (2002, "Alan", "Turing", "S2002", "alan.turing", "ada.lovelace"),     # hands in Ada's copy
    (2003, "Grace", "Hopper", "S2003", "grace.hopper", "grace.hoper"),    # typo in student_id
    (2004, "Edsger", "Dijkstra", "S2004", "edsger.dijkstra", "edsger.dijkstra"),  # honest
]
ASSIGNMENT_ID = "7301"


def canvas_roster(path: Path, points: float) -> Path:
    """Canvas's gradebook export: students with their ids and the assignment's points."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                f"Quiz 2 ({ASSIGNMENT_ID})", "Current Points"])
    w.writerow(["    Points Possible", "", "", "", "", f"{points:.2f}", "(read only)"])
    for uid, first, last, sis, login, _ in CLASS:
        w.writerow([f"{last}, {first}", uid, sis, login, "Section A", "", ""])
    path.write_text("\ufeff" + buf.getvalue(), encoding="utf-8", newline="")
    return path


def canvas_download(path: Path, built) -> Path:
    """Canvas's "Download Submissions" zip: <sortable name>_<user id>_<attachment id>_<file>."""
    with zipfile.ZipFile(path, "w") as zf:
        for i, (uid, first, last, _, _, answered_for) in enumerate(CLASS):
            member = f"{(last + first).lower()}_{uid}_{9001 + i}_{QUIZ}.ipynb"
            zf.writestr(member, nbformat.writes(notebook(built, answered_for)))
    return path


def run(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_canvas_copy_is_graded_as_the_submitter_and_flagged_in_the_export(built, tmp_path):
    questions = len(letters(notebook(built, "ada.lovelace")))
    full = agreement(built, "ada.lovelace", "ada.lovelace")
    assert full == questions
    roster = canvas_roster(tmp_path / "roster.csv", full)
    download = canvas_download(tmp_path / "submissions.zip", built)
    coll = tmp_path / "collected"
    run(["collect", "--lms", "canvas", str(download), "--roster", str(roster),
         "--out", str(coll)])

    graded = tmp_path / "graded"
    printed = run(["grade", "-a", str(built[QUIZ].autograder_zip), "--out", str(graded),
                   "-j", "2", str(coll / "submissions")])
    assert "identities: collection.json (auto), 4 of 4 files with an owner" in printed

    canvas = tmp_path / "canvas.csv"
    report = tmp_path / "report.csv"
    exported = run(["export", "canvas", "--grades", str(graded),
                    "--collection", str(coll / "collection.json"), "--roster", str(roster),
                    "--assignment-name", "Quiz 2", "--assignment-id", ASSIGNMENT_ID,
                    "--report", str(report), "--out", str(canvas)])

    rows = list(csv.reader(io.StringIO(canvas.read_text("utf-8"))))
    score = {r[3]: float(r[5]) for r in rows[2:]}
    assert score == {
        "ada.lovelace": full,
        "alan.turing": agreement(built, "ada.lovelace", "alan.turing"),
        "grace.hopper": agreement(built, "grace.hoper", "grace.hopper"),
        "edsger.dijkstra": full,
    }
    assert score["alan.turing"] < full and score["grace.hopper"] < full  # not Ada's 10/10

    # the instructor is told, by the command and in the report
    flagged = [line for line in exported.splitlines()
               if line.startswith("warning:") and "identity mismatch" in line]
    assert len(flagged) == 2 and all(line.endswith("follow up") for line in flagged)
    marked = [line.split()[0] for line in exported.splitlines() if "identity mismatch!" in line]
    assert sorted(marked) == ["Alan", "Grace"]
    assert any("Turing" in line and "'ada.lovelace'" in line for line in flagged)
    assert any("Hopper" in line and "'grace.hoper'" in line for line in flagged)
    with open(report, encoding="utf-8-sig", newline="") as f:
        checks = {r["student"]: r["identity_check"] for r in csv.DictReader(f)}
    assert checks["Ada Lovelace"] == "match" and checks["Edsger Dijkstra"] == "match"
    assert checks["Alan Turing"].startswith("identity mismatch: the notebook's student_id is "
                                            "'ada.lovelace', the submitter is 'alan.turing'")
    assert checks["Grace Hopper"].startswith("identity mismatch")

    # the comment an LMS with a feedback column (Moodle) carries: the student's own words
    grades = load_assignment_grades(graded, LatePolicy.from_options(None, "0m", "0", None, 1),
                                    coll / "collection.json", roster)
    comments = {r.student.login: r.comment for r in grades.rows}
    assert comments["ada.lovelace"] == "" and comments["edsger.dijkstra"] == ""
    assert "graded against 'alan.turing''s own variant" in comments["alan.turing"]
    assert "Identity check" in comments["grace.hopper"]
