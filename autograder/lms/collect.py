"""``collect``: from an LMS download zip to one gradable file per student (or group).

Steps: read the zip with the LMS's reader; take the files of each LMS submission together (one
attempt: Canvas and Moodle hand out the current attempt's files, Gradescope one folder per
submission); match each submission to roster people (``lms.matching``: a group's submission to
every member); choose the assignment's notebook among the attempt's files by its name
(``lms.notebook_choice``; several candidates are an ambiguity the instructor settles with
``--pick``); order attempts only by times the LMS really gives; write
``OUT/submissions/<key>.ipynb|.zip`` and ``OUT/collection.json``.

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
from autograder.lms.matching import Match, match_submission
from autograder.lms.model import Candidate, Download, Ignored
from autograder.lms.notebook_choice import choose as choose_notebook
from autograder.lms.notebook_choice import fitted_name, infer_notebook_name
from autograder.lms.registry import adapter, roster_formats
from autograder.lms.roster import Roster, Student, student_key
from autograder.lms.zipread import members, open_zip, read_member

COLLECTION_FILE = "collection.json"
SUBMISSIONS_DIR = "submissions"
FORMAT_VERSION = 1


@dataclass
class Entry:
    """One collected submission: a student's, or a group's (then ``members`` are the people)."""

    student: Student
    """who the file is for: the student, or a record of the group (key ``group-...``)"""
    matched_by: str
    """'lms id', 'email', 'student id', 'name', 'group', 'anonymous', 'no roster' or
    'unmatched: <why>'"""
    file: str
    """the graded file's name in OUT/submissions (the `file` column of final_grades.csv)"""
    chosen: Candidate
    superseded: list[Candidate] = field(default_factory=list)
    """the chosen files of EARLIER submissions (attempts ordered by the LMS's own times)"""
    other_files: list[Candidate] = field(default_factory=list)
    """the other gradable files of the same submission (not earlier attempts)"""
    members: list[Student] = field(default_factory=list)
    """the roster people the grade goes to ([] when unmatched or anonymous)"""
    group: tuple[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    name_mismatch: str = ""
    choice: str = ""
    """why this file of the submission was taken"""

    @property
    def unmatched(self) -> bool:
        return self.matched_by.startswith("unmatched")

    def to_json(self) -> dict[str, Any]:
        return {
            "student": self.student.to_json(),
            "members": [m.to_json() for m in self.members],
            "group": {"name": self.group[0], "id": self.group[1]} if self.group else None,
            "matched_by": self.matched_by,
            "file": self.file,
            "original_name": self.chosen.original_name,
            "choice": self.choice,
            "timestamp": self.chosen.timestamp.isoformat() if self.chosen.timestamp else None,
            "timestamp_source": self.chosen.timestamp_source,
            "late": self.chosen.late,
            "chosen": self.chosen.to_json(),
            "other_files": [c.to_json() for c in self.other_files],
            "superseded": [c.to_json() for c in self.superseded],
            "name_mismatch": self.name_mismatch,
            "notes": self.notes,
        }


@dataclass
class Ambiguity:
    """A submission whose gradable file could not be chosen: nothing is graded for it until the
    instructor picks (``collect --pick KEY=FILE``)."""

    student: Student
    members: list[Student]
    files: list[Candidate]
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"student": self.student.to_json(), "members": [m.to_json() for m in self.members],
                "files": [c.to_json() for c in self.files], "why": self.why}


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
    ambiguous: list[Ambiguity] = field(default_factory=list)
    notebook: str = ""
    notebook_source: str = ""

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
            "notebook": {"name": self.notebook, "source": self.notebook_source},
            "entries": [e.to_json() for e in self.entries],
            "ambiguous": [a.to_json() for a in self.ambiguous],
            "unmatched": [{"file": e.file, "why": e.matched_by, "member": e.chosen.member}
                          for e in self.unmatched],
            "missing": [s.to_json() for s in self.missing],
            "ignored": [{"member": i.member, "reason": i.reason} for i in self.ignored],
            "notes": self.notes,
        }


