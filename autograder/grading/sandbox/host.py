"""The host side of sandboxes: what one machine's sandboxes share and how they are cleaned up.

Slot uids and their machine-wide leases, the strongest isolation mode this machine supports,
the paths bound into or masked in the jail, the warmed matplotlib font cache, and killing every
process of a slot uid. Trusted code only; nothing here runs inside a sandbox.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

from autograder.grading.sandbox import jail
from autograder.grading.sandbox.remote import SandboxDied

SLOT_UID_BASE = 62000
"""Slot ``n`` runs as uid/gid ``62000 + n`` when the grader is root."""

SLOT_COUNT = 1000
"""Slot uids ``62000 .. 62999``; each is leased machine-wide (see ``SlotLease``)."""

SLOT_LEASE_DIR = os.environ.get("MLPHYS_SLOT_DIR", "/run/mlphys/slots")
"""Where the lease files live (root only: slot uids are used only by a root grader)."""

HIDDEN_PACKAGES = ("reference", "autograder")
"""Project packages masked inside the jail (answers and the grader itself)."""

RUNNER_FILES = (("runner.py", "runner.py"), ("channel.py", "mlphys_channel.py"),
                ("values.py", "mlphys_values.py"), ("richvalues.py", "mlphys_richvalues.py"))
"""What is copied into the sandbox: the runner program and the two modules it imports, renamed
so that nothing in the jail looks like the project's package."""

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
"""The repository (never mounted in the jail, never put on the runner's sys.path)."""


