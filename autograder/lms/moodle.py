"""Moodle: assignment "Download all submissions" zips, grades exports and grading worksheets
(rosters), "Import grades from CSV" files.

Layout, from moodle ``mod/assign`` (``locallib.php`` ``download_submissions`` up to 4.0, then
``classes/downloader.php``), see docs/lms.md. The per-student prefix is::

    <full name with '_' replaced by ' '>_<participant id>

(``Participant_<id>`` under blind marking; a group name and group id for team submissions),
where the participant id is ``get_uniqueid_for_user`` -- an id of the assignment's own, NOT the
Moodle user id. Files then are, depending on the "download submissions in folders" setting and
the version::

    <prefix>_assignsubmission_file_/<filepath><file>   Moodle 3.1 .. 3.x (folders)
    <prefix>_assignsubmission_file/<filepath><file>    Moodle 4.x (folders)
    <prefix>_assignsubmission_file_<file>              folders off (flat)
    <prefix>_assignsubmission_onlinetext[_]/onlinetext.html   online text (ignored here)

Timestamps: Moodle streams the zip with the *download* time on every member (``zip_writer``
is called without a time option), so member times do not tell when a student submitted; they
are recorded but marked as such. Moodle keeps one current submission per student.

Rosters: the grades export ``First name, Last name, ID number, Institution, Department,
Email address, ...``, and the assignment's grading worksheet ("Download grading worksheet"):
``Identifier`` = ``Participant <id>`` (the same id as the download folders), ``Full name``,
``Email address``, ``Last modified (submission)`` (the submission time the zip lacks), ...

Grade import ("Import grades from CSV"): any columns, mapped on upload; we write ``First name,
Last name, ID number, Email address, <grade item>, Feedback`` so "Map from" can be *Email
address* (or *ID number*) and the feedback column maps to the item's feedback.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from typing import TYPE_CHECKING

from autograder.lms.adapter import ExportField, LmsAdapter, RosterFormat
from autograder.lms.errors import LmsError
from autograder.lms.exporters import csv_writer, total_cell
from autograder.lms.model import Candidate, Download, Ignored, gradable_kind
from autograder.lms.names import split_name
from autograder.lms.roster import read_by_header
from autograder.lms.zipread import members

if TYPE_CHECKING:
    from autograder.lms.grades import AssignmentGrades

_PLUGIN = re.compile(
    r"^(?P<prefix>.+)_(?P<id>\d+)_assignsubmission_(?P<type>[a-z0-9]+)(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


def parse_member_path(path: str) -> dict[str, str] | None:
    """{'name', 'id', 'type', 'file'} for a Moodle member path, or None."""
    first, _, inner = path.partition("/")
    m = _PLUGIN.match(first)
    if not m:
        return None
    rest = m["rest"]
    if inner:  # folder layout: "<prefix>_assignsubmission_file[_]/<path>"
        if rest not in ("", "_"):
            return None
        file = inner
    else:  # flat layout: "<prefix>_assignsubmission_file_<file>"
        if not rest.startswith("_") or len(rest) < 2:
            return None
        file = rest[1:]
    return {"name": m["prefix"], "id": m["id"], "type": m["type"].lower(), "file": file}


def read_moodle(zf: zipfile.ZipFile) -> Download:
    """Candidates from a Moodle 'Download all submissions' zip."""
    candidates: list[Candidate] = []
    ignored: list[Ignored] = []
    for mem in members(zf):
        fields = parse_member_path(mem.name)
        if fields is None:
            ignored.append(Ignored(mem.name, "path does not follow Moodle's "
                                             "<Full Name>_<id>_assignsubmission_<plugin> layout"))
            continue
        if fields["type"] != "file":
            ignored.append(Ignored(mem.name, f"{fields['type']} submission (not a file upload)"))
            continue
        original = fields["file"].rsplit("/", 1)[-1]
        kind = gradable_kind(original)
        if kind is None:
            ignored.append(Ignored(mem.name, f"not a notebook or Otter zip ({original})"))
            continue
        name = fields["name"]
        blind = name.lower() == "participant"
        mtime = mem.mtime
        candidates.append(Candidate(
            lms="moodle",
            member=mem.name,
            original_name=original,
            kind=kind,
            lms_user_id=fields["id"],
            name=None if blind else name,
            submission_id=None,
            timestamp=None,
            timestamp_source=("none: Moodle stamps members with the download time "
                              f"(member time {mtime.isoformat() if mtime else 'absent'})"),
            late=None,
            order=(mtime.isoformat() if mtime else "", fields["file"]),
        ))
    return Download(lms="moodle", candidates=candidates, ignored=ignored)


# -- rosters -----------------------------------------------------------------------------------

def is_grading_worksheet(header: list[str]) -> bool:
    return "identifier" in header and "full name" in header


def is_grades_export(header: list[str]) -> bool:
    return "first name" in header and "last name" in header and (
        "email address" in header or "id number" in header)


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

def moodle_csv(gb: AssignmentGrades, assignment_name: str, missing_as_zero: bool = False) -> str:
    if not assignment_name:
        raise LmsError("Moodle needs --assignment-name (the grade column to map to)")
    buf, w = csv_writer()
    w.writerow(["First name", "Last name", "ID number", "Email address", assignment_name,
                "Feedback"])
    for r in gb.rows:
        s = r.student
        first, last = (s.first, s.last) if (s.first or s.last) else split_name(s.name)
        w.writerow([first, last, s.id_number, s.email, total_cell(r, missing_as_zero), r.comment])
    return buf.getvalue()


def _export(grades: AssignmentGrades, *, missing_as_zero: bool, due: datetime | None,
            assignment_name: str) -> str:
    return moodle_csv(grades, assignment_name, missing_as_zero)


ADAPTER = LmsAdapter(
    name="moodle",
    read_download=read_moodle,
    user_id_field="participant_id",
    export_help="Moodle 'Import grades from CSV' file (map from Email address).",
    write_export=_export,
    export_fields=(ExportField("--assignment-name", "Grade column title (map it on import)."),),
    roster_formats=(
        RosterFormat("moodle-worksheet", is_grading_worksheet,
                     lambda rows, path: read_by_header(rows, "moodle-worksheet", path),
                     parse_time=parse_moodle_time,
                     time_source="Moodle grading worksheet 'Last modified (submission)'"),
        RosterFormat("moodle", is_grades_export,
                     lambda rows, path: read_by_header(rows, "moodle", path)),
    ),
)
