"""Fair grades, proved by grading: correct work written unlike our solutions gets full marks,
and each plausible mistake costs its own question and nothing else.

Per assignment, one ``mlphys grade`` batch (``grade_batch``; much faster than ``otter run`` per
notebook) grades, as the student would hand them in:

* ``alternatives.yml`` rounds: round k applies the k-th alternative of every question (written
  from the prompt: loops, lists, float32, other architectures, seeds and algorithms; for quizzes
  the answer written differently). Every autograded question must score full marks.
* ``mutations.yml`` rounds: each notebook holds at most one wrong answer per question, and never
  two in questions of which one builds on the other (``masters.question_uses``, a dataflow pass
  over the master), so every leak is visible (quizzes: the first round also has a wrong letter
  for every multiple-choice question). Every mutated question must lose points, and every other
  question must keep full marks, except those a mutation declares in ``also_costs`` (a result
  that depends on earlier work by its nature, stated in the prompt and in docs/course.md).

Parity: the first mutation round is also graded with ``otter run``, which must agree question by
question; so is, alone, every mutation marked ``otter_parity: true`` (mistakes where the two
graders work differently, e.g. a function that modifies its argument in place: ``mlphys grade``
copies arguments into the sandbox and writes their post-call state back).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from autograder.democlass import KEY_CALL, apply_mutation, as_student_work, load_mutations, make_roster
from autograder.grading import grade_batch, read_feedback
from reference.quiz import student_question
from tests.assignments.conftest import NAMES, otter_scores, source_dir
from tests.assignments.masters import question_uses

QUIZ03 = "quiz03-sgd"


def _entries(name: str, file: str) -> list[dict]:
    path = source_dir(name) / file
    return (yaml.safe_load(path.read_text()) or []) if path.exists() else []


def _questions_of(entry: dict) -> list[str]:
    q = entry["question"]
    return list(q) if isinstance(q, list) else [q]


def _rounds(entries: list[dict], uses: dict[str, set[str]] | None = None) -> list[list[dict]]:
    """Entries grouped into notebooks: at most one per question, and (with ``uses``) never two
    whose questions depend on each other, so that a mistake that leaks into a later question
    cannot hide behind that question's own mistake. Greedy, in catalogue order."""
    uses = uses or {}

    def related(a: str, b: str) -> bool:
        return a == b or a in uses.get(b, set()) or b in uses.get(a, set())

    rounds: list[list[dict]] = []
    for e in entries:
        qs = _questions_of(e)
        for r in rounds:
            if not any(related(q, q2) for q in qs for other in r for q2 in _questions_of(other)):
                r.append(e)
                break
        else:
            rounds.append([e])
    return rounds


def _multiple_choice(solutions: nbformat.NotebookNode) -> list[str]:
    return sorted({m["var"].removesuffix("_answer") for c in solutions.cells
                   if c.cell_type == "code" for m in KEY_CALL.finditer(c.source)})


def _apply(name: str, nb: nbformat.NotebookNode, entries: list[dict]) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    for e in entries:
        assert apply_mutation(nb, e), f"{name}: {e['question']} ({e['description']}) finds nothing"
    return nb


def _grade(autograder_zip: Path, notebooks: dict[str, nbformat.NotebookNode], tmp: Path
           ) -> dict[str, dict[str, tuple[float, float]]]:
    folder = tmp / "submissions"
    folder.mkdir()
    for stem, nb in notebooks.items():
        nbformat.write(nb, folder / f"{stem}.ipynb")
    grade_batch(autograder_zip, [folder], tmp / "graded", jobs=2, progress=False)
    return {Path(f.path).stem: {q.name: (q.score, q.possible) for q in f.questions if q.possible > 0}
            for f in read_feedback(tmp / "graded")}


def _student(name: str):
    """The student whose notebook is graded. Quiz 3's mistakes "the variance" and "1/Var" are
    right by accident at eta = 1 (the stationary variance is then 1), so that quiz is graded for
    a student whose trajectory has eta <= 0.2, where tests/reference/test_quiz03_eta.py shows
    them wrong on every variant of the pool."""
    if name != QUIZ03:
        return make_roster(1, np.random.default_rng(7))[0]
    return next(s for s in make_roster(16, np.random.default_rng(7))
                if student_question(QUIZ03, "sgd.eta", s.login).data["eta"] <= 0.2)


