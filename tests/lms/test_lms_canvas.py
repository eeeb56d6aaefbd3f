"""Canvas 'Download Submissions' zips: member names as content_zipper.rb writes them."""

from __future__ import annotations

import json

import pytest
from lms_support import CANVAS_ROSTER, nb_bytes, write_zip

from autograder.lms.canvas import read_canvas, readings
from autograder.lms.collect import collect
from autograder.lms.errors import LmsError
from autograder.lms.roster import read_roster
from autograder.lms.zipread import open_zip


@pytest.mark.parametrize("name, expect", [
    ("doejane_1001_5001_hw1.ipynb", ("doejane", False, "1001", "5001", "hw1.ipynb")),
    ("doejane_late_1001_5001_hw1.ipynb", ("doejane", True, "1001", "5001", "hw1.ipynb")),
    ("o_briensen_1002_5002_my_hw_1_2.ipynb", ("o_briensen", False, "1002", "5002", "my_hw_1_2.ipynb")),
    ("mllerjos_late_1003_5003_hw1-2.ipynb", ("mllerjos", True, "1003", "5003", "hw1-2.ipynb")),
    ("1004_5004_hw1.ipynb", (None, False, "1004", "5004", "hw1.ipynb")),
    # Canvas always writes a name field: a leading 'late' is a student named Late
    ("late_1004_5004_hw 1 (final).ipynb", ("late", False, "1004", "5004", "hw 1 (final).ipynb")),
    ("doejane_LATE_1001_5001_hw1.ipynb", ("doejane", True, "1001", "5001", "hw1.ipynb")),
])
def test_member_names(name, expect):
    f = readings(name)[0]
    assert (f.name, f.late, f.user_id, f.attachment_id, f.display_name) == expect


def test_not_canvas_names():
    assert readings("hw1.ipynb") == []
    assert readings("doejane_hw1.ipynb") == []


def _canvas_zip(tmp_path, utf8_flag=True):
    return write_zip(tmp_path / "submissions.zip", [
        ("doejane_1001_5001_hw1.ipynb", nb_bytes("jane hw")),
        ("doejane_1001_5010_extra.ipynb", nb_bytes("jane extra")),
        ("doejane_1001_5011_hw1.pdf", b"%PDF-1.4"),
        ("o_briensán_LATE_1002_5002_hw1.ipynb", nb_bytes("sean")),
        ("müllerjosé_1003_5003_Hausübung 1.ipynb", nb_bytes("jose")),
        ("strangerbob_2000_5020_hw1.ipynb", nb_bytes("bob")),
        ("doejane_1001_text.html", b"<html>text entry</html>"),
    ], utf8_flag=utf8_flag)


@pytest.mark.parametrize("utf8_flag", [True, False])
def test_read_canvas_zip(tmp_path, utf8_flag):
    with open_zip(_canvas_zip(tmp_path, utf8_flag)) as zf:
        d = read_canvas(zf)
    by_member = {c.member: c for c in d.candidates}
    jose = by_member["müllerjosé_1003_5003_Hausübung 1.ipynb"]
    assert jose.original_name == "Hausübung 1.ipynb"
    assert jose.name == "müllerjosé" and jose.lms_user_id == "1003"
    assert by_member["o_briensán_LATE_1002_5002_hw1.ipynb"].late is True
    assert by_member["doejane_1001_5001_hw1.ipynb"].late is False
    reasons = {i.member: i.reason for i in d.ignored}
    assert "not a notebook" in reasons["doejane_1001_5011_hw1.pdf"]
    assert "online text" in reasons["doejane_1001_text.html"]