def _student_from(c: Candidate) -> Student:
    """Without a roster: the submitter as the LMS names it."""
    name = c.name or (f"Participant {c.lms_user_id}" if c.lms_user_id else c.email or c.member)
    if c.anonymous_id:
        name = f"anonymous {c.anonymous_id}"
    uid = c.lms_user_id or ""
    s = Student(key="", name=name, email=c.email or "", student_id=c.sid or "")
    if uid:
        setattr(s, adapter(c.lms).user_id_field, uid)
    s.key = student_key(name, uid, c.anonymous_id or "", c.sid or "", c.email or "")
    return s


def _group_student(name: str, gid: str) -> Student:
    return Student(key="group-" + student_key(name, gid), name=name, group=name, group_id=gid)


def _suffix(c: Candidate) -> str:
    return ".zip" if c.kind == "otter-zip" else ".ipynb"


def _roster_times(roster: Roster | None) -> RosterFormat | None:
    """The roster's layout if it states submission times (Moodle's grading worksheet)."""
    if roster is None:
        return None
    return next((f for f in roster_formats() if f.name == roster.format and f.parse_time), None)


def _apply_roster_times(cands: list[Candidate], people: list[Student],
                        layout: RosterFormat | None) -> None:
    """A roster that states the submission time (the zip does not) dates the attempt."""
    stated = {p.submitted_at for p in people if p.submitted_at}
    if len(stated) == 1 and layout is not None and layout.parse_time is not None:
        ts = layout.parse_time(stated.pop())
        if ts is not None:
            for c in cands:
                if c.timestamp is None:
                    c.timestamp = ts.astimezone()
                    c.timestamp_source = layout.time_source


@dataclass
class _Submission:
    files: list[Candidate]
    match: Match


def _submissions(download: Download) -> list[list[Candidate]]:
    by_key: dict[str, list[Candidate]] = {}
    for c in download.candidates:
        by_key.setdefault(c.submission_key or c.member, []).append(c)
    return list(by_key.values())


def _resolve_readings(files: list[Candidate], roster: Roster | None) -> None:
    """A file name with several readings (``Candidate.alternatives``): the roster's ids pick."""
    for c in files:
        if not c.alternatives or roster is None or roster.ids_of != c.lms:
            continue
        field_name = adapter(c.lms).user_id_field
        ids = {getattr(s, field_name) for s in roster.students} - {""}
        if c.lms_user_id not in ids:
            pick = next((a for a in c.alternatives if a["lms_user_id"] in ids), None)
            if pick is not None:
                c.lms_user_id, c.name, c.late = pick["lms_user_id"], pick["name"], pick["late"]
                c.submission_key = f"user:{pick['lms_user_id']}"
        c.alternatives = []


def _owner(sub: _Submission, roster: Roster | None) -> tuple[str, Student, list[Student]]:
    """(key, record, members) of who a submission is for."""
    m = sub.match
    c = sub.files[0]
    if roster is None:
        if len(c.group) > 1:
            people = [_student_from(Candidate(lms=c.lms, member=c.member, original_name="",
                                              kind=c.kind, name=p.get("name") or None,
                                              email=p.get("email") or None,
                                              sid=p.get("sid") or None)) for p in c.group]
            rec = _group_student(" & ".join(p.display for p in people), c.submission_id or "")
            return rec.key, rec, people
        s = _student_from(c)
        return s.key, s, [] if c.anonymous_id else [s]
    if m.group is not None:
        rec = _group_student(*m.group)
        return rec.key, rec, m.students
    if m.students:
        return m.students[0].key, m.students[0], m.students
    s = _student_from(c)
    s.key = "unmatched-" + s.key
    return s.key, s, []


def _latest_first(subs: list[_Submission]) -> list[_Submission] | None:
    """Several submissions for one owner, latest first, when the LMS dates each one (else None)."""
    times = [max((f.timestamp for f in s.files if f.timestamp), default=None) for s in subs]
    if any(t is None for t in times) or len(set(times)) < len(times):
        return None
    return [s for _, s in sorted(zip(times, subs, strict=True), key=lambda x: x[0], reverse=True)]


