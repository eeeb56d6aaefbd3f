"""`mlphys grade --identities` on bare quiz notebooks: each is graded against its submitter's own
variant (the identity map's word, not the notebook's `student_id`), mismatches are flagged in
the gradebook, the feedback page and the class report, an unknown owner is not graded, and a
result graded for another submitter is graded again. Expected scores are computed from
`reference.quiz.key_for` (through `democlass.as_student_work`)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import nbformat
from click.testing import CliRunner

from autograder.cli import main
from autograder.democlass import DemoStudent, as_student_work
from autograder.grading import read_feedback
from autograder.pages.class_report import write_class_report
from autograder.pages.feedback import write_feedback_pages

QUIZ = "quiz02-python-numpy"
ANSWER = re.compile(r'^(q\d+)_answer = "([a-h])"', re.M)


def notebook(built, login: str) -> nbformat.NotebookNode:
    solutions = nbformat.read(built[QUIZ].solutions, as_version=4)
    handout = nbformat.read(built[QUIZ].student_dir / f"{QUIZ}.ipynb", as_version=4)
    return as_student_work(solutions, handout, DemoStudent(1, "S1", login, "A", "B", "T1"))


def letters(nb: nbformat.NotebookNode) -> dict[str, str]:
    return {q: a for c in nb.cells if c.cell_type == "code" for q, a in ANSWER.findall(c.source)}


def agreement(built, answered_for: str, graded_as: str) -> float:
    """Points a notebook answered for one identity earns against another identity's key."""
    mine, theirs = letters(notebook(built, answered_for)), letters(notebook(built, graded_as))
    return float(sum(mine[q] == theirs[q] for q in mine))


def grade(args: list[str]) -> str:
    result = CliRunner().invoke(main, ["grade", *args])
    assert result.exit_code == 0, result.output
    return result.output