def test_collect_with_roster(tmp_path):
    roster_path = tmp_path / "roster.csv"
    roster_path.write_text(CANVAS_ROSTER, encoding="utf-8")
    roster = read_roster(roster_path)
    assert roster.format == "canvas"
    assert [s.name for s in roster.students] == ["Doe, Jane", "O_Brien, Seán", "Müller, José",
                                                 "Nosub, Nora"]
    assert any("test student" in r for r in roster.skipped_rows)
    assert any("Points Possible" in r for r in roster.skipped_rows)
    assert roster.assignments == [("HW 1", "4501")]

    out = tmp_path / "out"
    coll = collect("canvas", _canvas_zip(tmp_path), out, roster)
    by_name = {e.student.name: e for e in coll.entries}
    jane = by_name["Doe, Jane"]
    # one attempt, two notebooks: the one named like the assignment's (the most common name)
    assert jane.chosen.original_name == "hw1.ipynb" and jane.chosen.submission_id == "5001"
    assert [c.original_name for c in jane.other_files] == ["extra.ipynb"] and not jane.superseded
    assert (out / "submissions" / jane.file).read_bytes() == nb_bytes("jane hw")
    assert jane.matched_by == "lms id"
    assert by_name["O_Brien, Seán"].chosen.late is True
    assert [s.name for s in coll.missing] == ["Nosub, Nora"]
    assert [e.chosen.member for e in coll.unmatched] == ["strangerbob_2000_5020_hw1.ipynb"]

    data = json.loads((out / "collection.json").read_text("utf-8"))
    assert data["lms"] == "canvas"
    assert {m["name"] for m in data["missing"]} == {"Nosub, Nora"}
    assert data["unmatched"][0]["member"] == "strangerbob_2000_5020_hw1.ipynb"
    jane_json = next(e for e in data["entries"] if e["student"]["name"] == "Doe, Jane")
    assert jane_json["other_files"][0]["submission_id"] == "5010"
    assert data["notebook"] == {"name": "hw1.ipynb",
                                "source": "the most common file name in the download"}
    assert jane_json["timestamp"] is None and "no submission time" in jane_json["timestamp_source"]
    assert {i["member"] for i in data["ignored"]} == {"doejane_1001_5011_hw1.pdf",
                                                      "doejane_1001_text.html"}
    # every file in the zip is accounted for: collected, superseded, unmatched or ignored
    accounted = {e["chosen"]["member"] for e in data["entries"]}
    accounted |= {s["member"] for e in data["entries"] for s in e["other_files"]}
    accounted |= {i["member"] for i in data["ignored"]}
    assert len(accounted) == 7


def test_collect_without_roster_matches_by_canvas_id(tmp_path):
    coll = collect("canvas", _canvas_zip(tmp_path), tmp_path / "out")
    assert len(coll.entries) == 4 and not coll.unmatched and not coll.missing
    assert {e.student.lms_id for e in coll.entries} == {"1001", "1002", "1003", "2000"}


def test_name_fallback_when_ids_differ(tmp_path):
    """A roster without the Canvas id (plain CSV) still matches Canvas's folded names."""
    roster_path = tmp_path / "plain.csv"
    roster_path.write_text("id,name,email\n77,José Müller,jm@uni.edu\n78,Jane Doe,jd@uni.edu\n",
                           encoding="utf-8")
    coll = collect("canvas", _canvas_zip(tmp_path), tmp_path / "out", read_roster(roster_path))
    matched = {e.student.name: e.matched_by for e in coll.entries if not e.unmatched}
    assert matched == {"José Müller": "name", "Jane Doe": "name"}


def test_not_a_canvas_zip(tmp_path):
    z = write_zip(tmp_path / "x.zip", [("notes.txt", b"hi"), ("hw.ipynb", nb_bytes())])
    with pytest.raises(LmsError, match="no notebook .* canvas download"):
        collect("canvas", z, tmp_path / "out")


def test_unsafe_member_rejected(tmp_path):
    z = write_zip(tmp_path / "x.zip", [("../doejane_1001_5001_hw1.ipynb", nb_bytes())])
    with pytest.raises(LmsError, match="unsafe path"):
        collect("canvas", z, tmp_path / "out")
