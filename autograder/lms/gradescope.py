"""Gradescope: "Export Submissions" zips and grade CSVs in its "Download Grades" layout.

Layout (see docs/lms.md for sources): an optional top folder (``assignment_<id>_export/``)
holding ``submission_metadata.yml`` and one folder per submission, ``submission_<id>/``, with
the files as uploaded. The YAML maps each folder name to a record written by Ruby, so keys are
symbols that YAML shows with a leading colon::

    submission_123:
      :submitters:
      - :name: Jane Doe
        :sid: '1234'
        :email: jane@example.edu
      :created_at: 2024-01-31 23:10:04.123456000 -08:00
      :score: 8.0
      :history:
      - :id: 120
        :created_at: 2024-01-30 10:00:00.000000000 -08:00
        :score: 5.0

Group submissions list several submitters: each gets the submission's grade. ``:history`` lists earlier
attempts (metadata only; their files are not in the export). We read keys with or without the
colon, since exports re-saved by other tools lose it.

Grades: the columns of an assignment's "Download Grades" CSV as public parsers read it
(``First Name, Last Name, SID, Email, Sections, Total Score, Max Points, Status, Submission ID,
Submission Time, Lateness (H:M:S), View Count, Submission Count``, then ``<question> (<points>
pts)``); ``Submission ID`` is Gradescope's submission id. Gradescope has no roster file of its
own here.
"""

from __future__ import annotations

import posixpath
import zipfile
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from autograder.lms.adapter import LmsAdapter
from autograder.lms.errors import LmsError
from autograder.lms.exporters import csv_writer, num, total_cell
from autograder.lms.model import Candidate, Download, Ignored, gradable_kind
from autograder.lms.names import display_name, split_name
from autograder.lms.zipread import members, read_member

if TYPE_CHECKING:
    from autograder.lms.grades import AssignmentGrades

METADATA_NAME = "submission_metadata.yml"


def _get(d: Any, key: str) -> Any:
    if not isinstance(d, dict):
        return None
    for k in (f":{key}", key):
        if k in d:
            return d[k]
    return None


