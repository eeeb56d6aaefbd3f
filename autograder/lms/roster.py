"""Rosters: who is in the course, read from the CSV files the LMSs export, and matching of
submissions to people.

Recognised (auto-detected from the header; sources in docs/lms.md):

* Canvas gradebook export: ``Student, ID, [SIS User ID,] [SIS Login ID,] [Integration ID,]
  [Root Account,] Section, <Assignment (id)>..., <score columns>``; a second row
  ``Points Possible`` (and possibly ``Manual Posting``/``Muted`` rows) and the
  ``Student, Test`` row of Student View are skipped. Canvas may write ';' as the delimiter.
* Moodle grades export: ``First name, Last name, ID number, Institution, Department,
  Email address, ...``.
* Moodle grading worksheet (assignment "Download grading worksheet"): ``Identifier`` =
  ``Participant <id>`` (the same id as the download folders), ``Full name``, ``Email address``,
  ``Last modified (submission)``, ...
* Plain: ``id, name, email`` (any order and case; ``first name``/``last name`` also accepted).

Why matching is ordered LMS id -> email/SIS login -> name: ids are exact, emails nearly so, and
names collide and get mangled (Canvas folds them into ``doejane``); a name match must also be
unique, else the submission is reported as unmatched instead of guessed.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from autograder.lms.errors import LmsError
from autograder.lms.model import Candidate
from autograder.lms.names import display_name, fold, name_keys, norm_email, norm_id, slug

_SKIP_NAME = re.compile(r"^\s*(points possible|manual posting|muted|read only)\s*$", re.I)
_TEST_STUDENT = re.compile(r"^\s*(student,\s*test|test student)\s*$", re.I)
_CANVAS_ASSIGNMENT = re.compile(r"^(?P<title>.*\S)\s*\((?P<id>\d+)\)\s*$")
_CANVAS_META = {"student", "id", "sis user id", "sis login id", "integration id", "root account",
                "section"}


@dataclass
class Student:
    """One person on the roster (or, without a roster, one submitter the LMS named)."""

    key: str
    name: str
    lms_id: str = ""
    """Canvas user id / plain roster id"""
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
    """Canvas: (title, id) of each assignment column in the export"""

    def match(self, cand: Candidate) -> tuple[Student | None, str]:
        """The student a candidate belongs to and how it was matched, or (None, why not)."""
        if cand.lms_user_id:
            uid = norm_id(cand.lms_user_id)
            hits = [s for s in self.students
                    if uid and uid in {norm_id(s.lms_id), norm_id(s.participant_id)}]
            if len(hits) == 1:
                return hits[0], "lms id"
        email = norm_email(cand.email)
        if email:
            hits = [s for s in self.students if email in {norm_email(s.email), norm_email(s.login)}]
            if len(hits) == 1:
                return hits[0], "email"
        if cand.sid:
            sid = norm_id(cand.sid)
            hits = [s for s in self.students
                    if sid in {norm_id(s.sis_user_id), norm_id(s.id_number), norm_id(s.lms_id),
                               norm_id(s.login)} - {""}]
            if len(hits) == 1:
                return hits[0], "student id"
        if cand.name:
            keys = name_keys(cand.name) | {fold(cand.name)}
            hits = [s for s in self.students if keys & (name_keys(s.name) | name_keys(s.display))]
            if len(hits) == 1:
                return hits[0], "name"
            if len(hits) > 1:
                names = ", ".join(s.name for s in hits)
                return None, f"name {cand.name!r} fits several students ({names})"
        return None, "no student with this LMS id, email, student id or name"


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_rows(path: Path) -> list[list[str]]:
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


def _canvas(rows: list[list[str]], path: Path) -> Roster:
    header = [h.strip() for h in rows[0]]
    low = [h.lower() for h in header]
    col = {name: low.index(name) for name in _CANVAS_META if name in low}
    section_at = col["section"]
    assignments = []
    for h in header[section_at + 1:]:
        m = _CANVAS_ASSIGNMENT.match(h)
        if m:
            assignments.append((m["title"], m["id"]))
    students, skipped = [], []
    for i, r in enumerate(rows[1:], start=2):
        def cell(name, r=r):
            return (r[col[name]].strip() if name in col and col[name] < len(r) else "")
        name = cell("student")
        if _SKIP_NAME.match(name) or (not name and not cell("id")):
            skipped.append(f"row {i}: {name.strip() or 'empty'} (not a student)")
            continue
        if _TEST_STUDENT.match(name):
            skipped.append(f"row {i}: {name} (Canvas Student View test student)")
            continue
        s = Student(key="", name=name, lms_id=norm_id(cell("id")),
                    sis_user_id=cell("sis user id"), login=cell("sis login id"),
                    section=cell("section"))
        if "@" in s.login:
            s.email = s.login
        s.key = student_key(name, s.lms_id, s.sis_user_id, s.login)
        students.append(s)
    return Roster("canvas", students, str(path), skipped, assignments)


def _by_header(rows: list[list[str]], fmt: str, path: Path) -> Roster:
    header = [h.strip().lower() for h in rows[0]]

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
            lms_id=norm_id(pick(r, "id", "user id", "canvas id", "lms id")),
            sis_user_id=norm_id(pick(r, "sid", "student id", "sis user id")),
            email=pick(r, "email address", "email", "e-mail"),
            id_number=norm_id(pick(r, "id number", "idnumber")),
            section=pick(r, "section", "group", "groups"),
            participant_id=participant,
            submitted_at=pick(r, "last modified (submission)"),
        )
        if not (s.name or s.email or s.lms_id or s.id_number or s.participant_id):
            skipped.append(f"row {i}: no name, email or id")
            continue
        s.key = student_key(s.name or s.email, s.lms_id, s.id_number, s.sis_user_id,
                            s.participant_id, s.email)
        students.append(s)
    return Roster(fmt, students, str(path), skipped)


def detect_format(header: list[str]) -> str | None:
    low = [h.strip().lower() for h in header]
    if len(low) > 2 and "student" in low[0] and low[1] == "id" and any("section" in h for h in low):
        return "canvas"
    if "identifier" in low and "full name" in low:
        return "moodle-worksheet"
    if "first name" in low and "last name" in low and ("email address" in low or "id number" in low):
        return "moodle"
    names = {"name", "full name", "student", "first name", "firstname"}
    ids = {"id", "sid", "student id", "email", "email address"}
    if names & set(low) and ids & set(low):
        return "plain"
    return None


def read_roster(path: str | Path) -> Roster:
    """Read a roster CSV in any recognised layout; LmsError names the layouts when none fits."""
    p = Path(path)
    rows = _read_rows(p)
    fmt = detect_format(rows[0])
    if fmt is None:
        raise LmsError(
            f"roster {p}: header {rows[0][:6]} is not a Canvas gradebook export (Student, ID, ..., "
            "Section), a Moodle grades export (First name, Last name, ..., Email address), a Moodle "
            "grading worksheet (Identifier, Full name, ...) or a plain id,name,email CSV")
    roster = _canvas(rows, p) if fmt == "canvas" else _by_header(rows, fmt, p)
    if not roster.students:
        raise LmsError(f"roster {p} has no student rows")
    _unique_keys(roster.students)
    return roster


_MOODLE_TIME_FORMATS = (
    "%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%d %B %Y, %I:%M %p", "%d %B %Y, %H:%M",
)


def parse_moodle_time(text: str) -> datetime | None:
    """Moodle's English 'Monday, 1 January 2024, 10:05 AM' (local time, no zone), or None."""
    t = " ".join(text.split())
    for fmt in _MOODLE_TIME_FORMATS:
        try:
            return datetime.strptime(t, fmt)
        except ValueError:
            continue
    return None
