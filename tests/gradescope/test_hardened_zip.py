"""The pieces of the Gradescope path, fast: the zip rewrite, the grader's wheel, the lock-down of
/autograder against the slot uid, and what the in-container grader needs from Otter's
environment. (The whole path runs in tests/assignments/test_gradescope_hardened.py.)"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from autograder.gradescope import bootstrap
from autograder.gradescope.hardened_zip import (
    PAYLOAD,
    HardenedZipError,
    add_sandboxed_runner,
    otter_activation,
)
from autograder.gradescope.wheel import build_wheel, package_files
from autograder.grading.otter.autograder_zip import load_autograder
from autograder.grading.sandbox import SlotLease

FIXTURE = Path(__file__).resolve().parents[1] / "grading" / "fixtures" / "demo_ok" / "autograder.zip"
SYSTEM_PYTHON = "/usr/bin/python3"
"""An interpreter every uid may run (this machine's venv lives under /root)."""


@pytest.fixture
def hardened(tmp_path: Path) -> Path:
    path = tmp_path / "demo_ok-autograder.zip"
    shutil.copy(FIXTURE, path)
    add_sandboxed_runner(path)
    return path


def test_the_zip_runs_our_grader_and_keeps_everything_otter_reads(hardened: Path):
    with zipfile.ZipFile(FIXTURE) as old, zipfile.ZipFile(hardened) as new:
        before = {n: old.read(n) for n in old.namelist()}
        after = {n: new.read(n) for n in new.namelist()}
        mode = new.getinfo("run_autograder").external_attr >> 16
    for name in ("otter_config.json", "run_otter.py", "environment.yml", *[
            n for n in before if n.startswith("tests/")]):
        assert after[name] == before[name], name  # `otter run` reads these: unchanged
    run = after["run_autograder"].decode()
    assert "python /autograder/source/run_otter.py" not in run
    assert f"files/{PAYLOAD}/bootstrap.py" in run
    for line in otter_activation(before["run_autograder"].decode()):
        assert line in run  # Otter's environment, activated Otter's way
    assert mode & 0o111
    setup = after["setup.sh"].decode()
    assert setup.startswith(before["setup.sh"].decode().rstrip("\n"))
    assert "--install-only /autograder" in setup
    assert after[f"files/{PAYLOAD}/bootstrap.py"] == Path(bootstrap.__file__).read_bytes()
    wheels = [n for n in after if re.fullmatch(rf"files/{PAYLOAD}/mlphys_grader-.*\.whl", n)]
    assert len(wheels) == 1
    manifest = json.loads(after["mlphys.json"])
    assert PAYLOAD in manifest["autograder_only"]
    assert json.loads(after[f"files/{PAYLOAD}/mlphys.json"]) == manifest  # for `otter grade`


def test_mlphys_grade_keeps_the_payload_out_of_the_sandbox(hardened: Path):
    spec = load_autograder(hardened)
    assert any(rel.startswith(f"{PAYLOAD}/") for rel in spec.support_files)
    assert not any(rel.startswith(f"{PAYLOAD}/") for rel in spec.sandbox_files())


def test_rewriting_twice_changes_nothing_and_foreign_zips_are_refused(hardened: Path, tmp_path):
    before = hardened.read_bytes()
    add_sandboxed_runner(hardened)
    assert hardened.read_bytes() == before
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("run_autograder", "#!/bin/sh\nsomething else\n")
        zf.writestr("setup.sh", "")
    with pytest.raises(HardenedZipError, match="run_otter.py"):
        add_sandboxed_runner(foreign)


def test_the_wheel_is_reproducible_complete_and_installs_offline(tmp_path: Path):
    first = build_wheel(tmp_path / "a")
    second = build_wheel(tmp_path / "b")
    assert first.name == second.name and first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        names = set(zf.namelist())
    assert set(package_files()) <= names
    assert not any(n.startswith("reference/") for n in names)  # the answers never travel here
    target = tmp_path / "lib"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet",
                    "--disable-pip-version-check", "--target", str(target), str(first)],
                   check=True)
    env = dict(os.environ, PYTHONPATH=str(target), PYTHONSAFEPATH="1")
    out = subprocess.run([sys.executable, "-c",
                          "import autograder.gradescope.run as r; print(r.__file__)"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith(str(target))


def _probe(uid: int, paths: dict[str, Path]) -> dict[str, str]:
    """What ``uid`` can do with each path: read a file, list a folder, write a file."""
    script = (
        "import json, os, sys\n"
        "out = {}\n"
        "for name, path in json.loads(sys.argv[1]).items():\n"
        "    try:\n"
        "        if name.startswith('write'):\n"
        "            open(path, 'w').write('{}')\n"
        "        elif os.path.isdir(path):\n"
        "            os.listdir(path)\n"
        "        else:\n"
        "            open(path).read()\n"
        "        out[name] = 'ok'\n"
        "    except OSError as e:\n"
        "        out[name] = type(e).__name__\n"
        "print(json.dumps(out))\n")
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", script,
                           json.dumps({k: str(v) for k, v in paths.items()})],
                          user=uid, group=uid, extra_groups=[], capture_output=True, text=True,
                          check=True, cwd="/")
    return json.loads(proc.stdout)


