"""The whole LMS loop on a Canvas download: collect -> (grader results) -> manual sheets out ->
filled in -> imported -> exported for every LMS, with a late penalty."""

from __future__ import annotations

import base64
import copy
import csv
import io
import json

import pytest
from click.testing import CliRunner
from lms_support import CANVAS_ROSTER, FIXTURES, write_final_grades, write_zip

from autograder.cli import main

PNG = b"\x89PNG\r\n\x1a\n" + b"fake image bytes"


def _student_nb(q2_answer: str | None, with_image: bool) -> bytes:
    """The notebook `otter assign` built from the fixture master, answered by a student."""
    nb = json.loads((FIXTURES / "manual_student.ipynb").read_text("utf-8"))
    nb = copy.deepcopy(nb)
    answers = [c for c in nb["cells"] if "otter_answer_cell" in c["metadata"].get("tags", [])]
    q1, q2, q3 = answers  # q1 autograded code, q2 markdown answer, q3 plot code
    q1["source"] = "x = 2"
    if q2_answer is not None:
        q2["source"] = q2_answer
    if with_image:
        q3["outputs"] = [{"output_type": "display_data", "metadata": {},
                          "data": {"image/png": base64.b64encode(PNG).decode(),
                                   "text/plain": "<Figure>"}}]
    return json.dumps(nb).encode()


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def course(tmp_path):
    """A collected Canvas assignment with grader results in tmp/out."""
    zip_path = write_zip(tmp_path / "submissions.zip", [
        ("doejane_1001_5001_hw1.ipynb", _student_nb("Overfitting: the model learns the noise, ü.",
                                                   True)),
        ("o_briensán_LATE_1002_5002_hw1.ipynb", _student_nb("It memorises.", False)),
        ("müllerjosé_1003_5003_hw1.ipynb", _student_nb(None, False)),
    ])
    roster = tmp_path / "roster.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    out = tmp_path / "out"
    r = invoke("collect", "--lms", "canvas", "--roster", roster, "--out", out, zip_path)
    assert r.exit_code == 0, r.output
    assert "missing: 1 roster student(s)" in r.output and "Nora" in r.output
    files = sorted(p.name for p in (out / "submissions").iterdir())
    assert files == ["jane-doe-1001.ipynb", "jose-muller-1003.ipynb", "sean-o-brien-1002.ipynb"]
    write_final_grades(out, {"q1": 2, "q4": 3}, {
        "jane-doe-1001.ipynb": {"q1": 2, "q4": 1.5},
        "sean-o-brien-1002.ipynb": {"q1": 2, "q4": 3},
        "jose-muller-1003.ipynb": {"q1": 0, "q4": 3},
    })
    return tmp_path, out, roster


def _read_sheet(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for Excel
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def _fill(path, points: dict[str, str], delimiter=","):
    rows = _read_sheet(path)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), delimiter=delimiter)
    w.writeheader()
    for r in rows:
        r["points"] = points.get(r["student_key"], "")
        r["comment"] = "good" if r["student_key"] == "jane-doe-1001" else ""
        w.writerow(r)
    path.write_text("\ufeff" + buf.getvalue(), encoding="utf-8")


def _manual_round_trip(tmp, out):
    sheets = tmp / "sheets"
    r = invoke("manual", "export", "--master", FIXTURES / "manual_master.ipynb", "--grades", out,
               "--out", sheets)
    assert r.exit_code == 0, r.output
    q2 = _read_sheet(sheets / "manual_q2.csv")
    assert [row["student_key"] for row in q2] == ["jane-doe-1001", "jose-muller-1003",
                                                  "sean-o-brien-1002"]
    assert q2[0]["answer"] == "Overfitting: the model learns the noise, ü."
    assert q2[0]["max_points"] == "3" and q2[0]["points"] == ""
    assert q2[1]["answer"] == "(empty answer)"
    q3 = _read_sheet(sheets / "manual_q3.csv")
    assert q3[0]["answer"].startswith("import matplotlib.pyplot as plt")
    assert q3[0]["images"] == "images/q3/jane-doe-1001-1.png"
    assert (sheets / q3[0]["images"]).read_bytes() == PNG
    _fill(sheets / "manual_q2.csv", {"jane-doe-1001": "3", "sean-o-brien-1002": "2",
                                     "jose-muller-1003": "0"})
    # Excel in a decimal-comma locale: ';' separated, '1,5'
    _fill(sheets / "manual_q3.csv", {"jane-doe-1001": "1,5", "sean-o-brien-1002": "2",
                                     "jose-muller-1003": "0,5"}, delimiter=";")
    r = invoke("manual", "import", "--grades", out, sheets / "manual_q2.csv",
               sheets / "manual_q3.csv")
    assert r.exit_code == 0, r.output
    assert "imported 6 manual score(s)" in r.output
    return sheets


def test_round_trip_canvas(course):
    tmp, out, roster = course
    _manual_round_trip(tmp, out)
    dest = tmp / "canvas.csv"
    r = invoke("export", "canvas", "--grades", out, "--roster", roster, "--assignment-name", "HW 1",
               "--assignment-id", "4501", "--penalty-per-day", "10%", "--out", dest,
               "--report", tmp / "report.csv")
    assert r.exit_code == 0, r.output
    assert dest.read_text("utf-8") == (
        "Student,ID,SIS User ID,SIS Login ID,Section,HW 1 (4501)\n"
        "    Points Possible,,,,,10\n"
        "\"Doe, Jane\",1001,S1001,jdoe@uni.edu,Section A,8\n"
        "\"Müller, José\",1003,S1003,jmuller@uni.edu,Section B,3.5\n"
        "\"O_Brien, Seán\",1002,S1002,sobrien@uni.edu,Section A,8\n")  # no row for Nora: no grade
    # the per-student penalty is shown
    sean = next(line for line in r.output.splitlines() if line.startswith("Seán O_Brien"))
    assert sean.split()[-3:] == ["1", "-1", "8"]
    report = list(csv.DictReader(io.StringIO((tmp / "report.csv").read_text("utf-8-sig"))))
    sean_r = next(x for x in report if x["student_key"] == "sean-o-brien-1002")
    assert (sean_r["raw_total"], sean_r["late_penalty"], sean_r["total"]) == ("9", "1", "8")
    assert "late flag" in sean_r["late_basis"]
    assert (sean_r["q2"], sean_r["q3"]) == ("2", "2")


