"""Canvas: "Download Submissions" zips, gradebook exports (rosters), gradebook import CSVs.

Layout, from canvas-lms ``app/models/content_zipper.rb`` (``get_filename``,
``add_upload_submission``, ``sanitize_file_name``, ``sanitize_user_name``), see docs/lms.md:

    <name>[_LATE]_<user id>_<attachment id>_<display name>

all in one flat folder, where ``<name>`` is the student's *sortable name* ("Last, First") with
every non-word character removed and lowercased (``doejane``; accents and underscores stay,
``_<digits>_`` runs inside a name are collapsed so they cannot look like ids), ``LATE`` is
lowercased to ``late`` by the same sanitiser, ``<user id>`` is the Canvas user id and
``<attachment id>`` is the uploaded file's id. Anonymous grading drops the name. Text-entry and
URL submissions appear as ``<prefix>_text.html`` / ``<prefix>_link.html``. A resubmitted file
keeps its name with ``-1``, ``-2`` added by Canvas (``Attachment.make_unique_filename``).

Timestamps: the zip carries none (members get the time of zipping). Attempt order is the
attachment id, which Canvas allocates in increasing order, then the ``-N`` suffix.

Roster: the gradebook export ``Student, ID, [SIS User ID,] [SIS Login ID,] [Integration ID,]
[Root Account,] Section, <Assignment (id)>..., <score columns>``; a second row
``Points Possible`` (and possibly ``Manual Posting``/``Muted`` rows) and the ``Student, Test``
row of Student View are skipped. Canvas may write ';' as the delimiter.

Grade import: ``Student, ID, SIS User ID, SIS Login ID, Section, <Name> (<id>)`` then a
``    Points Possible`` row, then one row per student. Canvas's importer
(``GradebookImporter``) finds students by ``ID`` first, then SIS ids, then name, and the
assignment by the ``(id)`` in the column title.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.lms.adapter import ExportField, LmsAdapter, RosterFormat
from autograder.lms.errors import LmsError
from autograder.lms.exporters import csv_writer, num, total_cell
from autograder.lms.model import Candidate, Download, Ignored, gradable_kind
from autograder.lms.names import norm_id
from autograder.lms.roster import Roster, Student, student_key
from autograder.lms.zipread import members

if TYPE_CHECKING:
    from autograder.lms.grades import AssignmentGrades

# name (optional, non-greedy), optional late marker, user id, attachment id, display name
_UPLOAD = re.compile(
    r"^(?:(?P<name>.*?)_)??(?P<late>late_)?(?P<uid>\d+)_(?P<aid>\d+)_(?P<orig>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_ANON = re.compile(r"^anon_(?P<anon>[A-Za-z0-9]+)_(?P<aid>\d+)_(?P<orig>.+)$", re.IGNORECASE)
_TEXT = re.compile(r"^(?P<prefix>.+)_(?:text|link)\.html$", re.IGNORECASE)
_SUFFIX = re.compile(r"-(\d+)(\.[^.]*)?$")


def parse_member_name(basename: str) -> dict[str, str | bool | None] | None:
    """Split a Canvas member name into its fields, or None when it is not an upload's name."""
    m = _ANON.match(basename)
    if m:
        return {"name": None, "late": False, "uid": None, "anon": m["anon"], "aid": m["aid"],
                "orig": m["orig"]}
    m = _UPLOAD.match(basename)
    if not m:
        return None
    return {"name": m["name"] or None, "late": bool(m["late"]), "uid": m["uid"], "anon": None,
            "aid": m["aid"], "orig": m["orig"]}


def resubmission_index(original_name: str) -> int:
    """The ``-N`` Canvas appends to a re-uploaded file of the same name (0 when none)."""
    m = _SUFFIX.search(original_name)
    return int(m.group(1)) if m else 0


