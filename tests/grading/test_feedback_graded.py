"""Every lost point shows a name and a hint, end to end (issue 9): real submissions graded by
`mlphys grade` and in a Gradescope-shaped run of the zip as `mlphys build` finishes it
(``zip_additions``: mlphys.json; ``hardened_zip``: the sandboxed grader), checked in
results.json, the gradebook's student view and the feedback page rendered in headless Chromium. Nothing of the
hidden tests (compared with the zip's own hidden test text) and nothing a student's code
stashed from a hidden test reaches any of them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mlgrade_support import ag_zip, build_notebook, write_nb

from autograder.gradescope_check import run_like_gradescope, validate_results
from autograder.grading import grade_batch, read_feedback
from autograder.grading.otter.autograder_zip import load_autograder
from autograder.pages.feedback import write_feedback_pages
from autograder.zip_additions import add_to_zip

pytestmark = pytest.mark.slow

STASH = "STASH = []\n"
WRONG_A = {  # student code that fails hidden tests and tries to leak their arguments
    "h1": "def relu(z):\n    STASH.append(repr(z))\n    return np.abs(np.asarray(z, dtype=float))\n\n"
          "def d_relu(z):\n    raise TypeError(f'stash {z!r}')",
    "h2": "def layer(a, W, b):\n    raise ValueError('leak ' + ' '.join(STASH))",
}
WRONG_B = {"h2": "def layer(a, W, b):\n    return None"}
WRONG_C = {  # wrong without tricks
    "h1": "def relu(z):\n    return np.abs(np.asarray(z, dtype=float))\n\n"
          "def d_relu(z):\n    raise TypeError('not yet')",
    **WRONG_B,
}
EXPECTED_LITERALS = ("3.25", "2.5", "2024")
"""numbers that occur only in the hidden tests (inputs, expected values, seeds)"""


def hidden_lines(zip_path: Path) -> list[str]:
    """Every line of every hidden test function in the zip, as its test files hold them."""
    spec = load_autograder(zip_path)
    lines = []
    for q in spec.questions:
        keep = False
        for line in q.source.splitlines():
            if line.startswith("@test_case("):
                keep = "hidden=True" in line
            elif not line.startswith((" ", "\t", "def ", '"')) and line.strip():
                keep = False
            if keep and line.strip():
                lines.append(line.strip())
    assert any("3.25" in ln for ln in lines) and len(lines) > 10
    return lines


def leaks(text: str, secrets: list[str]) -> list[str]:
    found = [s for s in secrets if s in text]
    found += [v for v in EXPECTED_LITERALS if v in text]
    found += [w for w in ("stash 0.0", "leak", "RemoteTypeError", "RemoteValueError") if w in text]
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hints")
    built_zip = root / "demo_hints-autograder.zip"
    shutil.copy(ag_zip("demo_hints"), built_zip)
    add_to_zip(built_zip, {"name": "demo_hints"})  # what mlphys build adds
    subs = root / "subs"
    write_nb(build_notebook("demo_hints"), subs / "honest.ipynb")
    write_nb(build_notebook("demo_hints", WRONG_A, extra_cells=[(2, STASH)]), subs / "wrong_a.ipynb")
    write_nb(build_notebook("demo_hints", WRONG_B), subs / "wrong_b.ipynb")
    write_nb(build_notebook("demo_hints", WRONG_C), subs / "wrong_c.ipynb")
    grade_batch(built_zip, [subs], root / "built", jobs=2, progress=False)
    grade_batch(ag_zip("demo_hints"), [subs / "wrong_b.ipynb"], root / "plain", jobs=1,
                progress=False)
    pages = write_feedback_pages(root / "built", root / "pages", "demo_hints")
    return root, built_zip, pages


def test_results_json_names_and_hints_every_lost_point_and_follows_gradescopes_format(graded):
    root, built_zip, _ = graded
    secrets = hidden_lines(built_zip)
    feedback = {Path(f.path).stem: f for f in read_feedback(root / "built")}
    assert feedback["honest"].total == feedback["honest"].possible == 6
    for stem in ("honest", "wrong_a", "wrong_b", "wrong_c"):
        results = json.loads((root / "built" / "results" / f"{stem}.json").read_text())
        assert validate_results(results) == []
        text = json.dumps(results, ensure_ascii=False)
        assert leaks(text, secrets) == [], stem
        entries = {t["name"]: t for t in results["tests"]}
        for q in feedback[stem].questions:
            entry = entries[q.name]
            assert entry["visibility"] == "after_published"  # the course's choice (mlphys.json)
            assert entry["score"] == q.score
            for case in q.failed:
                assert case.title and case.hint, (stem, q.name, case.name)
                assert f"{case.title} result:" in entry["output"]
                if case.hidden:
                    assert case.hint in entry["output"]
    lost = [c for q in feedback["wrong_a"].questions for c in q.failed]
    assert {c.title: c.hint for c in lost if c.hidden} == {
        "d_relu at z = 0": "d_relu at z = 0 should be 0 (an error was raised: TypeError)",
        "relu on random arrays": "wrong result",
        "relu negative inputs": "wrong result",
        "layer on a batch of inputs": "the layer output is not a W + b for a batch of inputs "
                                      "(an error was raised: ValueError)",
    }
    # without mlphys.json a zip keeps Otter's rule (show_hidden false: question entries hidden)
    plain = json.loads((root / "plain" / "results" / "wrong_b.json").read_text())
    assert {t["visibility"] for t in plain["tests"] if "max_score" in t} == {"hidden"}
    assert validate_results(plain) == []


def test_public_tests_own_hint_survives_hidden_tests_and_student_text_does_not(graded):
    root, built_zip, _ = graded
    feedback = {Path(f.path).stem: f for f in read_feedback(root / "built")}
    h2_b = next(q for q in feedback["wrong_b"].questions if q.name == "h2")
    # h2 is checked after h1's hidden tests called student code: the test's words remain
    assert "AssertionError: layer returned None: did you forget `return`?" in h2_b.public_output
    assert h2_b.failed[0].hint == "layer returned None: did you forget `return`?"
    h2_a = next(q for q in feedback["wrong_a"].questions if q.name == "h2")
    assert "ValueError: [withheld" in h2_a.public_output  # the original type, the text withheld
    h1_a = next(q for q in feedback["wrong_a"].questions if q.name == "h1")
    assert "TypeError: stash array([ 1., -1.])" in h1_a.public_output  # before hidden tests: Otter's
    secrets = hidden_lines(built_zip)
    for sub in feedback.values():
        for q in sub.questions:
            shown = q.public_output + "".join(c.message + c.hint + c.title for c in q.cases)
            assert leaks(shown, secrets) == [], (sub.path, q.name)


def test_feedback_page_shows_every_lost_point_and_renders_without_missing_glyphs(graded, tmp_path):
    from playwright.sync_api import sync_playwright

    root, built_zip, pages = graded
    secrets = hidden_lines(built_zip)
    feedback = {Path(f.path).stem: f for f in read_feedback(root / "built")}
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        for stem, path in pages.items():
            page.goto(path.resolve().as_uri())
            text = page.inner_text("body")
            rows = page.eval_on_selector_all(
                "table.lost tr:has(td)", "rows => rows.map(r => [...r.cells].map(c => c.innerText))")
            if stem == "wrong_a":
                page.screenshot(path=str(tmp_path / "wrong_a.png"), full_page=True)
            assert leaks(text, secrets) == [], stem
            lost = [c for q in feedback[stem].questions for c in q.failed]
            assert len(rows) == len(lost)
            for (title, visibility, points, hint), case in zip(rows, lost, strict=True):
                assert (title, visibility, float(points), hint) == (
                    case.title, "hidden" if case.hidden else "public", case.points, case.hint)
                assert title and hint
            odd = sorted({ch for ch in text if ord(ch) > 0x7E})
            missing = [ch for ch in odd if not _font_has(ch)]
            assert missing == [], (stem, missing)  # would render as boxes
            assert "❌" not in text and "✅" not in text
        browser.close()
    assert (tmp_path / "wrong_a.png").stat().st_size > 20_000
    assert feedback["honest"].total == 6 and not [c for q in feedback["honest"].questions
                                                  for c in q.failed]


def _font_has(ch: str) -> bool:
    """An installed font has a glyph for ``ch`` (fontconfig, which Chromium uses on Linux)."""
    out = subprocess.run(["fc-list", f":charset={ord(ch):x}", "family"], capture_output=True,
                         text=True, check=True).stdout
    return bool(out.strip())


def test_on_gradescope_the_built_zip_shows_the_same_names_and_hints(graded, tmp_path):
    """The zip as ``mlphys build`` finishes it (mlphys.json, then the sandboxed grader in its
    run_autograder) run the way Gradescope runs it: per-question entries are published with
    the grades, hidden cases carry names and hints, never their code, and what the student's
    code stashed from hidden tests stays withheld."""
    from autograder.gradescope.hardened_zip import add_sandboxed_runner

    root, built_zip, _ = graded
    secrets = hidden_lines(built_zip)
    hardened = tmp_path / built_zip.name
    shutil.copy(built_zip, hardened)
    add_sandboxed_runner(hardened)
    submission = tmp_path / "master.ipynb"
    shutil.copy(root / "subs" / "wrong_a.ipynb", submission)
    run = run_like_gradescope(hardened, submission, tmp_path / "gs")
    assert run.problems == []
    ours = json.loads((root / "built" / "results" / "wrong_a.json").read_text())
    scores = {t["name"]: t["score"] for t in ours["tests"] if "max_score" in t}
    theirs = {t["name"]: t for t in run.results["tests"] if "max_score" in t}
    assert {n: t["score"] for n, t in theirs.items()} == scores
    assert {t["visibility"] for t in theirs.values()} == {"after_published"}
    assert leaks(json.dumps(run.results, ensure_ascii=False), secrets) == []
    for question, title, hint in (
            ("h1", "d_relu at z = 0", "d_relu at z = 0 should be 0 (an error was raised: TypeError)"),
            ("h1", "relu negative inputs", "wrong result"),
            ("h2", "layer on a batch of inputs", "the layer output is not a W + b for a batch of "
                                                 "inputs (an error was raised: ValueError)")):
        pattern = rf"{re.escape(title)} result:\n\s+❌ Test case failed\n\s+{re.escape(hint)}"
        assert re.search(pattern, theirs[question]["output"]), theirs[question]["output"]
    # the same names and hints as mlphys grade's results.json on this machine
    case = re.compile(r"^\s+(\S[^\n]*) result:\n\s+❌ Test case failed\n\s+([^\n]+)$", re.M)
    for question in ("h1", "h2"):
        ours_entry = next(t for t in ours["tests"] if t["name"] == question)
        pairs = case.findall(theirs[question]["output"])
        assert len(pairs) >= 2 and pairs == case.findall(ours_entry["output"])
