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


def test_on_a_dask_cluster_the_submitter_travels_with_the_task(built, tmp_path):
    """The identity reaches the Dask grading processes (``GradingTask.submitter``): the copy is
    graded as its submitter there too, with the same results as on this machine."""
    from autograder.grading import grade_batch
    from autograder.grading.executors.dask import DaskExecutor
    from autograder.grading.executors.local import LocalExecutor
    from autograder.identity_sources import load_source
    from tests.grading.dask_support import LoopbackCluster

    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(notebook(built, "ada.lovelace"), subs / "ada.ipynb")
    nbformat.write(notebook(built, "ada.lovelace"), subs / "copy.ipynb")
    ids = tmp_path / "ids.csv"
    ids.write_text("file,identity\nada.ipynb,ada.lovelace\ncopy.ipynb,alan.turing\n")
    submitter_of = load_source(ids, "auto").submitter
    zip_path = built[QUIZ].autograder_zip
    local = grade_batch(zip_path, [subs], tmp_path / "local", executor=LocalExecutor(1),
                        progress=False, submitter_of=submitter_of)
    cluster = LoopbackCluster(tmp_path / "cluster", workers=1)
    try:
        with DaskExecutor(cluster.address) as executor:
            dask = grade_batch(zip_path, [subs], tmp_path / "dask", executor=executor,
                               progress=False, submitter_of=submitter_of)
    finally:
        survivors = cluster.close()
    assert survivors == []
    assert dask.results == local.results and len(local.results) == 2
    assert totals(tmp_path / "dask")["copy"] == (agreement(built, "ada.lovelace", "alan.turing"),
                                                 "Completed")
    checks = {Path(f.path).stem: f.identity for f in read_feedback(tmp_path / "dask")}
    assert checks["copy"].status == "mismatch" and checks["copy"].graded_as == "alan.turing"
    assert checks["ada"].status == "match"
    for name in ("ada.json", "copy.json"):
        assert (json.loads((tmp_path / "dask" / "results" / name).read_text())
                == json.loads((tmp_path / "local" / "results" / name).read_text()))
