"""The first thing the zip's ``run_autograder`` runs (as root, in Gradescope's container).

Standard library only: it runs in whatever Python Otter's environment provides, before mlphys
is importable. It is copied into the zip as ``files/mlphys_grader/bootstrap.py`` (``otter
grade``'s image takes only ``files/``, ``tests/`` and a few named files from the zip) and run as
``python -I bootstrap.py [--install-only] ROOT`` (ROOT is ``/autograder``):

1. **Lock the grading tree away** (``lock_down``): ``ROOT`` and everything below it (the tests,
   the ``reference`` package with the answers and the quiz salt, the submission, its metadata,
   the results) becomes root-only (mode 0700), so the slot uid that runs the student's code
   cannot read, list or write any of it. Student code never runs from ``ROOT``: its sandbox
   lives in the system temporary folder.
2. **Make the interpreter usable by the slot uid** (``open_interpreter``): Otter installs its
   Python under ``/root`` (mode 0700); the directories on the way get search permission (never
   read permission), so the sandbox can start Python without being able to list ``/root``.
3. **Install the grader** (``install``): the wheel next to this file, with ``pip install
   --no-index --no-deps --target ROOT/mlphys-grader``: no network, into the root-only tree, so
   the grader's code is not importable by the student. ``setup.sh`` does it once when the
   image is built; here it is only redone when missing or stale.
4. **Grade** (``grade``): ``python -m autograder.gradescope.run ROOT`` with only that folder
   added to ``sys.path`` and the current folder never on it (``PYTHONSAFEPATH``). If it fails
   without writing ``results.json``, a results.json that says so is written: a submission is
   never graded by Otter's in-kernel path as a fallback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

LIB = "mlphys-grader"
STAMP = ".installed-wheel-sha256"
FAILURE_TEXT = ("The autograder could not grade this submission (the mlphys grader failed to "
                "start). Your instructor can see the details in the autograder's output.")


def log(text: str) -> None:
    print(f"[mlphys] {text}", flush=True)


def lock_down(root: Path) -> None:
    """Make ``root`` and its main folders root-only (0700). (Not the umask: the sandbox's own
    folders in the system temporary folder must stay traversable by the slot uid.)"""
    for folder in (root, root / "source", root / "submission", root / "results"):
        if folder.is_dir() and not folder.is_symlink():
            os.chmod(folder, 0o700)
    metadata = root / "submission_metadata.json"
    if metadata.is_file() and not metadata.is_symlink():
        os.chmod(metadata, 0o600)


def open_interpreter(root: Path) -> list[str]:
    """Give every directory on the way to this Python search permission for others (o+x, never
    o+r), outside ``root``; returns the directories changed."""
    changed = []
    targets = {os.path.realpath(sys.executable), os.path.realpath(sys.prefix),
               os.path.realpath(sys.base_prefix)}
    root_real = os.path.realpath(root)
    for target in sorted(targets):
        current = target if os.path.isdir(target) else os.path.dirname(target)
        while True:
            if current == root_real or current.startswith(root_real.rstrip("/") + "/"):
                raise RuntimeError(f"the interpreter {target} is inside {root}, which stays "
                                   "root-only")
            mode = os.stat(current).st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(current, stat.S_IMODE(mode) | stat.S_IXOTH)
                changed.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
    return changed


def find_wheel(here: Path) -> Path:
    wheels = sorted(here.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one grader wheel in {here}, found {len(wheels)}")
    return wheels[0]


def install(root: Path, wheel: Path) -> Path:
    """Install ``wheel`` into ``root/mlphys-grader`` unless that copy is of the same wheel."""
    lib = root / LIB
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if (lib / STAMP).is_file() and (lib / STAMP).read_text().strip() == digest:
        return lib
    staging = root / (LIB + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-compile",
         "--disable-pip-version-check", "--quiet", "--target", str(staging), str(wheel)],
        capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip could not install {wheel.name}: {proc.stderr.strip()[-2000:]}")
    (staging / STAMP).write_text(digest)
    shutil.rmtree(lib, ignore_errors=True)
    os.rename(staging, lib)
    log(f"installed {wheel.name} into {lib}")
    return lib


def write_failure(root: Path, detail: str) -> None:
    """A results.json that says grading failed (Gradescope shows it; score 0 until regraded)."""
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    log(f"grading failed: {detail}")
    payload = {"score": 0, "output": FAILURE_TEXT, "stdout_visibility": "hidden",
               "tests": [], "extra_data": {"mlphys": {"error": detail[-4000:]}}}
    tmp = results / ".results.json.tmp"
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, results / "results.json")


def grade(root: Path, lib: Path) -> int:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(PYTHONPATH=str(lib), PYTHONSAFEPATH="1", PYTHONNOUSERSITE="1",
               PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    results = root / "results" / "results.json"
    if results.exists():
        results.unlink()
    proc = subprocess.run([sys.executable, "-m", "autograder.gradescope.run", str(root)],
                          cwd=root, env=env)
    if not results.exists():
        write_failure(root, f"the grader exited with status {proc.returncode} without results")
    return 0


def main(argv: list[str]) -> int:
    install_only = "--install-only" in argv
    args = [a for a in argv if a != "--install-only"]
    root = Path(args[0] if args else "/autograder").resolve()
    here = Path(__file__).resolve().parent
    try:
        if install_only:
            install(root, find_wheel(here))
            return 0
        lock_down(root)
        changed = open_interpreter(root)
        if changed:
            log("search permission for the sandbox's Python: " + ", ".join(changed))
        lib = install(root, find_wheel(here))
    except Exception as e:  # one clear results.json, never a traceback instead of a grade
        if install_only:
            raise
        write_failure(root, f"{type(e).__name__}: {e}")
        return 0
    return grade(root, lib)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
