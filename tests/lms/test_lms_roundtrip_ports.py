"""Every case of issue 14 end to end: an LMS download laid out as the LMS writes it -> collect ->
(grader results) -> export -> the LMS's own import rules (ports), asserting that every grade
lands on exactly the right student, nothing existing is erased, and ambiguities are reported.

How a misattribution would show: every notebook carries a marker naming whose work it is, the
simulated grader scores a notebook by its marker (SCORES), so a file collected for the wrong
student carries the wrong total into the LMS and the per-student assertions fail.
"""

from __future__ import annotations

import csv
import io
import json
import re

import port_canvas_gradebook_import as cv
import port_moodle_grade_import as md
import pytest
from click.testing import CliRunner
from lms_scenarios import (
    ANN,
    BOB,
    CARL,
    CLASS,
    DAN,
    GROUP_CLASS,
    HW,
    JANE,
    JOSE,
    NORA,
    SEAN,
    canvas_download,
    canvas_group_download,
    canvas_groups,
    canvas_roster,
    moodle_download,
    moodle_grades_roster,
    moodle_prefix,
    moodle_worksheet,
    team_prefix,
    work,
)
from lms_support import write_final_grades

from autograder.cli import main

QUESTIONS = {"q1": 4.0, "q2": 6.0}
SCORES = {"Jane Doe": (4, 4.5), "Bob Roe": (3, 2), "Seán O_Brien": (4, 6), "José Müller": (1, 2.5),
          "Team Alpha": (2, 5), "Team A": (2, 5), "Dan Day": (4, 3), "Default group": (1, 1),
          "2023001234": (3, 3), "scratch": (0, 0)}


def total_of(owner: str) -> float:
    return float(sum(SCORES[owner]))


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def ok(r):
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    return r


def fails(r, *messages):
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    for m in messages:
        assert m in r.output, (m, r.output)
    return r


def collect(tmp, lms, download, *extra):
    out = tmp / "out"
    r = ok(invoke("collect", "--lms", lms, "--out", out, *extra, download))
    return out, json.loads((out / "collection.json").read_text("utf-8")), r.output


_MARKER = re.compile(r"# work of (.+?): (\S+)")


def source(path) -> str:
    """The code of a collected notebook (whose marker says whose work it is)."""
    nb = json.loads(path.read_text("utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"])


def grade(out):
    """Score every collected notebook by the marker inside it (what a grader would do)."""
    rows = {}
    for path in sorted((out / "submissions").iterdir()):
        owner, file = _MARKER.search(source(path)).groups()
        q1, q2 = SCORES["scratch" if file == "scratch" else owner]
        rows[path.name] = {"q1": q1, "q2": q2}
    write_final_grades(out, QUESTIONS, rows)


def read_csv(path):
    return list(csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline="")))


def canvas_course(people, *, groups=None, points=10.0):
    users = [cv.User(p.canvas_id, p.fullname, f"{p.last}, {p.first}", p.sis, p.login)
             for p in people]
    a = cv.Assignment(HW.id, HW.title, points,
                      groups=[[p.canvas_id for p in g] for g in (groups or [])])
    return cv.Course(users, [a])


def moodle_book(people, grademax=10.0):
    users = [md.User(p.moodle_user, p.email, p.sis, p.email.split("@")[0]) for p in people]
    return md.Gradebook(users, [md.Item(7, "HW 1", grademax=grademax)])


def moodle_import(book, path, identifier="Email address", mapto="useremail", feedback=True):
    mapping = {"HW 1": "7", **({"Feedback": "feedback_7"} if feedback else {})}
    result = md.prepare(book, path.read_text("utf-8"), mapfrom=identifier, mapto=mapto,
                        mapping=mapping)
    assert result.ok, result.errors
    md.commit(book, result)
    return result


# -- 1. Moodle export: an explicit identifier on every row ------------------------------------


def _moodle_class(tmp):
    download = moodle_download(tmp, [(moodle_prefix(JANE), "hw01.ipynb", work("Jane Doe")),
                                     (moodle_prefix(SEAN), "hw01.ipynb", work("Seán O_Brien")),
                                     (moodle_prefix(JOSE), "hw01.ipynb", work("José Müller"))])
    return download


