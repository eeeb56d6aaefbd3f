"""The built zips on Gradescope: their own ``run_autograder`` in the emulated container
(``/autograder``, root with Docker's default capabilities, no cgroups: the fallback sandbox mode
with a slot uid), through ``mlphys gradescope-check``'s ``run_like_gradescope``.

Every attack of issue 10 runs there and fails (the reference import, reading the tests, the
salt or the grader, listing /autograder, writing results.json, running as root, the identity
copy), honest work gets the same per-question scores as ``otter run``, and the submitter's
identity comes from ``submission_metadata.json``. Expected quiz scores are computed here from
``reference.quiz.key_for`` (via ``democlass.as_student_work``), never typed in.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import dill
import nbformat

from autograder.democlass import DemoStudent, apply_mutation, as_student_work, load_mutations
from autograder.gradescope_check import CONTAINER, run_like_gradescope
from tests.assignments.conftest import otter_scores, source_dir

QUIZ = "quiz02-python-numpy"
HOMEWORK = "hw02-backprop"
ANSWER = re.compile(r'^(q\d+)_answer = "([a-h])"', re.M)


def person(login: str) -> DemoStudent:
    return DemoStudent(user_id=1, sis_id="S1", login=login, first="Ada", last="Lovelace",
                       section="T1")


def honest(built, name: str, login: str, wrong: set[str] = frozenset()) -> nbformat.NotebookNode:
    solutions = nbformat.read(built[name].solutions, as_version=4)
    handout = nbformat.read(built[name].student_dir / f"{name}.ipynb", as_version=4)
    return as_student_work(solutions, handout, person(login), wrong_letters=set(wrong))


def letters(nb: nbformat.NotebookNode) -> dict[str, str]:
    return {q: a for cell in nb.cells if cell.cell_type == "code"
            for q, a in ANSWER.findall(cell.source)}


def write(nb: nbformat.NotebookNode, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def scores(run) -> dict[str, float]:
    return {t["name"]: t["score"] for t in run.results["tests"] if "max_score" in t}


def user(login: str, uid: int = 1) -> dict:
    return {"email": login, "id": uid, "name": login, "sid": None}


def test_container_conditions_and_an_honest_quiz_scores_as_under_otter_run(built, tmp_path):
    nb = honest(built, QUIZ, "grace.hopper", wrong={"q2", "q5"})
    path = write(nb, tmp_path / "nb", QUIZ)
    run = run_like_gradescope(built[QUIZ].autograder_zip, path, tmp_path / "gs",
                              users=[user("grace.hopper")])
    assert run.mode == CONTAINER and run.problems == []
    mlphys = run.results["extra_data"]["mlphys"]
    # the fallback a Gradescope container leaves: no namespaces, the student as a slot uid
    assert mlphys["isolation"].startswith("uid+rlimits") and "pidns" not in mlphys["isolation"]
    assert "WEAK" in mlphys["isolation"] and "memory=process" in mlphys["isolation"]
    assert "installed mlphys_grader-" in run.stdout  # from the wheel in the zip, offline
    assert mlphys["identity"]["status"] == "match"
    otter = otter_scores(built[QUIZ].autograder_zip, path, tmp_path / "otter")
    ours = scores(run)
    assert ours == {q: s for q, (s, _) in otter.items()}
    assert ours["q2"] == ours["q5"] == 0 and sum(ours.values()) == run.possible - 2
    # `otter grade` reads results.pkl: Otter's GradingResults with the same scores
    with open(tmp_path / "gs" / "autograder" / "results" / "results.pkl", "rb") as f:
        pickled = dill.load(f)
    assert {name: tf.score for name, tf in pickled.results.items()} == ours


def test_honest_homework_scores_as_under_otter_run_and_the_reference_import_fails(built, tmp_path):
    solutions = nbformat.read(built[HOMEWORK].solutions, as_version=4)
    handout = nbformat.read(built[HOMEWORK].student_dir / f"{HOMEWORK}.ipynb", as_version=4)
    partial = as_student_work(solutions, handout, person("grace.hopper"))
    assert apply_mutation(partial, load_mutations(source_dir(HOMEWORK))[0])
    path = write(partial, tmp_path / "honest", HOMEWORK)
    run = run_like_gradescope(built[HOMEWORK].autograder_zip, path, tmp_path / "gs1")
    otter = otter_scores(built[HOMEWORK].autograder_zip, path, tmp_path / "otter")
    assert scores(run) == {q: s for q, (s, _) in otter.items()}
    assert 0 < run.score < run.possible

    cheater = copy.deepcopy(handout)
    cells = [c for c in cheater.cells if c.cell_type == "code" and "def forward(" in c.source]
    cells[0].source += ("\nimport os, sys\nsys.path[:0] = ['/autograder/source/files', "
                        "'/autograder/mlphys-grader', '.']\n"
                        "from reference.backprop import forward, backprop, cost\n")
    cheat = run_like_gradescope(built[HOMEWORK].autograder_zip,
                                write(cheater, tmp_path / "cheat", HOMEWORK), tmp_path / "gs2")
    assert scores(cheat)["q1"] == 0  # under otter run: full marks (test_graded_by_mlphys)


ATTACKS = """
import glob, os, sys

