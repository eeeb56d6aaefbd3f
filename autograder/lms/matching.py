"""Matching one LMS submission to the people on the roster.

The rules, and why (sources in docs/lms.md):

* An id is used only for what it really is. A submission's user id is compared with the roster's
  only when the roster comes from the same LMS (``Roster.ids_of``): a plain roster's ``id`` is
  the institution's, never an LMS's. An id of kind ``'user'`` (the LMS's id of the person) is
  authoritative: a roster of that LMS without it means "not on the roster", never "try the
  name". An id of kind ``'participant'`` is an id of one assignment (Moodle's download folders)
  and is believed only when the roster's name for it agrees with the folder's; otherwise the
  roster is probably another assignment's and the name decides (with a note).
* A submission named after a group (Canvas names a group's file after the group and gives one
  member's user id; Moodle names a team's folder after the group and its group id) is given to
  every member the roster (or ``--groups``) lists for that group. The shared submission of the
  students in no group (Moodle's numberless ``Default group`` folder) goes to exactly those.
* Names are compared folded (accents, case, punctuation and order do not matter) and must fit
  exactly one student; several fits are reported, never resolved by a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autograder.lms.model import Candidate
from autograder.lms.names import fold, name_keys, norm_email, norm_id
from autograder.lms.roster import Roster, Student


@dataclass
class Match:
    """Who a submission belongs to."""

    students: list[Student]
    """the people the grade goes to ([] when unmatched or anonymous)"""
    how: str
    """'lms id', 'email', 'student id', 'name', 'group', 'anonymous' or 'unmatched: <why>'"""
    group: tuple[str, str] | None = None
    """(name, id) when the submission is a group's"""
    notes: list[str] = field(default_factory=list)
    name_mismatch: str = ""
    """the file is named after someone else (a group?) and no group says who else is in it"""

    @property
    def matched(self) -> bool:
        return bool(self.students)


def _unmatched(why: str, notes: list[str] | None = None) -> Match:
    return Match([], f"unmatched: {why}", notes=notes or [])


def _keys(name: str) -> set[str]:
    return name_keys(name) | ({fold(name)} - {""})


def fits(name: str | None, student: Student) -> bool:
    """The (possibly folded) name is this student's, in either order."""
    if not name:
        return False
    return bool(_keys(name) & (name_keys(student.name) | name_keys(student.display)))


def _group_members(roster: Roster, name: str) -> list[tuple[str, str, list[Student]]]:
    """The roster's groups whose name fits ``name``: (group name, group id, members)."""
    want = fold(name)
    groups: dict[str, tuple[str, str, list[Student]]] = {}
    for s in roster.students:
        if s.group and fold(s.group) == want:
            groups.setdefault(s.group, (s.group, s.group_id, []))[2].append(s)
    return list(groups.values())


def _by_person(person: dict[str, Any], roster: Roster) -> tuple[list[Student], str]:
    """Email, then student id, then name (unique)."""
    email = norm_email(person.get("email"))
    if email:
        hits = [s for s in roster.students if email in {norm_email(s.email), norm_email(s.login)}]
        if len(hits) == 1:
            return hits, "email"
    sid = norm_id(person.get("sid"))
    if sid:
        hits = [s for s in roster.students if sid in {norm_id(s.student_id), norm_id(s.sis_user_id),
                                                      norm_id(s.id_number), norm_id(s.login),
                                                      norm_id(s.username)}]
        if len(hits) == 1:
            return hits, "student id"
    names = [n for n in person.get("names", [person.get("name")]) if n]
    for n in names:
        hits = [s for s in roster.students if fits(n, s)]
        if len(hits) == 1:
            return hits, "name"
        if len(hits) > 1:
            return hits, f"unmatched: name {n!r} fits several students ({', '.join(s.name for s in hits)})"
    return [], "unmatched: no student with this email, student id or name"


