"""User mistakes end in one message and exit code 1, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from lms_support import CANVAS_ROSTER, nb_bytes, write_final_grades, write_zip

from autograder.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def collected(tmp_path):
    z = write_zip(tmp_path / "s.zip", [("doejane_1001_5001_hw1.ipynb", nb_bytes())])
    r = invoke("collect", "--lms", "canvas", "--out", tmp_path / "out", z)
    assert r.exit_code == 0, r.output
    return tmp_path


def _fails(r, message):
    assert r.exit_code == 1, r.output
    assert message in r.output, r.output
    assert "Traceback" not in r.output


def test_collect_missing_zip(tmp_path):
    _fails(invoke("collect", "--lms", "canvas", "--out", tmp_path / "o", tmp_path / "nope.zip"),
           "download zip not found")


def test_collect_not_a_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_text("hello")
    _fails(invoke("collect", "--lms", "moodle", "--out", tmp_path / "o", bad),
           "is not a readable zip file")


def test_collect_wrong_lms(tmp_path):
    z = write_zip(tmp_path / "s.zip", [("doejane_1001_5001_hw1.ipynb", nb_bytes())])
    _fails(invoke("collect", "--lms", "moodle", "--out", tmp_path / "o", z),
           "no notebook (.ipynb) or Otter zip in the layout a moodle download uses")


def test_collect_unknown_roster_layout(tmp_path):
    z = write_zip(tmp_path / "s.zip", [("doejane_1001_5001_hw1.ipynb", nb_bytes())])
    roster = tmp_path / "r.csv"
    roster.write_text("foo,bar\n1,2\n")
    _fails(invoke("collect", "--lms", "canvas", "--roster", roster, "--out", tmp_path / "o", z),
           "is not a Canvas gradebook export")


def test_collect_refuses_foreign_files(tmp_path):
    z = write_zip(tmp_path / "s.zip", [("doejane_1001_5001_hw1.ipynb", nb_bytes())])
    (tmp_path / "o" / "submissions").mkdir(parents=True)
    (tmp_path / "o" / "submissions" / "mine.ipynb").write_bytes(nb_bytes())
    _fails(invoke("collect", "--lms", "canvas", "--out", tmp_path / "o", z),
           "holds files that 'collect' did not write")


def test_collect_twice_replaces_own_files(tmp_path):
    z1 = write_zip(tmp_path / "a.zip", [("doejane_1001_5001_hw1.ipynb", nb_bytes("one")),
                                        ("roebob_1002_5002_hw1.ipynb", nb_bytes("bob"))])
    z2 = write_zip(tmp_path / "b.zip", [("doejane_1001_5003_hw1.ipynb", nb_bytes("two"))])
    assert invoke("collect", "--lms", "canvas", "--out", tmp_path / "o", z1).exit_code == 0
    assert invoke("collect", "--lms", "canvas", "--out", tmp_path / "o", z2).exit_code == 0
    assert [p.name for p in (tmp_path / "o" / "submissions").iterdir()] == ["doejane-1001.ipynb"]


def test_export_without_grades(collected):
    _fails(invoke("export", "csv", "--grades", collected / "out", "--out", collected / "f.csv"),
           "final_grades.csv not found: run 'mlphys grade")


def test_export_without_collection(tmp_path):
    write_final_grades(tmp_path / "g", {"q1": 1}, {"a.ipynb": {"q1": 1}})
    _fails(invoke("export", "csv", "--grades", tmp_path / "g", "--out", tmp_path / "f.csv"),
           "run 'mlphys collect' first")


def test_export_reports_ungraded_submissions(collected):
    write_final_grades(collected / "out", {"q1": 1}, {})
    _fails(invoke("export", "csv", "--grades", collected / "out", "--out", collected / "f.csv"),
           "no result in final_grades.csv")


@pytest.mark.parametrize("args, message", [
    (["--assignment-name", "HW", "--assignment-id", "abc"], "the number in the assignment's URL"),
    (["--assignment-name", "HW", "--assignment-id", "1", "--due", "someday"], "cannot read due date"),
    (["--assignment-name", "HW", "--assignment-id", "1", "--grace", "soon"], "cannot read duration"),
    (["--assignment-name", "HW", "--assignment-id", "1", "--penalty-per-day", "lots"],
     "cannot read penalty"),
])
def test_export_canvas_bad_options(collected, args, message):
    write_final_grades(collected / "out", {"q1": 1}, {"doejane-1001.ipynb": {"q1": 1}})
    _fails(invoke("export", "canvas", "--grades", collected / "out", *args, "--out",
                  collected / "c.csv"), message)


def test_export_canvas_no_roster_uses_lms_ids(collected):
    write_final_grades(collected / "out", {"q1": 1}, {"doejane-1001.ipynb": {"q1": 1}})
    r = invoke("export", "canvas", "--grades", collected / "out", "--assignment-name", "HW",
               "--assignment-id", "7", "--out", collected / "c.csv")
    assert r.exit_code == 0, r.output
    assert (collected / "c.csv").read_text().splitlines()[2] == "doejane,1001,,,,1"


def test_malformed_final_grades(collected):
    (collected / "out" / "final_grades.csv").write_text("a,b\n1,2\n")
    _fails(invoke("export", "csv", "--grades", collected / "out", "--out", collected / "f.csv"),
           "is not a final_grades.csv")


def test_manual_export_master_without_manual_questions(collected, tmp_path):
    master = tmp_path / "m.ipynb"
    master.write_bytes(nb_bytes())
    _fails(invoke("manual", "export", "--master", master, "--grades", collected / "out", "--out",
                  tmp_path / "sheets"), "no manual question")


def test_roster_with_unmatched_listed(tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    z = write_zip(tmp_path / "s.zip", [("zzz_4242_5001_hw1.ipynb", nb_bytes())])
    r = invoke("collect", "--lms", "canvas", "--roster", roster, "--out", tmp_path / "o", z)
    assert r.exit_code == 0
    assert "unmatched: 1 file(s)" in r.output and "zzz_4242_5001_hw1.ipynb" in r.output
    assert "missing: 4 roster student(s)" in r.output
