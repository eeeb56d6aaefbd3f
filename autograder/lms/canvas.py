"""Canvas "Download Submissions" zips.

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
"""

from __future__ import annotations

import re
import zipfile

from autograder.lms.model import Candidate, Download, Ignored, gradable_kind
from autograder.lms.zipread import members

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
