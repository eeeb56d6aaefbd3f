"""Ports of the LMS code that WRITES the files mlphys reads: every fixture of the LMS tests is
laid out by these functions, so a fixture is what the LMS itself would produce.

Sources (read in the LMS repositories; commits in docs/lms.md):

* Canvas ``lib/content_zipper.rb``: ``get_filename``, ``add_upload_submission``,
  ``sanitize_file_name``, ``sanitize_attachment_filename``, ``sanitize_user_name``;
  ``app/models/assignment.rb``: ``representatives`` / ``groups_and_ungrouped`` (a group's file is
  named after the group; students outside every group are named by ``name``, not
  ``sortable_name``, once anyone is in a group).
* Canvas ``lib/gradebook_exporter.rb`` (gradebook CSV) and
  ``app/controllers/group_categories_controller.rb`` (``export``: group set CSV).
* Moodle ``mod/assign/classes/downloader.php`` (``get_student_prefix``,
  ``load_submissionplugin_filelist``), ``clean_param(PARAM_FILE)`` (``clean_filename``),
  ``mod/assign/gradingtable.php`` (the grading worksheet's columns).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

# -- Canvas: Download Submissions ----------------------------------------------------------------


def ruby_word_chars_only(text: str) -> str:
    """``gsub(/[^[[:word:]]]/, "")``: Ruby's [[:word:]] is letters, marks, decimal digits and
    connector punctuation (Unicode-aware; Python's ``\\w`` differs on marks)."""
    def word(ch: str) -> bool:
        cat = unicodedata.category(ch)
        return cat[0] in "LM" or cat in ("Nd", "Pc")
    return "".join(ch for ch in text if word(ch))


def canvas_sanitize_user_name(name: str) -> str:
    """content_zipper.rb ``sanitize_user_name``: ``_<digits>_`` -> ``<digits>``, downcase."""
    name = re.sub(r"_(\d+)_", r"\1", name)
    return name.lower()


def canvas_sanitize_attachment_filename(name: str) -> str:
    return re.sub(r'[\x00/\\:*?"<>|]+', "_", name)


def canvas_member(*, user_name: str | None, user_id: int | None, attachment_id: int,
                  display_name: str, late: bool = False, anonymous_id: str | None = None) -> str:
    """One upload's member name: ``get_filename`` + ``add_upload_submission``.

    ``user_name`` is the representative's sortable name (None under anonymous grading, where
    ``anonymous_id`` replaces the user id)."""
    users_name = None if anonymous_id is not None else canvas_sanitize_user_name(user_name or "")
    ident = f"anon_{anonymous_id}" if anonymous_id is not None else str(user_id)
    filename = "_".join(p for p in (users_name, "LATE" if late else None, ident) if p is not None)
    filename = ruby_word_chars_only(filename)
    return f"{filename}_{attachment_id}_{canvas_sanitize_attachment_filename(display_name)}"


def canvas_text_member(*, user_name: str, user_id: int, late: bool = False) -> str:
    filename = "_".join(p for p in (canvas_sanitize_user_name(user_name),
                                    "LATE" if late else None, str(user_id)) if p is not None)
    return f"{ruby_word_chars_only(filename)}_text.html"


@dataclass
class CanvasUser:
    id: int
    first: str
    last: str
    sis_user_id: str = ""
    login: str = ""
    section: str = "Section A"

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}".strip()

    @property
    def sortable_name(self) -> str:
        return f"{self.last}, {self.first}" if self.first else self.last


def canvas_zip_name_for(user: CanvasUser, *, group_name: str | None = None,
                        anyone_in_a_group: bool = False) -> str:
    """The sortable name content_zipper uses for ``user``'s files: the group's name for a group's
    representative; a groupless student's ``name`` when any student is in a group
    (``groups_and_ungrouped``); else the sortable name."""
    if group_name is not None:
        return group_name
    return user.name if anyone_in_a_group else user.sortable_name


# -- Canvas: gradebook export and group set export ----------------------------------------------


@dataclass
class CanvasAssignment:
    id: int
    title: str
    points_possible: float
    scores: dict[int, float] = field(default_factory=dict)


def canvas_format_number(x: float | None) -> str:
    """``I18n.n(number, precision: 2)`` in English."""
    return "" if x is None else f"{x:.2f}"


def canvas_student_name(name: str) -> str:
    """gradebook_exporter.rb ``student_name``: a name starting with '=' is written ``="..."``."""
    return f'="{name}"' if re.match(r"^\s*=", name) else name


