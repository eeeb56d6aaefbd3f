r"""Moodle: assignment "Download all submissions" zips, grades exports and grading worksheets
(rosters), "Import grades from CSV" files. Sources (moodle files and commits): docs/lms.md.

Download (``mod/assign/classes/downloader.php`` 4.1+, ``locallib.php`` before): one prefix per
submission::

    <full name>_<participant id>     individual submissions ('_' in the name becomes ' ')
    Participant_<participant id>     blind marking (the word is translated)
    <group name>_<group id>          team submissions
    Default group                    the team submission of the students in no group: NO number

then ``<prefix>_assignsubmission_file/<path><file>`` (4.x), ``..._file_/<path><file>`` (3.x)
or ``<prefix>_assignsubmission_file_<file>`` (folders off); online text is
``..._onlinetext[_]/onlinetext.html`` (ignored). ``clean_filename`` drops
``& < > " ` | ' : \ /`` from the prefix. The participant id is ``get_uniqueid_for_user``, an
id of this assignment, NOT the Moodle user id, so only this assignment's grading worksheet
says who it is -- and only when the worksheet's name for it agrees with the folder's. Members
carry the download time (the zip writer gets no time), so the zip does not say when anyone
submitted; Moodle keeps one current submission per student (or team).

Rosters: the grades export ``First name, Last name, ID number, Institution, Department, Email
address, ...``; the grading worksheet (``assign_grading_table`` downloaded): ``Identifier``
(``Participant <id>``), ``Full name`` (not under blind marking), identity fields such as
``Email address``, ``Status``, ``Group`` (team assignments: the student's group, or
``Default group``), ``Grade``, ``Maximum grade`` (the item's maximum), ``Last modified
(submission)`` (the time the zip lacks), ...

Grade import (``grade/import/csv/classes/load_data.php``): the column chosen as "Map from"
identifies each row's user, and a row whose identifier cell is EMPTY keeps the previous row's
user (a blank first row aborts the import); a blank grade or ``-`` imports "no grade"; a mapped
feedback column replaces the feedback even when empty. So every row we write has its
identifier, rows exist only for students with a grade, and the feedback is never empty.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import csvsafe
from autograder.lms.adapter import ExportField, LmsAdapter, RosterFormat
from autograder.lms.errors import LmsError
from autograder.lms.exporters import csv_writer, exported_rows, num, total_cell
from autograder.lms.model import Candidate, Download, Ignored, gradable_kind
from autograder.lms.names import display_name, split_name
from autograder.lms.roster import Roster, Student, read_by_header
from autograder.lms.scale import scale_factor
from autograder.lms.zipread import members

if TYPE_CHECKING:
    from autograder.lms.grades import AssignmentGrades, GradeRow

_PLUGIN = re.compile(
    r"^(?P<label>.+?)(?:_(?P<number>\d+))?_assignsubmission_(?P<plugin>[a-z0-9]+)(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class MoodlePath:
    label: str
    """the full name, the blind-marking word, a group's name or the default team's name"""
    number: str | None
    """participant id or group id; None for the default team (students in no group)"""
    plugin: str
    """'file', 'onlinetext', ..."""
    file: str
    """the path of the file inside the submission"""


def parse_member_path(path: str) -> MoodlePath | None:
    """The fields of a member path, or None when Moodle would not have written it."""
    first, _, inner = path.partition("/")
    m = _PLUGIN.match(first)
    if not m:
        return None
    rest = m["rest"]
    if inner:  # folders: "<prefix>_assignsubmission_file[_]/<path>"
        if rest not in ("", "_"):
            return None
        file = inner
    else:  # flat: "<prefix>_assignsubmission_file_<file>"
        if not rest.startswith("_") or len(rest) < 2:
            return None
        file = rest[1:]
    return MoodlePath(m["label"], m["number"], m["plugin"].lower(), file)

def read_moodle(zf: zipfile.ZipFile) -> Download:
    """Candidates from a Moodle 'Download all submissions' zip."""
    candidates: list[Candidate] = []
    ignored: list[Ignored] = []
    for mem in members(zf):
        path = parse_member_path(mem.name)
        if path is None:
            ignored.append(Ignored(mem.name, "path does not follow Moodle's "
                                             "<Full Name>_<id>_assignsubmission_<plugin> layout"))
            continue
        if path.plugin != "file":
            ignored.append(Ignored(mem.name, f"{path.plugin} submission (not a file upload)"))
            continue
        original = path.file.rsplit("/", 1)[-1]
        kind = gradable_kind(original)
        if kind is None:
            ignored.append(Ignored(mem.name, f"not a notebook or Otter zip ({original})"))
            continue
        blind = path.label.lower() == "participant"
        mtime = mem.mtime
        candidates.append(Candidate(
            lms="moodle",
            member=mem.name,
            original_name=original,
            kind=kind,
            lms_user_id=path.number,
            id_kind="participant" if path.number else "",
            name=None if blind else path.label,
            submission_id=None,
            timestamp=None,
            timestamp_source=("none: Moodle stamps members with the download time "
                              f"(member time {mtime.isoformat() if mtime else 'absent'})"),
            late=None,
            order=(path.file,),
            no_group=path.number is None,
            submission_key=f"{path.label}_{path.number or ''}",
        ))
    return Download(lms="moodle", candidates=candidates, ignored=ignored)


# -- rosters ----------------------------------------------------------------------------------

def is_grading_worksheet(header: list[str]) -> bool:
    return "identifier" in header and ("full name" in header or "status" in header)


def is_grades_export(header: list[str]) -> bool:
    return "first name" in header and "last name" in header and (
        "email address" in header or "id number" in header)


def read_grading_worksheet(rows: list[list[str]], path: Path) -> Roster:
    """The assignment's grading worksheet: its participant ids are the download's folder
    numbers (of this assignment only), its Group column names team members."""
    roster = read_by_header(rows, "moodle-worksheet", path)
    roster.ids_of = "moodle"
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


# -- grade import ------------------------------------------------------------------------------

IDENTIFIERS: dict[str, tuple[str, Callable[[Student], str]]] = {
    "email": ("Email address", lambda s: s.email or (s.login if "@" in s.login else "")),
    "idnumber": ("ID number", lambda s: s.id_number),
    "username": ("Username", lambda s: s.username or s.login),
}
"""--identifier -> (the column, named as Moodle's "Map to" list names the field; its value)"""


def _feedback(r: GradeRow, factor: float, possible: float) -> str:
    total = r.total if r.total is not None else 0.0
    parts = [f"{num(total * factor)}/{num(possible)} points"]
    if r.comment:
        parts.append(r.comment)
    return " | ".join(parts)


def moodle_csv(gb: AssignmentGrades, assignment_name: str, missing_as_zero: bool = False,
               rescale: bool = False, identifier: str = "email", feedback: bool = True) -> str:
    """The "Import grades from CSV" file: the identifier column first, a row only for students
    with a grade (every student with ``missing_as_zero``), never an empty identifier."""
    if not assignment_name:
        raise LmsError("Moodle needs --assignment-name (the grade column to map to)")
    if identifier not in IDENTIFIERS:
        raise LmsError(f"--identifier must be one of {', '.join(IDENTIFIERS)}")
    label, value = IDENTIFIERS[identifier]
    lms_points = gb.lms_points.get("")
    factor = scale_factor(gb.total_possible, lms_points, rescale, "Moodle's grade item")
    possible = lms_points if lms_points is not None else gb.total_possible
    rows = exported_rows(gb, missing_as_zero)
    lacking = [r.student.display for r in rows if not value(r.student).strip()]
    if lacking:
        raise LmsError(
            f"Moodle finds each row's student by the {label!r} column, and the roster gives none "
            f"for {len(lacking)} student(s): {', '.join(lacking)}. (A row without it would give "
            "its grade to the student of the row above.) Pass a roster that has it (the Moodle "
            "grades export or the assignment's grading worksheet) or choose another --identifier "
            f"({', '.join(IDENTIFIERS)})")
    unsafe = [value(r.student) for r in rows if csvsafe.needs_quote(value(r.student))]
    if unsafe:
        raise LmsError(f"these {label} values start like a spreadsheet formula and cannot be "
                       f"written unchanged: {', '.join(unsafe)}; choose another --identifier")
    seen: dict[str, str] = {}
    for r in rows:
        v = value(r.student).strip().casefold()
        if v in seen and seen[v] != r.student.key:
            raise LmsError(f"two students have the {label} {value(r.student)!r}: Moodle would give "
                           "both grades to one of them; choose another --identifier")
        seen[v] = r.student.key
    buf, w = csv_writer()
    w.writerow([label, "First name", "Last name", assignment_name, *(["Feedback"] if feedback
                                                                      else [])])
    for r in rows:
        s = r.student
        first, last = (s.first, s.last) if (s.first or s.last) else split_name(display_name(s.name))
        w.writerow([value(s).strip(), first, last, total_cell(r, missing_as_zero, factor),
                    *([_feedback(r, factor, possible)] if feedback else [])])
    return buf.getvalue()


def _export(grades: AssignmentGrades, *, missing_as_zero: bool, due: datetime | None,
            rescale: bool, assignment_name: str, identifier: str = "email",
            no_feedback: bool = False) -> str:
    return moodle_csv(grades, assignment_name, missing_as_zero, rescale, identifier,
                      not no_feedback)


def _import_note(*, assignment_name: str, identifier: str = "email", no_feedback: bool = False,
                 **_: object) -> str:
    label = IDENTIFIERS.get(identifier, (identifier,))[0]
    return (f"Moodle: Grades > Import > CSV file. Map from {label!r} to {label!r}; map "
            f"{assignment_name!r} to the assignment's grade item"
            + ("" if no_feedback else " and 'Feedback' to its feedback (this replaces the "
               "feedback of the students in the file)") + ".")


ADAPTER = LmsAdapter(
    name="moodle",
    read_download=read_moodle,
    user_id_field="participant_id",
    export_help="Moodle 'Import grades from CSV' file (map from the identifier column).",
    write_export=_export,
    export_fields=(
        ExportField("--assignment-name", "Grade column title (map it on import)."),
        ExportField("--identifier", "The column Moodle finds students by.", default="email",
                    choices=tuple(IDENTIFIERS)),
        ExportField("--no-feedback", "Leave the feedback in Moodle as it is (no Feedback column).",
                    flag=True),
    ),
    roster_formats=(
        RosterFormat("moodle-worksheet", is_grading_worksheet, read_grading_worksheet,
                     parse_time=parse_moodle_time,
                     time_source="Moodle grading worksheet 'Last modified (submission)'"),
        RosterFormat("moodle", is_grades_export,
                     lambda rows, path: read_by_header(rows, "moodle", path)),
    ),
    import_note=_import_note,
)
