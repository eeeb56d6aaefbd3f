"""`mlphys grade` as a command: user mistakes are one line and a non-zero exit; malformed
submissions are per-submission statuses with exit 0."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner
from mlgrade_support import ag_zip, build_notebook, nb_json, write_nb, write_zip

from autograder.cli import main


def _invoke(args):
    return CliRunner().invoke(main, ["grade", *args], catch_exceptions=False)


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda t: ["--autograder", str(t / "missing.zip"), str(t / "s.ipynb")],
         "autograder zip not found"),
        (lambda t: ["--autograder", str(t / "s.ipynb"), str(t / "s.ipynb")], "not a zip file"),
        (lambda t: ["--autograder", str(t / "nototter.zip"), str(t / "s.ipynb")],
         "not an Otter autograder zip"),
        (lambda t: ["--autograder", str(ag_zip("demo_ok"))], "no submissions given"),
        (lambda t: ["--autograder", str(ag_zip("demo_ok")), str(t / "nope.ipynb")],
         "submission path not found"),
        (lambda t: ["--autograder", str(ag_zip("demo_ok")), str(t / "empty_dir")],
         "no submissions found"),
        (lambda t: ["--autograder", str(ag_zip("demo_ok")), "--jobs", "0", str(t / "s.ipynb")],
         "Invalid value for '--jobs'"),
        (lambda t: [str(t / "s.ipynb")], "Missing option '--autograder'"),
    ],
)
def test_user_mistakes_are_one_line_and_nonzero(tmp_path, make_args, message):
    write_nb(build_notebook("demo_ok"), tmp_path / "s.ipynb")
    write_zip(tmp_path / "nototter.zip", {"readme.txt": "hi"})
    (tmp_path / "empty_dir").mkdir()
    result = _invoke(["--out", str(tmp_path / "out"), *make_args(tmp_path)])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
    assert len(errors) == 1


@pytest.mark.slow
def test_malformed_inputs_get_clear_statuses_and_exit_zero(tmp_path):
    d = tmp_path / "subs"
    write_nb(build_notebook("demo_ok"), d / "good.ipynb")
    (d / "truncated.ipynb").write_text(nb_json(build_notebook("demo_ok"))[:500])
    (d / "notjson.ipynb").write_text("print('hello')")
    (d / "list.ipynb").write_text("[]")
    write_zip(d / "two.zip", {"a.ipynb": nb_json(build_notebook("demo_ok")), "b.ipynb": "{}"})
    write_zip(d / "nonb.zip", {"numpy.py": "x = 1"})
    (d / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with open(d / "big.ipynb", "wb") as f:
        f.truncate(30 * 1024 * 1024)
    result = _invoke(["--autograder", str(ag_zip("demo_ok")), "--out", str(tmp_path / "out"),
                      "--quiet", "--jobs", "2", str(d)])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out" / "final_grades.csv") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    status = {k: v["grading_status"] for k, v in rows.items()}
    assert status["good.ipynb"] == "Completed" and rows["good.ipynb"]["total_points_earned"] == "14.0"
    expected = {
        "truncated.ipynb": "error: notebook is not valid JSON",
        "notjson.ipynb": "error: notebook is not valid JSON",
        "list.ipynb": "error: file is JSON but not a Jupyter notebook",
        "two.zip": "error: more than one notebook in the zip (a.ipynb, b.ipynb)",
        "nonb.zip": "error: no notebook (.ipynb) at the top level of the zip",
        "broken.zip": "error: not a readable zip file",
        "big.ipynb": "error: notebook is too large",
    }
    for name, prefix in expected.items():
        assert status[name].startswith(prefix), (name, status[name])
        assert rows[name]["total_points_earned"] == "0.0"
    # the first row is Otter's points-possible row
    assert rows["points-per-question"]["total_points_earned"] == "14.0"
    assert rows["points-per-question"]["grading_status"] == "--"


@pytest.mark.slow
def test_max_notebook_size_is_configurable(tmp_path):
    write_nb(build_notebook("demo_ok"), tmp_path / "s.ipynb")
    result = _invoke(["--autograder", str(ag_zip("demo_ok")), "--out", str(tmp_path / "out"),
                      "--quiet", "--max-notebook-mb", "0.001", str(tmp_path / "s.ipynb")])
    assert result.exit_code == 0
    text = (tmp_path / "out" / "final_grades.csv").read_text()
    assert "error: notebook is too large" in text


def test_no_fork_server_starts_every_sandbox_cold_with_the_same_grades(tmp_path):
    """``--no-fork-server`` reaches the grading processes; the gradebook says which start each
    attempt had, and the grades do not depend on it."""
    import json
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    from autograder.grading.sandbox import host

    subs = tmp_path / "subs"
    write_nb(build_notebook("demo_ok", {"q1": "def square(x):\n    return 2 * x"}),
             subs / "wrong.ipynb")
    write_nb(build_notebook("demo_ok"), subs / "right.ipynb")
    graded = {}
    for flag in ([], ["--no-fork-server"]):
        out = tmp_path / ("cold" if flag else "warm")
        subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "--autograder",
                        str(ag_zip("demo_ok")), "--out", str(out), "--jobs", "2", "--quiet",
                        *flag, str(subs)], check=True, cwd=Path(__file__).resolve().parents[2])
        with sqlite3.connect(out / "gradebook.sqlite") as db:
            starts = {row[0].split("; start: ")[1].split(";")[0]
                      for row in db.execute("SELECT isolation FROM attempts")}
        with open(out / "final_grades.csv") as handle:
            graded[bool(flag)] = (starts, json.dumps(sorted(
                (r["file"], r["total_points_earned"]) for r in csv.DictReader(handle))))
    jail = host.available_mode() == "jail"
    assert graded[False][0] == ({"fork server"} if jail else {"exec"})
    assert graded[True][0] == {"exec"}
    assert graded[False][1] == graded[True][1]
