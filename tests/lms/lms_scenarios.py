"""One small class, and the LMS downloads and rosters of each case the LMS tests cover, built with
the writer ports in ``lms_layouts`` (so every file is laid out as the LMS writes it).

The class: Jane Doe, Bob Roe, Seán O_Brien, José Müller, Nora Nosub (never submits), and for the
group cases Ann Poe, Carl Coe and Dan Day. Each submitted notebook holds a marker naming whose
work it is, so a test can check that the file collected for a student is that student's work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lms_layouts import (
    CanvasAssignment,
    CanvasUser,
    MoodleUser,
    canvas_gradebook_csv,
    canvas_group_set_csv,
    canvas_member,
    canvas_zip_name_for,
    moodle_grades_export_csv,
    moodle_member,
    moodle_student_prefix,
    moodle_team_prefix,
    moodle_worksheet_csv,
)
from lms_support import nb_bytes, write_zip

HW = CanvasAssignment(4501, "HW 1", 10.0)


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    canvas_id: int
    sis: str
    participant: int
    moodle_user: int

    @property
    def email(self) -> str:
        return f"{self.first[0].lower()}{self.last.lower().replace('_', '')}@uni.edu"

    @property
    def login(self) -> str:
        return self.email

    def canvas(self, section: str = "Section A") -> CanvasUser:
        return CanvasUser(self.canvas_id, self.first, self.last, self.sis, self.login, section)

    def moodle(self, group: str | None = None, submitted: str = "") -> MoodleUser:
        return MoodleUser(self.participant, self.first, self.last, self.email,
                          user_id=self.moodle_user, id_number=self.sis, group=group,
                          submitted=submitted)

    @property
    def fullname(self) -> str:
        return f"{self.first} {self.last}"


JANE = Person("Jane", "Doe", 1001, "S1001", 301, 11)
BOB = Person("Bob", "Roe", 1002, "S1002", 302, 12)
SEAN = Person("Seán", "O_Brien", 1003, "S1003", 303, 13)
JOSE = Person("José", "Müller", 1004, "S1004", 304, 14)
NORA = Person("Nora", "Nosub", 1005, "S1005", 305, 15)
ANN = Person("Ann", "Poe", 1006, "S1006", 306, 16)
CARL = Person("Carl", "Coe", 1007, "S1007", 307, 17)
DAN = Person("Dan", "Day", 1008, "S1008", 308, 18)
CLASS = [JANE, BOB, SEAN, JOSE, NORA]
GROUP_CLASS = [JANE, BOB, ANN, CARL, DAN, NORA]


def work(person_or_group: str, file: str = "hw01") -> bytes:
    """The notebook a student (or group) handed in: its marker says whose and which file."""
    return nb_bytes(f"# work of {person_or_group}: {file}")


def canvas_roster(tmp: Path, people: list[Person], *, points: float = 10.0,
                  first_last: bool = False, names: dict[Person, str] | None = None) -> Path:
    users = [p.canvas() for p in people]
    if names:
        for u, p in zip(users, people, strict=True):
            if p in names:
                u.first, u.last = "", names[p]
    text = canvas_gradebook_csv(users, [CanvasAssignment(HW.id, HW.title, points)],
                                first_last=first_last,
                                test_student=CanvasUser(9999, "Test", "Student"))
    path = tmp / "canvas-roster.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return path


def canvas_download(tmp: Path, uploads: list[tuple[str | None, int | None, str, bytes]], *,
                    late: set[str] = frozenset(), anonymous: dict[str, str] | None = None
                    ) -> Path:
    """uploads: (zip name, user id, display name, bytes); attachment ids increase in order.
    ``anonymous`` maps a display name to the anonymous id it is written under."""
    entries = []
    for i, (zip_name, uid, display, data) in enumerate(uploads):
        anon = (anonymous or {}).get(display)
        member = canvas_member(user_name=zip_name, user_id=uid, attachment_id=5001 + i,
                               display_name=display, late=display in late or zip_name in late,
                               anonymous_id=anon)
        entries.append((member, data))
    return write_zip(tmp / "canvas-submissions.zip", entries, utf8_flag=False)


def canvas_groups(tmp: Path, people: list[Person], groups: dict[str, tuple[int, list[Person]]]
                  ) -> Path:
    path = tmp / "groups.csv"
    path.write_text(canvas_group_set_csv(
        [p.canvas() for p in people],
        {name: (gid, [p.canvas_id for p in members]) for name, (gid, members) in groups.items()}),
        encoding="utf-8")
    return path


def canvas_group_download(tmp: Path, groups: dict[str, tuple[Person, bytes]],
                          loners: dict[Person, bytes]) -> Path:
    """A group assignment: one file per group under the group's name and its representative's
    user id; students in no group under their display name (``groups_and_ungrouped``)."""
    uploads: list[tuple[str | None, int | None, str, bytes]] = []
    for gname, (rep, data) in groups.items():
        uploads.append((canvas_zip_name_for(rep.canvas(), group_name=gname), rep.canvas_id,
                        "hw01.ipynb", data))
    for p, data in loners.items():
        uploads.append((canvas_zip_name_for(p.canvas(), anyone_in_a_group=True), p.canvas_id,
                        "hw01.ipynb", data))
    return canvas_download(tmp, uploads)


def moodle_download(tmp: Path, files: list[tuple[str, str, bytes]], layout: str = "4.x") -> Path:
    """files: (prefix, file name, bytes)."""
    return write_zip(tmp / "moodle-submissions.zip",
                     [(moodle_member(prefix, name, layout=layout), data)
                      for prefix, name, data in files], utf8_flag=True)


def moodle_prefix(p: Person, participant: int | None = None) -> str:
    return moodle_student_prefix(p.fullname, participant or p.participant)


def team_prefix(name: str | None, gid: int | None) -> str:
    return moodle_team_prefix(name, gid)


def moodle_grades_roster(tmp: Path, people: list[Person]) -> Path:
    path = tmp / "moodle-grades.csv"
    path.write_text(moodle_grades_export_csv([p.moodle() for p in people], ["HW 1"]),
                    encoding="utf-8")
    return path


def moodle_worksheet(tmp: Path, people: list[Person], *, groups: dict[Person, str | None]
                     | None = None, max_grade: float = 10.0,
                     participants: dict[Person, int] | None = None) -> Path:
    users = []
    for p in people:
        u = p.moodle(group=(groups or {}).get(p), submitted="Friday, 1 March 2024, 11:50 PM")
        if participants and p in participants:
            u.participant_id = participants[p]
        users.append(u)
    path = tmp / "worksheet.csv"
    path.write_text(moodle_worksheet_csv(users, max_grade=max_grade, team=groups is not None),
                    encoding="utf-8")
    return path
