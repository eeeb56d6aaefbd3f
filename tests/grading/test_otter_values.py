"""Otter semantics on the values tests commonly check (issue 13), end to end.

* pandas objects and dates cross as real objects: ``type(s) == pd.Series`` and ``df.equals(...)``
  hold in the test exactly when they hold under ``otter run``; a function that receives and
  returns pandas objects works in both directions;
* an argument a student function modifies is modified in the test's own object too, as in
  ``otter run`` (tests of "does not modify its input");
* NumPy 1 doctest outputs: failing as under ``otter run`` by default, graded as NumPy 1 would
  with ``--numpy-legacy-repr``, and pointed out to the instructor either way;
* identical notebooks get identical per-question scores whatever their position in the batch
  and the number of workers.

The reference scores come from ``otter run`` on the same files (in a kernel whose NumPy prints
scalars as NumPy 1 did, for the legacy option), never from numbers typed in here.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mlgrade_support import ag_zip, build_notebook, otter_scores, write_nb

from autograder.grading import grade_batch

pytestmark = pytest.mark.slow

MUTATING = ("def centre(values):\n    values -= values.mean()\n    return values\n\n"
            "def with_item(items, x):\n    items.append(x)\n    return items")
VARIANTS = {
    ("pandas_ok", "solution"): {},
    ("pandas_ok", "mutating_and_frame"): {
        "p1": 'data = pd.DataFrame({"flavor": ["chocolate", "vanilla", "chocolate", "mint"],\n'
              '                     "scoops": [1, 1, 2, 1], "price": [2.0, 1.5, 3.0, 4.0]})\n'
              'price_by_flavor = data.groupby("flavor")[["price"]].mean()',
        "p4": MUTATING,
        "p5": "class Counter:\n    def __init__(self):\n        self.n = 1\n\n"
              "    def bump(self, k=1):\n        self.n += k\n        return self.n\n\n"
              "counter = Counter()",
    },
    ("pandas_exc", "solution"): {},
    ("pandas_exc", "mutating_and_wrong"): {
        "x1": 'data = pd.DataFrame({"flavor": ["mint"], "scoops": [1], "price": [4.0]})\n'
              'price_by_flavor = data.set_index("flavor")["price"]',
        "x3": "def centre(values):\n    values -= values.mean()\n    return values",
    },
}

LEGACY_SITECUSTOMIZE = ("try:\n    import numpy\n    numpy.set_printoptions(legacy='1.25')\n"
                        "except Exception:\n    pass\n")


def _otter_run(submission: Path, autograder: Path, out: Path, legacy: bool) -> dict[str, float]:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if legacy:  # the reference for --numpy-legacy-repr: Otter in a NumPy-1-printing kernel
        (out / "site").mkdir()
        (out / "site" / "sitecustomize.py").write_text(LEGACY_SITECUSTOMIZE)
        env["PYTHONPATH"] = str(out / "site")
    subprocess.run([str(Path(os.sys.executable).parent / "otter"), "run", str(submission), "-a",
                    str(autograder), "-o", str(out), "--no-logo"], check=True, capture_output=True,
                   timeout=600, cwd=out, env=env)
    scores = otter_scores(json.loads((out / "results.json").read_text()))
    scores.pop("Public Tests", None)
    return scores


def _mlphys_scores(out: Path) -> dict[str, dict[str, float]]:
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        rows = db.execute("SELECT a.submission_path, q.name, q.score FROM questions q JOIN "
                          "attempts a ON a.id = q.attempt_id WHERE a.state = 'done'").fetchall()
    scores: dict[str, dict[str, float]] = {}
    for path, question, score in rows:
        scores.setdefault(Path(path).parent.name, {})[question] = score
    return scores


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Every variant graded by `otter run` (plain and NumPy-1-printing) and by `mlphys grade`
    (plain and with the legacy option)."""
    root = tmp_path_factory.mktemp("values")
    subs: dict[tuple[str, str], Path] = {}
    for (assignment, name), answers in VARIANTS.items():
        # each under the name its init cell opens, in its own folder named after the variant
        subs[(assignment, name)] = write_nb(build_notebook(assignment, answers),
                                            root / "subs" / f"{assignment}-{name}" / "master.ipynb")
    jobs = [(key, legacy) for key in subs for legacy in (False, True)
            if not legacy or key[0] == "pandas_ok"]
    with ThreadPoolExecutor(2) as pool:
        otter = dict(zip(jobs, pool.map(
            lambda job: _otter_run(subs[job[0]], ag_zip(job[0][0]),
                                   root / "otter" / f"{job[0][0]}-{job[0][1]}-{job[1]}", job[1]),
            jobs), strict=True))
    mlphys: dict[bool, dict[str, dict[str, float]]] = {False: {}, True: {}}
    summaries = {}
    for assignment in ("pandas_ok", "pandas_exc"):
        files = [p for (a, _), p in subs.items() if a == assignment]
        for legacy in (False, True) if assignment == "pandas_ok" else (False,):
            out = root / "mlphys" / f"{assignment}-{legacy}"
            summaries[(assignment, legacy)] = grade_batch(
                ag_zip(assignment), files, out, jobs=2, progress=False, numpy_legacy_repr=legacy)
            mlphys[legacy].update(_mlphys_scores(out))
    return {"subs": subs, "otter": otter, "mlphys": mlphys, "root": root,
            "summaries": summaries}


