"""Writers for the grade files each LMS imports (layouts and sources in docs/lms.md).

* Canvas gradebook import: ``Student, ID, SIS User ID, SIS Login ID, Section, <Name> (<id>)``
  then a ``    Points Possible`` row, then one row per student. Canvas's importer
  (``GradebookImporter``) finds students by ``ID`` first, then SIS ids, then name, and the
  assignment by the ``(id)`` in the column title.
* Moodle "Import grades from CSV": any columns, mapped on upload; we write ``First name,
  Last name, ID number, Email address, <grade item>, Feedback`` so "Map from" can be *Email
  address* (or *ID number*) and the feedback column maps to the item's feedback.
* Gradescope: the columns of an assignment's "Download Grades" CSV (``First Name, Last Name,
  SID, Email, Total Score, Max Points, Status, Submission ID, Submission Time,
  Lateness (H:M:S)``, then one column per question).
* Otter ``final_grades.csv``: ``file``, questions (sorted, as Otter does), ``total_points_earned``,
  ``percent_correct``, ``grading_status``; first data row ``points-per-question``.

Late penalties are subtracted from totals in every format; blank cells mean "no grade" (no
submission, or not graded) unless ``missing_as_zero``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from autograder.lms.errors import LmsError
from autograder.lms.grades import Gradebook, GradeRow
from autograder.lms.names import split_name

CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_LABEL = "    Points Possible"
GRADESCOPE_COLUMNS = ["First Name", "Last Name", "SID", "Email", "Total Score", "Max Points",
                      "Status", "Submission ID", "Submission Time", "Lateness (H:M:S)"]
OTTER_POINTS_LABEL = "points-per-question"


def num(x: float | None) -> str:
    """A number as LMS importers read it: '.' decimal point, no exponent, no trailing zeros."""
    if x is None:
        return ""
    s = f"{round(float(x), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _total(row: GradeRow, missing_as_zero: bool) -> str:
    t = row.total
    if t is None:
        return "0" if missing_as_zero else ""
    return num(t)


def _writer() -> tuple[io.StringIO, Any]:
    buf = io.StringIO()
    return buf, csv.writer(buf, lineterminator="\n")


def canvas_csv(gb: Gradebook, assignment_name: str, assignment_id: str,
               missing_as_zero: bool = False) -> str:
    if not assignment_name:
        raise LmsError("Canvas needs --assignment-name (the assignment's title in Canvas)")
    if not str(assignment_id).strip().isdigit():
        raise LmsError("Canvas needs --assignment-id, the number in the assignment's URL "
                       "(.../assignments/<id>)")
    buf, w = _writer()
    w.writerow([*CANVAS_STUDENT_COLUMNS, f"{assignment_name} ({assignment_id})"])
    w.writerow([CANVAS_POINTS_LABEL, "", "", "", "", num(gb.total_possible)])
    for r in gb.rows:
        s = r.student
        w.writerow([s.name, s.lms_id, s.sis_user_id, s.login, s.section, _total(r, missing_as_zero)])
    return buf.getvalue()


def moodle_csv(gb: Gradebook, assignment_name: str, missing_as_zero: bool = False) -> str:
    if not assignment_name:
        raise LmsError("Moodle needs --assignment-name (the grade column to map to)")
    buf, w = _writer()
    w.writerow(["First name", "Last name", "ID number", "Email address", assignment_name,
                "Feedback"])
    for r in gb.rows:
        s = r.student
        first, last = (s.first, s.last) if (s.first or s.last) else split_name(s.name)
        w.writerow([first, last, s.id_number, s.email, _total(r, missing_as_zero), r.comment])
    return buf.getvalue()


def _hms(td: timedelta | None) -> str:
    if td is None or td <= timedelta(0):
        return "00:00:00"
    secs = int(td.total_seconds())
    return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"


def gradescope_csv(gb: Gradebook, missing_as_zero: bool = False, due: datetime | None = None) -> str:
    buf, w = _writer()
    qcols = [f"{q} ({num(gb.possible[q])} pts)" for q in gb.questions]
    w.writerow([*GRADESCOPE_COLUMNS, *qcols])
    for r in gb.rows:
        s = r.student
        first, last = (s.first, s.last) if (s.first or s.last) else split_name(s.name)
        status = {"no submission": "Missing", "not graded": "Ungraded"}.get(r.status, "Graded")
        lateness = _hms(r.timestamp - due) if (r.timestamp and due) else "00:00:00"
        scores = [num(r.auto[q]) if q in r.auto else (num(r.manual[q][0]) if q in r.manual else "")
                  for q in gb.questions]
        w.writerow([first, last, s.sis_user_id or s.id_number or s.lms_id, s.email,
                    _total(r, missing_as_zero), num(gb.total_possible), status,
                    r.file.rsplit(".", 1)[0] if r.file else "",
                    r.timestamp.isoformat() if r.timestamp else "", lateness, *scores])
    return buf.getvalue()


def otter_csv(gb: Gradebook, missing_as_zero: bool = False) -> str:
    qs = sorted(gb.questions)
    buf, w = _writer()
    w.writerow(["file", *qs, "total_points_earned", "percent_correct", "grading_status"])
    w.writerow([OTTER_POINTS_LABEL, *(num(gb.possible[q]) for q in qs), num(gb.total_possible),
                "1", "--"])
    rows = []
    for r in gb.rows:
        if r.file is None and not missing_as_zero:
            continue
        total = r.total if r.total is not None else 0.0
        pct = total / gb.total_possible if gb.total_possible else 0.0
        scores = [num(r.auto.get(q, r.manual.get(q, (0.0, ""))[0])) for q in qs]
        status = "Completed" if r.status == "graded" else r.status
        rows.append([r.file or r.student.key, *scores, num(total), num(pct), status])
    rows.sort(key=lambda x: x[0])
    w.writerows(rows)
    return buf.getvalue()


def report_csv(gb: Gradebook) -> str:
    """Everything behind each grade, for the instructor (not for an LMS)."""
    buf, w = _writer()
    w.writerow(["student_key", "student", "file", "status", "submitted_at", "days_late",
                "late_basis", "raw_total", "late_penalty", "total", "possible", *gb.questions])
    for r in gb.rows:
        w.writerow([r.student.key, r.student.display, r.file or "", r.status,
                    r.timestamp.isoformat() if r.timestamp else "",
                    r.late.days_late if r.late else "", r.late.basis if r.late else "",
                    num(r.raw_total) if r.total is not None else "", num(r.penalty),
                    num(r.total), num(gb.total_possible),
                    *[num(r.auto[q]) if q in r.auto else
                      (num(r.manual[q][0]) if q in r.manual else "") for q in gb.questions]])
    return buf.getvalue()


EXPORTERS: dict[str, Callable[..., str]] = {
    "canvas": canvas_csv, "moodle": moodle_csv, "gradescope": gradescope_csv, "csv": otter_csv,
}