def test_moodle_export_names_the_identifier_and_every_grade_lands(tmp_path):
    roster = moodle_grades_roster(tmp_path, CLASS)
    out, coll, _ = collect(tmp_path, "moodle", _moodle_class(tmp_path), "--roster", roster)
    grade(out)
    dest = tmp_path / "moodle.csv"
    r = ok(invoke("export", "moodle", "--grades", out, "--roster", roster, "--assignment-name",
                  "HW 1", "--out", dest))
    assert "Map from 'Email address' to 'Email address'" in r.output
    rows = read_csv(dest)
    assert rows[0][0] == "Email address"
    assert all(row[0] for row in rows[1:])
    book = moodle_book(CLASS)
    book.grades[(NORA.moodle_user, 7)] = 6.5  # typed by hand: Nora has no file
    book.feedback[(NORA.moodle_user, 7)] = "oral exam"
    moodle_import(book, dest)
    for p in (JANE, SEAN, JOSE):
        assert book.grades[(p.moodle_user, 7)] == total_of(p.fullname)
        assert book.feedback[(p.moodle_user, 7)]  # never an empty cell that erases feedback
    assert book.grades[(NORA.moodle_user, 7)] == 6.5
    assert book.feedback[(NORA.moodle_user, 7)] == "oral exam"
    assert (BOB.moodle_user, 7) not in book.grades


def test_moodle_export_by_id_number(tmp_path):
    roster = moodle_grades_roster(tmp_path, CLASS)
    out, _, _ = collect(tmp_path, "moodle", _moodle_class(tmp_path), "--roster", roster)
    grade(out)
    dest = tmp_path / "moodle.csv"
    ok(invoke("export", "moodle", "--grades", out, "--roster", roster, "--assignment-name", "HW 1",
              "--identifier", "idnumber", "--out", dest))
    book = moodle_book(CLASS)
    moodle_import(book, dest, identifier="ID number", mapto="useridnumber")
    assert {u: g for (u, _), g in book.grades.items()} == {
        p.moodle_user: total_of(p.fullname) for p in (JANE, SEAN, JOSE)}


