"""Who handed a submission in on Gradescope: ``/autograder/submission_metadata.json``.

Gradescope writes, per submission, ``users``: a list of ``{email, id, name, sid}`` (``sid`` where
the course has student ids), several for a group submission, the submitter first. The course
identity (the roster column quiz variants come from, ``mlphys.json``'s ``quiz_identity_column``)
is read from each user with :func:`autograder.identity.identity_of`, exactly as the build
chose it for per-student notebooks: Gradescope gives ``email`` and ``sid``, so a quiz graded on
Gradescope uses ``[roster] identity = "email"`` or ``"sid"`` (``auto`` takes the e-mail
address there). A column Gradescope does not report makes the owner unknown, with the reason.

``otter grade`` writes an empty file, and a bare run has none: then there is no identity
source at all (``None``) and the notebook's own ``student_id`` is used, as under ``otter run``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autograder.grading.model import Submitter
from autograder.identity import IdentityError, identity_of
from autograder.lms.roster import Student

METADATA_FILE = "submission_metadata.json"


def read_metadata(path: Path) -> dict[str, Any] | None:
    """The metadata, or None when there is none (missing, empty, not a JSON object)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _student(user: dict[str, Any], index: int) -> Student:
    def text(key: str) -> str:
        value = user.get(key)
        return "" if value is None else str(value).strip()

    return Student(key=f"gradescope-user-{text('id') or index}", name=text("name"),
                   email=text("email"), sis_user_id=text("sid"))


def submitter(metadata: dict[str, Any] | None, column: str) -> Submitter | None:
    """The submitter (and group members) in course identities; None without metadata."""
    if metadata is None:
        return None
    source = f"Gradescope submission_metadata.json ({column})"
    users = metadata.get("users")
    if not isinstance(users, list) or not users:
        return Submitter((), source, why="submission_metadata.json names no user")
    identities = []
    for index, user in enumerate(users):
        if not isinstance(user, dict):
            return Submitter((), source, why="submission_metadata.json has a malformed user")
        try:
            identity, used = identity_of(_student(user, index), column)
        except IdentityError as e:
            return Submitter((), source, why=f"{e}; Gradescope reports only email and sid")
        identities.append(identity)
    return Submitter(tuple(identities), f"Gradescope submission_metadata.json ({used})")