def read_canvas(zf: zipfile.ZipFile) -> Download:
    """Candidates from a Canvas submissions zip (folders inside it are tolerated: people re-zip)."""
    candidates: list[Candidate] = []
    ignored: list[Ignored] = []
    for mem in members(zf):
        base = mem.basename
        fields = parse_member_name(base)
        if fields is None:
            reason = ("online text/URL entry (not a notebook)" if _TEXT.match(base)
                      else "name does not follow Canvas's <name>_<user id>_<file id>_<file> layout")
            ignored.append(Ignored(mem.name, reason))
            continue
        orig = str(fields["orig"])
        kind = gradable_kind(orig)
        if kind is None:
            ignored.append(Ignored(mem.name, f"not a notebook or Otter zip ({orig})"))
            continue
        aid = str(fields["aid"])
        candidates.append(Candidate(
            lms="canvas",
            member=mem.name,
            original_name=orig,
            kind=kind,
            lms_user_id=str(fields["uid"]) if fields["uid"] else f"anon:{fields['anon']}",
            name=str(fields["name"]) if fields["name"] else None,
            submission_id=aid,
            timestamp=None,
            timestamp_source="none: Canvas zips carry no submission time (order = attachment id)",
            late=bool(fields["late"]),
            order=(int(aid), resubmission_index(orig), mem.mtime.isoformat() if mem.mtime else ""),
        ))
    return Download(lms="canvas", candidates=candidates, ignored=ignored)


# -- roster ------------------------------------------------------------------------------------

_SKIP_NAME = re.compile(r"^\s*(points possible|manual posting|muted|read only)\s*$", re.I)
_TEST_STUDENT = re.compile(r"^\s*(student,\s*test|test student)\s*$", re.I)
_CANVAS_ASSIGNMENT = re.compile(r"^(?P<title>.*\S)\s*\((?P<id>\d+)\)\s*$")
_CANVAS_META = {"student", "id", "sis user id", "sis login id", "integration id", "root account",
                "section"}


def is_canvas_roster(header: list[str]) -> bool:
    return len(header) > 2 and "student" in header[0] and header[1] == "id" and any(
        "section" in h for h in header)


def read_canvas_roster(rows: list[list[str]], path: Path) -> Roster:
    """A Canvas gradebook export (Grades > Export): one student per row, assignment columns."""
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


# -- grade import ------------------------------------------------------------------------------

CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_LABEL = "    Points Possible"


def canvas_csv(gb: AssignmentGrades, assignment_name: str, assignment_id: str,
               missing_as_zero: bool = False) -> str:
    if not assignment_name:
        raise LmsError("Canvas needs --assignment-name (the assignment's title in Canvas)")
    if not str(assignment_id).strip().isdigit():
        raise LmsError("Canvas needs --assignment-id, the number in the assignment's URL "
                       "(.../assignments/<id>)")
    buf, w = csv_writer()
    w.writerow([*CANVAS_STUDENT_COLUMNS, f"{assignment_name} ({assignment_id})"])
    w.writerow([CANVAS_POINTS_LABEL, "", "", "", "", num(gb.total_possible)])
    for r in gb.rows:
        s = r.student
        w.writerow([s.name, s.lms_id, s.sis_user_id, s.login, s.section, total_cell(r, missing_as_zero)])
    return buf.getvalue()


def _export(grades: AssignmentGrades, *, missing_as_zero: bool, due: datetime | None,
            assignment_name: str, assignment_id: str) -> str:
    return canvas_csv(grades, assignment_name, assignment_id, missing_as_zero)


ADAPTER = LmsAdapter(
    name="canvas",
    read_download=read_canvas,
    user_id_field="lms_id",
    export_help="Canvas gradebook import CSV (Grades > Import).",
    write_export=_export,
    export_fields=(ExportField("--assignment-name", "The assignment's title in Canvas."),
                   ExportField("--assignment-id", "The number in the assignment's URL.")),
    roster_formats=(RosterFormat("canvas", is_canvas_roster, read_canvas_roster),),
)