def parse_time(value: Any) -> datetime | None:
    """A YAML timestamp (PyYAML gives datetimes) or an ISO-ish string, as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    s = str(value).strip()
    for candidate in (s, s.replace(" ", "T", 1)):
        try:
            dt = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    # Ruby's "2024-01-31 23:10:04.123456000 -0800": trim nanoseconds, join the zone
    parts = s.split()
    if len(parts) == 3:
        date, clock, zone = parts
        if "." in clock:
            head, frac = clock.split(".", 1)
            clock = f"{head}.{frac[:6]}"
        if len(zone) == 5 and zone[0] in "+-" and ":" not in zone:
            zone = f"{zone[:3]}:{zone[3:]}"
        try:
            return datetime.fromisoformat(f"{date}T{clock}{zone}")
        except ValueError:
            return None
    return None


def _load_metadata(text: bytes) -> dict[str, Any]:
    import yaml  # only here: the registry imports this module for every mlphys command

    try:
        data = yaml.safe_load(text.decode("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise LmsError(f"{METADATA_NAME} is not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise LmsError(f"{METADATA_NAME} does not map submission folders to records")
    return data


def read_gradescope(zf: zipfile.ZipFile) -> Download:
    """Candidates from a Gradescope export zip (one per gradable file; a submission made by
    several people lists them all in ``group``)."""
    mems = members(zf)
    meta_members = [m for m in mems if m.basename == METADATA_NAME]
    if not meta_members:
        raise LmsError(f"no {METADATA_NAME} in the zip: not a Gradescope 'Export Submissions' zip")
    meta_member = min(meta_members, key=lambda m: len(m.parts))
    root = posixpath.dirname(meta_member.name)
    metadata = _load_metadata(read_member(zf, meta_member))
    prefix = f"{root}/" if root else ""

    candidates: list[Candidate] = []
    ignored: list[Ignored] = []
    notes: list[str] = []
    seen_folders: set[str] = set()
    for mem in mems:
        if mem is meta_member:
            continue
        if not mem.name.startswith(prefix):
            ignored.append(Ignored(mem.name, "outside the export folder"))
            continue
        rel = mem.name[len(prefix):]
        folder, _, inner = rel.partition("/")
        if not inner:
            ignored.append(Ignored(mem.name, "not inside a submission_<id>/ folder"))
            continue
        record = metadata.get(folder)
        if record is None:
            ignored.append(Ignored(mem.name, f"folder {folder} is not in {METADATA_NAME}"))
            continue
        kind = gradable_kind(inner)
        if kind is None:
            ignored.append(Ignored(mem.name, f"not a notebook or Otter zip ({inner})"))
            continue
        seen_folders.add(folder)
        created = parse_time(_get(record, "created_at"))
        history = _get(record, "history") or []
        sub_id = folder.removeprefix("submission_")
        submitters = _get(record, "submitters") or []
        if not submitters:
            ignored.append(Ignored(mem.name, f"{folder} has no submitters in {METADATA_NAME}"))
            continue
        group = [{"name": str(_get(s, "name") or ""), "sid": str(_get(s, "sid") or ""),
                  "email": str(_get(s, "email") or "")} for s in submitters]
        previous = [
            {"id": str(_get(h, "id") or ""),
             "created_at": (parse_time(_get(h, "created_at")).isoformat()
                            if parse_time(_get(h, "created_at")) else None),
             "score": _get(h, "score")}
            for h in history if isinstance(h, dict)
        ]
        first = group[0]
        candidates.append(Candidate(
            lms="gradescope",
            member=mem.name,
            original_name=posixpath.basename(inner),
            kind=kind,
            lms_user_id=None,
            name=first["name"] or None,
            email=first["email"] or None,
            sid=first["sid"] or None,
            submission_id=sub_id,
            timestamp=created,
            timestamp_source="Gradescope :created_at" if created else "none",
            late=None,
            order=(created.timestamp() if created else float("-inf"), sub_id, inner),
            group=group if len(group) > 1 else [],
            previous=previous,
            submission_key=folder,
        ))
    missing = sorted(set(metadata) - seen_folders)
    for folder in missing:
        notes.append(f"{folder}: in {METADATA_NAME} but no notebook/zip file in the export")
    return Download(lms="gradescope", candidates=candidates, ignored=ignored, notes=notes)


# -- grades ------------------------------------------------------------------------------------

GRADESCOPE_COLUMNS = ["First Name", "Last Name", "SID", "Email", "Sections", "Total Score",
                      "Max Points", "Status", "Submission ID", "Submission Time",
                      "Lateness (H:M:S)", "View Count", "Submission Count"]


def _hms(td: timedelta | None) -> str:
    if td is None or td <= timedelta(0):
        return "00:00:00"
    secs = int(td.total_seconds())
    return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"


def _points(x: float) -> str:
    """Gradescope writes points as floats: ``10.0``, ``2.5``."""
    return repr(float(round(x, 4)))


def gradescope_csv(gb: AssignmentGrades, missing_as_zero: bool = False,
                   due: datetime | None = None) -> str:
    """Gradescope's "Download Grades" layout; ``Submission ID`` is Gradescope's own id (blank
    for submissions collected from another LMS)."""
    buf, w = csv_writer()
    qcols = [f"{q} ({_points(gb.possible[q])} pts)" for q in gb.questions]
    w.writerow([*GRADESCOPE_COLUMNS, *qcols])
    ours = gb.source_lms == "gradescope"
    for r in gb.rows:
        s = r.student
        first, last = (s.first, s.last) if (s.first or s.last) else split_name(display_name(s.name))
        status = {"no submission": "Missing", "not graded": "Ungraded",
                  "ambiguous": "Ungraded"}.get(r.status, "Graded")
        lateness = _hms(r.timestamp - due) if (r.timestamp and due) else "00:00:00"
        scores = [num(r.auto[q]) if q in r.auto else (num(r.manual[q][0]) if q in r.manual else "")
                  for q in gb.questions]
        total = total_cell(r, missing_as_zero)
        w.writerow([first, last, s.student_id or s.sis_user_id or s.id_number, s.email, s.section,
                    _points(float(total)) if total else "", _points(gb.total_possible), status,
                    r.submission_id if (ours and r.file) else "",
                    r.timestamp.strftime("%Y-%m-%d %H:%M:%S %z") if r.timestamp else "",
                    lateness if r.file else "", "", r.attempts if r.file else 0, *scores])
    return buf.getvalue()


def _export(grades: AssignmentGrades, *, missing_as_zero: bool, due: datetime | None,
            rescale: bool) -> str:
    return gradescope_csv(grades, missing_as_zero, due)


ADAPTER = LmsAdapter(
    name="gradescope",
    read_download=read_gradescope,
    user_id_field="lms_id",
    export_help="CSV in Gradescope's grade-export layout (First Name, ..., SID, Email, Sections, "
                "Total Score, ...).",
    write_export=_export,
)