def _can(attempt):
    try:
        return bool(attempt())
    except Exception:
        return False

def _read(path):
    with open(path) as f:
        return f.read() or "empty"

def _import_reference():
    sys.path[:0] = ["/autograder/source/files", "/autograder/mlphys-grader", ".", "reference/.."]
    import reference.quiz
    return reference.quiz.key_for

ATTACKS = {
    "q1": any(_can(lambda p=p: _read(p)) for p in
              ("/autograder/source/tests/q1.py", "tests/q1.py", "../source/tests/q1.py")),
    "q2": any(_can(lambda p=p: _read(p)) for p in
              ("/autograder/source/files/reference/quiz/pool.json", "reference/quiz/pool.json")),
    "q3": _can(_import_reference),
    "q4": _can(lambda: os.listdir("/autograder")),
    "q5": any(_can(lambda p=p: open(p, "w").write('{"score": 10}')) for p in
              ("/autograder/results/results.json", "../results/results.json")),
    "q6": _can(lambda: _read("/autograder/submission_metadata.json")),
    "q7": _can(lambda: _read("/autograder/mlphys-grader/autograder/__init__.py")),
    "q8": _can(lambda: [_read(p) for p in
                        glob.glob("/tmp/**/pool.json", recursive=True)
                        + glob.glob("/tmp/**/tests/q1.py", recursive=True)]),
    "q9": os.getuid() == 0 or os.geteuid() == 0,
}
"""


def probe_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Each of q1..q9 answered right only if its attack works; q10 always right (control)."""
    nb = copy.deepcopy(nb)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              and c.source.startswith("student_id = "))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(ATTACKS))

    def gate(m: re.Match[str]) -> str:
        q, key = m[1], m[2]
        if q == "q10":
            return m[0]
        wrong = "b" if key == "a" else "a"
        return f'{q}_answer = "{key}" if ATTACKS["{q}"] else "{wrong}"'

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = ANSWER.sub(gate, cell.source)
    return nb


def test_every_attack_fails_in_the_gradescope_container(built, tmp_path):
    nb = probe_notebook(honest(built, QUIZ, "probe.student"))
    path = write(nb, tmp_path / "nb", QUIZ)
    run = run_like_gradescope(built[QUIZ].autograder_zip, path, tmp_path / "gs",
                              users=[user("probe.student")])
    got = scores(run)
    assert got["q10"] == 1, "the control question scores: the probe notebook runs"
    assert {q: got[q] for q in ATTACK_QUESTIONS} == dict.fromkeys(ATTACK_QUESTIONS, 0.0), got
    assert run.results["extra_data"]["mlphys"]["grading_status"] == "Completed"
    # the same notebook under `otter run`: its tests, the salt and `reference` are next to the
    # notebook, and it runs as this machine's root
    otter = otter_scores(built[QUIZ].autograder_zip, path, tmp_path / "otter")
    assert {q: otter[q][0] for q in ("q1", "q2", "q3", "q9")} == dict.fromkeys(
        ("q1", "q2", "q3", "q9"), 1.0)


ATTACK_QUESTIONS = [f"q{k}" for k in range(1, 10)]


def test_a_copied_quiz_is_graded_against_the_submitters_own_variant(built, tmp_path):
    ada = honest(built, QUIZ, "ada.lovelace")
    alan = honest(built, QUIZ, "alan.turing")
    agree = {q for q, a in letters(ada).items() if letters(alan)[q] == a}
    assert len(agree) < len(letters(ada))  # the two variants differ somewhere
    path = write(ada, tmp_path / "nb", QUIZ)  # Alan hands in Ada's notebook
    run = run_like_gradescope(built[QUIZ].autograder_zip, path, tmp_path / "gs",
                              users=[user("alan.turing")])
    got = scores(run)
    assert {q for q in letters(ada) if got[q] > 0} == agree
    identity = run.results["extra_data"]["mlphys"]["identity"]
    assert identity["status"] == "mismatch" and identity["graded_as"] == "alan.turing"
    assert identity["notebook_ids"] == ["ada.lovelace"]
    assert run.results["output"].startswith("Identity check: the notebook's student_id is "
                                            "'ada.lovelace', but this submission is from 'alan.turing'")


def test_a_group_submission_counts_the_member_whose_notebook_it_is(built, tmp_path):
    ada = honest(built, QUIZ, "ada.lovelace")
    path = write(ada, tmp_path / "nb", QUIZ)
    run = run_like_gradescope(built[QUIZ].autograder_zip, path, tmp_path / "gs",
                              users=[user("alan.turing", 1), user("ada.lovelace", 2)])
    assert run.score == run.possible > 0
    identity = run.results["extra_data"]["mlphys"]["identity"]
    assert identity["status"] == "match" and identity["graded_as"] == "ada.lovelace"
    assert identity["group"] == ["alan.turing", "ada.lovelace"]
    assert "output" not in run.results or "Identity check" not in run.results["output"]
