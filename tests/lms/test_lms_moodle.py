"""Moodle 'Download all submissions' zips, in the 3.x, 4.x and flat layouts."""

from __future__ import annotations

import pytest
from lms_support import nb_bytes, write_zip

from autograder.lms.collect import collect
from autograder.lms.moodle import parse_member_path, read_moodle
from autograder.lms.roster import read_roster
from autograder.lms.zipread import open_zip


@pytest.mark.parametrize("path, expect", [
    ("Jane Doe_301_assignsubmission_file_/hw1.ipynb", ("Jane Doe", "301", "file", "hw1.ipynb")),
    ("Jane Doe_301_assignsubmission_file/hw1.ipynb", ("Jane Doe", "301", "file", "hw1.ipynb")),
    ("Jane Doe_301_assignsubmission_file_hw1.ipynb", ("Jane Doe", "301", "file", "hw1.ipynb")),
    ("Jane Doe_301_assignsubmission_file/sub/dir/hw1.ipynb",
     ("Jane Doe", "301", "file", "sub/dir/hw1.ipynb")),
    ("Seán O Brien_302_assignsubmission_onlinetext_/onlinetext.html",
     ("Seán O Brien", "302", "onlinetext", "onlinetext.html")),
    ("Participant_303_assignsubmission_file_/my_hw_1.ipynb",
     ("Participant", "303", "file", "my_hw_1.ipynb")),
])
def test_member_paths(path, expect):
    f = parse_member_path(path)
    assert (f.label, f.number, f.plugin, f.file) == expect


def _moodle_zip(tmp_path):
    return write_zip(tmp_path / "COURSE-HW1-42.zip", [
        ("Jane Doe_301_assignsubmission_file_/hw1.ipynb", nb_bytes("jane")),
        ("Jane Doe_301_assignsubmission_onlinetext_/onlinetext.html", b"<p>see file</p>"),
        # Moodle turns the underscore in "O_Brien" into a space
        ("Seán O Brien_302_assignsubmission_file_/Hausübung 1.ipynb", nb_bytes("sean")),
        ("Seán O Brien_302_assignsubmission_file_/report.pdf", b"%PDF"),
        ("José Müller_303_assignsubmission_file_/hw1.ipynb", nb_bytes("jose")),
        ("Stray Person_399_assignsubmission_file_/hw1.ipynb", nb_bytes("stray")),
    ])


def test_read_moodle(tmp_path):
    with open_zip(_moodle_zip(tmp_path)) as zf:
        d = read_moodle(zf)
    assert {(c.name, c.lms_user_id, c.original_name) for c in d.candidates} == {
        ("Jane Doe", "301", "hw1.ipynb"), ("Seán O Brien", "302", "Hausübung 1.ipynb"),
        ("José Müller", "303", "hw1.ipynb"), ("Stray Person", "399", "hw1.ipynb")}
    reasons = {i.member: i.reason for i in d.ignored}
    assert "onlinetext" in reasons["Jane Doe_301_assignsubmission_onlinetext_/onlinetext.html"]
    assert all("download time" in c.timestamp_source for c in d.candidates)


def test_collect_with_moodle_grades_export(tmp_path):
    roster = tmp_path / "grades.csv"
    roster.write_text(
        "\ufeff\"First name\",\"Last name\",\"ID number\",Institution,Department,\"Email address\","
        "\"Assignment: HW1 (Real)\",\"Course total (Real)\",\"Last downloaded from this course\"\n"
        "Jane,Doe,S1001,,,jdoe@uni.edu,-,-,1709290000\n"
        "Seán,O_Brien,S1002,,,sobrien@uni.edu,-,-,1709290000\n"
        "José,Müller,S1003,,,jmuller@uni.edu,-,-,1709290000\n"
        "Nora,Nosub,S1004,,,nnosub@uni.edu,-,-,1709290000\n", encoding="utf-8")
    r = read_roster(roster)
    assert r.format == "moodle"
    coll = collect("moodle", _moodle_zip(tmp_path), tmp_path / "out", r)
    matched = {e.student.name: e.matched_by for e in coll.entries if not e.unmatched}
    assert matched == {"Jane Doe": "name", "Seán O_Brien": "name", "José Müller": "name"}
    assert [s.name for s in coll.missing] == ["Nora Nosub"]
    assert [e.chosen.name for e in coll.unmatched] == ["Stray Person"]


def test_collect_with_grading_worksheet_uses_participant_ids_and_times(tmp_path):
    sheet = tmp_path / "worksheet.csv"
    sheet.write_text(
        "Identifier,\"Full name\",\"Email address\",Status,Grade,\"Maximum Grade\","
        "\"Grade can be changed\",\"Last modified (submission)\",\"Last modified (grade)\","
        "\"Feedback comments\"\n"
        "\"Participant 301\",\"Jane Doe\",jdoe@uni.edu,\"Submitted for grading\",,10.00,Yes,"
        "\"Friday, 1 March 2024, 11:50 PM\",-,\n"
        "\"Participant 302\",\"Seán O_Brien\",sobrien@uni.edu,\"Submitted for grading\",,10.00,Yes,"
        "\"Saturday, 2 March 2024, 9:05 AM\",-,\n", encoding="utf-8")
    r = read_roster(sheet)
    assert r.format == "moodle-worksheet"
    coll = collect("moodle", _moodle_zip(tmp_path), tmp_path / "out", r)
    by = {e.student.name: e for e in coll.entries}
    assert by["Jane Doe"].matched_by == "lms id"
    assert by["Seán O_Brien"].chosen.timestamp.replace(tzinfo=None).isoformat() == "2024-03-02T09:05:00"
    assert "worksheet" in by["Seán O_Brien"].chosen.timestamp_source
    assert {e.chosen.name for e in coll.unmatched} == {"José Müller", "Stray Person"}
