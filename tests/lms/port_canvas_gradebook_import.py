"""A small port of Canvas's gradebook CSV import, faithful to its matching and change rules.

Source: canvas-lms ``lib/gradebook_importer.rb`` (``GradebookImporter#parse!``,
``identify_delimiter``, the ``decimal_comma_to_period`` converter, ``check_for_non_student_row``,
``row_has_student_headers?``, ``update_column_count``, ``strip_non_assignment_columns``,
``parse_assignments``, ``process_pp``, ``process_student``, ``process_submissions``,
``no_change_to_value?``, ``gradeable?``) and ``app/models/assignment.rb`` (``title_and_id``,
``grade_student``: a group assignment graded as a group gives one member's grade to every
member; ``compute_grade_and_score``: a blank grade removes the score).

What the port keeps: header validation, the student lookup order (``ID`` -> SIS User ID -> SIS
Login ID -> exact name / sortable name -> unknown), assignment lookup by the ``(id)`` in the
title, the ``Points Possible`` row (applies only to NEW assignments), blank = "no grade", the
2-decimal change test, unposted anonymous assignments refusing grades, group propagation in row
order. What it leaves out: custom columns, override scores, grading periods, pass/fail and
letter grades, excused (``EX``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

NON_ASSIGNMENT_COLUMN_HEADERS = ["Current Score", "Current Points", "Current Grade", "Final Score",
                                 "Final Points", "Final Grade", "Override Score", "Override Grade",
                                 "Override Status"]


class InvalidHeaderRow(Exception):  # noqa: N818 - the name Canvas uses
    """GradebookImporter::InvalidHeaderRow: the upload fails with 'Invalid header row'."""


@dataclass
class User:
    id: int
    name: str
    sortable_name: str
    sis_user_id: str = ""
    login_id: str = ""


@dataclass
class Assignment:
    id: int
    title: str
    points_possible: float
    groups: list[list[int]] = field(default_factory=list)
    """member user ids of each group when this is a group assignment"""
    grade_group_students_individually: bool = False
    unposted_anonymous_submissions: bool = False


@dataclass
class Course:
    users: list[User]
    assignments: list[Assignment]
    scores: dict[tuple[int, int], float | None] = field(default_factory=dict)
    """(user id, assignment id) -> score (None: no grade)"""

    def user(self, uid: int) -> User | None:
        return next((u for u in self.users if u.id == uid), None)


@dataclass
class Import:
    """What the upload page shows and, for matched students, sends."""

    changes: list[tuple[int, int, str]] = field(default_factory=list)
    """(user id, assignment id, new grade text) in file order, for changed gradeable cells"""
    unknown_students: list[str] = field(default_factory=list)
    """rows that matched no student (the page asks to map them by hand)"""
    new_assignments: list[tuple[str, str]] = field(default_factory=list)
    """(title, points possible) of columns that match no assignment: created on upload"""
    matched: list[tuple[int, int]] = field(default_factory=list)
    """(row number, user id) of every student row"""
    prevented_ungradeable: bool = False


def ruby_to_i(text: str) -> int:
    """String#to_i: leading whitespace, sign and digits; 0 when there are none."""
    m = re.match(r"\s*([+-]?\d+)", text.replace("_", ""))
    return int(m.group(1)) if m else 0


def decimal_comma_to_period(cell: str) -> str:
    if re.fullmatch(r"-?[0-9.,]+%?", cell):
        parts = re.split(r"[,.]", cell)
        last = parts.pop()
        return last if not parts else "".join(parts) + "." + last
    return cell


def identify_delimiter(lines: list[str]) -> str:
    counts = {}
    for sep in (";", ","):
        counts[sep] = 0
        try:
            per_row = [len(next(csv.reader([line], delimiter=sep), [])) for line in lines]
        except csv.Error:
            continue
        if len(set(per_row)) == 1:
            counts[sep] = per_row[0]
    return ";" if counts[";"] > counts[","] else ","


def title_and_id(text: str) -> tuple[str, str | None]:
    m = re.fullmatch(r"(.*)\s\((\d+)\)", text, re.DOTALL)
    return (m.group(1), m.group(2)) if m else (text, None)


def _rows(text: str) -> list[list[str]]:
    # CSV.foreach without a "bom|utf-8" encoding keeps a BOM in the first cell: so do we
    first_lines = text.splitlines()[:3]
    sep = identify_delimiter(first_lines) if first_lines else ","
    rows = []
    for raw in csv.reader(io.StringIO(text, newline=""), delimiter=sep):
        line = sep.join(raw)
        if raw and re.fullmatch(r"[;, ]+", line):
            continue  # skip_lines: /^[;, ]+$/
        if not raw:
            continue
        rows.append([decimal_comma_to_period(c) for c in raw])
    return rows


