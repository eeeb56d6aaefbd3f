"""Reading the member names of a Canvas "Download Submissions" zip, every way Canvas could have
meant them.

Canvas writes (canvas-lms ``lib/content_zipper.rb``, ``get_filename`` and
``add_upload_submission``)::

    <name>[_LATE]_<user id>_<attachment id>_<display name>     graded by name
    [LATE_]anon_<anonymous id>_<attachment id>_<display name>  anonymous grading

``<name>`` is the student's sortable name (a group's name for a group submission) with
``_<digits>_`` runs collapsed, lowercased, and stripped of non-word characters; ``LATE`` is
written in capitals (the sanitiser removes characters, it does not lowercase; a lowercase
``late`` from older tools is accepted too). Canvas always
writes a name when it grades by name (possibly empty: ``_1001_...``), so the first token is never
the user id.

Why "every reading": the layout is not self-delimiting. A name can end in ``_<digits>``
(``smith_2``) and a display name can start with ``<digits>_`` (``2024_03_hw.ipynb``), so
``smith_2_1001_5001_x.ipynb`` reads as user 2 or user 1001. Canvas's own re-upload parser
(``Assignment#infer_comment_context_from_filename``) takes the first two all-digit tokens and
so misreads a name that is only digits. Here a roster's Canvas user ids pick the reading; without
one the shortest name is taken and the other readings are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIGITS = re.compile(r"\d+")
_ANON = re.compile(r"^(?P<late>(?i:late)_)?anon_(?P<anon>[A-Za-z0-9]+)_(?P<aid>\d+)_(?P<orig>.+)$",
                   re.DOTALL)
_LATE = re.compile(r"late", re.IGNORECASE)
_NAMELESS = re.compile(r"^(?P<late>(?i:late)_)?(?P<uid>\d+)_(?P<aid>\d+)_(?P<orig>.+)$", re.DOTALL)
ONLINE_ENTRY = re.compile(r"^(?P<prefix>.+)_(?:text|link)\.html$", re.IGNORECASE)


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