class SlotLease:
    """A machine-wide, exclusive claim on one slot uid for as long as this object lives.

    Why: every ``mlphys grade`` on a machine (two TAs, a CI job beside a TA) draws from the same
    uids, and per-uid limits such as ``RLIMIT_NPROC`` are shared by every process of a uid, so
    two live sandboxes on one uid would let one's fork bomb starve the other. A lease is an
    ``flock`` on ``SLOT_LEASE_DIR/<n>``: exclusive per open file (also within one process),
    and dropped by the kernel when its holder dies, so a ``kill -9`` never leaks a slot.
    The fd is close-on-exec: no child (keeper, runner) can keep a lease alive.
    """

    def __init__(self, index: int, fd: int) -> None:
        self.index = index
        self.uid = SLOT_UID_BASE + index
        self._fd = fd

    @classmethod
    def acquire(cls, preferred: int = 0) -> SlotLease:
        """The first free slot, trying ``preferred`` first; sweeps leftovers of its uid."""
        import fcntl

        os.makedirs(SLOT_LEASE_DIR, mode=0o700, exist_ok=True)
        start = preferred % SLOT_COUNT
        for index in [start, *range(SLOT_COUNT)]:
            fd = os.open(os.path.join(SLOT_LEASE_DIR, str(index)),
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            lease = cls(index, fd)
            if jail.processes_of_uid(lease.uid):  # leftovers of a holder that died
                kill_uid(lease.uid, host_only=False)
            return lease
        raise SandboxDied(f"no free sandbox slot on this machine ({SLOT_COUNT} in use)")

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.release()


# --------------------------------------------------------------------------------------------
# One sandbox's files and environment
# --------------------------------------------------------------------------------------------


def make_runtime_dir() -> str:
    """A private temp dir: ``code/`` (runner files), ``root/`` (jail mount point), log."""
    runtime = tempfile.mkdtemp(prefix="mlphys-sandbox-")
    os.chmod(runtime, 0o711)
    code = os.path.join(runtime, "code")
    os.mkdir(code, 0o755)
    here = os.path.dirname(os.path.abspath(__file__))
    for source, name in RUNNER_FILES:
        shutil.copyfile(os.path.join(here, source), os.path.join(code, name))
        os.chmod(os.path.join(code, name), 0o644)
    fonts = matplotlib_cache()
    if fonts is not None:
        shutil.copytree(fonts, os.path.join(code, "mplcache"))
    os.mkdir(os.path.join(runtime, "root"), 0o755)
    return runtime


def runner_env(home: str) -> dict[str, str]:
    """Minimal environment: nothing of the grader's leaks in."""
    return {
        "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/.matplotlib",
        "IPYTHONDIR": "/tmp/.ipython", "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "SHELL": "/bin/sh",
    }


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give a scratch tree to the slot uid (the runner must create files in it), or back to
    its original owner at close: any depth, symlinks themselves and never what they point
    to, hard-linked files left alone (see ``untrusted_tree``)."""
    from autograder.grading.sandbox.untrusted_tree import chown_tree as chown_untrusted

    chown_untrusted(path, uid, gid)


# --------------------------------------------------------------------------------------------
# Mode selection
# --------------------------------------------------------------------------------------------


@cache
def probe(mode: str) -> bool:
    """Can this machine build a jail of ``mode``? (one short-lived process, cached)"""
    flags = jail.CLONE_NEWPID | jail.CLONE_NEWNET | jail.CLONE_NEWIPC | jail.CLONE_NEWUTS
    script = (
        "import os, sys\n"
        f"sys.path.insert(0, {os.path.dirname(jail.__file__)!r})\n"
        "import jail as j\n"
        f"if {mode == 'userns'!r}: j.enter_user_namespace(0, {os.getuid()}, {os.getgid()})\n"
        f"j.unshare({flags})\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    try:\n"
        "        j.unshare(j.CLONE_NEWNS); j.mount(None, '/', None, j.MS_REC | j.MS_PRIVATE)\n"
        "        j.mount('tmpfs', '/tmp', 'tmpfs', 0, 'size=4k')\n"
        "    except BaseException: os._exit(1)\n"
        "    os._exit(0)\n"
        "sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    try:
        result = subprocess.run([sys.executable, "-I", "-S", "-c", script],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def available_mode() -> str:
    """Strongest isolation available here: ``jail`` (root), ``userns`` or ``basic``."""
    if os.geteuid() == 0 and probe("jail"):
        return "jail"
    if os.geteuid() != 0 and probe("userns"):
        return "userns"
    return "basic"


@cache
def matplotlib_cache() -> str | None:
    """A warmed matplotlib config dir (its font list), built once per machine and version.

    Why: a fresh MPLCONFIGDIR makes every sandbox rebuild the font cache on its first
    ``import matplotlib.pyplot`` (~0.35 s here). The runner copies these files into its
    private /tmp before any student code runs. Returns None if it cannot be built.
    """
    import importlib.metadata
    import importlib.util

    try:
        if importlib.util.find_spec("matplotlib") is None:
            return None
        version = importlib.metadata.version("matplotlib")
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlphys"
        target = root / f"matplotlib-{version}"
        if (target / "ready").exists():
            return str(target)
        root.mkdir(parents=True, exist_ok=True)
        work = tempfile.mkdtemp(dir=root)
        subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"],
                       env={"MPLCONFIGDIR": work, "HOME": work, "PATH": os.defpath,
                            "MPLBACKEND": "Agg"}, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                       check=True)
        for entry in os.listdir(work):
            if not entry.endswith(".json"):
                shutil.rmtree(os.path.join(work, entry), ignore_errors=True)
        Path(work, "ready").touch()
        os.chmod(work, 0o755)
        try:
            os.rename(work, target)
        except OSError:  # another process won the race
            shutil.rmtree(work, ignore_errors=True)
        return str(target) if (target / "ready").exists() else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def site_dirs() -> list[str]:
    """site-packages directories of the venv and of the base interpreter."""
    import site
    import sysconfig

    dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    with contextlib.suppress(AttributeError):
        dirs.update(site.getsitepackages())
    return sorted(d for d in dirs if os.path.isdir(d))


def usable_by_others(executable: str) -> bool:
    """Can an unrelated uid run this interpreter (every directory on the way searchable)?"""
    import stat

    paths = {os.path.realpath(executable), sys.prefix, sys.base_prefix}
    for path in paths:
        current = path
        while True:
            try:
                mode = os.stat(current).st_mode
            except OSError:
                return False
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                return False
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
    return True


@cache
def runner_site_dirs() -> list[str]:
    """The site-packages dirs the runner adds itself (it starts with ``-S``)."""
    import site

    try:
        dirs = site.getsitepackages()
    except AttributeError:
        dirs = []
    return [d for d in dirs if os.path.isdir(d)]


@cache
def hide_paths() -> list[str]:
    """Paths masked inside the jail: the project's packages wherever they are installed.

    The editable install's finder points at the repo, which is simply not mounted; a
    regular install would put the packages in site-packages, so those are masked too.
    """
    hidden = []
    for directory in site_dirs():
        for name in HIDDEN_PACKAGES:
            hidden.append(os.path.join(directory, name))
            hidden.append(os.path.join(directory, name + ".py"))
    return hidden


@cache
def ro_paths() -> list[str]:
    """System trees bound read-only into the jail (symlinks such as /bin are recreated)."""
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
             sys.base_prefix, sys.prefix]
    real_python = os.path.realpath(sys.executable)
    if not any(real_python.startswith(p.rstrip("/") + "/") for p in paths):
        paths.append(os.path.dirname(os.path.dirname(real_python)))
    return list(dict.fromkeys(paths))



def pid_namespace(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def kill_uid(uid: int, host_only: bool) -> None:
    """Kill every process of ``uid`` (a helper running as that uid calls kill(-1, SIGKILL)).

    In jail mode the PID namespace kill has already ended everything; a process of the
    uid still in the grader's own PID namespace would be an escapee, and those are killed
    one by one (``host_only``): processes of the same uid inside another live sandbox's
    namespace (a caller that reused a slot) are left alone. In basic mode this is the main
    way to get setsid'd daemons.
    """
    if host_only:
        host = pid_namespace("self")
        for _ in range(20):
            escaped = [p for p in jail.processes_of_uid(uid) if pid_namespace(p) == host]
            if not escaped:
                return
            for pid in escaped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        return
    for _ in range(20):
        if not jail.processes_of_uid(uid):
            return
        subprocess.run([sys.executable, "-I", "-S", "-c",
                        "import os, signal\ntry: os.kill(-1, signal.SIGKILL)\n"
                        "except ProcessLookupError: pass"],
                       user=uid, group=uid, extra_groups=[], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        time.sleep(0.01)