def canvas_gradebook_csv(users: list[CanvasUser], assignments: list[CanvasAssignment], *,
                         include_sis_id: bool = True, first_last: bool = False,
                         test_student: CanvasUser | None = None, manual_posting: bool = False,
                         bom: bool = True) -> str:
    """The gradebook export (Grades > Export) as ``GradebookExporter#csv_data`` writes it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    header = ["LastName", "FirstName"] if first_last else ["Student"]
    header += ["ID"] + (["SIS User ID"] if include_sis_id else []) + ["SIS Login ID", "Section"]
    header += [f"{a.title} ({a.id})" for a in assignments]
    header += ["Current Points", "Final Points", "Current Score", "Unposted Current Score",
               "Final Score", "Unposted Final Score"]
    w.writerow(header)
    lead = 5 if first_last else 4
    lead += 1 if include_sis_id else 0
    if manual_posting:
        w.writerow([""] * lead + ["Manual Posting"] * len(assignments) + [""] * 6)
    pp = ["    Points Possible"] + [""] * (lead - 1)
    w.writerow(pp + [canvas_format_number(a.points_possible) for a in assignments]
               + ["(read only)"] * 6)
    everyone = [*users, *([test_student] if test_student else [])]
    for u in everyone:
        names = ([canvas_student_name(u.last), canvas_student_name(u.first)] if first_last
                 else [canvas_student_name(u.sortable_name)])
        row = [*names, str(u.id)] + ([u.sis_user_id] if include_sis_id else [])
        row += [u.login, u.section]
        row += [canvas_format_number(a.scores.get(u.id)) for a in assignments]
        row += ["", "", "", "", "", ""]
        w.writerow(row)
    return ("\ufeff" if bom else "") + buf.getvalue()


def canvas_group_set_csv(users: list[CanvasUser], groups: dict[str, tuple[int, list[int]]],
                         include_sis_id: bool = True) -> str:
    """group_categories_controller.rb ``export``: ``name, canvas_user_id, [user_id], login_id,
    sections, group_name, canvas_group_id``; ``groups`` maps a group name to (id, user ids)."""
    member_of = {uid: (name, gid) for name, (gid, uids) in groups.items() for uid in uids}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "canvas_user_id", *(["user_id"] if include_sis_id else []), "login_id",
                "sections", "group_name", "canvas_group_id"])
    for u in sorted(users, key=lambda u: u.sortable_name):
        gname, gid = member_of.get(u.id, ("", ""))
        w.writerow([u.sortable_name, u.id, *([u.sis_user_id] if include_sis_id else []), u.login,
                    u.section, gname, gid])
    return buf.getvalue()


# -- Moodle: Download all submissions and the grading worksheet ----------------------------------


def moodle_clean_filename(text: str) -> str:
    """``clean_param($x, PARAM_FILE)``: drop control characters and & < > " ` | ' : \\ /."""
    text = re.sub(r"[\x00-\x1f\x7f]|[&<>\"`|':\\/]", "", text)
    return "" if text in (".", "..") else text


def moodle_student_prefix(fullname: str, participant_id: int, blind: bool = False) -> str:
    name = "Participant" if blind else fullname
    return moodle_clean_filename(name.replace("_", " ") + f"_{participant_id}")


def moodle_team_prefix(group_name: str | None, group_id: int | None) -> str:
    """Team submissions: ``<group name>_<group id>``; students in no group share the submission
    of the default team, named ``Default group`` WITHOUT a number (Moodle 4.1+)."""
    if group_name is None:
        return moodle_clean_filename("Default group")
    return moodle_clean_filename(group_name.replace("_", " ") + f"_{group_id}")


def moodle_member(prefix: str, filename: str, *, layout: str = "4.x", filepath: str = "/",
                  plugin: str = "file") -> str:
    """A file's path in the zip: 4.x folders, 3.x folders (trailing '_') or flat."""
    if layout == "flat":
        return moodle_clean_filename(f"{prefix}_assignsubmission_{plugin}_{filename}")
    folder = moodle_clean_filename(f"{prefix}_assignsubmission_{plugin}"
                                   + ("_" if layout == "3.x" else ""))
    if plugin != "file":
        filepath = "/"
    return f"{folder}{filepath}{filename}"


@dataclass
class MoodleUser:
    participant_id: int
    first: str
    last: str
    email: str
    user_id: int = 0
    id_number: str = ""
    username: str = ""
    group: str | None = None
    submitted: str = ""

    @property
    def fullname(self) -> str:
        return f"{self.first} {self.last}"


def moodle_worksheet_csv(users: list[MoodleUser], *, max_grade: float = 10.0,
                         team: bool = False, blind: bool = False) -> str:
    """assign_grading_table downloaded as the offline grading worksheet: Identifier, Full name
    (not under blind marking), Email address, Status, [Group], Grade, Maximum Grade, ..."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["Identifier", *([] if blind else ["Full name", "Email address"]), "Status",
              *(["Group"] if team else []), "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
    w.writerow(header)
    for u in users:
        w.writerow([f"Participant {u.participant_id}",
                    *([] if blind else [u.fullname, u.email]),
                    "Submitted for grading" if u.submitted else "No submission",
                    *([u.group or "Default group"] if team else []), "", f"{max_grade:.2f}",
                    "Yes", u.submitted or "-", "-", ""])
    return "\ufeff" + buf.getvalue()


def moodle_grades_export_csv(users: list[MoodleUser], items: list[str]) -> str:
    """Grades > Export > Plain text file (gradeexport_txt), default identity fields."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["First name", "Last name", "ID number", "Institution", "Department",
                "Email address", *[f"Assignment: {i} (Real)" for i in items],
                "Last downloaded from this course"])
    for u in users:
        w.writerow([u.first, u.last, u.id_number, "", "", u.email, *["-"] * len(items),
                    "1709290000"])
    return "\ufeff" + buf.getvalue()