def collect(lms: str, download_zip: str | Path, out_dir: str | Path,
            roster: Roster | None = None, *, notebook: str | None = None,
            picks: dict[str, str] | None = None) -> Collection:
    """Collect one gradable file per student (or group) from an LMS download into ``out_dir``.

    ``notebook``: the assignment's notebook name (default: the most common file name in the
    download); ``picks``: owner key -> file name, settling reported ambiguities. Raises LmsError
    for an unknown LMS, a zip that is not that LMS's download, an unknown pick, or an output
    directory holding foreign files."""
    lms_adapter = adapter(lms)
    src = Path(download_zip)
    out = Path(out_dir)
    layout = _roster_times(roster)
    picks = dict(picks or {})
    with open_zip(src) as zf:
        download = lms_adapter.read_download(zf)
        if not download.candidates:
            raise LmsError(
                f"{src}: no notebook (.ipynb) or Otter zip in the layout a {lms} download uses"
                + (f" ({len(download.ignored)} other files ignored, e.g. {download.ignored[0].member})"
                   if download.ignored else ""))
        notes = list(download.notes)
        raw = _submissions(download)
        for files in raw:
            _resolve_readings(files, roster)
            for c in files:
                for alt in c.alternatives:
                    notes.append(f"{c.member}: its name also reads as user {alt['lms_user_id']} "
                                 f"named {alt['name']!r}; read as user {c.lms_user_id} named "
                                 f"{c.name!r} (pass a roster of this LMS to decide)")
        raw = _submissions(Download(lms, [c for f in raw for c in f], []))
        source = "--notebook" if notebook else ""
        if notebook is None and any(len(files) > 1 for files in raw):
            notebook = infer_notebook_name(
                name for files in raw for name in {fitted_name(c.original_name) for c in files})
            source = "the most common file name in the download" if notebook else ""
        subs: list[_Submission] = []
        for files in raw:
            m = (match_submission(files[0], roster, lms_adapter.user_id_field) if roster
                 else Match([], "no roster"))
            subs.append(_Submission(files, m))
            notes.extend(m.notes)
        owners: dict[str, tuple[Student, list[Student], list[_Submission]]] = {}
        for sub in subs:
            key, rec, people = _owner(sub, roster)
            owners.setdefault(key, (rec, people, []))[2].append(sub)
        _unique_owner_keys(owners)
        subs_dir = _prepare_out(out)
        by_name = {m.name: m for m in members(zf)}
        entries: list[Entry] = []
        ambiguous: list[Ambiguity] = []
        for key, (rec, people, own) in owners.items():
            ordered = own if len(own) == 1 else _latest_first(own)
            if ordered is None:
                ambiguous.append(Ambiguity(rec, people, [c for s in own for c in s.files],
                                           f"{len(own)} submissions fit {rec.display} and the LMS "
                                           "does not date them"))
                continue
            current, earlier = ordered[0], ordered[1:]
            _apply_roster_times(current.files, people if current.match.how in (
                "lms id", "group", "lms id (group)") else [], layout)
            chosen, why = _choose(current.files, notebook, picks.pop(key, None), key)
            if chosen is None:
                ambiguous.append(Ambiguity(rec, people, current.files, why))
                continue
            m = current.match
            how = m.how if roster is not None else "no roster"
            if chosen.anonymous_id:
                how = "anonymous"
            elif roster is not None and not m.students and not how.startswith("unmatched"):
                how = "unmatched: " + how
            data = read_member(zf, by_name[chosen.member])
            file = f"{rec.key}{_suffix(chosen)}"
            _write_atomic(subs_dir / file, data)
            entries.append(Entry(
                rec, how, file, chosen,
                superseded=[_choose(s.files, notebook, None, key)[0] or s.files[0]
                            for s in earlier],
                other_files=[c for c in current.files if c is not chosen], members=people,
                group=m.group if roster is not None else (
                    (rec.name, rec.group_id) if rec.key.startswith("group-") else None),
                notes=m.notes, name_mismatch=m.name_mismatch, choice=why))
    if picks:
        raise LmsError("--pick names no ambiguous submission: " + ", ".join(
            f"{k}={v}" for k, v in picks.items()) + " (the keys are the ones 'collect' prints)")
    entries.sort(key=lambda e: e.file)
    covered = {m.key for e in entries for m in e.members} | {m.key for a in ambiguous
                                                            for m in a.members}
    missing = [s for s in roster.students if s.key not in covered] if roster else []
    coll = Collection(
        lms=lms, source=str(src.resolve()), source_sha256=sha256_file(src), entries=entries,
        missing=missing, ignored=download.ignored, notes=notes,
        roster_path=roster.path if roster else "", roster_format=roster.format if roster else "",
        roster_skipped=roster.skipped_rows if roster else [], ambiguous=ambiguous,
        notebook=notebook or "", notebook_source=source,
    )
    _write_atomic(out / COLLECTION_FILE,
                  json.dumps(coll.to_json(), indent=2, ensure_ascii=False).encode("utf-8"))
    return coll


