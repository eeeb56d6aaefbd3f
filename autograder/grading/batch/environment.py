"""A cached virtual environment with an autograder's requirements, for the sandboxes.

Why: ``mlphys grade --install-requirements`` grades an assignment whose zip asks for packages
the grader lacks (see ``otter.requirements``) the way Otter's image would, without touching the
grader's own environment: the requirements are installed once into a virtual environment kept
in a cache directory and keyed by their hash, and reused by every later batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autograder.grading.otter.requirements import (
    Requirements,
    RequirementsError,
    grader_site_dirs,
    missing,
)

READY_MARK = ".mlphys-env-ready"
ENV_CACHE_VARIABLE = "MLPHYS_ENV_CACHE"


def default_cache_root() -> Path:
    """Where built environments live: ``$MLPHYS_ENV_CACHE``, else a directory that the
    sandbox's unprivileged uid can read (``/var/cache/mlphys/envs`` for root, whose home is
    private; ``~/.cache/mlphys/envs`` otherwise)."""
    override = os.environ.get(ENV_CACHE_VARIABLE)
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return Path("/var/cache/mlphys/envs")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "mlphys" / "envs"


@dataclass
class BuiltEnvironment:
    """A virtual environment holding an autograder's requirements."""

    path: Path
    site_dirs: list[str]
    """its site-packages first, then the grader's (what a sandbox puts on ``sys.path``)"""
    reused: bool
    seconds: float = 0.0
    installed: list[str] = field(default_factory=list)


def environment_key(requirements: Requirements, base_dirs: Sequence[str]) -> str:
    """Cache key: the requirements' digest, the interpreter and the grader environment."""
    text = "\n".join([requirements.digest, sys.version, sys.executable, *base_dirs])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _venv_site(path: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(path), "platbase": str(path)}))


def build_environment(requirements: Requirements, cache_root: str | Path | None = None, *,
                      progress: Callable[[str], None] | None = None,
                      pip_args: Iterable[str] = ()) -> BuiltEnvironment:
    """A virtual environment with ``requirements`` installed, built once per key and reused.

    The environment sees the grader's packages after its own (a ``.pth`` file), so pip installs
    only what is missing or needs another version, and the sandbox gets IPython and NumPy from
    the grader. It is built in a temporary directory and renamed into place when complete, so
    concurrent graders never use a half-built one. ``progress`` receives one line per step
    (pip's "Collecting ..." lines while it installs). Raises :class:`RequirementsError`.
    """
    say = progress or (lambda line: None)
    if requirements.unreadable:
        raise RequirementsError("cannot install requirements that are not package names: "
                                + ", ".join(requirements.unreadable))
    base = grader_site_dirs()
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    target = root / environment_key(requirements, base)
    site = _venv_site(target)
    if (target / READY_MARK).exists():
        return BuiltEnvironment(target, [str(site), *base], reused=True)
    began = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        venv.EnvBuilder(with_pip=False, symlinks=True).create(work)
        work_site = _venv_site(work)
        (work_site / "_mlphys_grader_site.pth").write_text("\n".join(base) + "\n")
        names = ", ".join(requirements.lines) or "nothing"
        say(f"building the autograder's environment in {target} ({names})")
        lines = _run_pip(work, requirements.lines, list(pip_args), say)
        gaps = missing(requirements, [str(work_site), *base])
        if gaps:
            raise RequirementsError("after installing, still missing: " + ", ".join(gaps))
        (work / READY_MARK).write_text(requirements.digest + "\n")
        _make_readable(work)
        try:
            os.rename(work, target)
        except OSError:  # another grader finished the same environment first
            if not (target / READY_MARK).exists():
                raise
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    seconds = time.monotonic() - began
    say(f"environment ready ({seconds:.0f} s)")
    return BuiltEnvironment(target, [str(site), *base], reused=False, seconds=seconds,
                            installed=lines)


def _run_pip(env: Path, lines: Sequence[str], pip_args: list[str],
             say: Callable[[str], None]) -> list[str]:
    """``pip install`` into ``env`` (pip itself comes from the grader's site-packages)."""
    if not lines:
        return []
    python = env / "bin" / "python"
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check",
               "--no-input", "--progress-bar", "off", *pip_args, *lines]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True,
                               env=dict(os.environ, PIP_REQUIRE_VIRTUALENV="0"))
    tail: list[str] = []
    installed: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-5:]
        if line.startswith(("Collecting ", "Processing ", "Installing collected packages",
                            "Successfully installed")):
            say(line)
        if line.startswith("Successfully installed "):
            installed = line.split()[2:]
    if process.wait() != 0:
        detail = next((t for t in reversed(tail) if t.startswith("ERROR")), tail[-1] if tail else "")
        raise RequirementsError(f"pip could not install the autograder's requirements: {detail}")
    return installed


def _make_readable(path: Path) -> None:
    """The sandbox runs as another uid: every file readable, every directory searchable."""
    for root, dirs, files in os.walk(path):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            full = os.path.join(root, name)
            with contextlib.suppress(OSError):
                if not os.path.islink(full):
                    mode = os.stat(full).st_mode
                    os.chmod(full, (mode | 0o444 | (0o111 if mode & 0o100 else 0)) & 0o7777)
    os.chmod(path, 0o755)
