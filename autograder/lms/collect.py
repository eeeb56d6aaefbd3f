"""``collect``: from an LMS download zip to one gradable file per student.

Steps: read the zip with the LMS's importer, match each file to a roster student (or, without a
roster, to the submitter the LMS names), keep the latest attempt per student by the LMS's own
order, write ``OUT/submissions/<student key>.ipynb|.zip`` and ``OUT/collection.json``.

Why one flat folder with student keys as names: ``mlphys grade`` takes a directory of
notebooks and reports results by file name, so the file name is the join key back to the
student; the student's original file name is kept in ``collection.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autograder.hashing import sha256_file
from autograder.lms.adapter import RosterFormat
from autograder.lms.errors import LmsError
from autograder.lms.model import Candidate, Download, Ignored
from autograder.lms.names import fold, norm_email
from autograder.lms.registry import adapter, roster_formats
from autograder.lms.roster import Roster, Student, student_key
from autograder.lms.zipread import members, open_zip, read_member

COLLECTION_FILE = "collection.json"
SUBMISSIONS_DIR = "submissions"
FORMAT_VERSION = 1


@dataclass
class Entry:
    """One student's collected submission."""

    student: Student
    matched_by: str
    """'lms id', 'email', 'student id', 'name', 'no roster' or 'unmatched: <why>'"""
    file: str
    """the graded file's name in OUT/submissions (the `file` column of final_grades.csv)"""
    chosen: Candidate
    superseded: list[Candidate] = field(default_factory=list)

    @property
    def unmatched(self) -> bool:
        return self.matched_by.startswith("unmatched")

    def to_json(self) -> dict[str, Any]:
        return {
            "student": self.student.to_json(),
            "matched_by": self.matched_by,
            "file": self.file,
            "original_name": self.chosen.original_name,
            "timestamp": self.chosen.timestamp.isoformat() if self.chosen.timestamp else None,
            "timestamp_source": self.chosen.timestamp_source,
            "late": self.chosen.late,
            "chosen": self.chosen.to_json(),
            "superseded": [c.to_json() for c in self.superseded],
        }


@dataclass
class Collection:
    """The result of ``collect``; also what ``collection.json`` holds."""

    lms: str
    source: str
    source_sha256: str
    entries: list[Entry]
    missing: list[Student]
    ignored: list[Ignored]
    notes: list[str]
    roster_path: str = ""
    roster_format: str = ""
    roster_skipped: list[str] = field(default_factory=list)

    @property
    def unmatched(self) -> list[Entry]:
        return [e for e in self.entries if e.unmatched]

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "lms": self.lms,
            "source": self.source,
            "source_sha256": self.source_sha256,
            "collected_at": datetime.now(UTC).isoformat(),
            "roster": {"path": self.roster_path, "format": self.roster_format,
                       "skipped_rows": self.roster_skipped},
            "entries": [e.to_json() for e in self.entries],
            "unmatched": [{"file": e.file, "why": e.matched_by, "member": e.chosen.member}
                          for e in self.unmatched],
            "missing": [s.to_json() for s in self.missing],
            "ignored": [{"member": i.member, "reason": i.reason} for i in self.ignored],
            "notes": self.notes,
        }



def _identity(c: Candidate) -> str:
    """Who a candidate is when there is no roster: the most exact key the LMS gives."""
    if c.lms_user_id:
        return f"id:{c.lms_user_id}"
    if c.sid:
        return f"sid:{c.sid}"
    if c.email:
        return f"email:{norm_email(c.email)}"
    return f"name:{fold(c.name or c.member)}"


def _student_from(c: Candidate) -> Student:
    name = c.name or (f"Participant {c.lms_user_id}" if c.lms_user_id else c.email or c.member)
    uid = c.lms_user_id if c.lms_user_id and not c.lms_user_id.startswith("anon:") else ""
    s = Student(key="", name=name, email=c.email or "", sis_user_id=c.sid or "")
    if uid:
        setattr(s, adapter(c.lms).user_id_field, uid)
    s.key = student_key(name, uid, c.sid or "", c.email or "")
    return s


