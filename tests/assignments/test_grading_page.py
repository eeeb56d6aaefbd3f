"""Hand grading in the browser: ``mlphys manual serve`` on a class of hw03 (plots and written
answers graded by hand), driven in Chromium as two TAs would.

The class: seven students on a Canvas roster, six submissions collected from a Canvas download
and graded by ``mlphys grade``; their answers to the hand-graded questions are Markdown with
maths, a code cell with its plot, an attached image, an untouched placeholder, and one
student's attempt at running script in the TA's browser."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import numpy as np
import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from autograder.build import ASSIGNMENTS
from autograder.cli import main
from autograder.grading.batch.gradebook import ManualStore, rubric_points
from autograder.lms.questions import ANSWER_TAG, question_regions
from tests.browser_support import chromium, grading_server

pytestmark = pytest.mark.slow

NAME = "hw03-classifiers"
MASTER = ASSIGNMENTS / NAME / f"{NAME}.ipynb"
OTHER_MASTER = ASSIGNMENTS / "hw04-feedforward" / "hw04-feedforward.ipynb"
DUE = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
EVIL = ("Noise hurts. <script>window.__pwned = 1</script> <img src=x onerror=\"window.__pwned=2\">\n\n"
        "[details](javascript:window.__pwned=3) ![tracker](http://127.0.0.2:9/pixel.png)\n\n"
        "$\\href{javascript:window.__pwned=4}{x}$")


def _plot_png(title: str, seed: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    noise = np.linspace(0, 1, 6)
    fig, ax = plt.subplots(figsize=(4, 2.6))
    ax.plot(noise, 1 - 0.5 * noise + 0.02 * rng.normal(size=6), "o-", label="clean network")
    ax.plot(noise, 0.95 - 0.1 * noise, "s-", label="noisy training")
    ax.set_title(title)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


ANSWERS = {  # per student: (q7 text, q7 plot?, q9 text), None: left as handed out
    0: ("The clean network's accuracy falls from $a(0) \\approx 0.98$ to chance:\n\n"
        "$$\\mathrm{acc}(\\sigma) \\approx 1 - \\frac{\\sigma}{2}$$\n\nit never saw noise.", True,
        "Few neurons matter: switching off the **least** important half changes nothing."),
    1: ("Noise moves images off the training distribution.", True, "Only two neurons matter."),
    2: (EVIL, True, "no idea"),
    3: None,
    4: ("See my plot: ![my plot](attachment:plot.png)", False, "Most neurons are unimportant."),
    5: ("Accuracy drops with $\\sigma$.", False, "The first layer matters most."),
}


def _answered(student_nb: nbformat.NotebookNode, k: int) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(student_nb)))
    answer = ANSWERS[k]
    if answer is None:
        return nb
    q7_text, q7_plot, q9_text = answer
    regions = question_regions(nb)
    assert len(regions) == 2
    for region, text in zip(regions, (q7_text, q9_text), strict=True):
        cells = [c for c in region if ANSWER_TAG in c.metadata.get("tags", [])]
        markdown = next(c for c in cells if c.cell_type == "markdown")
        code = next(c for c in cells if c.cell_type == "code")
        markdown.source = text
        if region is regions[0] and "attachment:plot.png" in text:
            markdown.attachments = {"plot.png": {"image/png": _plot_png("attached", k)}}
        if region is regions[0] and q7_plot:
            code.source = "plt.plot(noise_levels, acc_clean_net)\nplt.plot(noise_levels, acc_noisy_net)"
            code.outputs = [nbformat.v4.new_output(
                "display_data", data={"image/png": _plot_png(f"student {k}", k),
                                      "text/plain": "<Figure size 400x260>"})]
            if k == 2:
                code.outputs.append(nbformat.v4.new_output(
                    "display_data", data={"text/html": "<script>window.__pwned=5</script>",
                                          "text/plain": "<IPython.core.display.HTML object>"}))
    return nb


@pytest.fixture(scope="module")
def graded_class(built, tmp_path_factory) -> dict:
    from autograder.demo import points_possible, write_canvas_download, write_canvas_roster
    from autograder.democlass import DemoSubmission, make_roster
    from autograder.grading import grade_batch
    from autograder.lms.collect import collect
    from autograder.lms.roster import read_roster

    b = built[NAME]
    tmp = tmp_path_factory.mktemp("handgrading")
    roster = make_roster(7, np.random.default_rng(12))
    student_nb = nbformat.read(b.student_dir / f"{NAME}.ipynb", as_version=4)
    subs = [DemoSubmission(s, "answered", _answered(student_nb, k), DUE - timedelta(hours=k + 1))
            for k, s in enumerate(roster[:6])]  # the seventh student submits nothing
    roster_csv = write_canvas_roster(roster, {NAME: points_possible(b)}, tmp / "roster.csv")
    download = write_canvas_download(subs, NAME, tmp / "download.zip")
    grades = tmp / "graded"
    collect("canvas", download, grades, read_roster(roster_csv))
    grade_batch(b.autograder_zip, [grades / "submissions"], grades, jobs=2, cell_timeout=60,
                timeout=300, progress=False)
    coll = json.loads((grades / "collection.json").read_text())
    key_of = {e["student"]["sis_user_id"]: e["student"]["key"] for e in coll["entries"]}
    # the page lists students by name: (name, key, which answers) in that order
    named = sorted(roster[:6], key=lambda s: (s.name.casefold(), key_of[s.sis_id]))
    return {"grades": grades, "roster": roster, "roster_csv": roster_csv, "tmp": tmp,
            "order": [(s.name, key_of[s.sis_id], roster.index(s)) for s in named]}


SHOTS = Path(os.environ["MLPHYS_SCREENSHOTS"]) if os.environ.get("MLPHYS_SCREENSHOTS") else None


def _shot(page, tmp: Path, name: str) -> Path:
    path = (SHOTS or tmp) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def _add_item(page, points: str, label: str) -> None:
    page.fill("#new-points", points)
    page.fill("#new-label", label)
    with page.expect_navigation():
        page.press("#new-label", "Enter")


def _items(page) -> list[tuple[int, float, str]]:
    return [(int(li.get_attribute("data-id")), float(li.locator(".pts").inner_text()),
             li.locator(".label").inner_text()) for li in page.locator("#rubric li.item").all()]


def _press_items(page, keys: str, expected: float | None) -> None:
    for key in keys:
        page.keyboard.press(key)
    if expected is not None:
        expect(page.locator("#points")).to_have_text(f"{expected:g}")


Q7_PLAN = {1: "12", 2: "1", 3: "23", 4: "", 5: "13", 6: "2"}  # position -> rubric keys pressed
Q9_PLAN = {1: "1", 2: "12", 3: "2", 4: "1", 5: "", 6: "12"}


def _expected(plan: dict[int, str], points: list[float], maximum: float) -> dict[int, float]:
    return {n: rubric_points([points[int(k) - 1] for k in keys], 0.0, maximum)
            for n, keys in plan.items()}


def test_two_tas_grade_by_keyboard_and_everything_reaches_the_exports(graded_class, tmp_path):
    grades, tmp = graded_class["grades"], graded_class["tmp"]
    order = graded_class["order"]
    requests: list[str] = []
    with grading_server("--grades", grades, "--master", MASTER) as ta1, \
            grading_server("--grades", grades, "--anonymous") as ta2, chromium(tmp) as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.on("request", lambda r: requests.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(ta1.url)
        assert page.url == ta1.base + "/"  # the token went into a cookie, out of the address bar
        assert "0 / 6" in page.locator("#row-q7 .count").inner_text()
        page.click("text=grade q7")
        page.wait_for_url("**/q/q7/1")
        _add_item(page, "2", "explains why noise hurts the clean network")
        _add_item(page, "1.5", "plot shows both networks")
        _add_item(page, "-1", "no explanation of the noisy training")
        q7_points = [p for _, p, _ in _items(page)]
        assert q7_points == [2.0, 1.5, -1.0]

        other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        other.goto(ta2.url)
        other.click("text=grade q9")
        other.wait_for_url("**/q/q9/1")
        _add_item(other, "2", "names the neurons that matter")
        _add_item(other, "-0.5", "no switching-off experiment")
        q9_points = [p for _, p, _ in _items(other)]
        anonymous_names = {name for name, _, _ in order}
        assert not any(n in other.content() for n in anonymous_names)

        want7 = _expected(Q7_PLAN, q7_points, 3.0)
        want9 = _expected(Q9_PLAN, q9_points, 2.0)
        for n in range(1, 7):  # both TAs at once, on different questions
            _press_items(page, Q7_PLAN[n], want7[n] if Q7_PLAN[n] else None)
            _press_items(other, Q9_PLAN[n], want9[n] if Q9_PLAN[n] else None)
            if not Q7_PLAN[n]:  # nothing applies: a comment and a point adjustment
                page.keyboard.press("c")
                page.keyboard.type("Only the placeholder: no answer.")
                page.keyboard.press("Escape")
                page.keyboard.press("a")
                page.keyboard.type("0.5")
                page.keyboard.press("Enter")
                want7[n] = 0.5
                expect(page.locator("#points")).to_have_text("0.5")
            if not Q9_PLAN[n]:
                other.keyboard.press("c")
                other.keyboard.type("Please answer in the text cell next time.")
                other.keyboard.press("Escape")
                want9[n] = 0.0
                expect(other.locator("#graded-flag")).to_have_text("graded")
            if n < 6:
                with page.expect_navigation():
                    page.keyboard.press("ArrowRight")
                with other.expect_navigation():
                    other.keyboard.press("j")
                assert page.url.endswith(f"/q/q7/{n + 1}") and other.url.endswith(f"/q/q9/{n + 1}")
        expect(page.locator("#progress-text")).to_have_text("6 / 6 graded")
        _shot(page, tmp_path, "grading-q7.png")
        # every q9 answer graded: the anonymous pages now show the names (in their own order)
        q9_names = {}
        for n in range(1, 7):
            other.goto(f"{ta2.base}/q/q9/{n}")
            q9_names[n] = other.locator("#who").inner_text().split(" ·")[0].strip()
        assert set(q9_names.values()) == anonymous_names

        # a rubric item's points change: every student who has it follows
        first = _items(page)[0][0]
        page.keyboard.press("Home")
        page.fill(f"input.item-points[data-id='{first}']", "1.5")
        page.press(f"input.item-points[data-id='{first}']", "Enter")
        with_first = sum("1" in keys for keys in Q7_PLAN.values())
        page.wait_for_selector(f"text={with_first} student(s) re-scored with the changed item")
        q7_points[0] = 1.5
        want7 = {**_expected(Q7_PLAN, q7_points, 3.0), 4: 0.5}
        page.goto(f"{ta1.base}/q/q7/1")
        assert page.locator("#points").inner_text() == f"{want7[1]:g}"
        assert page.locator("#rubric li.item").first.locator(".pts").inner_text() == "+1.5"

        # the malicious answer: shown as text, nothing ran, nothing loaded from elsewhere
        evil_pos = next(i for i, (_, _, k) in enumerate(order, start=1) if k == 2)
        page.goto(f"{ta1.base}/q/q7/{evil_pos}")
        assert "<script>window.__pwned = 1</script>" in page.locator("#answer").inner_text()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("#answer a[href^='javascript']").count() == 0
        assert page.locator("#answer [onerror]").count() == 0
        assert "image not shown" in page.locator("#answer").inner_text()
        # the plot, the maths and the attached image
        plot_pos = next(i for i, (_, _, k) in enumerate(order, start=1) if k == 0)
        page.goto(f"{ta1.base}/q/q7/{plot_pos}")
        assert page.locator("#answer math").count() >= 2
        widths = page.eval_on_selector_all("#answer img", "imgs => imgs.map(i => i.naturalWidth)")
        assert widths and all(w > 100 for w in widths)
        _shot(page, tmp_path, "grading-plot-and-maths.png")
        attached_pos = next(i for i, (_, _, k) in enumerate(order, start=1) if k == 4)
        page.goto(f"{ta1.base}/q/q7/{attached_pos}")
        assert page.eval_on_selector_all("#answer img", "imgs => imgs.map(i => i.naturalWidth)")[0] > 100
        blank_pos = next(i for i, (_, _, k) in enumerate(order, start=1) if k == 3)
        page.goto(f"{ta1.base}/q/q7/{blank_pos}")
        assert "empty answer" in page.locator("#answer").inner_text()
        assert errors == []
        assert all(u.startswith(ta1.base) or u.startswith("data:") for u in requests), requests

        # a question without a part graded by hand, and a token-less visitor
        page.goto(f"{ta1.base}/q/q1")
        text = page.locator("body").inner_text()
        assert "has no part graded by hand" in text and "q7, q9" in text and "Traceback" not in text
        stranger = browser.new_context().new_page()
        stranger.goto(ta1.base + "/q/q7/1")
        assert "Open this page with the link" in stranger.locator("body").inner_text()
        assert "Noise" not in stranger.content()
    for url, headers in ((f"{ta1.base}/api/q/q7/1", {}),
                         (f"{ta1.base}/api/q/q7/1", {"X-Grading-Token": "guess"})):
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(urllib.request.Request(url, data=b'{"toggle": 1}', headers=headers))

    # what was saved: the gradebook has exactly what the pages showed
    with ManualStore(grades) as store:
        q7, q9 = store.grades("q7"), store.grades("q9")
    keys = [key for _, key, _ in order]
    assert {k: q7[k].points for k in keys} == {keys[n - 1]: want7[n] for n in range(1, 7)}
    key_of_name = {name: key for name, key, _ in order}
    assert {k: q9[k].points for k in keys} == {key_of_name[q9_names[n]]: want9[n] for n in range(1, 7)}
    assert q7[keys[3]].comment == "Only the placeholder: no answer." and q7[keys[3]].adjustment == 0.5

    # the spreadsheets agree with the page, and importing them back changes nothing
    sheets = tmp_path / "sheets"
    runner = CliRunner()
    result = runner.invoke(main, ["manual", "export", "--master", str(MASTER), "--grades", str(grades),
                                  "--out", str(sheets)])
    assert result.exit_code == 0, result.output
    with (sheets / "manual_q7.csv").open(encoding="utf-8-sig") as f:
        sheet = {r["student_key"]: r for r in csv.DictReader(f)}
    assert {k: float(sheet[k]["points"]) for k in keys} == {k: q7[k].points for k in keys}
    assert sheet[keys[3]]["comment"] == "Only the placeholder: no answer."
    result = runner.invoke(main, ["manual", "import", "--grades", str(grades),
                                  str(sheets / "manual_q7.csv"), str(sheets / "manual_q9.csv")])
    assert result.exit_code == 0, result.output
    with ManualStore(grades) as store:
        again = store.grades("q7")
    assert {k: (again[k].points, again[k].items) for k in keys} == {k: (q7[k].points, q7[k].items)
                                                                      for k in keys}

    # the Canvas export has autograded + hand-graded points; the report and pages the rubric
    out = tmp_path / "canvas.csv"
    result = CliRunner().invoke(main, ["export", "canvas", "--grades", str(grades), "--roster",
                                       str(graded_class["roster_csv"]), "--assignment-name", NAME,
                                       "--assignment-id", "4200000", "--out", str(out),
                                       "--report", str(tmp_path / "report.csv")])
    assert result.exit_code == 0, result.output
    auto = {r["file"]: float(r["total_points_earned"]) for r in
            csv.DictReader((grades / "final_grades.csv").open(encoding="utf-8-sig"))
            if r["file"] != "points-per-question"}
    coll = json.loads((grades / "collection.json").read_text())
    file_of = {e["student"]["key"]: e["file"] for e in coll["entries"]}
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    column = rows[0].index(next(h for h in rows[0] if h.startswith(NAME)))
    exported = {r[1]: r[column] for r in rows[2:]}
    for n, key in enumerate(keys, start=1):
        entry = next(e for e in coll["entries"] if e["student"]["key"] == key)
        n9 = next(m for m, name in q9_names.items() if key_of_name[name] == key)
        total = auto[file_of[key]] + want7[n] + want9[n9]
        assert float(exported[str(entry["student"]["lms_id"])]) == pytest.approx(total)
    with (tmp_path / "report.csv").open(encoding="utf-8-sig") as f:
        report = {r["student_key"]: r for r in csv.DictReader(f)}
    assert "explains why noise hurts the clean network (+1.5)" in report[keys[0]]["comments"]
    assert "Only the placeholder" in report[keys[3]]["comments"]

    from autograder.pages.feedback import people_from_collection, write_feedback_pages

    pages = write_feedback_pages(grades, tmp_path / "feedback", NAME, people_from_collection(coll))
    page_of = pages[Path(file_of[keys[3]]).stem].read_text()
    assert "Graded by hand" in page_of and "Only the placeholder: no answer." in page_of
    first_page = pages[Path(file_of[keys[0]]).stem].read_text()
    assert "explains why noise hurts the clean network <b>(+1.5)</b>" in first_page


def test_a_master_of_another_assignment_is_refused_in_the_page(graded_class, tmp_path):
    grades = graded_class["grades"]
    with grading_server("--grades", grades, "--master", OTHER_MASTER) as ta, \
            chromium(graded_class["tmp"]) as browser:
        page = browser.new_page()
        response = page.goto(ta.url)
        text = page.locator("body").inner_text()
        assert response.status == 409
        assert "notebooks of 'hw03-classifiers', but the master notebook is 'hw04-feedforward'" in text
        assert "Traceback" not in text
        page.goto(f"{ta.base}/q/q6/1")
        assert "hw03-classifiers" in page.locator("body").inner_text()
    with ManualStore(grades) as store:  # the wrong master's questions were not recorded
        assert "q6" not in {q.name for q in store.questions()}


def test_the_demo_says_how_to_open_the_grading_page(tmp_path):
    from autograder.demo import grading_page_hint

    lines = grading_page_hint(tmp_path, ["quiz02-python-numpy", NAME, "hw04-feedforward"])
    command = next(line for line in lines if "mlphys manual serve" in line).split()
    # the arguments the browser test above starts the page with, for the demo's folder
    assert command[command.index("--grades") + 1] == str(tmp_path / "graded" / NAME)
    assert command[command.index("--master") + 1] == str(MASTER)
    assert "no grading page" in grading_page_hint(tmp_path, ["quiz02-python-numpy"])[0]