def test_lock_down_keeps_the_slot_uid_out_of_everything_in_autograder():
    base = Path(tempfile.mkdtemp(prefix="mlphys-lockdown-"))
    try:
        os.chmod(base, 0o755)
        root = base / "autograder"
        files = {
            "tests": root / "source" / "tests" / "q1.py",
            "reference": root / "source" / "files" / "reference" / "backprop.py",
            "salt": root / "source" / "files" / "reference" / "quiz" / "pool.json",
            "grader": root / bootstrap.LIB / "autograder" / "__init__.py",
            "metadata": root / "submission_metadata.json",
            "submission": root / "submission" / "quiz.ipynb",
            "results": root / "results" / "results.json",
        }
        for path in files.values():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("secret")
        for folder in (base, *{p.parent for p in files.values()}, root, root / "source"):
            os.chmod(folder, 0o777)  # wide open before, so that the probe can fail
        for path in files.values():
            os.chmod(path, 0o666)
        probes = {**files, "list": root, "write_results": root / "results" / "results.json",
                  "write_new": root / "results" / "forged.json"}
        lease = SlotLease.acquire(700)
        try:
            before = _probe(lease.uid, probes)
            assert set(before.values()) == {"ok"}, before  # the probe can see an open tree
            (root / "results" / "results.json").write_text("secret")
            (root / "results" / "forged.json").unlink()
            bootstrap.lock_down(root)
            after = _probe(lease.uid, probes)
        finally:
            lease.release()
        assert after == dict.fromkeys(probes, "PermissionError"), after
        assert (root / "results" / "results.json").read_text() == "secret"
        assert not (root / "results" / "forged.json").exists()
    finally:
        shutil.rmtree(base)


def _requirement_names(dist: str, extras: set[str], seen: set[str]) -> None:
    """Distributions ``dist`` (with ``extras``) pulls in, recursively (environment markers
    evaluated for this machine)."""
    from packaging.requirements import Requirement

    key = dist.lower().replace("_", "-")
    if key in seen:
        return
    seen.add(key)
    try:
        requires = importlib.metadata.requires(dist) or []
    except importlib.metadata.PackageNotFoundError:
        return
    for text in requires:
        req = Requirement(text)
        if req.marker is not None and not any(
                req.marker.evaluate({"extra": e}) for e in (extras or {""})):
            continue
        _requirement_names(req.name, set(req.extras), seen)


def test_the_in_container_grader_needs_only_what_otters_environment_has():
    """Gradescope's image has otter-grader[grading] (and Python); the wheel is installed
    without dependencies, so everything the grading path imports must come with Otter.
    The grading modules are imported with every other installed distribution made
    unimportable (as in Otter's image): optional imports (jsonschema's format checkers, which
    a development install brings) may be absent, required ones may not."""
    dists: set[str] = set()
    _requirement_names("otter-grader", {"grading"}, dists)
    installed = importlib.metadata.packages_distributions()
    allowed = {module for module, owners in installed.items()
               if any(o.lower().replace("_", "-") in dists for o in owners)}
    assert "numpy" in allowed and "otter" in allowed  # the closure is computed, not empty
    blocked = sorted(set(installed) - allowed - {"autograder", "reference"} - set(sys.stdlib_module_names))
    script = ("import sys, importlib.abc\n"
              f"BLOCKED = set({blocked!r})\n"
              "class OutsideOtter(importlib.abc.MetaPathFinder):\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] in BLOCKED:\n"
              "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
              "sys.meta_path.insert(0, OutsideOtter())\n"
              "import autograder.gradescope.run, autograder.grading.executors.local\n"
              "import autograder.grading.otter.grade_one, autograder.grading.sandbox.sandbox\n"
              "import autograder.grading.otter.requirements  # grade_batch reads the zip's\n"
              "# a None entry is an import refused on purpose, not a module loaded\n"
              "print('\\n'.join(sorted({m.split('.')[0] for m, module in sys.modules.items()"
              " if module is not None})))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, f"needs more than Otter's environment has: {out.stderr[-1500:]}"
    imported = set(out.stdout.split())
    third_party = {m for m in imported - set(sys.stdlib_module_names) - {"autograder"}
                   if not m.startswith("_") and m in installed}
    assert third_party <= allowed, f"not in Otter's environment: {sorted(third_party - allowed)}"
    assert {"numpy", "nbformat"} <= third_party  # the grading path was really imported


def test_a_quiz_built_with_a_roster_carries_it_for_gradescope_only(tmp_path: Path):
    path = tmp_path / "quiz-autograder.zip"
    shutil.copy(FIXTURE, path)
    roster = [{"identity": "alove", "email": "ada@uni.edu", "sid": "S1"}]
    add_sandboxed_runner(path, roster=roster)
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("mlphys_roster.json")) == roster
        assert not any("roster" in n for n in zf.namelist() if n.startswith(("files/", "tests/")))
    spec = load_autograder(path)  # mlphys grade: not a support file, never in a sandbox
    assert not any("roster" in rel for rel in spec.support_files)


def test_the_bootstrap_needs_only_the_standard_library():
    """It runs in Otter's Python before mlphys is importable."""
    import ast

    tree = ast.parse(Path(bootstrap.__file__).read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert modules and modules <= set(sys.stdlib_module_names) | {"__future__"}, modules
