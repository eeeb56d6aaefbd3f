"""The demo's whole loop on a small class, and the pages it writes: feedback pages that never
show hidden tests, a class report that renders in headless Chromium with its pictures."""

from __future__ import annotations

import csv
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from autograder.cli import main
from autograder.grading import read_feedback

ASSIGNMENT = "quiz02-python-numpy"
STUDENTS = 14


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--students", str(STUDENTS),
                                       "--assignments", ASSIGNMENT, "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert "where things are" in result.output
    # the demo always says whether (and how) its class can be graded in the hand-grading page
    assert "has questions graded by hand: no grading page" in result.output
    return out


def test_demo_grades_every_student_of_the_canvas_download(demo):
    grades = demo / "graded" / ASSIGNMENT
    collection = json.loads((grades / "collection.json").read_text())
    assert len(collection["entries"]) == STUDENTS and collection["missing"] == []
    # like Canvas, the zip holds each student's current attempt; a resubmitted file of the same
    # name is the "-1" copy Canvas made, and it is what was collected
    with zipfile.ZipFile(demo / "lms" / ASSIGNMENT / "canvas-download.zip") as zf:
        assert len(zf.namelist()) == STUDENTS
        assert any("_LATE_" in n for n in zf.namelist())
    assert any(e["original_name"] == f"{ASSIGNMENT}-1.ipynb" for e in collection["entries"])
    assert not any(e["superseded"] or e["other_files"] for e in collection["entries"])
    # the Moodle file names every row's user (the demo's logins as usernames)
    moodle = list(csv.reader((demo / "lms" / ASSIGNMENT / "exports" / "moodle-import.csv")
                             .open(encoding="utf-8")))
    assert moodle[0][0] == "Username" and len(moodle) == 1 + STUDENTS
    assert all(row[0] for row in moodle[1:])
    feedback = read_feedback(grades)
    assert len(feedback) == STUDENTS
    summary = json.loads((demo / "summary.json").read_text())[0]
    assert summary["graded"] == STUDENTS and summary["late"] >= 3
    kinds_seen = {f.grading_status.split(":")[0] for f in feedback}
    assert "Completed" in kinds_seen and "kernel died" in kinds_seen  # the os._exit student
    assert 0 < summary["full"] < STUDENTS
    # graded as each file's Canvas submitter (collection.json), as `mlphys grade` does; the
    # demo's students all hand in their own notebooks
    statuses = {f.identity.status for f in feedback if f.identity is not None}
    assert len([f for f in feedback if f.identity is not None]) == STUDENTS
    assert "match" in statuses and not statuses & {"mismatch", "unknown", "unset"}


def test_canvas_export_has_every_roster_student_and_late_penalties(demo):
    path = demo / "lms" / ASSIGNMENT / "exports" / "canvas-import.csv"
    rows = list(csv.reader(path.open(encoding="utf-8-sig")))
    assert rows[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert re.fullmatch(rf"{ASSIGNMENT} \(\d+\)", rows[0][5])
    assert rows[1][0].strip() == "Points Possible"
    assert len(rows) == 2 + STUDENTS
    report = list(csv.DictReader((demo / "lms" / ASSIGNMENT / "exports" / "grade-report.csv")
                                 .open(encoding="utf-8-sig")))
    penalised = [r for r in report if float(r["late_penalty"]) > 0]
    assert penalised, "late submissions must carry a penalty"


def _hidden_test_lines(demo: Path) -> list[str]:
    zip_path = demo / "dist" / ASSIGNMENT / "autograder" / f"{ASSIGNMENT}-autograder.zip"
    lines = []
    with zipfile.ZipFile(zip_path) as zf:
        for n in zf.namelist():
            if n.startswith("tests/q"):
                lines += [ln.strip() for ln in zf.read(n).decode().splitlines()
                          if "key_for(" in ln or "assert" in ln]
    return lines


def test_feedback_pages_show_results_but_never_hidden_tests(demo):
    pages = sorted((demo / "feedback" / ASSIGNMENT).glob("*.html"))
    assert len(pages) == STUDENTS
    secrets = _hidden_test_lines(demo)
    assert secrets
    failed_hidden_somewhere = False
    full_marks = 0
    for page in pages:
        text = page.read_text()
        assert "Autograded score" in text and "q1" in text
        score = re.search(r"Autograded score: <b>([\d.]+) / ([\d.]+)</b> \((\d+)%\)", text)
        assert score, page.name
        got, possible, percent = float(score[1]), float(score[2]), int(score[3])
        assert percent == round(100 * got / possible)
        full_marks += percent == 100
        assert not [s for s in secrets if s in text]
        assert "Traceback" not in text and "RuntimeError" not in text
        failed_hidden_somewhere |= "Tests that failed" in text and "<td>hidden</td>" in text
    assert failed_hidden_somewhere
    assert 0 < full_marks < STUDENTS


def test_class_report_renders_in_headless_chromium(demo, tmp_path):
    from playwright.sync_api import sync_playwright

    index = demo / "report" / ASSIGNMENT / "index.html"
    html = index.read_text()
    for image in re.findall(r"src='([^']+\.png)'", html):
        assert (index.parent / image).stat().st_size > 1000
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(index.as_uri())
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth)")
        links = page.eval_on_selector_all("a[href$='.html']", "as => as.map(a => a.href)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        page.goto(links[0])
        assert "feedback" in page.title()
        browser.close()
    assert len(widths) == 3 and all(w and w > 100 for w in widths)
    assert errors == []
    assert len(links) >= STUDENTS
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_demo_refuses_a_foreign_non_empty_folder(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--assignments",
                                       ASSIGNMENT])
    assert result.exit_code != 0 and "not an earlier demo's output" in result.output
    assert (tmp_path / "thesis.tex").read_text() == "precious"
    assert "Traceback" not in result.output
