"""Canvas: "Download Submissions" zips, gradebook and group set exports (rosters), gradebook
import CSVs. Sources (canvas-lms files and commits): docs/lms.md.

Download (``lib/content_zipper.rb``, ``get_filename`` / ``add_upload_submission``)::

    <name>[_LATE]_<user id>_<attachment id>_<display name>     graded by name
    [LATE_]anon_<anonymous id>_<attachment id>_<display name>  anonymous grading

all in one flat folder. ``<name>`` is the sortable name ("Last, First") with ``_<digits>_``
collapsed, lowercased and stripped of non-word characters (``doejane``; accents and underscores
stay); for a group assignment it is the GROUP's name and the user id is one member's
(``Assignment#representatives``), and students in no group are then named by ``name``
("First Last"). ``LATE`` is written in capitals (the sanitiser removes characters, it does not
lowercase; a lowercase ``late`` from older tools is accepted too). The zip holds every file of
the student's current attempt and no time: attachment ids are not an attempt order.

Why every reading of a name is kept: the layout is not self-delimiting -- a name can end in
``_<digits>`` (``smith_2``) and a display name can start with ``<digits>_``, so
``smith_2_1001_5001_x.ipynb`` reads as user 2 or user 1001. Canvas's own re-upload parser
(``Assignment#infer_comment_context_from_filename``) takes the first two all-digit tokens and
misreads a name that is only digits; here the shortest name that leaves two ids is read, and the
other readings go with the file so that a Canvas roster's ids can decide.

Rosters: the gradebook export (``GradebookExporter``): ``Student`` or ``LastName, FirstName``,
``ID, [SIS User ID,] SIS Login ID, [Integration ID,] [Root Account,] Section``, custom columns,
``<Assignment> (<id>)``..., totals; rows ``Points Possible`` (each assignment's points, the
maximum an import cannot change), ``Manual Posting``, and the Student View ``Test Student``
are not students; a name starting with ``=`` is written ``="..."``. The group set export
(``GroupCategoriesController#export``): ``name, canvas_user_id, [user_id,] login_id, sections,
group_name, [canvas_group_id]``.

Grade import (``GradebookImporter``): ``Student, ID, SIS User ID, SIS Login ID, Section,
<Name> (<id>)`` then ``    Points Possible``, then one row per student WITH a grade (a blank
cell would remove a grade). Canvas finds students by ``ID``, then SIS User ID, then SIS Login ID,
then exact name, and the assignment by the ``(id)`` in the column title; the file's points
possible only matter for a NEW assignment. A group assignment graded as a group gives one
member's grade to every member.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.lms.adapter import ExportField, LmsAdapter, RosterFormat
from autograder.lms.errors import LmsError
from autograder.lms.exporters import csv_writer, exported_rows, num, total_cell
from autograder.lms.model import Candidate, Download, Ignored, gradable_kind
from autograder.lms.names import norm_id
from autograder.lms.roster import Roster, Student, student_key
from autograder.lms.scale import parse_points, scale_factor
from autograder.lms.zipread import members

if TYPE_CHECKING:
    from autograder.lms.grades import AssignmentGrades

_DIGITS = re.compile(r"\d+")
_ANON = re.compile(r"^(?P<late>(?i:late)_)?anon_(?P<anon>[A-Za-z0-9]+)_(?P<aid>\d+)_(?P<orig>.+)$",
                   re.DOTALL)
_LATE = re.compile(r"late", re.IGNORECASE)
_NAMELESS = re.compile(r"^(?P<late>(?i:late)_)?(?P<uid>\d+)_(?P<aid>\d+)_(?P<orig>.+)$", re.DOTALL)
_ONLINE_ENTRY = re.compile(r"^(?P<prefix>.+)_(?:text|link)\.html$", re.IGNORECASE)


@dataclass(frozen=True)
class CanvasFileName:
    """One reading of a member name."""

    name: str | None
    """the sanitised sortable name (or group name); None under anonymous grading"""
    late: bool
    user_id: str | None
    anonymous_id: str | None
    attachment_id: str
    display_name: str
    """the file name the student uploaded (Canvas replaced / \\ : * ? " < > | by '_')"""


def readings(basename: str) -> list[CanvasFileName]:
    """Every reading of ``basename`` that content_zipper.rb could have written, shortest name
    first ([] when it is not an upload's name)."""
    m = _ANON.match(basename)
    if m:
        return [CanvasFileName(None, bool(m["late"]), None, m["anon"], m["aid"], m["orig"])]
    tokens = basename.split("_")
    found: list[CanvasFileName] = []
    for k in range(1, len(tokens)):
        if k >= 2 and _LATE.fullmatch(tokens[k - 1]):
            continue  # a late marker, not the end of a (lowercased) name
        j = k
        late = False
        if j < len(tokens) and _LATE.fullmatch(tokens[j]) and j + 1 < len(tokens) \
                and _DIGITS.fullmatch(tokens[j + 1]):
            late = True
            j += 1
        if j + 2 >= len(tokens):
            break
        uid, aid = tokens[j], tokens[j + 1]
        display = "_".join(tokens[j + 2:])
        if _DIGITS.fullmatch(uid) and _DIGITS.fullmatch(aid) and display:
            found.append(CanvasFileName("_".join(tokens[:k]), late, uid, None, aid, display))
    if not found:  # not what Canvas writes, but what tools that drop the name field write
        m = _NAMELESS.match(basename)
        if m:
            found.append(CanvasFileName(None, bool(m["late"]), m["uid"], None, m["aid"], m["orig"]))
    return found


def read(basename: str, known_user_ids: set[str] | None = None
         ) -> tuple[CanvasFileName | None, str | None]:
    """The reading to use and, when the name had several readings, a note saying which was
    taken and what else it could mean. ``known_user_ids``: the roster's Canvas user ids."""
    options = readings(basename)
    if len(options) <= 1:
        return (options[0] if options else None), None
    pick = options
    if known_user_ids:
        on_roster = [o for o in options if o.user_id in known_user_ids]
        if on_roster:
            pick = on_roster
    chosen = pick[0]
    if len(pick) == 1 and known_user_ids:
        return chosen, None
    others = ", ".join(f"user {o.user_id} named {o.name!r}" for o in options if o is not chosen)
    return chosen, (f"{basename}: Canvas's layout allows several readings; read as user "
                    f"{chosen.user_id} named {chosen.name!r} (also possible: {others})")


def read_canvas(zf: zipfile.ZipFile) -> Download:
    """Candidates from a Canvas submissions zip (folders inside it are tolerated: people re-zip)."""
    candidates: list[Candidate] = []
    ignored: list[Ignored] = []
    for mem in members(zf):
        base = mem.basename
        options = readings(base)
        if not options:
            reason = ("online text/URL entry (not a notebook)" if _ONLINE_ENTRY.match(base)
                      else "name does not follow Canvas's <name>_<user id>_<file id>_<file> layout")
            ignored.append(Ignored(mem.name, reason))
            continue
        r = options[0]
        kind = gradable_kind(r.display_name)
        if kind is None:
            ignored.append(Ignored(mem.name, f"not a notebook or Otter zip ({r.display_name})"))
            continue
        candidates.append(Candidate(
            lms="canvas",
            member=mem.name,
            original_name=r.display_name,
            kind=kind,
            lms_user_id=r.user_id,
            id_kind="user" if r.user_id else "",
            anonymous_id=r.anonymous_id,
            name=r.name or None,
            submission_id=r.attachment_id,
            timestamp=None,
            timestamp_source="none: Canvas zips carry no submission time",
            late=r.late,
            order=(int(r.attachment_id),),
            alternatives=[{"lms_user_id": o.user_id, "name": o.name or None, "late": o.late}
                          for o in options[1:]],
            submission_key=f"user:{r.user_id}" if r.user_id else f"anon:{r.anonymous_id}",
        ))
    return Download(lms="canvas", candidates=candidates, ignored=ignored)


# -- rosters ----------------------------------------------------------------------------------

_SKIP_NAME = re.compile(r"^\s*(points possible|manual posting.*|muted|read only)\s*$", re.I)
_TEST_STUDENT = re.compile(r"^\s*(student,\s*test|test student|test,\s*student)\s*$", re.I)
_CANVAS_ASSIGNMENT = re.compile(r"^(?P<title>.*\S)\s*\((?P<id>\d+)\)\s*$")
_CANVAS_META = {"student", "lastname", "firstname", "id", "sis user id", "sis login id",
                "integration id", "root account", "section"}
_EXCEL_TEXT = re.compile(r'^="(?P<text>.*)"$', re.DOTALL)


def is_canvas_roster(header: list[str]) -> bool:
    """``Student, ID, ...`` or, with separate name columns, ``LastName, FirstName, ID, ...``;
    a ``Section`` column either way (GradebookImporter#row_has_student_headers?)."""
    if not any("section" in h for h in header):
        return False
    return (len(header) > 2 and "student" in header[0] and header[1] == "id") or (
        len(header) > 3 and header[0] == "lastname" and header[1] == "firstname"
        and header[2] == "id")


def canvas_name(cell: str) -> str:
    """A name cell as Canvas wrote it: ``="=..."`` (its guard against formulas) unwrapped."""
    m = _EXCEL_TEXT.match(cell.strip())
    return m.group("text") if m else cell.strip()


def read_canvas_roster(rows: list[list[str]], path: Path) -> Roster:
    """A Canvas gradebook export (Grades > Export): students, assignment columns and each
    assignment's points possible."""
    header = [h.strip() for h in rows[0]]
    low = [h.lower() for h in header]
    col = {name: low.index(name) for name in _CANVAS_META if name in low}
    section_at = col["section"]
    assignments = []
    for h in header[section_at + 1:]:
        m = _CANVAS_ASSIGNMENT.match(h)
        if m:
            assignments.append((m["title"], m["id"], header.index(h)))
    points: dict[str, float] = {}
    students, skipped = [], []
    for i, r in enumerate(rows[1:], start=2):
        def cell(name, r=r):
            return (r[col[name]].strip() if name in col and col[name] < len(r) else "")
        first, last = canvas_name(cell("firstname")), canvas_name(cell("lastname"))
        name = canvas_name(cell("student")) or (f"{last}, {first}" if first else last)
        if _SKIP_NAME.match(r[0] if r else "") or (not name and not cell("id")):
            if r and "points possible" in r[0].lower():
                for _, aid, j in assignments:
                    value = parse_points(r[j]) if j < len(r) else None
                    if value is not None:
                        points[aid] = value
            skipped.append(f"row {i}: {(r[0] if r else '').strip() or 'empty'} (not a student)")
            continue
        if _TEST_STUDENT.match(name):
            skipped.append(f"row {i}: {name} (Canvas Student View test student)")
            continue
        s = Student(key="", name=name, first=first, last=last, lms_id=norm_id(cell("id")),
                    sis_user_id=cell("sis user id"), login=cell("sis login id"),
                    section=cell("section"))
        if "@" in s.login:
            s.email = s.login
        s.key = student_key(name, s.lms_id, s.sis_user_id, s.login)
        students.append(s)
    return Roster("canvas", students, str(path), skipped, [(t, a) for t, a, _ in assignments],
                  points_possible=points, ids_of="canvas")


def is_group_set_export(header: list[str]) -> bool:
    return "canvas_user_id" in header and "group_name" in header


def read_group_set_export(rows: list[list[str]], path: Path) -> Roster:
    """A group set's "Download Course Roster" CSV: every student, with their group."""
    header = [h.strip().lower() for h in rows[0]]

    def pick(r: list[str], name: str) -> str:
        j = header.index(name) if name in header else -1
        return r[j].strip() if 0 <= j < len(r) else ""

    students = []
    for r in rows[1:]:
        s = Student(key="", name=pick(r, "name"), lms_id=norm_id(pick(r, "canvas_user_id")),
                    sis_user_id=pick(r, "user_id"), login=pick(r, "login_id"),
                    section=pick(r, "sections"), group=pick(r, "group_name"),
                    group_id=norm_id(pick(r, "canvas_group_id")))
        if "@" in s.login:
            s.email = s.login
        s.key = student_key(s.name, s.lms_id, s.sis_user_id, s.login)
        students.append(s)
    return Roster("canvas-groups", students, str(path), ids_of="canvas")


# -- grade import ------------------------------------------------------------------------------

CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_LABEL = "    Points Possible"


def canvas_csv(gb: AssignmentGrades, assignment_name: str, assignment_id: str,
               missing_as_zero: bool = False, rescale: bool = False) -> str:
    """The gradebook import file: rows only for students with a grade (every student with
    ``missing_as_zero``), each with an id Canvas matches before the name."""
    if not assignment_name:
        raise LmsError("Canvas needs --assignment-name (the assignment's title in Canvas)")
    assignment_id = str(assignment_id).strip()
    if not assignment_id.isdigit():
        raise LmsError("Canvas needs --assignment-id, the number in the assignment's URL "
                       "(.../assignments/<id>)")
    title = f"{assignment_name} ({assignment_id})"
    lms_points = gb.lms_points.get(assignment_id)
    factor = scale_factor(gb.total_possible, lms_points, rescale, f"Canvas's {title}")
    rows = exported_rows(gb, missing_as_zero)
    nameless = [r.student.display for r in rows
                if not (r.student.lms_id or r.student.sis_user_id or r.student.login)]
    if nameless:
        raise LmsError("Canvas matches students by ID, SIS User ID or SIS Login ID, and these have "
                       "none (pass the Canvas gradebook export as --roster): " + ", ".join(nameless))
    buf, w = csv_writer()
    w.writerow([*CANVAS_STUDENT_COLUMNS, title])
    w.writerow([CANVAS_POINTS_LABEL, "", "", "", "",
                num(lms_points if lms_points is not None else gb.total_possible * factor)])
    for r in rows:
        s = r.student
        w.writerow([s.name, s.lms_id, s.sis_user_id, s.login, s.section,
                    total_cell(r, missing_as_zero, factor)])
    return buf.getvalue()


def _export(grades: AssignmentGrades, *, missing_as_zero: bool, due: datetime | None,
            rescale: bool, assignment_name: str, assignment_id: str) -> str:
    return canvas_csv(grades, assignment_name, assignment_id, missing_as_zero, rescale)


ADAPTER = LmsAdapter(
    name="canvas",
    read_download=read_canvas,
    user_id_field="lms_id",
    export_help="Canvas gradebook import CSV (Grades > Import).",
    write_export=_export,
    export_fields=(ExportField("--assignment-name", "The assignment's title in Canvas."),
                   ExportField("--assignment-id", "The number in the assignment's URL.")),
    roster_formats=(RosterFormat("canvas", is_canvas_roster, read_canvas_roster),
                    RosterFormat("canvas-groups", is_group_set_export, read_group_set_export)),
    roster_id_columns=("canvas user id", "canvas_user_id", "canvas id"),
)
