"""Gradescope 'Export Submissions' zips: submission_metadata.yml with Ruby-symbol keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from lms_support import nb_bytes, write_zip

from autograder.lms.collect import collect
from autograder.lms.errors import LmsError
from autograder.lms.gradescope import parse_time, read_gradescope
from autograder.lms.roster import read_roster
from autograder.lms.zipread import open_zip

METADATA = """\
submission_201:
  :submitters:
  - :name: Jane Doe
    :sid: '1001'
    :email: jdoe@uni.edu
  :created_at: 2024-03-01 23:10:04.123456789 -08:00
  :score: 8.0
  :status: processed
  :history:
  - :id: 150
    :created_at: 2024-02-28 10:00:00.000000000 -08:00
    :score: 5.0
submission_202:
  :submitters:
  - :name: Seán O_Brien
    :sid: '1002'
    :email: sobrien@uni.edu
  - :name: José Müller
    :sid: '1003'
    :email: jmuller@uni.edu
  :created_at: 2024-03-02 01:00:00.000000000 -08:00
  :score: 9.0
submission_203:
  :submitters:
  - :name: Jane Doe
    :sid: '1001'
    :email: jdoe@uni.edu
  :created_at: 2024-03-01 20:00:00.000000000 -08:00
  :score: 3.0
submission_204:
  :submitters:
  - :name: Ghost Writer
    :sid: '4242'
    :email: ghost@elsewhere.org
  :created_at: 2024-03-01 12:00:00.000000000 -08:00
submission_205:
  :submitters:
  - :name: Empty Folder
    :sid: '5555'
  :created_at: 2024-03-01 12:00:00.000000000 -08:00
"""


def _gs_zip(tmp_path, root="assignment_777_export/"):
    return write_zip(tmp_path / "export.zip", [
        (f"{root}submission_metadata.yml", METADATA.encode()),
        (f"{root}submission_201/hw1.ipynb", nb_bytes("jane latest")),
        (f"{root}submission_201/notes.txt", b"notes"),
        (f"{root}submission_202/Hausübung.ipynb", nb_bytes("group")),
        (f"{root}submission_203/hw1.ipynb", nb_bytes("jane earlier")),
        (f"{root}submission_204/hw1.ipynb", nb_bytes("ghost")),
        (f"__MACOSX/{root}._submission_metadata.yml", b"\0"),
        (f"{root}.DS_Store", b"\0"),
    ])


def test_parse_time_variants():
    pst = timezone(timedelta(hours=-8))
    want = datetime(2024, 3, 1, 23, 10, 4, 123456, tzinfo=pst)
    assert parse_time("2024-03-01 23:10:04.123456789 -08:00") == want
    assert parse_time("2024-03-01 23:10:04.123456789 -0800") == want
    assert parse_time("2024-03-01T23:10:04.123456-08:00") == want
    assert parse_time(datetime(2024, 1, 1)) == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_time("yesterday") is None


@pytest.mark.parametrize("root", ["assignment_777_export/", ""])
def test_read_export(tmp_path, root):
    with open_zip(_gs_zip(tmp_path, root)) as zf:
        d = read_gradescope(zf)
    subs = {(c.submission_id, c.sid) for c in d.candidates}
    assert subs == {("201", "1001"), ("202", "1002"), ("203", "1001"), ("204", "4242")}
    jane = next(c for c in d.candidates if c.submission_id == "201")
    assert jane.timestamp.isoformat() == "2024-03-01T23:10:04.123456-08:00"
    assert jane.previous == [{"id": "150", "created_at": "2024-02-28T10:00:00-08:00", "score": 5.0}]
    group = [c for c in d.candidates if c.submission_id == "202"]
    assert [[m["sid"] for m in c.group] for c in group] == [["1002", "1003"]]
    assert any("submission_205" in n for n in d.notes)
    assert any(i.member.endswith("notes.txt") for i in d.ignored)


def test_collect_latest_by_created_at(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,sid,email\nJane Doe,1001,jdoe@uni.edu\nSeán O_Brien,1002,"
                      "SOBrien@uni.edu\nJosé Müller,1003,jmuller@uni.edu\nNo Show,1005,ns@uni.edu\n",
                      encoding="utf-8")
    out = tmp_path / "out"
    coll = collect("gradescope", _gs_zip(tmp_path), out, read_roster(roster))
    by = {e.student.name: e for e in coll.entries}
    jane = by["Jane Doe"]
    assert jane.chosen.submission_id == "201" and jane.matched_by == "email"
    assert [c.submission_id for c in jane.superseded] == ["203"]
    assert (out / "submissions" / jane.file).read_bytes() == nb_bytes("jane latest")
    # one entry for the group's notebook, with both members (found by case-insensitive email)
    group = next(e for e in coll.entries if len(e.members) == 2)
    assert group.chosen.original_name == "Hausübung.ipynb" and group.matched_by == "group"
    assert sorted(m.name for m in group.members) == ["José Müller", "Seán O_Brien"]
    assert [s.name for s in coll.missing] == ["No Show"]
    assert [e.chosen.sid for e in coll.unmatched] == ["4242"]


def test_missing_metadata(tmp_path):
    z = write_zip(tmp_path / "x.zip", [("submission_1/hw.ipynb", nb_bytes())])
    with pytest.raises(LmsError, match="submission_metadata.yml"):
        collect("gradescope", z, tmp_path / "out")


def test_bad_yaml(tmp_path):
    z = write_zip(tmp_path / "x.zip", [("submission_metadata.yml", b"a: [unclosed"),
                                       ("submission_1/hw.ipynb", nb_bytes())])
    with pytest.raises(LmsError, match="not valid YAML"):
        collect("gradescope", z, tmp_path / "out")
