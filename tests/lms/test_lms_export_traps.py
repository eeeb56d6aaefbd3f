"""Export traps (issue 15): manual questions known without 'manual export'; exports from a graded
folder without collection.json."""

from __future__ import annotations

import json

import port_canvas_gradebook_import as cv
from click.testing import CliRunner
from lms_scenarios import BOB, CLASS, HW, JANE, JOSE, NORA, SEAN, canvas_roster
from lms_support import FIXTURES, write_final_grades, write_zip

from autograder.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _student_notebook() -> bytes:
    return (FIXTURES / "manual_student.ipynb").read_bytes()


def _collected(tmp_path):
    z = write_zip(tmp_path / "s.zip", [("doejane_1001_5001_hw2.ipynb", _student_notebook()),
                                       ("roebob_1002_5002_hw2.ipynb", _student_notebook())])
    roster = canvas_roster(tmp_path, CLASS)
    out = tmp_path / "out"
    r = invoke("collect", "--lms", "canvas", "--roster", roster, "--out", out, z)
    assert r.exit_code == 0, r.output
    files = [e["file"] for e in json.loads((out / "collection.json").read_text())["entries"]]
    write_final_grades(out, {"q1": 2, "q4": 3}, {f: {"q1": 2, "q4": 1} for f in files})
    return out, roster


def test_export_before_manual_export_with_master_refuses(tmp_path):
    out, roster = _collected(tmp_path)
    args = ["export", "canvas", "--grades", out, "--roster", roster, "--assignment-name", "HW 1",
            "--assignment-id", HW.id, "--master", FIXTURES / "manual_master.ipynb",
            "--out", tmp_path / "c.csv"]
    r = invoke(*args)
    assert r.exit_code == 1 and "no manual score for q2, q3" in r.output, r.output
    assert not (tmp_path / "c.csv").exists()
    r = invoke(*args, "--allow-incomplete")
    assert r.exit_code == 0, r.output
    assert "out of 10 points" in r.output  # q1 2 + q4 3 autograded, q2 3 + q3 2 by hand


def test_export_without_master_sees_manual_regions(tmp_path):
    out, roster = _collected(tmp_path)
    r = invoke("export", "canvas", "--grades", out, "--roster", roster, "--assignment-name", "HW 1",
               "--assignment-id", HW.id, "--out", tmp_path / "c.csv")
    assert r.exit_code == 1, r.output
    assert "--master" in r.output and "2 question" in r.output
    assert "Traceback" not in r.output


def test_export_graded_folder_without_collection(tmp_path):
    grades = tmp_path / "graded"
    write_final_grades(grades, {"q1": 4, "q2": 6}, {
        f"{JANE.sis}.ipynb": {"q1": 4, "q2": 5},          # SIS user id
        f"{BOB.canvas_id}.ipynb": {"q1": 1, "q2": 1},     # Canvas user id
        "Müller_José.ipynb": {"q1": 2, "q2": 2},           # name
        "stranger.ipynb": {"q1": 4, "q2": 6},
    })
    roster = canvas_roster(tmp_path, CLASS)
    dest = tmp_path / "c.csv"
    args = ["export", "canvas", "--grades", grades, "--roster", roster, "--assignment-name", "HW 1",
            "--assignment-id", HW.id, "--out", dest]
    r = invoke(*args)
    assert r.exit_code == 1 and "stranger.ipynb" in r.output, r.output
    r = invoke(*args, "--allow-incomplete")
    assert r.exit_code == 0, r.output
    users = [cv.User(p.canvas_id, p.fullname, f"{p.last}, {p.first}", p.sis, p.login) for p in CLASS]
    course = cv.Course(users, [cv.Assignment(HW.id, HW.title, 10.0)])
    cv.apply(course, cv.parse(course, dest.read_text("utf-8")))
    assert {uid: s for (uid, _), s in course.scores.items()} == {
        JANE.canvas_id: 9.0, BOB.canvas_id: 2.0, JOSE.canvas_id: 4.0}
    assert SEAN.canvas_id not in {u for u, _ in course.scores}
    assert NORA.canvas_id not in {u for u, _ in course.scores}


def test_export_without_collection_or_roster(tmp_path):
    write_final_grades(tmp_path / "g", {"q1": 1}, {"a.ipynb": {"q1": 1}})
    r = invoke("export", "csv", "--grades", tmp_path / "g", "--out", tmp_path / "f.csv")
    assert r.exit_code == 1 and "--roster" in r.output and "collection.json" in r.output
