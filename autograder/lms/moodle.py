"""Moodle assignment "Download all submissions" zips.

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
"""

from __future__ import annotations

import re
import zipfile

from autograder.lms.model import Candidate, Download, Ignored, gradable_kind
from autograder.lms.zipread import members

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
