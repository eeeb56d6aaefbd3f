"""Grade files that are not one LMS's: Otter's ``final_grades.csv`` layout and the instructor's
report, plus the number and cell formatting every LMS module's writer shares (each LMS's own
import layout lives in its module: ``canvas``, ``moodle``, ``gradescope``).

* Otter ``final_grades.csv``: ``file``, questions (sorted, as Otter does), ``total_points_earned``,
  ``percent_correct``, ``grading_status``; first data row ``points-per-question``.

Late penalties are subtracted from totals in every format; blank cells mean "no grade" (no
submission, or not graded) unless ``missing_as_zero``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder import csvsafe

if TYPE_CHECKING:
    from autograder.lms.grades import AssignmentGrades, GradeRow

OTTER_POINTS_LABEL = "points-per-question"


def num(x: float | None) -> str:
    """A number as LMS importers read it: '.' decimal point, no exponent, no trailing zeros."""
    if x is None:
        return ""
    s = f"{round(float(x), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def exported_rows(gb: AssignmentGrades, missing_as_zero: bool) -> list[GradeRow]:
    """The students an LMS grade file has a row for: those with a grade, and with
    ``missing_as_zero`` also those without any submission (as 0).

    Why not everyone: an LMS reads a blank cell as "no grade" and REMOVES a grade already there
    (Canvas) or stores an empty grade (Moodle), so a row for a student we have no grade for
    would erase a grade typed by hand. Students who submitted but have no grade yet (not
    graded, or several files and none chosen) never get a row, not even a 0."""
    return [r for r in gb.rows
            if r.total is not None or (missing_as_zero and r.status == "no submission")]


def total_cell(row: GradeRow, missing_as_zero: bool, factor: float = 1.0) -> str:
    """A student's total as an LMS cell (times ``factor`` for the LMS's scale): blank (or 0)
    when there is no grade."""
    t = row.total
    if t is None:
        return "0" if missing_as_zero else ""
    return num(t * factor)


def csv_writer() -> tuple[io.StringIO, Any]:
    """A text buffer and a formula-safe writer into it (names and comments are people's text)."""
    buf = io.StringIO()
    return buf, csvsafe.writer(buf, lineterminator="\n")


def otter_csv(gb: AssignmentGrades, missing_as_zero: bool = False) -> str:
    qs = sorted(gb.questions)
    buf, w = csv_writer()
    w.writerow(["file", *qs, "total_points_earned", "percent_correct", "grading_status"])
    w.writerow([OTTER_POINTS_LABEL, *(num(gb.possible[q]) for q in qs), num(gb.total_possible),
                "1", "--"])
    rows = []
    seen_files: set[str] = set()
    for r in gb.rows:
        if r.status == "ambiguous" or (r.file is None and not missing_as_zero):
            continue
        if r.file is not None and r.file in seen_files:
            continue  # a group's file: one row, as the grader wrote it
        if r.file is not None:
            seen_files.add(r.file)
        total = r.total if r.total is not None else 0.0
        pct = total / gb.total_possible if gb.total_possible else 0.0
        scores = [num(r.auto.get(q, r.manual.get(q, (0.0, ""))[0])) for q in qs]
        status = "Completed" if r.status == "graded" else r.status
        rows.append([r.file or r.student.key, *scores, num(total), num(pct), status])
    rows.sort(key=lambda x: x[0])
    w.writerows(rows)
    return buf.getvalue()


def report_csv(gb: AssignmentGrades) -> str:
    """Everything behind each grade, for the instructor (not for an LMS)."""
    buf, w = csv_writer()
    w.writerow(["student_key", "student", "group", "file", "status", "submitted_at", "days_late",
                "late_basis", "raw_total", "late_penalty", "total", "possible", "identity_check",
                *gb.questions, "comments"])
    for r in gb.rows:
        w.writerow([r.student.key, r.student.display, r.group, r.file or "", r.status,
                    r.timestamp.isoformat() if r.timestamp else "",
                    r.late.days_late if r.late else "", r.late.basis if r.late else "",
                    num(r.raw_total) if r.total is not None else "", num(r.penalty),
                    num(r.total), num(gb.total_possible),
                    r.identity_flag or (r.identity.status if r.identity else ""),
                    *[num(r.auto[q]) if q in r.auto else
                      (num(r.manual[q][0]) if q in r.manual else "") for q in gb.questions],
                    r.comment])
    return buf.getvalue()


def summary_lines(gb: AssignmentGrades) -> list[str]:
    """The per-student table ``mlphys export`` prints (and the demo logs)."""
    lines = [f"{'student':<28} {'status':<14} {'raw':>8} {'late':>5} {'penalty':>8} {'total':>8}"]
    for r in gb.rows:
        days = r.late.days_late if r.late else 0
        lines.append(f"{r.student.display[:28]:<28} {r.status[:14]:<14} "
                     f"{num(r.raw_total) if r.total is not None else '':>8} {days:>5} "
                     f"{('-' + num(r.penalty)) if r.penalty else '':>8} {num(r.total):>8}"
                     + (f"  identity {r.identity.status}!" if r.identity_flag else ""))
    return lines


def write_grade_file(path: str | Path, text: str, bom: bool = False) -> None:
    """Write a grade file (UTF-8, parents created; ``bom`` for spreadsheets: Excel shows
    accents)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(("\ufeff" if bom else "") + text, encoding="utf-8", newline="")
