"""The student's flow in a real JupyterLab (started on 127.0.0.1 by the test, driven in
Chromium): hand-outs run top to bottom, a quiz and a homework answered cell by cell (a wrong
answer first, the public check's hint, the fix), saved and exported as the notebook tells
students to, and the exported zip gets full marks from ``mlphys grade``; a quiz notebook
uploaded alone either runs (per-student notebooks) or stops at once naming the files.

One Lab server and one browser serve the whole module. Run All is done for one hand-out of
each kind that Lab shows differently (``RUN_ALL``: a per-student quiz, with its variant and
the questions' options, and a homework, with plots), not for all nine: a Run All takes a
minute or more each on a loaded machine, and what it would add for the other seven is
already proved elsewhere: every hand-out runs top to bottom without an error, its checks
included, under nbclient (``test_assignments.py``, all nine); the per-student notebooks of
quiz03 and quiz04 run alone and show their own variant (``tests/quiz/test_course_build.py``);
quiz02 and hw04 run here cell by cell (so four of the nine hand-outs run in Lab). What only Lab
can show (Run All from the menu, every check's output in the page, the save, the export) does
not depend on which hand-out it is. The generic quiz notebook alone (it stops at once, naming
the files) is the third kind and has its own test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, expect

from autograder.quiz_notebooks import MARKERS
from reference.quiz import key_for, questions_for_student, variant_of
from tests.assignments.conftest import NAMES, STUDENTS
from tests.browser_support import chromium, jupyter_lab

pytestmark = pytest.mark.slow

QUIZ = "quiz02-python-numpy"
HOMEWORK = "hw04-feedforward"
KEY, STUDENT_NAME, IDENTITY = STUDENTS[0]
SHOTS = Path(os.environ["MLPHYS_SCREENSHOTS"]) if os.environ.get("MLPHYS_SCREENSHOTS") else None
CHECK = re.compile(r'^grader\.check\("(?P<q>[^"]+)"\)\s*$')
RUN_ALL = ["quiz01-single-layer", "hw01-network-basics"]
"""one hand-out of each kind for Run All (see the module's docstring)"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "work"
    root.mkdir()
    with jupyter_lab(home / "lab", root) as server, chromium(home) as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield server, context
        context.close()


def handout(built, name: str) -> tuple[Path, str | None]:
    """The folder a student gets and the identity in it: their own notebook for a quiz."""
    b = built[name]
    if b.per_student is not None:
        return b.per_student / KEY, IDENTITY
    return b.student_dir, None


def place(lab, folder: Path, name: str) -> str:
    """Copy a hand-out into its own folder of the lab's root; the notebook's lab path."""
    target = lab.root / f"{name}-{int(time.monotonic() * 1000)}"
    shutil.copytree(folder, target)
    return f"{target.name}/{name}.ipynb"


def open_notebook(lab, context, path: str) -> Page:
    page = context.new_page()
    page.goto(lab.open_url(path))
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=120_000)
    kernel_idle(page)
    return page


def kernel_idle(page: Page, timeout: float = 300) -> None:
    expect(page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle"))).to_be_visible(
        timeout=timeout * 1000)


def wait_all_ran(page: Page, timeout: float = 600) -> None:
    """Until no cell is queued or running and the kernel is idle (twice in a row)."""
    deadline = time.monotonic() + timeout
    calm = 0
    while calm < 2:
        assert time.monotonic() < deadline, "the notebook did not finish running"
        time.sleep(0.5)
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        status = " ".join(page.locator(".jp-StatusBar-TextItem").all_inner_texts())
        busy = any("*" in p for p in prompts) or "Idle" not in status
        calm = 0 if busy else calm + 1


def save(page: Page) -> None:
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=60_000)


def run_all(page: Page) -> None:
    page.locator("#jp-MainMenu").get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    time.sleep(1)
    wait_all_ran(page)


def close(lab, page: Page) -> None:
    page.close()
    lab.shut_down_kernels()


def errors_in(nb: nbformat.NotebookNode) -> list[str]:
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]


def output_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            parts.append(o.text)
        elif "data" in o:
            parts.append("\n".join(o.data.get(m, "") for m in ("text/plain", "text/html", "text/markdown")))
    return "\n".join(parts)


def public_hints(nb: nbformat.NotebookNode, question: str) -> list[str]:
    """The assertion messages of a question's public tests (what a failing check explains)."""
    source = nb.metadata["otter"]["tests"][question]
    return [m[1] for m in re.finditer(r"assert .*?, f?[\"'](.+?)[\"']\s*$", source, re.M)]


def shot(page_or_locator, tmp: Path, name: str) -> None:
    path = (SHOTS or tmp) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page_or_locator.screenshot(path=str(path))


