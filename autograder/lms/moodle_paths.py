"""Reading the member paths of a Moodle "Download all submissions" zip.

Moodle writes (``mod/assign/classes/downloader.php``, 4.1+, and ``locallib.php`` before) one
prefix per submission::

    <full name>_<participant id>     individual submissions ('_' in the name becomes ' ')
    Participant_<participant id>     blind marking (the word is translated)
    <group name>_<group id>          team submissions
    Default group                    team submission of the students in no group: NO number

and then, per submission plugin, ``<prefix>_assignsubmission_<plugin>/<path><file>`` (4.x),
``<prefix>_assignsubmission_<plugin>_/<path><file>`` (3.x) or
``<prefix>_assignsubmission_<plugin>_<file>`` ("download as folders" off). ``clean_filename``
drops ``& < > " ` | ' : \\ /`` and control characters from the prefix.

Why the number is only a *label* here: it is a participant id, which is per assignment and NOT
the Moodle user id, or a group id; only a grading worksheet of the same assignment says which
participant it is, and only when the folder's name agrees with the worksheet's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLUGIN = re.compile(
    r"^(?P<label>.+?)(?:_(?P<number>\d+))?_assignsubmission_(?P<plugin>[a-z0-9]+)(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class MoodlePath:
    label: str
    """the full name, the blind-marking word, a group's name or the default team's name"""
    number: str | None
    """participant id or group id; None for the default team (students in no group)"""
    plugin: str
    """'file', 'onlinetext', ..."""
    file: str
    """the path of the file inside the submission"""


def parse_member_path(path: str) -> MoodlePath | None:
    """The fields of a member path, or None when Moodle would not have written it."""
    first, _, inner = path.partition("/")
    m = _PLUGIN.match(first)
    if not m:
        return None
    rest = m["rest"]
    if inner:  # folders: "<prefix>_assignsubmission_file[_]/<path>"
        if rest not in ("", "_"):
            return None
        file = inner
    else:  # flat: "<prefix>_assignsubmission_file_<file>"
        if not rest.startswith("_") or len(rest) < 2:
            return None
        file = rest[1:]
    return MoodlePath(m["label"], m["number"], m["plugin"].lower(), file)
