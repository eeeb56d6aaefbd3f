"""Rosters: who is in the course, read from the CSV files the LMSs export.

Recognised (auto-detected from the header; sources in docs/lms.md): every roster layout of the
LMS adapters in ``lms.registry`` (gradebook exports, group set exports, grading worksheets),
then the plain layout: ``name`` (or ``first name``/``last name``) with ``email``, ``sid`` /
``student id`` (the SIS id), ``id`` (an id of the institution's: kept as ``student_id`` and
never taken for an LMS's), ``username``, ``section``, ``group`` (the student's group for group
assignments) and an LMS's user id under the column names its adapter declares
(``roster_id_columns``, e.g. ``canvas user id``). Matching submissions to these people is ``lms.matching``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder.lms.errors import LmsError
from autograder.lms.names import display_name, norm_id, slug
from autograder.lms.scale import parse_points

PLAIN_FORMAT = "plain"


@dataclass
class Student:
    """One person on the roster (or, without a roster, one submitter the LMS named)."""

    key: str
    name: str
    lms_id: str = ""
    """the LMS's own user id of this person (from a roster of that LMS)"""
    sis_user_id: str = ""
    login: str = ""
    """Canvas SIS Login ID"""
    email: str = ""
    section: str = ""
    participant_id: str = ""
    """Moodle per-assignment participant id (grading worksheet)"""
    id_number: str = ""
    """Moodle ID number"""
    first: str = ""
    last: str = ""
    submitted_at: str = ""
    """submission time an LMS roster states (Moodle worksheet 'Last modified (submission)')"""
    student_id: str = ""
    """a plain roster's ``id`` column: an id of the institution's, never compared with an LMS's"""
    username: str = ""
    """a plain roster's ``username``/``login`` column (Moodle's username)"""
    group: str = ""
    """the student's group for group assignments ('' = in no group)"""
    group_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Student:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def display(self) -> str:
        if self.first or self.last:
            return f"{self.first} {self.last}".strip()
        return display_name(self.name)


