#!/usr/bin/env python3
"""One entry point for a fresh machine: `python3 run.py demo` and `python3 run.py test`.

Why a script and not "pip install ... then run": the README's quick start must work with only
Python 3.11 and package-registry access, so this file creates (or refreshes) a virtual
environment in `.venv/`, installs the project into it with its `dev` extra, and then runs the
requested job inside it. It uses the standard library only.

    python3 run.py demo [ARGS...]   # the main job: `mlphys demo` (the whole course loop)
    python3 run.py test [ARGS...]   # the test suite: pytest, extra ARGS are passed through
    python3 run.py mlphys ARGS...   # any other `mlphys` subcommand inside the environment
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MLPHYS_VENV", ROOT / ".venv"))
STAMP = VENV / ".mlphys-install-stamp"


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _install_fingerprint() -> str:
    """Reinstall only when pyproject.toml changes (the package itself is installed editable)."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py may be started by an older python3
        sys.exit(f"mlphys needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not _python().exists():
        print(f"[run.py] creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    fingerprint = _install_fingerprint()
    if not STAMP.exists() or STAMP.read_text() != fingerprint:
        print("[run.py] installing mlphys and its dependencies (first run takes a few minutes)",
              flush=True)
        cmd = [str(_python()), "-m", "pip", "install", "--disable-pip-version-check",
               "--quiet", "-e", f"{ROOT}[dev]"]
        if subprocess.call(cmd) != 0:
            sys.exit("[run.py] installation failed; see pip's message above.")
        STAMP.write_text(fingerprint)
    return _python()


def ensure_chromium() -> None:
    """The class-report test renders the page in headless Chromium (Debian's package: Playwright
    cannot download its own browsers on machines without internet). Installed when missing and
    we may (root with apt-get); otherwise say how."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        print("[run.py] installing Debian's chromium for the browser test", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.call(["apt-get", "update", "-qq"], env=env)
        subprocess.call(["apt-get", "install", "-y", "-qq", "chromium"], env=env,
                        stdout=subprocess.DEVNULL)
    else:
        print("[run.py] chromium is not installed: the class-report browser test will fail; "
              "install it with your package manager (e.g. apt-get install chromium)", flush=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    job, rest = argv[0], argv[1:]
    python = ensure_environment()
    env = dict(os.environ, MPLBACKEND="Agg")
    if job == "test":
        ensure_chromium()
        # the whole suite on two pytest processes, a test file each (module fixtures stay in
        # one process): much of it waits on sandboxes, browsers and Dask; pass -n to change it
        parallel = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in rest) \
            else ["-n", "2", "--dist", "loadfile"]
        code = subprocess.call([str(python), "-m", "pytest", *parallel, *rest], cwd=ROOT, env=env)
        if code == 5:  # pytest: no tests were collected (e.g. a -k filter matched nothing)
            print("[run.py] pytest collected no tests", file=sys.stderr)
            return 0
        return code
    if job == "demo":
        return subprocess.call([str(python), "-m", "autograder.cli", "demo", *rest], env=env)
    if job == "mlphys":
        return subprocess.call([str(python), "-m", "autograder.cli", *rest], env=env)
    print(f"unknown job {job!r}; use 'demo', 'test' or 'mlphys'.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
