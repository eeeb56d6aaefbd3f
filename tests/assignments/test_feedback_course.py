"""The course's own hw04 under `mlphys grade` (issue 9): for the honest solutions, the untouched
handout and every wrong answer of its mutations.yml, every lost point in results.json, the
gradebook's student view and the feedback page has a name and a hint (the hint written with the
test when the zip has one, else the grader's observation), and no line of a hidden test
appears in any of them."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.democlass import apply_mutation, as_student_work, load_mutations, make_roster
from autograder.gradescope_check import validate_results
from autograder.grading import grade_batch, read_feedback
from autograder.grading.otter import case_labels
from autograder.grading.otter.autograder_zip import load_autograder
from autograder.pages.class_report import write_class_report
from autograder.pages.feedback import write_feedback_pages
from tests.assignments.conftest import source_dir

pytestmark = pytest.mark.slow

NAME = "hw04-feedforward"
OBSERVATIONS = tuple(case_labels.KIND_HINTS.values())


def secret_lines(autograder_zip: Path) -> list[str]:
    """Lines of the zip's hidden test cases (decorator to last line) that no public test
    contains (a public test's lines are the student's to see)."""
    hidden, public = set(), set()
    with zipfile.ZipFile(autograder_zip) as zf:
        for name in zf.namelist():
            if not (name.startswith("tests/") and name.endswith(".py")):
                continue
            into = None
            for line in zf.read(name).decode().splitlines():
                if line.startswith("@test_case("):
                    into = hidden if "hidden=True" in line else public
                elif line.strip() and not line.startswith((" ", "\t", "def ")):
                    into = None  # the next top-level statement ends the case
                if into is not None and line.strip():
                    into.add(line.strip())
    secrets = sorted(h for h in hidden if not any(h in p for p in public))
    assert len(secrets) > 10
    return secrets


def docstring_names(autograder_zip: Path) -> dict[tuple[str, str], str | None]:
    """(question, Otter's case name) -> the first line of the case function's docstring (None
    without one), read from the test file's text: Otter collects the cases in definition order."""
    spec = load_autograder(autograder_zip)
    out = {}
    for q in spec.questions:
        cases = q.make_test_file().test_cases
        functions = case_labels.test_functions(q.source)
        assert len(functions) == len(cases), q.name
        for tc, fn in zip(cases, functions, strict=True):
            out[(q.name, str(tc.name))] = fn.doc
    return out


def failure_messages(autograder_zip: Path) -> dict[tuple[str, str], str | None]:
    """(question, Otter's case name) -> the case's failure_message, read by Otter's parser."""
    spec = load_autograder(autograder_zip)
    return {(q.name, str(tc.name)): tc.failure_message
            for q in spec.questions for tc in q.make_test_file().test_cases}


@pytest.fixture(scope="module")
def graded(built, tmp_path_factory):
    built = built[NAME]
    root = tmp_path_factory.mktemp("hw04-feedback")
    solutions = nbformat.read(built.solutions, as_version=4)
    handout = nbformat.read(built.student_dir / f"{NAME}.ipynb", as_version=4)
    student = make_roster(1, np.random.default_rng(3))[0]
    honest = as_student_work(solutions, handout, student)
    notebooks = {"honest": honest, "handout": handout}
    for i, mutation in enumerate(load_mutations(source_dir(NAME))):
        nb = copy.deepcopy(honest)
        if apply_mutation(nb, mutation):
            notebooks[f"mutant{i:02d}-{mutation['question']}"] = nb
    subs = root / "subs"
    subs.mkdir()
    for stem, nb in notebooks.items():
        nbformat.write(nb, subs / f"{stem}.ipynb")
    grade_batch(built.autograder_zip, [subs], root / "graded", jobs=2, progress=False)
    pages = write_feedback_pages(root / "graded", root / "pages", NAME)
    report = write_class_report(root / "graded", root / "report", NAME, feedback_links=pages)
    return built, root, pages, report


def test_every_lost_point_has_a_name_and_a_hint(graded):
    built, root, _, _ = graded
    written = failure_messages(built.autograder_zip)
    named = docstring_names(built.autograder_zip)
    feedback = {Path(f.path).stem: f for f in read_feedback(root / "graded")}
    assert feedback["honest"].total == feedback["honest"].possible > 0
    assert feedback["handout"].total == 0
    mutants = [stem for stem in feedback if stem.startswith("mutant")]
    assert len(mutants) >= 5
    for stem, sub in feedback.items():
        lost = [(q, c) for q in sub.questions for c in q.failed]
        if stem != "honest":
            assert lost, stem
        if stem.startswith("mutant"):  # the mutated question is among the losses
            assert stem.rsplit("-", 1)[1] in {q.name for q, _ in lost}
        for q, case in lost:
            assert case.title and case.hint, (stem, q.name, case.name)
            doc = named[(q.name, case.name)]
            if doc:  # the name written with the test
                assert case.title == doc, (stem, case)
            else:
                assert not case.title.startswith("test_"), (stem, case)
            if not case.hidden:
                continue
            author = written[(q.name, case.name)]
            if author:
                assert case.hint.startswith(case_labels.one_line(author)), (stem, case)
            else:
                assert case.hint.startswith(OBSERVATIONS), (stem, case)


def test_nothing_of_the_hidden_tests_reaches_students(graded):
    built, root, pages, report = graded
    secrets = secret_lines(built.autograder_zip)
    texts = {}
    for path in (root / "graded" / "results").glob("*.json"):
        results = json.loads(path.read_text())
        assert validate_results(results) == []
        assert {t["visibility"] for t in results["tests"] if "max_score" in t} == {"after_published"}
        texts[path.name] = json.dumps(results, ensure_ascii=False)
    for page in pages.values():
        texts[page.name] = page.read_text()
    for sub in read_feedback(root / "graded"):
        texts[sub.path] = "".join(q.public_output + "".join(c.message + c.title + c.hint
                                                            for c in q.cases)
                                  for q in sub.questions)
    assert len(texts) >= 2 * len(pages) + len(pages)
    for where, text in texts.items():
        assert [s for s in secrets if s in text] == [], where
        assert "RemoteTypeError" not in text and "RemoteValueError" not in text, where
        if where.endswith(".html"):
            assert "❌" not in text and "✅" not in text, where
    report_text = report.read_text()
    assert "Test cases most often failed" in report_text
    assert [s for s in secrets if s in report_text] == []
