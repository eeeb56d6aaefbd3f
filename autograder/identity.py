"""Which roster column is a student's quiz identity (the ``student_id`` their variant comes from).

Rosters are read by :func:`autograder.lms.roster.read_roster`; this module only chooses the
column. ``auto`` takes the first non-empty of

    login      Canvas "SIS Login ID"
    email      Moodle "Email address", plain CSV "email" (Canvas: the SIS Login ID if it has an @)
    sid        Canvas "SIS User ID", plain CSV "sid" / "student id"
    id_number  Moodle "ID number"
    lms_id     Canvas "ID" (the Canvas user id), plain CSV "id"

so a Canvas class gets its logins, a Moodle class its e-mail addresses, a plain CSV its e-mail
column. A named column (``[roster] identity = "sid"`` in course.toml) is used for everybody, and a
student without it is an error rather than a silent fallback. Whoever grades with the LMS's
submitter instead of the notebook's ``student_id`` must use this same function.
"""

from __future__ import annotations

from collections.abc import Iterable

from autograder.assignment_support.mlphys_quiz import normalize_identity
from autograder.lms.roster import Student

FIELDS = {"login": ("login",), "email": ("email",), "sid": ("sis_user_id",),
          "id_number": ("id_number",), "lms_id": ("lms_id", "student_id")}
"""identity column -> the Student fields it reads (a plain CSV's ``id`` is ``student_id``)"""
AUTO_ORDER = ("login", "email", "sid", "id_number", "lms_id")


class IdentityError(ValueError):
    """A roster that cannot give every student an identity, or gives two students the same."""


def identity_of(student: Student, column: str = "auto") -> tuple[str, str]:
    """(identity, the column it came from) of one roster student."""
    if column != "auto" and column not in FIELDS:
        raise IdentityError(f"unknown identity column {column!r} (auto, {', '.join(FIELDS)})")
    for name in (AUTO_ORDER if column == "auto" else (column,)):
        value = next((v for v in (str(getattr(student, f) or "").strip() for f in FIELDS[name])
                      if v), "")
        if value:
            return value, name
    wanted = ("none of " + ", ".join(AUTO_ORDER) if column == "auto"
              else f"no {column} (the [roster] identity column)")
    raise IdentityError(f"roster student {student.name or student.key!r} has {wanted}")


def identities(students: Iterable[Student], column: str = "auto") -> list[tuple[Student, str, str]]:
    """(student, identity, column) for everybody; two students with the same identity (after the
    normalization variants use: case, blanks) would share one variant: an error."""
    rows, seen = [], {}
    for s in students:
        identity, used = identity_of(s, column)
        if any(c in identity for c in '"\\\n\r'):
            raise IdentityError(f"roster student {s.name!r}: identity {identity!r} contains a quote, "
                                "backslash or line break")
        norm = normalize_identity(identity)
        if norm in seen:
            raise IdentityError(f"roster students {seen[norm]!r} and {s.name!r} have the same identity "
                                f"{identity!r}; choose another [roster] identity column")
        seen[norm] = s.name
        rows.append((s, identity, used))
    return rows