def test_moodle_export_refuses_rows_without_identifier(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("name,sid\n" + "".join(f"{p.fullname},{p.sis}\n" for p in CLASS),
                     encoding="utf-8")
    out, _, _ = collect(tmp_path, "moodle", _moodle_class(tmp_path), "--roster", plain)
    grade(out)
    r = fails(invoke("export", "moodle", "--grades", out, "--roster", plain, "--assignment-name",
                     "HW 1", "--out", tmp_path / "m.csv"),
              "Email address", "Jane Doe", "José Müller", "Seán O_Brien")
    assert not (tmp_path / "m.csv").exists()
    assert "--identifier" in r.output


# -- 2. Moodle participant ids are not roster ids ----------------------------------------------


def test_moodle_participant_ids_never_match_plain_roster_ids(tmp_path):
    # Jane's roster id is Seán's participant id and vice versa; group 12 is Bob's roster id
    plain = tmp_path / "plain.csv"
    plain.write_text(f"id,name,email\n{SEAN.participant},{JANE.fullname},{JANE.email}\n"
                     f"{JANE.participant},{SEAN.fullname},{SEAN.email}\n"
                     f"12,{BOB.fullname},{BOB.email}\n", encoding="utf-8")
    download = moodle_download(tmp_path, [
        (moodle_prefix(JANE), "hw01.ipynb", work("Jane Doe")),
        (moodle_prefix(SEAN), "hw01.ipynb", work("Seán O_Brien")),
        (team_prefix("Team A", 12), "hw01.ipynb", work("Team A"))])
    out, coll, output = collect(tmp_path, "moodle", download, "--roster", plain)
    got = {e["student"]["name"]: (e["matched_by"], source(out / "submissions" / e["file"]))
           for e in coll["entries"] if not e["matched_by"].startswith("unmatched")}
    assert set(got) == {JANE.fullname, SEAN.fullname}
    assert "work of Jane Doe" in got[JANE.fullname][1] and got[JANE.fullname][0] == "name"
    assert "work of Seán O_Brien" in got[SEAN.fullname][1]
    assert [u["member"].split("_")[0] for u in coll["unmatched"]] == ["Team A"]
    assert "Team A" in output and BOB.fullname in {m["name"] for m in coll["missing"]}


def test_moodle_worksheet_of_another_assignment_matches_by_name(tmp_path):
    sheet = moodle_worksheet(tmp_path, [JANE, SEAN], participants={JANE: SEAN.participant,
                                                                     SEAN: JANE.participant})
    download = moodle_download(tmp_path, [(moodle_prefix(JANE), "hw01.ipynb", work("Jane Doe")),
                                          (moodle_prefix(SEAN), "hw01.ipynb",
                                           work("Seán O_Brien"))])
    out, coll, output = collect(tmp_path, "moodle", download, "--roster", sheet)
    for e in coll["entries"]:
        assert e["student"]["name"] in source(out / "submissions" / e["file"])
        assert e["matched_by"] == "name"
    assert "another assignment" in output


# -- 3. several files in one submission ---------------------------------------------------------


def test_canvas_attempt_with_scratch_notebook(tmp_path):
    download = canvas_download(tmp_path, [
        ("Doe, Jane", JANE.canvas_id, "hw01.ipynb", work("Jane Doe")),
        ("Doe, Jane", JANE.canvas_id, "scratch.ipynb", work("Jane Doe", "scratch")),
        ("Roe, Bob", BOB.canvas_id, "hw01.ipynb", work("Bob Roe")),
        ("O_Brien, Seán", SEAN.canvas_id, "notes.ipynb", work("Seán O_Brien", "notes")),
        ("O_Brien, Seán", SEAN.canvas_id, "final.ipynb", work("Seán O_Brien")),
    ])
    roster = canvas_roster(tmp_path, CLASS)
    out, coll, output = collect(tmp_path, "canvas", download, "--roster", roster)
    jane = next(e for e in coll["entries"] if e["student"]["name"] == "Doe, Jane")
    assert jane["original_name"] == "hw01.ipynb"
    assert [o["original_name"] for o in jane["other_files"]] == ["scratch.ipynb"]
    assert jane["superseded"] == []  # not an earlier attempt: the same attempt
    assert "hw01.ipynb" in output  # the inferred notebook name is said
    amb = coll["ambiguous"]
    assert [a["student"]["name"] for a in amb] == ["O_Brien, Seán"]
    assert sorted(f["original_name"] for f in amb[0]["files"]) == ["final.ipynb", "notes.ipynb"]
    assert "--pick" in output and not any(e["student"]["name"] == "O_Brien, Seán"
                                          for e in coll["entries"])
    key = amb[0]["student"]["key"]
    out2, coll2, _ = collect(tmp_path / "again", "canvas", download, "--roster", roster,
                             "--pick", f"{key}=final.ipynb")
    sean = next(e for e in coll2["entries"] if e["student"]["key"] == key)
    assert "work of Seán O_Brien: hw01" in source(out2 / "submissions" / sean["file"])
    assert coll2["ambiguous"] == []


def test_moodle_old_copy_is_not_the_alphabetically_last(tmp_path):
    download = moodle_download(tmp_path, [
        (moodle_prefix(JANE), "hw01.ipynb", work("Jane Doe")),
        (moodle_prefix(JANE), "hw01_old.ipynb", work("Jane Doe", "scratch")),
        (moodle_prefix(SEAN), "hw01.ipynb", work("Seán O_Brien"))])
    out, coll, _ = collect(tmp_path, "moodle", download, "--roster",
                           moodle_grades_roster(tmp_path, CLASS), "--notebook", "hw01.ipynb")
    jane = next(e for e in coll["entries"] if e["student"]["name"] == JANE.fullname)
    assert jane["original_name"] == "hw01.ipynb"
    assert "scratch" not in source(out / "submissions" / jane["file"])


# -- 4. group assignments -----------------------------------------------------------------------


def test_canvas_group_submission_reaches_every_member(tmp_path):
    groups = {"Team Alpha": (77, [JANE, BOB]), "Team Beta": (78, [ANN, CARL])}
    download = canvas_group_download(tmp_path, {"Team Alpha": (BOB, work("Team Alpha"))},
                                     {DAN: work("Dan Day")})
    roster = canvas_roster(tmp_path, GROUP_CLASS)
    group_file = canvas_groups(tmp_path, GROUP_CLASS, groups)
    out, coll, _ = collect(tmp_path, "canvas", download, "--roster", roster, "--groups", group_file)
    team = next(e for e in coll["entries"] if e.get("group"))
    assert sorted(m["name"] for m in team["members"]) == ["Doe, Jane", "Roe, Bob"]
    assert sorted(m["name"] for m in coll["missing"]) == ["Coe, Carl", "Nosub, Nora", "Poe, Ann"]
    grade(out)
    dest = tmp_path / "canvas.csv"
    ok(invoke("export", "canvas", "--grades", out, "--roster", roster, "--assignment-name", "HW 1",
              "--assignment-id", HW.id, "--missing-as-zero", "--out", dest))
    course = canvas_course(GROUP_CLASS, groups=[[JANE, BOB], [ANN, CARL]])
    imp = cv.parse(course, dest.read_text("utf-8"))
    assert not imp.unknown_students and not imp.new_assignments
    cv.apply(course, imp)
    scores = {uid: s for (uid, _), s in course.scores.items()}
    assert scores == {JANE.canvas_id: total_of("Team Alpha"), BOB.canvas_id: total_of("Team Alpha"),
                      DAN.canvas_id: total_of("Dan Day"), ANN.canvas_id: 0.0,
                      CARL.canvas_id: 0.0, NORA.canvas_id: 0.0}


def test_canvas_group_file_without_groups_is_flagged(tmp_path):
    download = canvas_group_download(tmp_path, {"Team Alpha": (BOB, work("Team Alpha"))}, {})
    roster = canvas_roster(tmp_path, GROUP_CLASS)
    out, coll, output = collect(tmp_path, "canvas", download, "--roster", roster)
    assert "group" in output and "--groups" in output
    grade(out)
    fails(invoke("export", "canvas", "--grades", out, "--roster", roster, "--assignment-name",
                 "HW 1", "--assignment-id", HW.id, "--missing-as-zero", "--out", tmp_path / "c.csv"),
          "--groups")


def test_moodle_team_and_default_group(tmp_path):
    teams = {JANE: "Team A", BOB: "Team A", ANN: "Team B", DAN: None, NORA: None}
    sheet = moodle_worksheet(tmp_path, list(teams), groups=teams)
    download = moodle_download(tmp_path, [
        (team_prefix("Team A", 12), "hw01.ipynb", work("Team A")),
        (team_prefix(None, None), "hw01.ipynb", work("Default group"))])
    out, coll, _ = collect(tmp_path, "moodle", download, "--roster", sheet)
    members = {e["group"]["name"]: sorted(m["name"] for m in e["members"]) for e in coll["entries"]}
    assert members == {"Team A": ["Bob Roe", "Jane Doe"], "Default group": ["Dan Day", "Nora Nosub"]}
    assert [m["name"] for m in coll["missing"]] == ["Ann Poe"]
    grade(out)
    dest = tmp_path / "moodle.csv"
    ok(invoke("export", "moodle", "--grades", out, "--roster", sheet, "--assignment-name", "HW 1",
              "--out", dest))
    book = moodle_book(list(teams))
    book.grades[(ANN.moodle_user, 7)] = 3.0
    moodle_import(book, dest)
    assert book.grades == {(JANE.moodle_user, 7): total_of("Team A"),
                           (BOB.moodle_user, 7): total_of("Team A"),
                           (DAN.moodle_user, 7): total_of("Default group"),
                           (NORA.moodle_user, 7): total_of("Default group"),
                           (ANN.moodle_user, 7): 3.0}


# -- 5. blank cells never erase ----------------------------------------------------------------


def test_canvas_export_leaves_students_without_grade_out(tmp_path):
    download = canvas_download(tmp_path, [("Doe, Jane", JANE.canvas_id, "hw01.ipynb",
                                           work("Jane Doe"))])
    roster = canvas_roster(tmp_path, CLASS)
    out, _, _ = collect(tmp_path, "canvas", download, "--roster", roster)
    grade(out)
    dest = tmp_path / "canvas.csv"
    ok(invoke("export", "canvas", "--grades", out, "--roster", roster, "--assignment-name", "HW 1",
              "--assignment-id", HW.id, "--out", dest))
    course = canvas_course(CLASS)
    course.scores[(NORA.canvas_id, HW.id)] = 8.0  # graded by hand (oral exam)
    cv.apply(course, cv.parse(course, dest.read_text("utf-8")))
    assert course.scores == {(JANE.canvas_id, HW.id): total_of("Jane Doe"),
                             (NORA.canvas_id, HW.id): 8.0}


# -- 6. score scale ----------------------------------------------------------------------------


def test_canvas_points_possible_mismatch(tmp_path):
    download = canvas_download(tmp_path, [("Doe, Jane", JANE.canvas_id, "hw01.ipynb",
                                           work("Jane Doe"))])
    roster = canvas_roster(tmp_path, CLASS, points=100.0)
    out, _, _ = collect(tmp_path, "canvas", download, "--roster", roster)
    grade(out)
    dest = tmp_path / "canvas.csv"
    args = ["export", "canvas", "--grades", out, "--roster", roster, "--assignment-name", "HW 1",
            "--assignment-id", HW.id, "--out", dest]
    fails(invoke(*args), "out of 100 points", "out of 10", "--rescale")
    ok(invoke(*args, "--rescale"))
    course = canvas_course(CLASS, points=100.0)
    cv.apply(course, cv.parse(course, dest.read_text("utf-8")))
    assert course.scores[(JANE.canvas_id, HW.id)] == pytest.approx(10 * total_of("Jane Doe"))


def test_moodle_maximum_grade_mismatch(tmp_path):
    sheet = moodle_worksheet(tmp_path, CLASS, max_grade=100.0)
    download = moodle_download(tmp_path, [(moodle_prefix(JANE), "hw01.ipynb", work("Jane Doe"))])
    out, _, _ = collect(tmp_path, "moodle", download, "--roster", sheet)
    grade(out)
    dest = tmp_path / "m.csv"
    args = ["export", "moodle", "--grades", out, "--roster", sheet, "--assignment-name", "HW 1",
            "--out", dest]
    fails(invoke(*args), "out of 100 points")
    ok(invoke(*args, "--rescale"))
    book = moodle_book(CLASS, grademax=100.0)
    moodle_import(book, dest)
    assert book.grades[(JANE.moodle_user, 7)] == pytest.approx(10 * total_of("Jane Doe"))


# -- 7. Canvas names ---------------------------------------------------------------------------


def test_canvas_anonymous_and_digit_names(tmp_path):
    digits = NORA  # Nora's Canvas name is only digits in this course
    roster = canvas_roster(tmp_path, CLASS, names={digits: "2023001234"})
    download = canvas_download(tmp_path, [
        ("2023001234", digits.canvas_id, "hw01.ipynb", work("2023001234")),
        (None, None, "hw01 (anon).ipynb", work("Jane Doe")),
    ], anonymous={"hw01 (anon).ipynb": "aB3xZ"}, late={"hw01 (anon).ipynb"})
    out, coll, output = collect(tmp_path, "canvas", download, "--roster", roster)
    nora = next(e for e in coll["entries"] if e["student"].get("lms_id") == str(digits.canvas_id))
    assert nora["matched_by"] == "lms id"
    anon = [e for e in coll["entries"] if e["matched_by"] == "anonymous"]
    assert len(anon) == 1 and anon[0]["late"] is True
    grade(out)
    fails(invoke("export", "canvas", "--grades", out, "--roster", roster, "--assignment-name",
                 "HW 1", "--assignment-id", HW.id, "--out", tmp_path / "c.csv"), "anonymous")


def test_canvas_first_last_name_gradebook_is_a_canvas_roster(tmp_path):
    roster = canvas_roster(tmp_path, CLASS, first_last=True)
    download = canvas_download(tmp_path, [("Doe, Jane", JANE.canvas_id, "hw01.ipynb",
                                           work("Jane Doe"))])
    out, coll, _ = collect(tmp_path, "canvas", download, "--roster", roster)
    assert coll["roster"]["format"] == "canvas"
    names = sorted(m["name"] for m in coll["missing"])
    assert names == sorted(f"{p.last}, {p.first}" for p in CLASS if p is not JANE)
    assert any("Points Possible" in s for s in coll["roster"]["skipped_rows"])


# -- 8. Gradescope export ------------------------------------------------------------------------


def test_gradescope_export_columns_and_submission_id(tmp_path):
    from test_lms_gradescope import _gs_zip

    roster = tmp_path / "roster.csv"
    roster.write_text("name,sid,email\nJane Doe,1001,jdoe@uni.edu\n", encoding="utf-8")
    out, coll, _ = collect(tmp_path, "gradescope", _gs_zip(tmp_path), "--roster", roster)
    write_final_grades(out, QUESTIONS, {e["file"]: {"q1": 1, "q2": 1} for e in coll["entries"]})
    dest = tmp_path / "g.csv"
    ok(invoke("export", "gradescope", "--grades", out, "--roster", roster, "--allow-incomplete",
              "--out", dest))
    rows = read_csv(dest)
    assert rows[0][:14] == ["First Name", "Last Name", "SID", "Email", "Sections", "Total Score",
                            "Max Points", "Status", "Submission ID", "Submission Time",
                            "Lateness (H:M:S)", "View Count", "Submission Count", "q1 (4.0 pts)"]
    jane = next(r for r in rows[1:] if r[0] == "Jane")
    assert jane[8] == "201"
