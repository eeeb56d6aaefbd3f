"""Final grades per student: the grader's results, manual scores and the late policy merged.

Input: ``<grades dir>/final_grades.csv`` as ``mlphys grade`` (and ``otter grade``) write it --
columns ``file``, one per question, ``total_points_earned``, ``percent_correct``,
``grading_status``; first data row ``points-per-question`` = points possible -- joined to
students through ``collection.json`` by file name, plus the manual scores of the gradebook's
manual-grading tables (``manual``).
Why the CSV and not the grader's SQLite: the CSV is the grader's documented contract (the same
file Otter writes), so this also works on results from ``otter grade``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from autograder.grading.batch.gradebook import GRADEBOOK_FILE
from autograder.grading.model import ManualQuestion
from autograder.lms.collect import load_collection
from autograder.lms.errors import LmsError
from autograder.lms.late import LateAssessment, LatePolicy
from autograder.lms.manual import open_manual_store
from autograder.lms.roster import Student, read_roster

POINTS_ROW_LABELS = {"points-per-question", "points possible", "points_possible"}
FIXED_COLUMNS = {"file", "total_points_earned", "percent_correct", "grading_status"}


@dataclass
class AutoResults:
    questions: list[str]
    possible: dict[str, float]
    rows: dict[str, dict[str, Any]]
    """file name -> {'scores': {q: float}, 'total': float, 'status': str}"""

    @property
    def total_possible(self) -> float:
        return sum(self.possible.values())


def read_final_grades(grades_dir: str | Path) -> AutoResults:
    """Parse ``final_grades.csv`` (LmsError with the reason when missing or malformed)."""
    path = Path(grades_dir) / "final_grades.csv"
    if not path.exists():
        raise LmsError(f"{path} not found: run 'mlphys grade --out {grades_dir} ...' first")
    rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
    if not rows or "file" not in rows[0] or "total_points_earned" not in rows[0]:
        raise LmsError(f"{path} is not a final_grades.csv (needs columns file, ..., "
                       "total_points_earned)")
    header = rows[0]
    questions = [h for h in header if h not in FIXED_COLUMNS]
    idx = {h: i for i, h in enumerate(header)}
    possible: dict[str, float] = {}
    out: dict[str, dict[str, Any]] = {}
    for n, r in enumerate(rows[1:], start=2):
        if not r:
            continue
        try:
            values = {q: float(r[idx[q]] or 0) for q in questions}
            total = float(r[idx["total_points_earned"]] or 0)
        except (ValueError, IndexError):
            raise LmsError(f"{path} row {n}: scores are not numbers") from None
        if r[idx["file"]].strip().lower() in POINTS_ROW_LABELS:
            possible = values
            continue
        j = idx.get("grading_status")
        status = r[j] if j is not None and j < len(r) else ""
        out[r[idx["file"]]] = {"scores": values, "total": total, "status": status}
    if not possible:
        raise LmsError(f"{path} has no 'points-per-question' row (points possible)")
    return AutoResults(questions, possible, out)


@dataclass
class GradeRow:
    """One student's grade, with every part that went into it."""

    student: Student
    file: str | None
    status: str
    """'graded', 'no submission', 'not graded' (collected but no result), or the grader's status"""
    auto: dict[str, float] = field(default_factory=dict)
    manual: dict[str, tuple[float, str]] = field(default_factory=dict)
    possible: float = 0.0
    raw_total: float = 0.0
    late: LateAssessment | None = None
    timestamp: datetime | None = None

    @property
    def penalty(self) -> float:
        return self.late.penalty_points if self.late else 0.0

    @property
    def total(self) -> float | None:
        if self.status in ("no submission", "not graded"):
            return None
        return round(max(0.0, self.raw_total - self.penalty), 6)

    @property
    def comment(self) -> str:
        parts = [f"{q}: {c}" for q, (_, c) in self.manual.items() if c]
        if self.late and self.late.penalty_points:
            parts.append(f"late {self.late.days_late} day(s): -{self.late.penalty_points:g}")
        return " | ".join(parts)


