"""Otter parity on honest submissions: `mlphys grade` gives the per-question scores `otter run`
gives, on OK-format and exception-format assignments (doctest expressions, generators, printed
output, assertions, partial credit, all-or-nothing, hidden/public cases, np.random seeding and
a seed variable, a metadata check position, a renamed file)."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mlgrade_support import ag_zip, build_notebook, otter_run, otter_scores, write_nb

from autograder.grading import grade_batch
from autograder.grading.otter.testrun import WITHHELD

pytestmark = pytest.mark.slow

WRONG_SQUARE = "def square(x):\n    return 2 * x"
RAISES = "raise RuntimeError('student bug')"

# (assignment, file name, answers overriding the solution, extra cells)
PARITY_SET = [
    ("demo_ok", "ok_correct.ipynb", {}, []),
    ("demo_ok", "ok_partial.ipynb",
     {"q1": WRONG_SQUARE, "q4": "arr = np.linspace(0.0, 2.0, 5)", "q5": "mass = 2.0\n"
      "velocity = 3.0\nkinetic = 9.0\nvelocity = 1.0", "q6": "sample = np.random.normal(size=3)\n"
      "sample = np.random.normal(size=3)"}, []),
    ("demo_ok", "ok_errors.ipynb",
     {"q2": "def evens():\n    return iter([0, 2, 5])\n" + RAISES,
      "q3": "def greet(name):\n    print('Hello,', name)", "q7": "c_light = undefined_name"},
     [(3, "import numpy as np\nnp.random.normal()")]),
    ("demo_ok", "renamed_by_lms_1234.ipynb", {"q1": WRONG_SQUARE}, []),
    ("demo_exc", "exc_correct.ipynb", {}, []),
    ("demo_exc", "exc_partial.ipynb",
     {"e1": "C = 299792458\n\ndef energy(m):\n    return m * C ** 2 + 1",
      "e3": "def normalise(v):\n    v = np.asarray(v, dtype=float)\n"
            "    return v / np.linalg.norm(v) * np.sign(v[0]) * -1\n"}, []),
    ("demo_exc", "exc_errors.ipynb",
     {"e2": "rng = np.random.default_rng(rng_seed)\n" + RAISES + "\ndraws = rng.normal(size=4)",
      "e4": "def countdown(n):\n    raise ValueError('nope')"}, []),
]


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    """Grade the parity set with `otter run` (in parallel threads, one process each) and with
    `mlphys grade` (one batch per assignment); return both results per file."""
    root = tmp_path_factory.mktemp("parity")
    subs: dict[str, tuple[str, Path]] = {}
    for assignment, name, answers, extra in PARITY_SET:
        subs[name] = (assignment, write_nb(build_notebook(assignment, answers, extra_cells=extra),
                                           root / "subs" / assignment / name))

    def run_otter(name: str) -> tuple[str, dict]:
        # Otter needs the file under the name its init cell opens (master.ipynb) to run the
        # checks in place; the LMS-renamed one keeps its new name on purpose
        assignment, path = subs[name]
        if not name.startswith("renamed"):
            original = root / "otter_in" / Path(name).stem / "master.ipynb"
            original.parent.mkdir(parents=True)
            shutil.copy(path, original)
            path = original
        return name, otter_run(path, ag_zip(assignment), root / "otter" / Path(name).stem)

    with ThreadPoolExecutor(max_workers=3) as ex:
        otter_future = ex.map(run_otter, list(subs))
        ours = {}
        for assignment in ("demo_ok", "demo_exc"):
            out = root / "ours" / assignment
            grade_batch(ag_zip(assignment), [root / "subs" / assignment], out, jobs=2,
                        progress=False)
            for f in (out / "results").glob("*.json"):
                ours[f.stem + ".ipynb"] = json.loads(f.read_text())
        otters = dict(otter_future)
    return {name: (otters[name], ours[name]) for name in subs}


@pytest.mark.parametrize("name", [p[1] for p in PARITY_SET])
def test_per_question_scores_equal_otter_run(parity, name):
    otter, ours = parity[name]
    assert otter_scores(ours) == otter_scores(otter)


def test_parity_set_exercises_partial_credit_and_failures(parity):
    """The set is not trivially all-correct: several questions lose points under Otter."""
    lost = {
        name: sorted(q for q, s in otter_scores(o).items()
                     if s < next(t["max_score"] for t in o["tests"] if t["name"] == q))
        for name, (o, _) in parity.items()
    }
    assert lost["ok_correct.ipynb"] == [] and lost["exc_correct.ipynb"] == []
    assert lost["ok_partial.ipynb"] == ["q1", "q4", "q5", "q6"]
    assert lost["ok_errors.ipynb"] == ["q2", "q3", "q7"]
    assert lost["exc_partial.ipynb"] == ["e1", "e3"]
    assert lost["exc_errors.ipynb"] == ["e2", "e4"]
    partial_q4 = otter_scores(parity["ok_partial.ipynb"][0])["q4"]
    assert 0 < partial_q4 < 4  # partial credit per case


def _layout(r):
    return [(t["name"], t.get("max_score"), t["visibility"], t.get("status"))
            for t in r["tests"]], r.get("stdout_visibility"), r.get("score")


@pytest.mark.parametrize("name", [p[1] for p in PARITY_SET if not p[1].startswith("renamed")])
def test_results_json_layout_matches_otter(parity, name):
    otter, ours = parity[name]
    assert _layout(ours) == _layout(otter)


def test_renamed_file_grades_as_under_its_original_name(parity):
    """Under `otter run` a renamed file breaks the init cell (it opens the original name), so
    every grader.check is skipped and the order of results changes; ours is name-blind."""
    otter, ours = parity["renamed_by_lms_1234.ipynb"]
    assert [t["name"] for t in otter["tests"]][1] == "q7"  # Otter: only the metadata check ran
    assert [t["name"] for t in ours["tests"]] == ["Public Tests"] + [f"q{i}" for i in range(1, 8)]
    assert otter_scores(ours) == otter_scores(otter)


@pytest.mark.parametrize("name", ["ok_correct.ipynb", "ok_partial.ipynb", "exc_correct.ipynb",
                                  "exc_partial.ipynb"])
def test_public_test_output_is_otters(parity, name):
    otter, ours = parity[name]
    assert ours["tests"][0]["name"] == "Public Tests"
    mine, theirs = ours["tests"][0]["output"], otter["tests"][0]["output"]
    if "correct" in name:
        assert mine == theirs
    else:
        # identical, except that failing public cases checked after hidden cases had run
        # have their "Got:" text withheld
        assert mine == theirs or all(
            line in theirs or line.strip() == WITHHELD.strip() for line in mine.splitlines()
        )
        assert "❌ Test case failed" in mine
