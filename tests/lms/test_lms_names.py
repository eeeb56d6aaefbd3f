"""Member names as the LMS code writes them (lms_layouts) read back into their fields."""

from __future__ import annotations

import pytest
from lms_layouts import (
    canvas_member,
    canvas_sanitize_user_name,
    moodle_member,
    moodle_student_prefix,
    moodle_team_prefix,
    ruby_word_chars_only,
)

from autograder.lms import canvas as canvas_names
from autograder.lms import moodle as moodle_paths
from autograder.lms import notebook_choice


@pytest.mark.parametrize("user_name, late, uid, aid, display", [
    ("Doe, Jane", False, 1001, 5001, "hw1.ipynb"),
    ("Doe, Jane", True, 1001, 5001, "hw1.ipynb"),
    ("O_Brien, Seán", False, 1002, 5002, "my_hw_1_2.ipynb"),
    ("Müller, José", True, 1003, 5003, "Hausübung 1.ipynb"),
    ("2023001234", False, 100040, 9040, "hw01.ipynb"),
    ("Smith_2_3, Al", False, 1004, 5004, "2024_03_01_hw.ipynb"),
    ("Late", True, 1007, 5007, "hw.ipynb"),
    ("!!!", False, 1005, 5005, "hw.ipynb"),
    ("Team Alpha (HW)", False, 1006, 5006, "hw.ipynb"),
])
def test_canvas_names_read_back(user_name, late, uid, aid, display):
    member = canvas_member(user_name=user_name, user_id=uid, attachment_id=aid,
                           display_name=display, late=late)
    got, note = canvas_names.read(member, {str(uid)})
    assert (got.late, got.user_id, got.attachment_id, got.display_name) == (late, str(uid),
                                                                             str(aid), display)
    assert got.name == ruby_word_chars_only(canvas_sanitize_user_name(user_name))
    assert note is None


def test_canvas_late_is_written_in_capitals():
    member = canvas_member(user_name="Doe, Jane", user_id=1001, attachment_id=5001,
                           display_name="hw1.ipynb", late=True)
    assert member == "doejane_LATE_1001_5001_hw1.ipynb"


@pytest.mark.parametrize("late", [False, True])
def test_canvas_anonymous_names(late):
    member = canvas_member(user_name=None, user_id=None, attachment_id=5001,
                           display_name="hw_1.ipynb", late=late, anonymous_id="aB3xZ")
    assert member.startswith("LATE_anon_" if late else "anon_")
    got, _ = canvas_names.read(member)
    assert (got.anonymous_id, got.user_id, got.late, got.display_name) == ("aB3xZ", None, late,
                                                                           "hw_1.ipynb")


def test_canvas_digit_only_name_is_the_name_not_the_user():
    got, note = canvas_names.read("2023001234_100040_9040_hw01.ipynb")
    assert (got.name, got.user_id, got.attachment_id, got.display_name) == (
        "2023001234", "100040", "9040", "hw01.ipynb")
    assert note is None  # the only layout Canvas can have written


def test_canvas_ambiguous_name_uses_the_roster_or_reports():
    member = "smith_2_1001_5001_x.ipynb"  # name 'smith_2' (user 1001) or 'smith' (user 2)
    got, note = canvas_names.read(member, {"1001"})
    assert (got.name, got.user_id, note) == ("smith_2", "1001", None)
    got, note = canvas_names.read(member)
    assert got.user_id == "2" and "1001" in note and "several readings" in note


def test_canvas_not_uploads():
    assert canvas_names.readings("hw1.ipynb") == []
    assert canvas_names.readings("doejane_hw1.ipynb") == []
    # Canvas always writes a name field; a nameless layout is read only when nothing else fits
    nameless = canvas_names.readings("1001_5001_hw.ipynb")
    assert [(r.name, r.late, r.user_id) for r in nameless] == [(None, False, "1001")]


@pytest.mark.parametrize("layout", ["4.x", "3.x", "flat"])
def test_moodle_paths(layout):
    member = moodle_member(moodle_student_prefix("Seán O'Brien_x", 301), "hw 1.ipynb", layout=layout)
    got = moodle_paths.parse_member_path(member)
    assert (got.label, got.number, got.plugin, got.file) == ("Seán OBrien x", "301", "file",
                                                             "hw 1.ipynb")


def test_moodle_team_and_default_group_paths():
    team = moodle_paths.parse_member_path(
        moodle_member(moodle_team_prefix("Team_A", 12), "hw.ipynb"))
    assert (team.label, team.number) == ("Team A", "12")
    default = moodle_paths.parse_member_path(moodle_member(moodle_team_prefix(None, None),
                                                           "hw.ipynb"))
    assert default.label == "Default group" and default.number is None
    blind = moodle_paths.parse_member_path(moodle_member(moodle_student_prefix("x", 7, True),
                                                         "a/b.ipynb", filepath="/sub/"))
    assert (blind.label, blind.number, blind.file) == ("Participant", "7", "sub/a/b.ipynb")


def test_notebook_choice_by_name():
    files = ["scratch.ipynb", "hw01.ipynb"]
    assert notebook_choice.choose(files, "hw01.ipynb").index == 1
    assert notebook_choice.choose(["HW01-1.ipynb", "scratch.ipynb"], "hw01.ipynb").index == 0
    amb = notebook_choice.choose(["hw01.ipynb", "hw01 (1).ipynb"], "hw01.ipynb")
    assert amb.index is None and "2 files" in amb.reason  # two candidates: the instructor picks
    amb = notebook_choice.choose(["hw01-1.ipynb", "hw01 (2).ipynb"], "hw01.ipynb")
    assert amb.index is None and "2 files" in amb.reason
    assert notebook_choice.choose(["a.ipynb", "b.ipynb"], None).index is None
    assert notebook_choice.choose(["only.ipynb"], "hw01.ipynb").index == 0


def test_infer_notebook_name():
    assert notebook_choice.infer_notebook_name(["hw01.ipynb", "HW01-1.ipynb", "x.ipynb"]) == \
        "hw01.ipynb"
    assert notebook_choice.infer_notebook_name(["a.ipynb", "b.ipynb"]) is None
