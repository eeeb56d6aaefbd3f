"""The importer ports behave as the LMS code they port (the rules the export tests rely on)."""

from __future__ import annotations

import port_canvas_gradebook_import as cv
import port_moodle_grade_import as md
import pytest


def _moodle_book():
    users = [md.User(11, "a@uni.edu", "S1"), md.User(12, "b@uni.edu", "S2"),
             md.User(13, "c@uni.edu", "S3")]
    book = md.Gradebook(users, [md.Item(7, "HW 1", grademax=10)])
    book.grades[(13, 7)] = 9.0
    book.feedback[(13, 7)] = "typed by hand"
    return book


def _moodle(book, text, **kw):
    return md.prepare(book, text, mapfrom="Email address", mapto="useremail",
                      mapping={"HW 1": "7", "Feedback": "feedback_7"}, **kw)


def test_moodle_blank_identifier_gives_the_grade_to_the_previous_student():
    book = _moodle_book()
    r = _moodle(book, "Email address,HW 1,Feedback\na@uni.edu,5,x\n,8,y\n")
    md.commit(book, r)
    assert r.ok and book.grades[(11, 7)] == 8.0 and (12, 7) not in book.grades


def test_moodle_blank_first_identifier_aborts():
    book = _moodle_book()
    r = _moodle(book, "Email address,HW 1,Feedback\n,5,x\na@uni.edu,8,y\n")
    assert not r.ok and r.errors == ["usermappingerrorusernotfound"]


def test_moodle_blank_grade_and_feedback_erase():
    book = _moodle_book()
    r = _moodle(book, "Email address,HW 1,Feedback\nc@uni.edu,,\n")
    md.commit(book, r)
    assert book.grades[(13, 7)] is None and book.feedback[(13, 7)] == ""


@pytest.mark.parametrize("text, error", [
    ("Email address,HW 1,Feedback\nnobody@uni.edu,5,x\n", "usermappingerror"),
    ("Email address,HW 1,Feedback\na@uni.edu,101,x\n", "gradevaluetoobig"),
    ("Email address,HW 1,Feedback\na@uni.edu,five,x\n", "badgrade"),
])
def test_moodle_aborts_the_whole_import(text, error):
    r = _moodle(_moodle_book(), text)
    assert not r.ok and r.errors[0].startswith(error)


def test_moodle_bounds_a_grade_to_the_item():
    book = _moodle_book()
    md.commit(book, _moodle(book, "Email address,HW 1,Feedback\na@uni.edu,45,x\n"))
    assert book.grades[(11, 7)] == 10.0


def _course(group=False):
    users = [cv.User(1001, "Jane Doe", "Doe, Jane", "S1", "jdoe"),
             cv.User(1002, "Bob Roe", "Roe, Bob", "S2", "broe"),
             cv.User(1003, "Ann Poe", "Poe, Ann", "S3", "apoe")]
    a = cv.Assignment(4501, "HW 1", 10.0, groups=[[1001, 1002]] if group else [])
    course = cv.Course(users, [a])
    course.scores[(1003, 4501)] = 7.0
    return course


def test_canvas_matches_by_id_then_sis_then_name():
    course = _course()
    text = ("Student,ID,SIS User ID,SIS Login ID,Section,HW 1 (4501)\n"
            "    Points Possible,,,,,10\n"
            "Somebody Else,1001,,,,8\n"        # ID wins over the name
            "x,,S2,,,6\n"                       # SIS user id
            "\"Poe, Ann\",,,,,7\n"              # sortable name; no change
            "Nobody,,,,,5\n")
    r = cv.parse(course, text)
    assert r.changes == [(1001, 4501, "8"), (1002, 4501, "6")]
    assert len(r.unknown_students) == 1 and "Nobody" in r.unknown_students[0]


def test_canvas_blank_removes_a_grade_and_points_possible_only_for_new_columns():
    course = _course()
    text = ("Student,ID,SIS User ID,SIS Login ID,Section,HW 1 (4501),New (77)\n"
            "    Points Possible,,,,,100,5\n"
            "\"Poe, Ann\",1003,,,,,\n")
    r = cv.parse(course, text)
    cv.apply(course, r)
    assert course.scores[(1003, 4501)] is None
    assert r.new_assignments == [("New", "5")]
    assert course.assignments[0].points_possible == 10.0


def test_canvas_group_grade_goes_to_every_member_last_row_wins():
    course = _course(group=True)
    text = ("Student,ID,SIS User ID,SIS Login ID,Section,HW 1 (4501)\n"
            "a,1001,,,,8\nb,1002,,,,0\n")
    cv.apply(course, cv.parse(course, text))
    assert course.scores[(1001, 4501)] == course.scores[(1002, 4501)] == 0.0


def test_canvas_semicolons_decimal_commas_and_bad_headers():
    course = _course()
    text = "Student;ID;SIS Login ID;Section;HW 1 (4501)\na;1001;;;8,5\n"
    assert cv.parse(course, text).changes == [(1001, 4501, "8.5")]
    with pytest.raises(cv.InvalidHeaderRow):
        cv.parse(course, "Name,ID,Section,HW 1 (4501)\na,1001,,8\n")
    with pytest.raises(cv.InvalidHeaderRow):
        cv.parse(course, "Student,ID,SIS Login ID,Group,HW 1 (4501)\na,1001,,,8\n")


def test_canvas_unposted_anonymous_assignment_refuses_grades():
    course = _course()
    course.assignments[0].unposted_anonymous_submissions = True
    r = cv.parse(course, "Student,ID,SIS Login ID,Section,HW 1 (4501)\na,1001,,,8\n")
    assert r.changes == [] and r.prevented_ungradeable


@pytest.mark.parametrize("first_last", [False, True])
def test_canvas_reimports_its_own_gradebook_export(first_last):
    """The writer port (lms_layouts) and the importer port agree: Canvas's export, uploaded
    unchanged, is a valid import that changes nothing."""
    from lms_layouts import CanvasAssignment, CanvasUser, canvas_gradebook_csv

    course = _course()
    users = [CanvasUser(u.id, u.name.split()[0], u.name.split()[1], u.sis_user_id, u.login_id)
             for u in course.users]
    text = canvas_gradebook_csv(users, [CanvasAssignment(4501, "HW 1", 10.0, {1003: 7.0})],
                                first_last=first_last, manual_posting=True, bom=False)
    r = cv.parse(course, text)
    assert r.changes == [] and r.unknown_students == [] and r.new_assignments == []
    assert sorted(uid for _, uid in r.matched) == [1001, 1002, 1003]