@pytest.mark.parametrize("name", NAMES)
def test_alternatives_get_full_marks_and_each_mistake_costs_only_its_question(built, name, tmp_path):
    b = built[name]
    student = _student(name)
    solutions = nbformat.read(b.solutions, as_version=4)
    handout = nbformat.read(b.student_dir / f"{name}.ipynb", as_version=4)
    base = as_student_work(solutions, handout, student)
    choice = _multiple_choice(solutions)

    notebooks: dict[str, nbformat.NotebookNode] = {}
    for k, entries in enumerate(_rounds(_entries(name, "alternatives.yml"))):
        notebooks[f"alternative{k}"] = _apply(name, base, entries)
    mutations = load_mutations(source_dir(name))
    parity_sample = [m for m in mutations if m.get("otter_parity")]
    expected_losses: dict[str, tuple[set[str], set[str]]] = {}
    descriptions: dict[str, str] = {}
    rounds = _rounds(mutations, question_uses(source_dir(name) / f"{name}.ipynb")) or [[]]
    for k, entries in enumerate(rounds):
        wrong = set(choice) if k == 0 else set()
        start = as_student_work(solutions, handout, student, wrong_letters=wrong)
        notebooks[f"mutant{k}"] = _apply(name, start, entries)
        mutated = wrong | {q for e in entries for q in _questions_of(e)}
        allowed = {q for e in entries for q in e.get("also_costs", [])}
        expected_losses[f"mutant{k}"] = (mutated, allowed)
        descriptions[f"mutant{k}"] = "; ".join(f"{e['question']}: {e['description']}" for e in entries)

    scores = _grade(b.autograder_zip, notebooks, tmp_path)
    assert set(scores) == set(notebooks), "every notebook graded"
    problems = []
    for stem in notebooks:
        got = scores[stem]
        assert got, f"{stem}: no autograded question"
        if stem.startswith("alternative"):
            problems += [(stem, q, s) for q, s in got.items() if s[0] < s[1]]
            continue
        mutated, allowed = expected_losses[stem]
        problems += [(stem, q, "mistake kept full marks") for q in mutated if got[q][0] >= got[q][1]]
        problems += [(stem, q, f"lost points for another question's mistake ({', '.join(sorted(mutated))})")
                     for q in got if q not in mutated | allowed and got[q][0] < got[q][1]]
    assert problems == [], "\n" + "\n".join(map(str, problems)) + "\n" + "\n".join(
        f"{stem}: {descriptions[stem]}" for stem in sorted({p[0] for p in problems}) if stem in descriptions)

    # parity: otter run grades the first mutant exactly as mlphys grade does
    path = tmp_path / "otter" / f"{name}.ipynb"
    path.parent.mkdir()
    nbformat.write(notebooks["mutant0"], path)
    otter = otter_scores(b.autograder_zip, path, path.parent / "out")
    assert {q: otter[q] for q in scores["mutant0"]} == scores["mutant0"]

    # parity on the mistakes where the two graders work differently: otter run, alone
    for k, m in enumerate(parity_sample):
        path = tmp_path / f"otter{k}" / f"{name}.ipynb"
        path.parent.mkdir()
        nbformat.write(_apply(name, base, [m]), path)
        got = otter_scores(b.autograder_zip, path, path.parent / "out")
        others = {q: s for q, s in got.items() if s[1] > 0 and q != m["question"]
                  and q not in m.get("also_costs", []) and s[0] < s[1]}
        assert got[m["question"]][0] < got[m["question"]][1], m["description"]
        assert others == {}, m["description"]


def test_rounds_keep_related_questions_apart():
    entries = [{"question": "q1", "n": 1}, {"question": "q2", "n": 2}, {"question": "q1", "n": 3},
               {"question": "q3", "n": 4}]
    assert [[e["n"] for e in r] for r in _rounds(entries)] == [[1, 2, 4], [3]]
    # q3 builds on q1: never graded in the same notebook as a q1 mistake
    uses = {"q3": {"q1"}}
    assert [[e["n"] for e in r] for r in _rounds(entries, uses)] == [[1, 2], [3], [4]]
    assert json.dumps(_rounds([])) == "[]"