@dataclass
class AssignmentGrades:
    """One assignment's final grade per student, ready for an LMS's grade file."""

    rows: list[GradeRow]
    questions: list[str]
    """autograded then manual question names"""
    possible: dict[str, float]
    problems: list[str]
    """missing inputs that make the export incomplete (not graded, manual scores missing)"""
    warnings: list[str] = field(default_factory=list)
    """things to show but not to stop for (files that match no roster student)"""

    @property
    def total_possible(self) -> float:
        return sum(self.possible.values())


def _same_person(a: Student, b: Student) -> bool:
    pairs = [(a.key, b.key), (a.lms_id, b.lms_id), (a.participant_id, b.participant_id),
             (a.email.casefold(), b.email.casefold()), (a.sis_user_id, b.sis_user_id)]
    return any(x and x == y for x, y in pairs)


def build_assignment_grades(collection: dict[str, Any], grades_dir: str | Path,
                            policy: LatePolicy, roster_students: list[Student] | None = None
                            ) -> AssignmentGrades:
    """Merge everything into one row per student (missing students included, unmatched files
    reported in ``problems``). With ``roster_students`` the roster's record of each person is
    used (sections, SIS ids) and roster students without a submission get a row."""
    auto = read_final_grades(grades_dir)
    gb_path = Path(grades_dir) / GRADEBOOK_FILE
    manual_q: list[ManualQuestion] = []
    manual_scores: dict[str, dict[str, tuple[float, str]]] = {}
    if gb_path.exists():
        with open_manual_store(grades_dir) as store:
            manual_q = store.questions()
            manual_scores = store.scores(rubric_in_comment=True)
    overlap = {q.name for q in manual_q} & set(auto.questions)
    if overlap:
        raise LmsError(f"questions both autograded and manual: {', '.join(sorted(overlap))}")
    possible = dict(auto.possible)
    possible.update({q.name: q.points for q in manual_q})
    total_possible = sum(possible.values())
    problems: list[str] = []
    warnings: list[str] = []
    rows: list[GradeRow] = []
    for e in collection["entries"]:
        student = Student.from_json(e["student"])
        if roster_students:
            student = next((s for s in roster_students if _same_person(s, student)), student)
        if e["matched_by"].startswith("unmatched"):
            warnings.append(f"{e['file']}: matches no roster student ({e['matched_by']}); "
                            "not exported")
            continue
        ts = datetime.fromisoformat(e["timestamp"]) if e.get("timestamp") else None
        res = auto.rows.get(e["file"])
        if res is None:
            problems.append(f"{student.display} ({e['file']}): no result in final_grades.csv")
            rows.append(GradeRow(student, e["file"], "not graded", possible=total_possible,
                                 timestamp=ts))
            continue
        mine = manual_scores.get(student.key, {})
        missing_manual = [q.name for q in manual_q if q.name not in mine]
        if missing_manual:
            problems.append(f"{student.display}: no manual score for {', '.join(missing_manual)}")
        raw = res["total"] + sum(p for p, _ in mine.values())
        row = GradeRow(student, e["file"],
                       "graded" if res["status"] in ("", "Completed") else res["status"],
                       auto=res["scores"], manual=mine, possible=total_possible, raw_total=raw,
                       timestamp=ts)
        row.late = policy.assess(ts, e.get("late"), total_possible)
        rows.append(row)
    if roster_students:
        have = [r.student for r in rows]
        for s in roster_students:
            if not any(_same_person(s, h) for h in have):
                rows.append(GradeRow(s, None, "no submission", possible=total_possible))
    else:
        for m in collection.get("missing", []):
            rows.append(GradeRow(Student.from_json(m), None, "no submission",
                                 possible=total_possible))
    rows.sort(key=lambda r: (r.student.name.casefold(), r.student.key))
    questions = list(auto.questions) + [q.name for q in manual_q]
    return AssignmentGrades(rows, questions, possible, problems, warnings)


def load_assignment_grades(grades_dir: str | Path, policy: LatePolicy,
                           collection: str | Path | None = None,
                           roster: str | Path | None = None) -> AssignmentGrades:
    """:func:`build_assignment_grades` from files: the grading directory, ``collection.json``
    (default: the one in ``grades_dir``) and an optional roster CSV (what ``mlphys export``
    reads)."""
    coll = load_collection(collection or Path(grades_dir) / "collection.json")
    students = read_roster(roster).students if roster else None
    return build_assignment_grades(coll, grades_dir, policy, students)