def _same_at_two_places(a: str | float | None, b: str | float | None) -> bool:
    def blank(v: object) -> bool:
        return v is None or str(v).strip() in ("", "-")
    if blank(a) and blank(b):
        return True
    if blank(a) or blank(b):
        return False
    return f"{float(a):.2f}" == f"{float(b):.2f}"


def parse(course: Course, text: str) -> Import:
    """GradebookImporter#parse! on ``text`` against ``course`` (nothing is changed yet)."""
    rows = _rows(text)
    if not rows:
        raise InvalidHeaderRow("empty file")
    header = rows[0]
    if not ((len(header) > 3 and "Student" in header[0] and "ID" in header[1])
            or (len(header) > 4 and "LastName" in header[0] and "FirstName" in header[1]
                and "ID" in header[2])):
        raise InvalidHeaderRow(header[:4])
    first_last = header[0] == "LastName" and header[1] == "FirstName"
    student_columns = 4 if first_last else 3
    base = student_columns - 1
    sis_user_col = sis_login_col = None
    if re.search(r"SIS\s+Login\s+ID", header[base]):
        sis_login_col = base
        student_columns += 1
    elif (re.search(r"SIS\s+User\s+ID", header[base]) and base + 1 < len(header)
          and re.search(r"SIS\s+Login\s+ID", header[base + 1])):
        i = 1 if base + 2 < len(header) and re.search(r"Integration\s+ID", header[base + 2]) else 0
        sis_user_col, sis_login_col = base, base + 1
        student_columns += 2 + i
        if base + 2 + i < len(header) and re.search(r"Root\s+Account", header[base + 2 + i]):
            student_columns += 1
    if "Section" not in header[student_columns - 1]:
        raise InvalidHeaderRow("last student column is not Section")
    non_assignment = re.compile("|".join(NON_ASSIGNMENT_COLUMN_HEADERS))
    columns = [h for h in header[student_columns:] if not non_assignment.search(h)]
    by_id = {a.id: a for a in course.assignments}
    imported: list[tuple[Assignment | None, str, int]] = []  # (existing or None, title, column)
    result = Import()
    for h in columns:
        title, aid = title_and_id(h)
        a = by_id.get(int(aid)) if aid else None
        a = a or next((x for x in course.assignments if x.title == h), None)
        imported.append((a, title if a is None else a.title, header.index(h)))
    new_points: dict[int, str] = {}
    users_by_id = {u.id: u for u in course.users}
    for n, row in enumerate(rows[1:], start=2):
        if row and "Points Possible" in row[0]:
            for a, _, col in imported:
                if a is None and col < len(row):
                    new_points[col] = row[col]
            continue
        if all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", c, re.I) for c in row):
            continue
        sid_cell = row[2] if first_last else row[1]
        student = users_by_id.get(ruby_to_i(sid_cell)) if sid_cell.strip() else None
        if student is None:
            sis_user = row[sis_user_col].strip() if sis_user_col is not None else ""
            sis_login = row[sis_login_col].strip() if sis_login_col is not None else ""
            student = (next((u for u in course.users if sis_user and u.sis_user_id == sis_user), None)
                       or next((u for u in course.users if sis_login and u.login_id == sis_login),
                               None))
        if student is None:
            name = f"{row[1]} {row[0]}".strip() if first_last else row[0]
            student = next((u for u in course.users
                            if u.name == name or u.sortable_name == name), None)
        if student is None:
            result.unknown_students.append(f"row {n}: {row[:student_columns]}")
            continue
        result.matched.append((n, student.id))
        for a, _, col in imported:
            if a is None:
                continue
            grade = row[col].strip() if col < len(row) else None
            if _same_at_two_places(grade, course.scores.get((student.id, a.id))):
                continue
            if a.unposted_anonymous_submissions:
                result.prevented_ungradeable = True
                continue
            result.changes.append((student.id, a.id, grade or ""))
    result.new_assignments = [(t, new_points.get(col, "")) for a, t, col in imported if a is None]
    return result


def group_of(assignment: Assignment, uid: int) -> list[int]:
    if assignment.grade_group_students_individually:
        return [uid]
    return next((g for g in assignment.groups if uid in g), [uid])


def apply(course: Course, result: Import) -> None:
    """Send the changes as the upload page does; each goes through ``grade_student``."""
    by_id = {a.id: a for a in course.assignments}
    for uid, aid, grade in result.changes:
        score = None if grade.strip() == "" else float(grade)
        for member in group_of(by_id[aid], uid):
            course.scores[(member, aid)] = score
