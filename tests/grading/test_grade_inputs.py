"""Reading autograder zips and submissions, normalising notebooks, and planning execution the
way Otter's GradingPreprocessor does (no sandbox needed)."""

from __future__ import annotations

import json
import re

import nbformat
import numpy as np
import pytest
from mlgrade_support import ag_zip, build_notebook, nb_json, write_zip

from autograder.grading.otter.autograder_zip import AutograderZipError, load_autograder
from autograder.grading.otter.notebook import CellStep, CheckStep, load_notebook, plan
from autograder.grading.otter.submissions import (
    Submission,
    SubmissionError,
    discover,
    read_notebook_bytes,
)


def test_fixture_zips_load_with_points_seed_and_formats():
    ok = load_autograder(ag_zip("demo_ok"))
    assert [q.name for q in ok.questions] == ["q1", "q2", "q3", "q4", "q5", "q6", "q7"]
    assert ok.points_possible == {"q1": 2, "q2": 2, "q3": 1, "q4": 4, "q5": 3, "q6": 1, "q7": 1}
    assert ok.seed == 42 and ok.seed_variable is None and ok.assignment_name == "demo_ok"
    assert all(q.ok_format for q in ok.questions)
    assert ok.question("q5").all_or_nothing
    exc = load_autograder(ag_zip("demo_exc"))
    assert exc.seed == 7 and exc.seed_variable == "rng_seed"
    assert not any(q.ok_format for q in exc.questions)
    assert exc.points_possible == {"e1": 3, "e2": 2, "e3": 2, "e4": 1}
    assert len(ok.sha256) == 64 and ok.sha256 != exc.sha256


@pytest.mark.parametrize(
    "members, message",
    [
        (None, "not found"),
        (b"this is not a zip", "not a zip file"),
        ({"README.md": "hello"}, "not an Otter autograder zip"),
        ({"otter_config.json": "{", "tests/q1.py": "OK_FORMAT = True\ntest = {}"}, "not valid JSON"),
        ({"tests/q1.py": "x = 1"}, "does not define OK_FORMAT"),
        ({"tests/q1.py": "OK_FORMAT = True\nraise ValueError('boom')"}, "cannot load test file"),
        ({"otter_config.json": '{"lang": "r"}', "tests/q1.R": "x"}, "only Python"),
    ],
)
def test_bad_autograder_zips_give_one_clear_error(tmp_path, members, message):
    path = tmp_path / "ag.zip"
    if isinstance(members, bytes):
        path.write_bytes(members)
    elif members is not None:
        write_zip(path, members)
    with pytest.raises(AutograderZipError, match=message) as info:
        load_autograder(path)
    assert "\n" not in str(info.value)


def test_discover_files_and_directories(tmp_path):
    d = tmp_path / "subs"
    d.mkdir()
    for name in ["b.ipynb", "a.zip", ".hidden.ipynb", "notes.txt"]:
        (d / name).write_text("{}")
    single = tmp_path / "c.ipynb"
    single.write_text("{}")
    found = [s.path.name for s in discover([d, single, d / "b.ipynb"])]
    assert found == ["a.zip", "b.ipynb", "c.ipynb"]
    with pytest.raises(FileNotFoundError):
        list(discover([tmp_path / "missing.ipynb"]))


def test_zip_reads_only_the_notebook_and_ignores_smuggled_files(tmp_path):
    nb = nb_json(build_notebook("demo_ok"))
    path = write_zip(tmp_path / "s.zip", {
        "hw.ipynb": nb, ".OTTER_LOG": b"\x80\x04evil-dill", "numpy.py": "raise SystemExit",
        "pkg/__init__.py": "import os", "sub/other.ipynb": nb, "__zip_filename__": "x.zip",
    })
    data, name = read_notebook_bytes(Submission(path))
    assert name == "hw.ipynb" and data.decode() == nb


@pytest.mark.parametrize(
    "members, status",
    [
        ({"a.ipynb": "{}", "b.ipynb": "{}"}, "more than one notebook"),
        ({"numpy.py": "x"}, "no notebook"),
    ],
)
def test_zip_problems_are_statuses(tmp_path, members, status):
    path = write_zip(tmp_path / "s.zip", members)
    with pytest.raises(SubmissionError, match=status):
        read_notebook_bytes(Submission(path))


def test_huge_notebook_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.ipynb"
    with open(big, "wb") as f:  # sparse: 100 MB on paper, nothing on disk
        f.truncate(100 * 1024 * 1024)
    with pytest.raises(SubmissionError, match="too large"):
        read_notebook_bytes(Submission(big))
    # the cap is configurable
    small = tmp_path / "small.ipynb"
    small.write_text("x" * 2000)
    with pytest.raises(SubmissionError, match="too large"):
        read_notebook_bytes(Submission(small), max_bytes=1000)