@dataclass
class Roster:
    """Students from a roster file, plus what the file says about assignments."""

    format: str
    students: list[Student]
    path: str = ""
    skipped_rows: list[str] = field(default_factory=list)
    assignments: list[tuple[str, str]] = field(default_factory=list)
    """(title, id) of each assignment column of a gradebook export"""
    points_possible: dict[str, float] = field(default_factory=dict)
    """the LMS's maximum per assignment id ('' when the file is about one assignment)"""
    ids_of: str = ""
    """the LMS whose user ids the students' ``lms_id``/``participant_id`` hold ('' = none):
    only then do submission ids and roster ids mean the same thing"""

    @property
    def has_groups(self) -> bool:
        return any(s.group for s in self.students)


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_rows(path: Path) -> list[list[str]]:
    """The non-empty rows of a CSV written by an LMS or a spreadsheet (UTF-8 with or without
    BOM, else Windows-1252; ',' ';' or tab as found in the header)."""
    if not path.exists():
        raise LmsError(f"roster not found: {path}")
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes nearly everything
        raise LmsError(f"roster {path} is neither UTF-8 nor Windows-1252 text")
    first = text.split("\n", 1)[0]
    rows = list(csv.reader(io.StringIO(text), delimiter=_sniff_delimiter(first)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise LmsError(f"roster {path} is empty")
    return rows


def _unique_keys(students: list[Student]) -> None:
    seen: dict[str, int] = {}
    for s in students:
        base = s.key
        n = seen.get(base, 0)
        seen[base] = n + 1
        if n:
            s.key = f"{base}-{n + 1}"


def student_key(name: str, *ids: str) -> str:
    """'doe-jane-12345': readable, ASCII, stable for the same person and ids."""
    ident = next((re.sub(r"[^A-Za-z0-9]+", "", i.split("@")[0]) for i in ids if i), "")
    return f"{slug(display_name(name))}-{ident}" if ident else slug(display_name(name))


def read_by_header(rows: list[list[str]], fmt: str, path: Path) -> Roster:
    """A roster whose columns are found by their names (Moodle's files, plain CSVs)."""
    from autograder.lms.registry import LMS_ADAPTERS  # the LMS modules import this one

    header = [h.strip().lower() for h in rows[0]]
    lms_id_columns: list[str] = []
    lms_ids_of = ""
    for a in LMS_ADAPTERS.values():
        found = [c for c in a.roster_id_columns if c in header]
        if found and not lms_ids_of:
            lms_ids_of = a.name
            lms_id_columns = found

    def pick(r: list[str], *names: str) -> str:
        for n in names:
            if n in header:
                j = header.index(n)
                if j < len(r) and r[j].strip():
                    return r[j].strip()
        return ""

    students, skipped = [], []
    for i, r in enumerate(rows[1:], start=2):
        first = pick(r, "first name", "firstname", "first")
        last = pick(r, "last name", "lastname", "surname", "last")
        name = pick(r, "full name", "name", "student", "student name") or f"{first} {last}".strip()
        ident = pick(r, "identifier")
        participant = ""
        if ident:
            m = re.search(r"(\d+)\s*$", ident)
            participant = m.group(1) if m else ""
        s = Student(
            key="", name=name, first=first, last=last,
            lms_id=norm_id(pick(r, *lms_id_columns)),
            sis_user_id=norm_id(pick(r, "sid", "student id", "sis user id")),
            student_id=norm_id(pick(r, "id")),
            username=pick(r, "username", "login"),
            email=pick(r, "email address", "email", "e-mail"),
            id_number=norm_id(pick(r, "id number", "idnumber")),
            section=pick(r, "section", "sections"),
            group=pick(r, "group", "team", "group name", "group_name"),
            group_id=norm_id(pick(r, "group id", "group_id")),
            participant_id=participant,
            submitted_at=pick(r, "last modified (submission)"),
        )
        if not (s.name or s.email or s.lms_id or s.id_number or s.participant_id or s.student_id):
            skipped.append(f"row {i}: no name, email or id")
            continue
        s.key = student_key(s.name or s.email, s.lms_id, s.id_number, s.sis_user_id,
                            s.student_id, s.participant_id, s.email)
        students.append(s)
    roster = Roster(fmt, students, str(path), skipped)
    max_grade = next((p for p in (parse_points(pick(r, "maximum grade")) for r in rows[1:])
                      if p is not None), None)
    if max_grade is not None:
        roster.points_possible[""] = max_grade
    if any(s.lms_id for s in students):
        roster.ids_of = lms_ids_of
    return roster


def _is_plain(header: list[str]) -> bool:
    names = {"name", "full name", "student", "first name", "firstname"}
    ids = {"id", "sid", "student id", "email", "email address", "username", "login"}
    return bool(names & set(header) and ids & set(header))


def detect_format(header: list[str]) -> str | None:
    """The name of the first roster layout (LMS layouts, then plain) this header fits."""
    from autograder.lms.registry import roster_formats  # the LMS modules import this one

    low = [h.strip().lower() for h in header]
    for fmt in roster_formats():
        if fmt.detect(low):
            return fmt.name
    return PLAIN_FORMAT if _is_plain(low) else None


def read_roster(path: str | Path) -> Roster:
    """Read a roster CSV in any recognised layout; LmsError names the layouts when none fits."""
    from autograder.lms.registry import roster_formats

    p = Path(path)
    rows = read_rows(p)
    fmt = detect_format(rows[0])
    if fmt is None:
        raise LmsError(
            f"roster {p}: header {rows[0][:6]} is not a Canvas gradebook export (Student, ID, ..., "
            "Section), a Moodle grades export (First name, Last name, ..., Email address), a Moodle "
            "grading worksheet (Identifier, Full name, ...) or a plain id,name,email CSV")
    readers = {f.name: f.read for f in roster_formats()}
    reader = readers.get(fmt, lambda rows, p: read_by_header(rows, PLAIN_FORMAT, p))
    roster = reader(rows, p)
    if not roster.students:
        raise LmsError(f"roster {p} has no student rows")
    _unique_keys(roster.students)
    return roster