def _as_group(roster: Roster, name: str | None, how: str) -> Match | None:
    if not name or not roster.has_groups:
        return None
    groups = _group_members(roster, name)
    if len(groups) == 1:
        gname, gid, members = groups[0]
        return Match(members, how, (gname, gid))
    if len(groups) > 1:
        return _unmatched(f"the name {name!r} fits {len(groups)} groups "
                          f"({', '.join(g for g, _, _ in groups)})")
    return None


def match_submission(c: Candidate, roster: Roster, user_id_field: str) -> Match:
    """The people ``c`` (a file of one submission) belongs to. ``user_id_field``: the Student
    attribute that holds this LMS's user ids."""
    if c.anonymous_id:
        return Match([], "anonymous", notes=[f"{c.member}: downloaded under anonymous grading "
                                              f"(anonymous id {c.anonymous_id}): no name, no id"])
    if c.no_group:
        if not roster.has_groups:
            return _unmatched(f"the shared submission of the students in no group ({c.name!r}), "
                              "but the roster names no groups (pass the grading worksheet of "
                              "the assignment, or --groups)")
        members = [s for g in _group_members(roster, c.name or "") for s in g[2]]
        members = members or [s for s in roster.students if not s.group]
        return Match(members, "group", (c.name or "", ""))
    if len(c.group) > 1:  # one submission by several people: each is looked up
        found: list[Student] = []
        notes = []
        for person in c.group:
            hits, how = _by_person(person, roster)
            if len(hits) == 1 and not how.startswith("unmatched"):
                found.append(hits[0])
            else:
                notes.append(f"{c.member}: submitter {person.get('name') or person.get('email')!r} "
                             f"not on the roster ({how.removeprefix('unmatched: ')})")
        if not found:
            return _unmatched("no submitter is on the roster", notes)
        return Match(found, "group", (" & ".join(s.display for s in found), c.submission_id or ""),
                     notes)

    notes: list[str] = []
    readings = [{"lms_user_id": c.lms_user_id, "name": c.name}, *c.alternatives]
    trusted = bool(c.lms_user_id) and roster.ids_of == c.lms
    if trusted:
        def by_id(uid: str | None) -> list[Student]:
            u = norm_id(uid)
            return [s for s in roster.students if u and norm_id(getattr(s, user_id_field)) == u]

        if c.id_kind == "user":
            known = [(r, by_id(r["lms_user_id"])) for r in readings]
            known = [(r, hits) for r, hits in known if hits]
            if not known:
                return _unmatched(f"no roster student has the LMS user id {c.lms_user_id}")
            reading, hits = known[0]
            student = hits[0]
            name = reading["name"]
            if not name or fits(name, student):
                return Match([student], "lms id")
            if student.group and fold(student.group) == fold(name):
                members = [s for s in roster.students if s.group == student.group]
                return Match(members, "lms id (group)", (student.group, student.group_id))
            return Match([student], "lms id", notes=[
                f"{c.member}: named {name!r}, but LMS user {reading['lms_user_id']} is "
                f"{student.display}: a group's submission? (pass --groups so that every member "
                "gets the grade)"], name_mismatch=name)
        team = _as_group(roster, c.name, "group")  # a team's folder carries the group's id
        if team is not None and team.matched:
            return team
        hits = by_id(c.lms_user_id)
        if len(hits) == 1 and (not c.name or not hits[0].name or fits(c.name, hits[0])):
            return Match(hits, "lms id")
        if hits:
            notes.append(f"{c.member}: id {c.lms_user_id} is {hits[0].display} on the roster, not "
                         f"{c.name!r}: a roster of another assignment? (matched by name instead)")
    person = {"name": c.name, "names": [r["name"] for r in readings], "email": c.email,
              "sid": c.sid}
    hits, how = _by_person(person, roster)
    if len(hits) == 1 and not how.startswith("unmatched"):
        return Match(hits, how, notes=notes)
    group = _as_group(roster, c.name, "group")
    if group is not None:
        group.notes = notes + group.notes
        return group
    if how.startswith("unmatched"):
        return Match([], how, notes=notes)
    return _unmatched("no student with this name, email or id", notes)
