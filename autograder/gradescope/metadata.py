"""Who handed a submission in on Gradescope: ``/autograder/submission_metadata.json``.

Gradescope writes, per submission, ``users``: a list of ``{email, id, name, sid}`` (``sid`` where
the course has student ids), several for a group submission, the submitter first. The course
identity (the roster column quiz variants come from, ``mlphys.json``'s ``quiz_identity_column``)
is read from each user with :func:`autograder.identity.identity_of`, exactly as the build
chose it for per-student notebooks: Gradescope gives ``email`` and ``sid``, so a quiz graded on
Gradescope uses ``[roster] identity = "email"`` or ``"sid"`` (``auto`` takes the e-mail
address there). A column Gradescope does not report makes the owner unknown, with the reason.

When the quiz was built with a roster, the zip carries each student's identity with their email
and sid (``mlphys_roster.json``): a submitter found there by email (or else by sid) gets that
identity, whatever the column (a Canvas login, say).

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


def read_roster(path: Path) -> list[dict[str, str]] | None:
    """The zip's ``mlphys_roster.json`` (identity, email, sid per student), if there is one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, list):
        return None
    return [e for e in data if isinstance(e, dict) and isinstance(e.get("identity"), str)]


def _in_roster(user: dict[str, Any], roster: list[dict[str, str]]) -> str | None:
    """The identity of the roster student with this user's email, else with their sid."""
    for field, key in (("email", "email"), ("sid", "sid")):
        value = str(user.get(field) or "").strip().lower()
        if value:
            found = [e["identity"] for e in roster if str(e.get(key) or "").strip().lower() == value]
            if len(found) == 1:
                return found[0]
    return None


def submitter(metadata: dict[str, Any] | None, column: str,
              roster: list[dict[str, str]] | None = None) -> Submitter | None:
    """The submitter (and group members) in course identities; None without metadata.

    ``roster``: the zip's ``mlphys_roster.json``, consulted first."""
    if metadata is None:
        return None
    source = f"Gradescope submission_metadata.json ({column})"
    users = metadata.get("users")
    if not isinstance(users, list) or not users:
        return Submitter((), source, why="submission_metadata.json names no user")
    identities, used = [], set()
    for index, user in enumerate(users):
        if not isinstance(user, dict):
            return Submitter((), source, why="submission_metadata.json has a malformed user")
        identity = _in_roster(user, roster) if roster else None
        if identity is not None:
            identities.append(identity)
            used.add(f"{column} from the course roster")
            continue
        try:
            identity, column_used = identity_of(_student(user, index), column)
        except IdentityError as e:
            return Submitter((), source, why=f"{e}; Gradescope reports only email and sid")
        identities.append(identity)
        used.add(column_used)
    return Submitter(tuple(identities),
                     f"Gradescope submission_metadata.json ({', '.join(sorted(used))})")