def test_run_all_covers_each_kind_and_the_flows_cover_others():
    kinds = {"quiz" if name.startswith("quiz") else "homework" for name in RUN_ALL}
    assert kinds == {"quiz", "homework"} and set(RUN_ALL) <= set(NAMES)
    assert not {QUIZ, HOMEWORK} & set(RUN_ALL)  # the cell-by-cell flows run two others


@pytest.mark.parametrize("name", RUN_ALL)
def test_run_all_in_jupyterlab(lab, built, name, tmp_path):
    server, context = lab
    folder, identity = handout(built, name)
    path = place(server, folder, name)
    page = open_notebook(server, context, path)
    run_all(page)
    save(page)
    # the DOM: every check's output is there to read
    check_outputs = [c for c in page.locator(".jp-CodeCell").all()
                     if CHECK.match(c.locator(".jp-InputArea-editor").inner_text().strip())]
    shown = [c.locator(".jp-OutputArea").inner_text() for c in check_outputs]
    if identity is not None:  # the quiz of RUN_ALL
        shot(page.locator(".jp-CodeCell", has_text="quiz.show(").first, tmp_path, f"{name}-question.png")
    close(server, page)
    nb = nbformat.read(server.root / path, as_version=4)
    assert errors_in(nb) == []
    checks = [(CHECK.match(c.source.strip())["q"], c) for c in nb.cells
              if c.cell_type == "code" and CHECK.match(c.source.strip())]
    assert checks and len(shown) == len(checks)
    for (question, cell), text in zip(checks, shown, strict=True):
        saved = output_text(cell)
        assert question in saved and question in text
        hints = public_hints(nb, question)
        passed = f"{question} results: All test cases passed!" in saved
        # a failing check says which test failed and why, in the test's own words
        assert passed or any(h[:25] in saved for h in hints), (question, saved[:500])
    if identity is not None:  # the student's own variant, from the notebook alone
        loader = next(c for c in nb.cells if c.cell_type == "code" and "from_embedded" in c.source)
        assert f"variant {variant_of(identity, name)}," in output_text(loader)
        shown_text = "\n".join(output_text(c) for c in nb.cells if c.cell_type == "code")
        for q in questions_for_student(name, identity):
            assert all(str(option) in shown_text for option in q.options.values()), q.qid


def test_a_generic_quiz_notebook_uploaded_alone_stops_at_once_naming_the_files(lab, built, tmp_path):
    server, context = lab
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(built[QUIZ].student_dir / f"{QUIZ}.ipynb", alone)
    path = place(server, alone, QUIZ)
    page = open_notebook(server, context, path)
    run_all(page)
    error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    expect(error).to_have_count(1)
    expect(error).to_contain_text(f"This quiz needs 2 files next to this notebook: mlphys_quiz.py "
                                  f"and {QUIZ}.quiz.npz")
    shot(page.locator(".jp-Notebook .jp-Cell").nth(5), tmp_path, f"{QUIZ}-alone.png")
    save(page)
    close(server, page)
    nb = nbformat.read(server.root / path, as_version=4)
    errors = errors_in(nb)
    assert len(errors) == 1 and "FileNotFoundError" in errors[0]
    stop = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                and any(o.output_type == "error" for o in c.get("outputs", [])))
    assert str((server.root / path).parent) in output_text(nb.cells[stop]) or \
        str((server.root / path).parent) in nb.cells[stop].outputs[0].get("evalue", "")
    assert "import mlphys_quiz" in nb.cells[stop].source
    later = [c for c in nb.cells[stop + 1:] if c.cell_type == "code"]
    assert later and all(not c.get("outputs") and c.execution_count is None for c in later)
    assert not any("quiz.show" in c.source for c in nb.cells[:stop])  # it stops before any question


# -- answering cell by cell ---------------------------------------------------------------------

def select(page: Page, i: int) -> None:
    """Select cell i in command mode (a click on its prompt area)."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(i)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-prompt").first.click()
    expect(cell).to_have_class(re.compile(r"jp-mod-selected"))


def type_into(page: Page, i: int, text: str) -> None:
    """Replace the source of cell i as a student does: edit mode, select all, type (paste)."""
    select(page, i)
    page.keyboard.press("Enter")
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)


def run_selected(page: Page) -> None:
    page.keyboard.press("Shift+Enter")


def ran(page: Page, i: int, timeout: float = 300) -> str:
    """Wait until cell i has run; its output text."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(i)
    expect(cell.locator(".jp-InputPrompt").first).to_have_text(re.compile(r"\[\d+\]"), timeout=timeout * 1000)
    return cell.locator(".jp-OutputArea").inner_text() if cell.locator(".jp-OutputArea").count() else ""