def test_round_trip_other_formats(course):
    tmp, out, roster = course
    _manual_round_trip(tmp, out)
    common = ["--grades", out, "--roster", roster, "--penalty-per-day", "1pt"]
    r = invoke("export", "moodle", *common, "--assignment-name", "HW 1", "--out", tmp / "m.csv")
    assert r.exit_code == 0, r.output
    assert (tmp / "m.csv").read_text("utf-8") == (
        "Email address,First name,Last name,HW 1,Feedback\n"
        "jdoe@uni.edu,Jane,Doe,8,8/10 points | q2: good | q3: good\n"
        "jmuller@uni.edu,José,Müller,3.5,3.5/10 points\n"
        "sobrien@uni.edu,Seán,O_Brien,8,8/10 points | late 1 day(s): -1\n")
    assert "Map from 'Email address' to 'Email address'" in r.output
    r = invoke("export", "gradescope", *common, "--out", tmp / "g.csv")
    assert r.exit_code == 0, r.output
    g = list(csv.reader(io.StringIO((tmp / "g.csv").read_text("utf-8"))))
    assert g[0] == ["First Name", "Last Name", "SID", "Email", "Sections", "Total Score",
                    "Max Points", "Status", "Submission ID", "Submission Time", "Lateness (H:M:S)",
                    "View Count", "Submission Count", "q1 (2.0 pts)", "q4 (3.0 pts)",
                    "q2 (3.0 pts)", "q3 (2.0 pts)"]
    # Submission ID is Gradescope's own: blank for a file collected from Canvas
    assert g[1] == ["Jane", "Doe", "S1001", "jdoe@uni.edu", "Section A", "8.0", "10.0", "Graded",
                    "", "", "00:00:00", "", "1", "2", "1.5", "3", "1.5"]
    assert g[3][:8] == ["Nora", "Nosub", "S1004", "nnosub@uni.edu", "Section B", "", "10.0",
                        "Missing"]
    r = invoke("export", "csv", *common, "--out", tmp / "final.csv")
    assert r.exit_code == 0, r.output
    assert (tmp / "final.csv").read_text("utf-8") == (
        "file,q1,q2,q3,q4,total_points_earned,percent_correct,grading_status\n"
        "points-per-question,2,3,2,3,10,1,--\n"
        "jane-doe-1001.ipynb,2,3,1.5,1.5,8,0.8,Completed\n"
        "jose-muller-1003.ipynb,0,0,0.5,3,3.5,0.35,Completed\n"
        "sean-o-brien-1002.ipynb,2,2,2,3,8,0.8,Completed\n")


def test_export_refuses_missing_manual_scores(course):
    tmp, out, roster = course
    sheets = tmp / "sheets"
    assert invoke("manual", "export", "--master", FIXTURES / "manual_master.ipynb", "--grades",
                  out, "--out", sheets).exit_code == 0
    r = invoke("export", "csv", "--grades", out, "--out", tmp / "f.csv")
    assert r.exit_code == 1
    assert "no manual score for q2, q3" in r.output and "--allow-incomplete" in r.output
    assert "Traceback" not in r.output
    r = invoke("export", "csv", "--grades", out, "--out", tmp / "f.csv", "--allow-incomplete")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("q2_points, message", [
    ("4", "manual_q2.csv row 2: points 4 outside [0, 3] for q2"),
    ("-1", "points -1 outside [0, 3]"),
    ("abc", "manual_q2.csv row 2: points 'abc' is not a number"),
])
def test_manual_import_validation(course, q2_points, message):
    tmp, out, _ = course
    sheets = tmp / "sheets"
    invoke("manual", "export", "--master", FIXTURES / "manual_master.ipynb", "--grades", out,
           "--out", sheets)
    _fill(sheets / "manual_q2.csv", {"jane-doe-1001": q2_points})
    r = invoke("manual", "import", "--grades", out, sheets / "manual_q2.csv")
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output


def test_manual_import_unknown_student_and_question(course):
    tmp, out, _ = course
    sheets = tmp / "sheets"
    invoke("manual", "export", "--master", FIXTURES / "manual_master.ipynb", "--grades", out,
           "--out", sheets)
    bad = tmp / "bad.csv"
    bad.write_text("student_key,question,points\njane-doe-1001,q9,1\nnobody-1,q2,1\n"
                   "jane-doe-1001,q2,2\n", encoding="utf-8")
    r = invoke("manual", "import", "--grades", out, bad)
    assert r.exit_code == 1
    assert "bad.csv row 2: unknown question 'q9'" in r.output
    assert "bad.csv row 3: unknown student 'nobody-1'" in r.output
    # nothing was imported: the valid third row too
    r = invoke("export", "csv", "--grades", out, "--out", tmp / "f.csv")
    assert "no manual score for q2, q3" in r.output


def test_manual_import_before_export(course):
    tmp, out, _ = course
    s = tmp / "s.csv"
    s.write_text("student_key,question,points\n", encoding="utf-8")
    r = invoke("manual", "import", "--grades", out, s)
    assert r.exit_code == 1 and "run 'mlphys manual export' first" in r.output