@pytest.mark.parametrize("key", list(VARIANTS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_per_question_scores_equal_otter_run(graded: dict, key: tuple[str, str]) -> None:
    expected = graded["otter"][(key, False)]
    got = graded["mlphys"][False][f"{key[0]}-{key[1]}"]
    assert got == pytest.approx(expected), f"mlphys {got} != otter run {expected}"


def test_pandas_and_mutation_facts_behind_the_scores(graded: dict) -> None:
    """The parity above is not vacuous: the solution's pandas checks pass (they need real pandas
    objects in the test), the mutating variant loses p4/x3 (the mutation is visible)."""
    ok_solution = graded["mlphys"][False]["pandas_ok-solution"]
    assert ok_solution["p1"] == 4 and ok_solution["p2"] == 4 and ok_solution["p3"] == 2
    assert ok_solution["p4"] == 2 and ok_solution["p5"] == 2
    mutating = graded["mlphys"][False]["pandas_ok-mutating_and_frame"]
    assert mutating["p4"] == 0 and mutating["p1"] < 4
    exc = graded["mlphys"][False]
    assert exc["pandas_exc-solution"] == {"x1": 3, "x2": 2, "x3": 2, "x4": 1}
    assert exc["pandas_exc-mutating_and_wrong"]["x3"] == 0


def test_numpy1_doctests_fail_by_default_and_grade_as_numpy1_with_the_option(graded: dict) -> None:
    for name in ("solution", "mutating_and_frame"):
        key = ("pandas_ok", name)
        plain = graded["mlphys"][False][f"pandas_ok-{name}"]
        legacy = graded["mlphys"][True][f"pandas_ok-{name}"]
        assert plain["p6"] == graded["otter"][(key, False)]["p6"] == 0  # NumPy 2 spelling
        assert legacy == pytest.approx(graded["otter"][(key, True)])  # what NumPy 1 gives
        assert legacy["p6"] == 2


def test_repr_only_failures_are_pointed_out_to_the_instructor(graded: dict, tmp_path: Path) -> None:
    """In the batch summary (the command prints it), in the instructor's message of each case and
    in the class report; never in what students see, and not when the option is on."""
    from autograder.pages.class_report import write_class_report

    assert graded["summaries"][("pandas_ok", False)].numpy_repr_failures == {"p6": 4}
    assert graded["summaries"][("pandas_ok", True)].numpy_repr_failures == {}
    assert graded["summaries"][("pandas_exc", False)].numpy_repr_failures == {}
    out = graded["root"] / "mlphys" / "pandas_ok-False"
    report = write_class_report(out, tmp_path / "report", "pandas_ok").read_text()
    assert "only by NumPy 2" in report and "<td>p6</td><td>4</td><td>2</td>" in report
    legacy_report = write_class_report(graded["root"] / "mlphys" / "pandas_ok-True",
                                       tmp_path / "report2", "pandas_ok").read_text()
    assert "only by NumPy 2" not in legacy_report
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        rows = db.execute("SELECT c.question, c.message, c.public_message FROM cases c "
                          "WHERE c.question = 'p6' AND c.passed = 0").fetchall()
    assert rows and all("NumPy 2" in message and "--numpy-legacy-repr" in message
                        for _, message, _ in rows)
    assert not any("NumPy 2" in public for _, _, public in rows)


def test_the_command_line_notes_numpy_repr_failures(graded: dict, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(os.sys.executable).parent / "mlphys"), "grade", "--autograder",
         str(ag_zip("pandas_ok")), "--out", str(tmp_path / "out"), "--jobs", "1", "--quiet",
         str(graded["subs"][("pandas_ok", "solution")])],
        capture_output=True, text=True, timeout=600, check=True)
    assert "note: 2 failing doctest case(s) differ from their expected output only by NumPy 2" \
        in done.stderr and "(p6: 2)" in done.stderr and "--numpy-legacy-repr" in done.stderr


def test_identical_copies_score_identically_whatever_the_jobs(graded: dict, tmp_path: Path) -> None:
    """Three copies of four notebooks, graded with --jobs 1, 2 (reverse order) and 4: every copy
    of a notebook gets the per-question scores of the first copy graded alone-ish (--jobs 1)."""
    copies = []
    for (assignment, name), path in graded["subs"].items():
        if assignment != "pandas_ok":
            continue
        for i in range(3):
            target = tmp_path / "copies" / f"{name}-{i}" / "master.ipynb"
            target.parent.mkdir(parents=True)
            shutil.copyfile(path, target)
            copies.append(target)
    results = {}
    for jobs, order in ((1, copies), (2, copies[::-1]), (4, copies)):
        out = tmp_path / f"jobs{jobs}"
        grade_batch(ag_zip("pandas_ok"), order, out, jobs=jobs, progress=False)
        results[jobs] = _mlphys_scores(out)
    reference = {name: results[1][f"{name}-0"] for _, name in
                 [k for k in VARIANTS if k[0] == "pandas_ok"]}
    for jobs, scores in results.items():
        for copy, per_question in scores.items():
            assert per_question == reference[copy.rsplit("-", 1)[0]], (jobs, copy)
