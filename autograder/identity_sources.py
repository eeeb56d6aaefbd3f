"""Where ``mlphys grade`` learns who handed each submission in (the LMS's word, not the notebook's).

A quiz's variant, and so its answer key, follows an identity. The notebook's ``student_id`` is
typed by the student; these sources say who the LMS received the file from, in the course's
identity column (``mlphys.json``'s ``quiz_identity_column``, chosen with
:func:`autograder.identity.identity_of`, as the build did for per-student notebooks):

* ``collection.json`` written by ``mlphys collect``: the roster person (or the group's members)
  each collected file was matched to. Found on its own when the submissions are the
  ``submissions/`` folder ``collect`` wrote next to it.
* an identity map for bare files: a CSV with the columns ``file`` and ``identity`` (several
  rows for one file: a group, the first row first).

A file the source does not list, or whose owner has no identity there, gets
``Submitter(identities=())`` with the reason: it is reported as an unknown submitter and not
graded against anyone's key.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grading.model import Submitter
from autograder.identity import IdentityError, identity_of
from autograder.lms.roster import Student

COLLECTION_FILE = "collection.json"


class IdentitySourceError(ValueError):
    """An identity map or collection.json that cannot be read (a user mistake: one line)."""


@dataclass
class IdentitySource:
    """File name -> who handed it in."""

    source: str
    """what people read: 'collection.json (login)', 'identity map ids.csv'"""
    by_file: dict[str, Submitter] = field(default_factory=dict)
    missing_why: str = "not listed"

    def submitter(self, path: Path) -> Submitter:
        found = self.by_file.get(Path(path).name)
        return found if found is not None else Submitter((), self.source, why=self.missing_why)

    def describe(self) -> str:
        known = sum(1 for s in self.by_file.values() if s.identities)
        return f"identities: {self.source}, {known} of {len(self.by_file)} files with an owner"


def _people(entry: dict[str, Any]) -> list[Student]:
    members = entry.get("members")
    if isinstance(members, list) and members:
        return [Student.from_json(m) for m in members if isinstance(m, dict)]
    student = entry.get("student")
    return [Student.from_json(student)] if isinstance(student, dict) else []


def from_collection(path: Path, column: str) -> IdentitySource:
    """The roster people ``mlphys collect`` matched each file to."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["entries"]
        if not isinstance(entries, list):
            raise TypeError("entries is not a list")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IdentitySourceError(f"cannot read {path} as mlphys collect's collection.json: "
                                  f"{e}") from None
    source = f"{path.name} ({column})"
    out = IdentitySource(source, missing_why=f"not in {path.name}")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            continue
        matched = str(entry.get("matched_by", ""))
        people = _people(entry)
        if matched.startswith("unmatched") or matched == "anonymous" or not people:
            out.by_file[entry["file"]] = Submitter(
                (), source, why=f"not matched to a roster student ({matched or 'no match'})")
            continue
        try:
            identities = tuple(identity_of(p, column)[0] for p in people)
        except IdentityError as e:
            out.by_file[entry["file"]] = Submitter((), source, why=str(e))
            continue
        out.by_file[entry["file"]] = Submitter(identities, source)
    return out


def from_map(path: Path) -> IdentitySource:
    """A CSV identity map: ``file,identity`` (a group: one row per member)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise IdentitySourceError(f"cannot read identity map {path}: {e}") from None
    if not rows:
        raise IdentitySourceError(f"identity map {path} is empty (expected columns file,identity)")
    header = [h.strip().lower() for h in rows[0]]
    if "file" not in header or "identity" not in header:
        raise IdentitySourceError(f"identity map {path} needs the columns 'file' and 'identity' "
                                  f"(it has {', '.join(rows[0]) or 'none'})")
    col_file, col_id = header.index("file"), header.index("identity")
    source = f"identity map {path.name}"
    members: dict[str, list[str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(col_file, col_id) or not row[col_file].strip():
            raise IdentitySourceError(f"identity map {path}, row {number}: no file name")
        identity = row[col_id].strip()
        if any(c in identity for c in '"\\\n\r'):
            raise IdentitySourceError(f"identity map {path}, row {number}: the identity contains "
                                      "a quote, backslash or line break")
        names = members.setdefault(Path(row[col_file].strip()).name, [])
        if identity:
            names.append(identity)
    out = IdentitySource(source, missing_why=f"not in {path.name}")
    for name, ids in members.items():
        out.by_file[name] = (Submitter(tuple(ids), source) if ids
                             else Submitter((), source, why=f"no identity in {path.name}"))
    return out


def load_source(path: Path, column: str) -> IdentitySource:
    """``collection.json`` (by its content) or a CSV identity map."""
    if not path.is_file():
        raise IdentitySourceError(f"identity source {path} does not exist")
    if path.suffix.lower() == ".json":
        return from_collection(path, column)
    return from_map(path)


def collection_beside(submissions: Iterable[str | Path]) -> Path | None:
    """``collection.json`` next to a ``submissions/`` folder that ``mlphys collect`` wrote."""
    found = set()
    for raw in submissions:
        p = Path(raw)
        folder = p if p.is_dir() else p.parent
        candidate = folder.parent / COLLECTION_FILE
        if folder.name == "submissions" and candidate.is_file():
            found.add(candidate.resolve())
    return found.pop() if len(found) == 1 else None