def export_and_grade(page: Page, server, path: str, built, name: str, tmp: Path) -> None:
    """Save, run the export cell, and grade the zip it wrote with ``mlphys grade``."""
    from autograder.grading import grade_batch, read_feedback

    save(page)
    nb = nbformat.read(server.root / path, as_version=4)
    export = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "grader.export(" in c.source)
    select(page, export)
    run_selected(page)
    out = ran(page, export, timeout=600)
    assert "Your submission has been exported" in out
    zips = sorted((server.root / path).parent.glob(f"{name}_*.zip"))
    assert len(zips) == 1
    summary_dir = tmp / "graded"
    grade_batch(built[name].autograder_zip, [zips[0]], summary_dir, jobs=1, progress=False)
    (result,) = read_feedback(summary_dir)
    assert result.grading_status == "Completed"
    assert result.total == pytest.approx(result.possible) and result.possible > 0


def test_a_quiz_answered_cell_by_cell_gets_full_marks(lab, built, tmp_path):
    server, context = lab
    folder, identity = handout(built, QUIZ)
    path = place(server, folder, QUIZ)
    page = open_notebook(server, context, path)
    nb = nbformat.read(server.root / path, as_version=4)
    shows = {}
    qid = None
    for i, c in enumerate(nb.cells):
        m = re.match(r'quiz\.show\("([^"]+)"\)', c.source) if c.cell_type == "code" else None
        if m:
            qid = m[1]
        a = re.match(r"(q\d+)_answer = \.\.\.", c.source) if c.cell_type == "code" else None
        if a:
            shows[i] = (a[1], qid)
    first = True
    select(page, 0)
    i = 0
    while i < len(nb.cells):
        cell = nb.cells[i]
        if i in shows:
            q, qid = shows[i]
            letter = key_for(QUIZ, qid, identity)
            if first:  # a wrong answer: the public check explains what a valid answer is
                type_into(page, i, f'{q}_answer = "z"')
                run_selected(page)
                run_selected(page)
                out = ran(page, i + 1)
                assert f"{q}_answer must be one of the letters a, b" in out
                shot(page.locator(".jp-Notebook .jp-Cell").nth(i - 1), tmp_path, f"{QUIZ}-question-{q}.png")
                first = False
            type_into(page, i, f'{q}_answer = "{letter}"')
            run_selected(page)
            run_selected(page)
            assert f"{q} passed!" in ran(page, i + 1)
            i += 2
            continue
        if cell.cell_type == "code" and "grader.export(" in cell.source:
            break
        run_selected(page)
        i += 1
    wait_all_ran(page)
    export_and_grade(page, server, path, built, QUIZ, tmp_path)
    close(server, page)


def solution_sources(built, name: str) -> dict[str, str]:
    """The solution of each answer cell, keyed by the cell's first line (as handed out)."""
    sol = nbformat.read(built[name].solutions, as_version=4)
    out = {}
    for c in sol.cells:
        if c.cell_type == "code" and "BEGIN SOLUTION" in c.source:
            text = MARKERS.sub("", c.source)
            out[text.splitlines()[0]] = text
    return out


def test_a_homework_answered_cell_by_cell_gets_full_marks(lab, built, tmp_path):
    server, context = lab
    path = place(server, built[HOMEWORK].student_dir, HOMEWORK)
    page = open_notebook(server, context, path)
    nb = nbformat.read(server.root / path, as_version=4)
    solutions = solution_sources(built, HOMEWORK)
    select(page, 0)
    wrong_done = False
    written = 0
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and "grader.export(" in cell.source:
            break
        if "otter_answer_cell" in tags and cell.cell_type == "code":
            answer = solutions[cell.source.splitlines()[0]]
            if cell.source.startswith("def layer(") and not wrong_done:
                type_into(page, i, "def layer(a, W, b, activation):\n    return np.ones(3)\n")
                run_selected(page)
                check = next(j for j in range(i + 1, len(nb.cells))
                             if CHECK.match(nb.cells[j].source.strip()))
                for _ in range(check - i):
                    run_selected(page)
                assert "a[4, 3] through W[3, 2] gives [4, 2]" in ran(page, check)
                wrong_done = True
            type_into(page, i, answer)
            written += 1
        elif "otter_answer_cell" in tags and cell.cell_type == "markdown":
            type_into(page, i, "With one set of weights for every image the network must *generalise*: "
                               "the cost $C = \\frac{1}{N}\\sum_x |f(x) - y(x)|^2$ averages over all inputs.")
        else:
            select(page, i)
        run_selected(page)
        if cell.cell_type == "code" and CHECK.match(cell.source.strip()):
            q = CHECK.match(cell.source.strip())["q"]
            assert f"{q} passed!" in ran(page, i), q
        if cell.cell_type == "code" and "z_plot" in cell.source:
            ran(page, i)
            shot(page.locator(".jp-Notebook .jp-Cell").nth(i), tmp_path, f"{HOMEWORK}-plot.png")
    assert wrong_done and written == len(solutions)
    wait_all_ran(page)
    export_and_grade(page, server, path, built, HOMEWORK, tmp_path)
    close(server, page)
    assert json.loads((server.root / path).read_text())["cells"]  # saved