def test_zip_member_size_is_checked_before_reading(tmp_path):
    path = write_zip(tmp_path / "s.zip", {"a.ipynb": "x" * 5000})
    with pytest.raises(SubmissionError, match="too large"):
        read_notebook_bytes(Submission(path), max_bytes=1000)


@pytest.mark.parametrize(
    "data, status",
    [
        (b'{"cells": [', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[1, 2, 3]", "not a Jupyter notebook"),
        (b'{"hello": 1}', "not a Jupyter notebook"),
        (b'{"cells": [], "nbformat": 99, "nbformat_minor": 0, "metadata": {}}', "unreadable"),
    ],
)
def test_malformed_notebooks_become_statuses(data, status):
    with pytest.raises(SubmissionError, match=status):
        load_notebook(data)


def test_nbformat3_is_upgraded_and_foreign_kernels_become_python3():
    v3 = {
        "nbformat": 3, "nbformat_minor": 0,
        "metadata": {"name": "hw", "kernelspec": {"name": "ir", "display_name": "R"}},
        "worksheets": [{"cells": [
            {"cell_type": "code", "input": "x = 1", "language": "python", "outputs": []},
            {"cell_type": "markdown", "source": "# title"},
        ]}],
    }
    nb = load_notebook(json.dumps(v3).encode())
    assert nb.nbformat == 4
    assert [c.source for c in nb.cells if c.cell_type == "code"] == ["x = 1"]
    assert nb.metadata.kernelspec["name"] == "python3"


def _otter_preprocess(nb, seed, seed_variable):
    """Run Otter's own GradingPreprocessor and return the code cells it would execute,
    without its init cell (ours is the sandbox's stand-in) and export cell (our end pass)."""
    from otter.execute.preprocessor import GradingPreprocessor
    from traitlets.config import Config

    c = Config()
    c.GradingPreprocessor.test_dir = "./tests"
    c.GradingPreprocessor.tests_glob = []
    c.GradingPreprocessor.results_path = "/dev/null"
    c.GradingPreprocessor.seed = seed
    c.GradingPreprocessor.seed_variable = seed_variable
    c.GradingPreprocessor.logging_server_host = "localhost"
    c.GradingPreprocessor.logging_server_port = 1
    gp = GradingPreprocessor(config=c)
    out, _ = gp.preprocess(nbformat.reads(nbformat.writes(nb), as_version=4))
    cells = [c.source for c in out.cells if c.cell_type == "code"][1:-1]
    name = gp._notebook_name
    return [re.sub(rf"{name}\(\)\.check\(\"(\w+)\"\)\n", r"CHECK \1", s) for s in cells]


def _ours(steps):
    out = []
    for s in steps:
        if isinstance(s, CellStep):
            out.append(s.source)
        else:
            checks = "".join(f"CHECK {q}" for q in s.questions)
            out.append((f"{s.seed_source}\n" if s.seed_source else "") + checks)
    return out


def _normalise_names(cells):
    # Otter's generated module aliases are random; compare them as placeholders
    text = "\n<cell>\n".join(cells)
    for prefix in ("np_", "random_"):
        names = sorted(set(re.findall(rf"\b{prefix}[A-Z0-9]{{6}}\b", text)))
        for i, n in enumerate(names):
            text = text.replace(n, f"{prefix}ALIAS{i}")
    return text.split("\n<cell>\n")


@pytest.mark.parametrize("seed, variable", [(None, None), (42, None), (7, "rng_seed")])
def test_plan_matches_otters_grading_preprocessor(seed, variable):
    nb = build_notebook("demo_ok")
    nb.cells.insert(3, nbformat.v4.new_code_cell("%%capture\nprint('magic cell')"))
    ignored = nbformat.v4.new_code_cell("raise RuntimeError('ignored')")
    ignored.metadata["tags"] = ["otter_ignore"]
    nb.cells.insert(4, ignored)
    ignored2 = nbformat.v4.new_code_cell("raise RuntimeError('ignored too')")
    ignored2.metadata["otter"] = {"ignore": True}
    nb.cells.insert(5, ignored2)
    md = nbformat.v4.new_markdown_cell("metadata check on a markdown cell")
    md.metadata["otter"] = {"tests": ["q1", "q2"]}
    nb.cells.append(md)
    ours = _ours(plan(load_notebook(nb_json(nb).encode()), seed, variable,
                      np.random.default_rng(0)))
    assert _normalise_names(ours) == _normalise_names(_otter_preprocess(nb, seed, variable))
    assert sum(isinstance(s, CheckStep) for s in plan(nb, seed, variable,
                                                       np.random.default_rng(0))) == 2