def _suffix(c: Candidate) -> str:
    return ".zip" if c.kind == "otter-zip" else ".ipynb"


def _roster_times(roster: Roster | None) -> RosterFormat | None:
    """The roster's layout if it states submission times (Moodle's grading worksheet)."""
    if roster is None:
        return None
    return next((f for f in roster_formats() if f.name == roster.format and f.parse_time), None)


def _apply_roster_times(cands: list[Candidate], student: Student,
                        layout: RosterFormat | None) -> None:
    """A roster that states the submission time (the zip does not) dates the attempts."""
    if student.submitted_at and layout is not None and layout.parse_time is not None:
        ts = layout.parse_time(student.submitted_at)
        if ts is not None:
            for c in cands:
                if c.timestamp is None:
                    c.timestamp = ts.astimezone()
                    c.timestamp_source = layout.time_source


def group_candidates(download: Download, roster: Roster | None
                     ) -> tuple[list[tuple[Student, str, list[Candidate]]], list[Student]]:
    """[(student, matched_by, candidates)] and the roster students with no submission."""
    groups: dict[str, tuple[Student, str, list[Candidate]]] = {}
    for c in download.candidates:
        if roster is not None:
            student, how = roster.match(c)
            if student is None:
                key = "unmatched:" + _identity(c)
                if key not in groups:
                    s = _student_from(c)
                    s.key = "unmatched-" + s.key
                    groups[key] = (s, f"unmatched: {how}", [])
                groups[key][2].append(c)
                continue
            key = "roster:" + student.key
            if key not in groups:
                groups[key] = (student, how, [])
            groups[key][2].append(c)
        else:
            key = _identity(c)
            if key not in groups:
                groups[key] = (_student_from(c), "no roster", [])
            groups[key][2].append(c)
    result = list(groups.values())
    # keys must be unique file names even when two unmatched submitters fold to one slug
    seen: dict[str, int] = {}
    for s, _, _ in result:
        n = seen.get(s.key, 0)
        seen[s.key] = n + 1
        if n:
            s.key = f"{s.key}-{n + 1}"
    submitted = {s.key for s, how, _ in result if not how.startswith("unmatched")}
    missing = [s for s in roster.students if s.key not in submitted] if roster else []
    return result, missing


def choose_latest(cands: list[Candidate]) -> tuple[Candidate, list[Candidate]]:
    """The latest attempt by the LMS's own order (timestamp, then ids), and the others."""
    ordered = sorted(cands, key=lambda c: (c.timestamp is not None,
                                           c.timestamp.timestamp() if c.timestamp else 0.0,
                                           tuple(str(o).zfill(20) if isinstance(o, int) else o
                                                 for o in c.order)))
    return ordered[-1], ordered[:-1]


