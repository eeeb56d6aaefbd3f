"""Who is in which group, for group assignments (``collect --groups FILE``).

Why collect needs it: Canvas zips ONE file per group, named after the group and carrying the
user id of one member (canvas-lms ``Assignment#representatives``: the representative's
``sortable_name`` is replaced by the group's name), and Moodle names a team submission's folder
``<group name>_<group id>`` -- so the download alone names one member (Canvas) or nobody
(Moodle). The grade must reach every member, and nobody in a group may be reported missing
(with ``--missing-as-zero`` a zero for a member is applied by Canvas to the whole group).

Accepted files:

* Canvas group set export (People > Groups > ... > Download Course Roster; canvas-lms
  ``GroupCategoriesController#export``): ``name, canvas_user_id, [user_id], login_id, sections,
  group_name, [canvas_group_id, [group_id]]``; students without a group have an empty
  ``group_name``.
* Any CSV with a group column (``group``, ``group name``, ``group_name``, ``team``) and at least
  one identifier column (``email``, ``canvas_user_id``/``canvas user id``, ``sid``/``student id``,
  ``login``/``login_id``, ``id number``, ``name``).

A Moodle grading worksheet of a team assignment has a ``Group`` column itself; passing it as
``--roster`` is enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.lms.errors import LmsError
from autograder.lms.matching import fits
from autograder.lms.names import fold, norm_email, norm_id
from autograder.lms.roster import Roster, Student, read_rows

GROUP_COLUMNS = ("group_name", "group name", "group", "team", "groups")
ID_COLUMNS = {
    "canvas_user_id": ("canvas_user_id", "canvas user id", "canvas id"),
    "sis_user_id": ("user_id", "sis user id", "sid", "student id"),
    "login": ("login_id", "sis login id", "login", "username"),
    "email": ("email", "email address", "e-mail"),
    "id_number": ("id number", "idnumber"),
    "name": ("name", "full name", "student"),
    "group_id": ("canvas_group_id", "group id", "group_id"),
}


@dataclass(frozen=True)
class Membership:
    """One student's group, and how to recognise the student."""

    group: str
    group_id: str
    canvas_user_id: str = ""
    sis_user_id: str = ""
    login: str = ""
    email: str = ""
    id_number: str = ""
    name: str = ""


def is_group_file(header: list[str]) -> bool:
    low = [h.strip().lower() for h in header]
    return any(g in low for g in GROUP_COLUMNS) and any(
        c in low for key, cols in ID_COLUMNS.items() if key != "group_id" for c in cols)


def read_memberships(rows: list[list[str]], source: str) -> list[Membership]:
    """Memberships from the rows of a groups CSV (header first); students without a group are
    left out. LmsError when the header has no group or no identifier column."""
    if not rows or not is_group_file(rows[0]):
        raise LmsError(f"{source}: not a groups file (needs a group column such as group_name "
                       "and an identifier such as canvas_user_id, email, sid or name)")
    low = [h.strip().lower() for h in rows[0]]
    group_col = next(low.index(g) for g in GROUP_COLUMNS if g in low)

    def cell(r: list[str], key: str) -> str:
        for name in ID_COLUMNS[key]:
            if name in low:
                j = low.index(name)
                if j < len(r) and r[j].strip():
                    return r[j].strip()
        return ""

    out: list[Membership] = []
    for r in rows[1:]:
        group = r[group_col].strip() if group_col < len(r) else ""
        if not group:
            continue
        out.append(Membership(group=group, group_id=norm_id(cell(r, "group_id")),
                              canvas_user_id=norm_id(cell(r, "canvas_user_id")),
                              sis_user_id=norm_id(cell(r, "sis_user_id")),
                              login=cell(r, "login"), email=norm_email(cell(r, "email")),
                              id_number=norm_id(cell(r, "id_number")), name=cell(r, "name")))
    if not out:
        raise LmsError(f"{source}: no student is in a group")
    return out


_RULES: tuple[Callable[[Membership, Student], bool], ...] = (
    lambda m, s: bool(m.canvas_user_id) and norm_id(s.lms_id) == m.canvas_user_id,
    lambda m, s: bool(m.email) and m.email in {norm_email(s.email), norm_email(s.login)},
    lambda m, s: bool(m.login) and m.login.casefold() in {s.login.casefold(), s.username.casefold(),
                                                          norm_email(s.email)},
    lambda m, s: bool(m.sis_user_id) and m.sis_user_id in {norm_id(s.sis_user_id),
                                                           norm_id(s.student_id)},
    lambda m, s: bool(m.id_number) and m.id_number == norm_id(s.id_number),
    lambda m, s: bool(m.name) and fits(m.name, s),
)
"""how a groups file's row is recognised on the roster, most exact first"""


def apply_memberships(roster: Roster, memberships: list[Membership]) -> list[str]:
    """Give the roster's students their groups; returns what could not be applied.

    Each membership is matched to ONE roster student by the LMS user id, then email or login,
    then SIS id / ID number, then the name (unique); anything else is reported, not guessed."""
    problems: list[str] = []
    for m in memberships:
        hits: list[Student] = []
        for rule in _RULES:
            hits = [s for s in roster.students if rule(m, s)]
            if hits:
                break
        if len(hits) != 1:
            who = m.name or m.email or m.login or m.canvas_user_id or m.sis_user_id
            problems.append(f"groups file: {who!r} ({m.group}) fits "
                            + ("no roster student" if not hits else
                               f"{len(hits)} roster students ({', '.join(h.name for h in hits)})"))
            continue
        student = hits[0]
        if student.group and fold(student.group) != fold(m.group):
            problems.append(f"groups file: {student.display} is in {student.group!r} on the roster "
                            f"and in {m.group!r} in the groups file")
            continue
        student.group, student.group_id = m.group, m.group_id or student.group_id
    return problems


def read_groups(path: str | Path, roster: Roster) -> list[str]:
    """``collect --groups FILE``: read the file and give the roster's students their groups."""
    p = Path(path)
    return apply_memberships(roster, read_memberships(read_rows(p), str(p)))
