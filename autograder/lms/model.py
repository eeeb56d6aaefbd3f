"""Plain records passed between the importers, the roster matcher and the collector."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

NOTEBOOK_SUFFIXES = (".ipynb",)
OTTER_ZIP_SUFFIXES = (".zip",)


def gradable_kind(filename: str) -> str | None:
    """'notebook' for .ipynb, 'otter-zip' for .zip (an Otter export), None for anything else."""
    low = filename.lower()
    if low.endswith(NOTEBOOK_SUFFIXES):
        return "notebook"
    if low.endswith(OTTER_ZIP_SUFFIXES):
        return "otter-zip"
    return None


@dataclass
class Candidate:
    """One gradable file from an LMS download, with everything the LMS says about it."""

    lms: str
    member: str
    """path of the file inside the download zip"""
    original_name: str
    """the file name the student uploaded, with the LMS's prefixes removed"""
    kind: str
    """'notebook' or 'otter-zip'"""
    lms_user_id: str | None = None
    """the id the LMS wrote for the submitter (its kind in ``id_kind``); None when there is none"""
    id_kind: str = ""
    """'user': the LMS's id of this person (matched to the roster when the roster comes from
    the same LMS); 'participant': an id of this assignment only (trusted only when the roster's
    name for it agrees with the file's); '': no id"""
    anonymous_id: str | None = None
    """the LMS's anonymous id under anonymous grading (no person can be named)"""
    name: str | None = None
    """the name the LMS wrote (a person's, folded by some LMSs, or a group's)"""
    email: str | None = None
    sid: str | None = None
    """student/SIS id when the LMS gives one (Gradescope ``:sid``)"""
    submission_id: str | None = None
    """Canvas attachment id, Gradescope submission id"""
    timestamp: datetime | None = None
    timestamp_source: str = "none"
    late: bool | None = None
    """the LMS's own late flag (Canvas's LATE marker); None when the LMS says nothing"""
    order: tuple[Any, ...] = ()
    """sort key within one student: larger is later (the LMS's own attempt order)"""
    group: list[dict[str, str]] = field(default_factory=list)
    """all submitters of a submission made by several people (name, sid, email each)"""
    no_group: bool = False
    """the one shared submission of the students who are in no group (team assignments)"""
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    """other readings of an ambiguous file name: {'lms_user_id', 'name', 'late'} each"""
    submission_key: str = ""
    """the LMS submission (one attempt) the file belongs to: files with the same key were
    handed in together"""
    previous: list[dict[str, Any]] = field(default_factory=list)
    """earlier attempts the LMS lists without their files (Gradescope ``:history``)"""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["timestamp"] = self.timestamp.isoformat() if self.timestamp else None
        d["order"] = [o.isoformat() if isinstance(o, datetime) else o for o in self.order]
        return d


@dataclass
class Ignored:
    """A zip member that is not a gradable submission, and why (always reported)."""

    member: str
    reason: str


@dataclass
class Download:
    """What an importer found in an LMS zip."""

    lms: str
    candidates: list[Candidate]
    ignored: list[Ignored]
    notes: list[str] = field(default_factory=list)