def _prepare_out(out: Path) -> Path:
    subs = out / SUBMISSIONS_DIR
    old = out / COLLECTION_FILE
    if subs.exists() and any(subs.iterdir()):
        ours: set[str] = set()
        if old.exists():
            try:
                ours = {e["file"] for e in json.loads(old.read_text("utf-8"))["entries"]}
            except (ValueError, KeyError, TypeError):
                ours = set()
        foreign = [p.name for p in subs.iterdir() if p.name not in ours]
        if foreign:
            raise LmsError(f"{subs} holds files that 'collect' did not write ({', '.join(foreign[:3])}"
                           f"{', ...' if len(foreign) > 3 else ''}); use an empty --out directory")
        for name in ours:
            (subs / name).unlink(missing_ok=True)
    subs.mkdir(parents=True, exist_ok=True)
    return subs


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def collect(lms: str, download_zip: str | Path, out_dir: str | Path,
            roster: Roster | None = None) -> Collection:
    """Collect one gradable file per student from an LMS download into ``out_dir``.

    Raises LmsError for an unknown LMS, a zip that is not that LMS's download, or an output
    directory holding foreign files."""
    reader = adapter(lms).read_download
    src = Path(download_zip)
    out = Path(out_dir)
    layout = _roster_times(roster)
    with open_zip(src) as zf:
        download = reader(zf)
        if not download.candidates:
            raise LmsError(
                f"{src}: no notebook (.ipynb) or Otter zip in the layout a {lms} download uses"
                + (f" ({len(download.ignored)} other files ignored, e.g. {download.ignored[0].member})"
                   if download.ignored else ""))
        by_name = {m.name: m for m in members(zf)}
        groups, missing = group_candidates(download, roster)
        subs = _prepare_out(out)
        entries: list[Entry] = []
        for student, how, cands in groups:
            _apply_roster_times(cands, student, layout)
            chosen, superseded = choose_latest(cands)
            data = read_member(zf, by_name[chosen.member])
            file = f"{student.key}{_suffix(chosen)}"
            _write_atomic(subs / file, data)
            entries.append(Entry(student, how, file, chosen, superseded))
    entries.sort(key=lambda e: e.file)
    coll = Collection(
        lms=lms, source=str(src.resolve()), source_sha256=sha256_file(src), entries=entries,
        missing=missing, ignored=download.ignored, notes=download.notes,
        roster_path=roster.path if roster else "", roster_format=roster.format if roster else "",
        roster_skipped=roster.skipped_rows if roster else [],
    )
    _write_atomic(out / COLLECTION_FILE,
                  json.dumps(coll.to_json(), indent=2, ensure_ascii=False).encode("utf-8"))
    return coll


def load_collection(path: str | Path) -> dict[str, Any]:
    """The JSON written by :func:`collect` (LmsError with a hint when absent or damaged)."""
    p = Path(path)
    if p.is_dir():
        p = p / COLLECTION_FILE
    if not p.exists():
        raise LmsError(f"{p} not found: run 'mlphys collect' first (or pass --collection)")
    try:
        data = json.loads(p.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise LmsError(f"{p} is not valid JSON ({e})") from None
    if not isinstance(data, dict) or "entries" not in data:
        raise LmsError(f"{p} is not a collection.json written by 'mlphys collect'")
    return data


def collection_report(coll: Collection, out_dir: str | Path) -> list[str]:
    """What ``mlphys collect`` prints: counts, superseded attempts, unmatched files, missing
    students, ignored files and the next command."""
    out = Path(out_dir)
    n_super = sum(len(e.superseded) for e in coll.entries)
    lines = [f"collected {len(coll.entries) - len(coll.unmatched)} student submission(s) into "
             f"{out / SUBMISSIONS_DIR} ({n_super} earlier attempt(s) superseded)"]
    for e in coll.entries:
        if e.superseded:
            lines.append(f"  {e.student.display}: kept {e.chosen.original_name} "
                         f"({e.chosen.submission_id or e.chosen.timestamp or 'latest'}), "
                         "superseded " + ", ".join(c.original_name for c in e.superseded))
    if coll.unmatched:
        lines.append(f"unmatched: {len(coll.unmatched)} file(s) match no roster student:")
        for e in coll.unmatched:
            lines.append(f"  {e.chosen.member} -> {e.file} ({e.matched_by})")
    if coll.missing:
        lines.append(f"missing: {len(coll.missing)} roster student(s) without a submission:")
        for s in coll.missing:
            lines.append(f"  {s.display} ({s.key})")
    if coll.ignored:
        lines.append(f"ignored: {len(coll.ignored)} other file(s) (listed in collection.json)")
    lines.append(f"next: mlphys grade --autograder AUTOGRADER.zip --out {out_dir} "
                 f"{out / SUBMISSIONS_DIR}")
    return lines
