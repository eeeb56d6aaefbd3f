"""Ambiguities are reported, never resolved by a guess; refusals name the students concerned."""

from __future__ import annotations

import json

from click.testing import CliRunner
from lms_scenarios import (
    BOB,
    CLASS,
    GROUP_CLASS,
    JANE,
    NORA,
    canvas_download,
    canvas_roster,
    moodle_download,
    moodle_prefix,
    work,
)
from lms_support import write_final_grades

from autograder.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _collect(tmp_path, lms, download, *extra):
    out = tmp_path / "out"
    r = invoke("collect", "--lms", lms, "--out", out, *extra, download)
    assert r.exit_code == 0, r.output
    return out, json.loads((out / "collection.json").read_text("utf-8")), r.output


def test_two_lms_users_fitting_one_student_are_not_merged(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("name,email\nJane Doe,jdoe@uni.edu\nBob Roe,broe@uni.edu\n", encoding="utf-8")
    download = canvas_download(tmp_path, [("Doe, Jane", 1001, "hw01.ipynb", work("Jane Doe")),
                                          ("Doe, Jane", 1009, "hw01.ipynb", work("other Jane"))])
    out, coll, output = _collect(tmp_path, "canvas", download, "--roster", plain)
    assert coll["entries"] == []
    assert [a["student"]["name"] for a in coll["ambiguous"]] == ["Jane Doe"]
    assert "2 submissions fit Jane Doe" in output
    assert [m["name"] for m in coll["missing"]] == ["Bob Roe"]  # Jane is not 'missing' either


def test_name_fitting_two_students_is_unmatched(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("name,email\nJane Doe,a@uni.edu\nJane Doe,b@uni.edu\n", encoding="utf-8")
    download = moodle_download(tmp_path, [(moodle_prefix(JANE), "hw01.ipynb", work("Jane Doe"))])
    _, coll, output = _collect(tmp_path, "moodle", download, "--roster", plain)
    assert "fits several students" in coll["unmatched"][0]["why"]
    assert "unmatched: 1 file(s)" in output


def test_canvas_name_readings_without_roster_are_noted(tmp_path):
    download = canvas_download(tmp_path, [("Smith_2", 1001, "hw01.ipynb", work("Al Smith"))])
    _, coll, output = _collect(tmp_path, "canvas", download)
    assert coll["entries"][0]["student"]["lms_id"] == "2"  # the shortest name is read
    assert "also reads as user 1001" in output


def test_groups_file_rows_that_fit_nobody_are_reported(tmp_path):
    roster = canvas_roster(tmp_path, GROUP_CLASS)
    groups = tmp_path / "groups.csv"
    groups.write_text("email,group\njdoe@uni.edu,Red\nghost@uni.edu,Red\n", encoding="utf-8")
    download = canvas_download(tmp_path, [("Red", JANE.canvas_id, "hw01.ipynb", work("Red"))])
    out, coll, output = _collect(tmp_path, "canvas", download, "--roster", roster,
                                 "--groups", groups)
    assert "'ghost@uni.edu' (Red) fits no roster student" in output
    assert coll["entries"][0]["group"]["name"] == "Red"
    r = invoke("collect", "--lms", "canvas", "--groups", groups, "--out", tmp_path / "o2", download)
    assert r.exit_code == 1 and "--groups needs --roster" in r.output


def test_unknown_pick_is_refused(tmp_path):
    download = canvas_download(tmp_path, [("Doe, Jane", 1001, "hw01.ipynb", work("Jane Doe"))])
    r = invoke("collect", "--lms", "canvas", "--roster", canvas_roster(tmp_path, CLASS),
               "--pick", "nobody-1=x.ipynb", "--out", tmp_path / "o", download)
    assert r.exit_code == 1 and "--pick names no ambiguous submission" in r.output
    r = invoke("collect", "--lms", "canvas", "--pick", "oops", "--out", tmp_path / "o", download)
    assert r.exit_code == 1 and "write KEY=FILE" in r.output


def test_moodle_export_refuses_duplicate_and_formula_identifiers(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text(f"name,email,username\n{JANE.fullname},{JANE.email},=cmd\n"
                     f"{BOB.fullname},{JANE.email},bob\n{NORA.fullname},{NORA.email},nora\n",
                     encoding="utf-8")
    download = moodle_download(tmp_path, [(moodle_prefix(JANE), "hw01.ipynb", work("Jane Doe")),
                                          (moodle_prefix(BOB), "hw01.ipynb", work("Bob Roe"))])
    out, coll, _ = _collect(tmp_path, "moodle", download, "--roster", plain)
    write_final_grades(out, {"q1": 1}, {e["file"]: {"q1": 1} for e in coll["entries"]})
    base = ["export", "moodle", "--grades", out, "--roster", plain, "--assignment-name", "HW 1",
            "--out", tmp_path / "m.csv"]
    r = invoke(*base)
    assert r.exit_code == 1 and "two students have the Email address" in r.output
    r = invoke(*base, "--identifier", "username")
    assert r.exit_code == 1 and "start like a spreadsheet formula" in r.output and "=cmd" in r.output
    assert not (tmp_path / "m.csv").exists()