def _unique_owner_keys(owners: dict[str, tuple[Student, list[Student], list[_Submission]]]) -> None:
    """Owner records become file names: two unmatched submitters may fold to one slug."""
    seen: dict[str, int] = {}
    for rec, _, _ in owners.values():
        n = seen.get(rec.key, 0)
        seen[rec.key] = n + 1
        if n:
            rec.key = f"{rec.key}-{n + 1}"


def _choose(files: list[Candidate], notebook: str | None, pick: str | None, key: str
            ) -> tuple[Candidate | None, str]:
    if pick is not None:
        hits = [c for c in files if pick in (c.original_name, c.member)]
        if len(hits) != 1:
            raise LmsError(f"--pick {key}={pick}: the submission's files are "
                           + ", ".join(c.original_name for c in files))
        return hits[0], "picked with --pick"
    choice = choose_notebook([c.original_name for c in files], notebook)
    if choice.index is None:
        return None, choice.reason
    return files[choice.index], choice.reason


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
    """What ``mlphys collect`` prints: counts, groups, choices and ambiguities (with the
    ``--pick`` that settles each), unmatched files, missing students, notes, the next command."""
    out = Path(out_dir)
    people = sum(len(e.members) for e in coll.entries)
    n_super = sum(len(e.superseded) for e in coll.entries)
    lines = [f"collected {len(coll.entries) - len(coll.unmatched)} submission(s) for {people} "
             f"student(s) into {out / SUBMISSIONS_DIR} ({n_super} earlier attempt(s) superseded)"]
    if coll.notebook:
        lines.append(f"assignment notebook: {coll.notebook} ({coll.notebook_source}; "
                     "--notebook sets it)")
    for e in coll.entries:
        if e.group and e.members:
            lines.append(f"  group {e.group[0]}: {', '.join(m.display for m in e.members)}")
        if e.other_files:
            lines.append(f"  {e.student.display}: took {e.chosen.original_name} ({e.choice}), "
                         "not " + ", ".join(c.original_name for c in e.other_files))
        if e.superseded:
            lines.append(f"  {e.student.display}: kept {e.chosen.original_name} "
                         f"({e.chosen.timestamp or e.chosen.submission_id or 'latest'}), "
                         "superseded " + ", ".join(c.original_name for c in e.superseded))
    anonymous = [e for e in coll.entries if e.matched_by == "anonymous"]
    if anonymous:
        lines.append(f"anonymous: {len(anonymous)} submission(s) downloaded under anonymous "
                     "grading: graded, but no LMS can take their grades until names are shown")
    if coll.ambiguous:
        lines.append(f"ambiguous: {len(coll.ambiguous)} submission(s) NOT collected; choose the "
                     "file with --pick KEY=FILE:")
        for a in coll.ambiguous:
            names = ", ".join(sorted({c.original_name for c in a.files}))
            lines.append(f"  {a.student.display}: {a.why}: {names}")
            lines.append(f"    --pick {a.student.key}={a.files[-1].original_name}")
    if coll.unmatched:
        lines.append(f"unmatched: {len(coll.unmatched)} file(s) match no roster student:")
        for e in coll.unmatched:
            lines.append(f"  {e.chosen.member} -> {e.file} ({e.matched_by})")
    if coll.missing:
        lines.append(f"missing: {len(coll.missing)} roster student(s) without a submission:")
        for s in coll.missing:
            lines.append(f"  {s.display} ({s.key})")
    notes = coll.notes + [n for e in coll.entries for n in e.notes if n not in coll.notes]
    for n in dict.fromkeys(notes):
        lines.append(f"note: {n}")
    if coll.ignored:
        lines.append(f"ignored: {len(coll.ignored)} other file(s) (listed in collection.json)")
    lines.append(f"next: mlphys grade --autograder AUTOGRADER.zip --out {out_dir} "
                 f"{out / SUBMISSIONS_DIR}")
    return lines