def totals(out: Path) -> dict[str, tuple[float, str]]:
    with open(out / "final_grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))[1:]
    return {Path(r["file"]).stem: (float(r["total_points_earned"]), r["grading_status"]) for r in rows}


def test_quiz_notebooks_are_graded_against_their_submitters_variant(built, tmp_path):
    subs = tmp_path / "submissions_bare"
    subs.mkdir()
    files = {"ada": "ada.lovelace", "copy": "ada.lovelace", "typo": "grace.hoper",
             "case": " Ada.LOVELACE", "group": "ada.lovelace", "stranger": "edsger.dijkstra"}
    for stem, login in files.items():
        nbformat.write(notebook(built, login), subs / f"{stem}.ipynb")
    ids = tmp_path / "ids.csv"
    ids.write_text("file,identity\nada.ipynb,ada.lovelace\ncopy.ipynb,alan.turing\n"
                   "typo.ipynb,grace.hopper\ncase.ipynb,ada.lovelace\n"
                   "group.ipynb,alan.turing\ngroup.ipynb,ada.lovelace\n")
    zip_path = str(built[QUIZ].autograder_zip)
    out = tmp_path / "graded"
    printed = grade(["-a", zip_path, "--out", str(out), "-j", "2", "--identities", str(ids),
                     str(subs)])
    assert "identity map ids.csv, 5 of 5 files with an owner" in printed

    full = agreement(built, "ada.lovelace", "ada.lovelace")
    got = totals(out)
    assert got["ada"] == (full, "Completed") and got["case"] == (full, "Completed")
    assert got["group"] == (full, "Completed")  # Ada's notebook in Alan and Ada's group
    assert got["copy"] == (agreement(built, "ada.lovelace", "alan.turing"), "Completed")
    assert got["copy"][0] < full
    assert got["typo"] == (agreement(built, "grace.hoper", "grace.hopper"), "Completed")
    assert got["typo"][0] < full  # the typo picked another variant
    assert got["stranger"] == (0.0, "error: unknown submitter: not in ids.csv")

    checks = {Path(f.path).stem: f.identity for f in read_feedback(out)}
    assert {k: c.status for k, c in checks.items()} == {
        "ada": "match", "case": "match", "group": "match", "copy": "mismatch",
        "typo": "mismatch", "stranger": "unknown"}
    assert checks["copy"].graded_as == "alan.turing" and checks["copy"].notebook_ids == ("ada.lovelace",)
    assert checks["group"].graded_as == "ada.lovelace"
    copied = json.loads((out / "results" / "copy.json").read_text())
    assert copied["output"].startswith("Identity check: the notebook's student_id is 'ada.lovelace'")
    assert "output" not in json.loads((out / "results" / "ada.json").read_text())

    pages = write_feedback_pages(out, tmp_path / "pages", QUIZ)
    assert "graded against &#x27;alan.turing&#x27;&#x27;s own variant" in pages["copy"].read_text()
    assert "Identity check" not in pages["ada"].read_text()
    report = write_class_report(out, tmp_path / "report", QUIZ).read_text()
    section = report.split("<h2>Identity mismatches</h2>")[1].split("<h2>")[0]
    assert "6 submissions graded against their submitter" in section and "3 to follow up" in section
    for stem in ("copy", "typo", "stranger"):
        assert f"<td>{stem}</td>" in section
    assert "<td>ada</td>" not in section

    # the same files again: nothing to do; a corrected map: only that file is graded again
    again = grade(["-a", zip_path, "--out", str(out), "--identities", str(ids), str(subs)])
    assert "graded 0, already graded 6" in again
    ids.write_text(ids.read_text().replace("copy.ipynb,alan.turing", "copy.ipynb,ada.lovelace"))
    fixed = grade(["-a", zip_path, "--out", str(out), "--identities", str(ids), str(subs)])
    assert "graded 1, already graded 5" in fixed
    assert totals(out)["copy"] == (full, "Completed")
    assert {Path(f.path).stem: f.identity.status for f in read_feedback(out)}["copy"] == "match"


def test_without_an_identity_source_the_notebooks_id_is_used_and_said(built, tmp_path):
    subs = tmp_path / "bare"
    subs.mkdir()
    nbformat.write(notebook(built, "ada.lovelace"), subs / "copy.ipynb")
    out = tmp_path / "graded"
    printed = grade(["-a", str(built[QUIZ].autograder_zip), "--out", str(out), str(subs)])
    assert "graded against the student_id each notebook sets" in printed
    assert totals(out)["copy"] == (agreement(built, "ada.lovelace", "ada.lovelace"), "Completed")
    assert read_feedback(out)[0].identity is None


def _loopback_cluster_class():
    """tests/grading/dask_support.py's LoopbackCluster (that folder is not a package)."""
    import importlib.util

    path = Path(__file__).parents[1] / "grading" / "dask_support.py"
    spec = importlib.util.spec_from_file_location("mlphys_test_dask_support", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LoopbackCluster


def test_on_a_dask_cluster_the_copy_is_graded_against_its_submitters_variant(built, tmp_path):
    """The submitter travels with each task to the Dask worker's grading process: the same
    copy case as above, graded by a loopback cluster of two workers."""
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(notebook(built, "ada.lovelace"), subs / "ada.ipynb")
    nbformat.write(notebook(built, "ada.lovelace"), subs / "copy.ipynb")
    ids = tmp_path / "ids.csv"
    ids.write_text("file,identity\nada.ipynb,ada.lovelace\ncopy.ipynb,alan.turing\n")
    cluster = _loopback_cluster_class()(tmp_path / "cluster", workers=2)
    try:
        out = tmp_path / "graded"
        grade(["-a", str(built[QUIZ].autograder_zip), "--out", str(out), "--identities",
               str(ids), "--dask-scheduler", cluster.address, str(subs)])
    finally:
        survivors = cluster.close()
    assert survivors == []
    got = totals(out)
    assert got["ada"] == (agreement(built, "ada.lovelace", "ada.lovelace"), "Completed")
    assert got["copy"] == (agreement(built, "ada.lovelace", "alan.turing"), "Completed")
    assert got["copy"][0] < got["ada"][0]
    assert {Path(f.path).stem: f.identity.status for f in read_feedback(out)} == {
        "ada": "match", "copy": "mismatch"}
