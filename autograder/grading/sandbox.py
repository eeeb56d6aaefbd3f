"""Trusted-side API of the sandbox: run a notebook's cells in an isolated process.

Design rule: student code runs in the sandboxed runner process; test code runs in the
trusted grading process; only plain data (see ``protocol``) crosses from the sandbox to it.

Usage::

    with Sandbox(scratch_dir, Limits(cell_timeout=30), slot=worker_index) as sandbox:
        for source in code_cells:
            outcome = sandbox.run_cell(source, on_check=run_tests_for_question)
        sandbox.checkpoint("q9", run_tests_for_question)   # questions never checked
        # inside run_tests_for_question: sandbox.namespace["f"](3) == 9 ...

Public API (contract with the batch layer):

* ``Limits`` (frozen dataclass): ``notebook_timeout``, ``cell_timeout``, ``call_timeout``,
  ``memory_bytes``, ``cpu_seconds``, ``file_size_bytes``, ``open_files``, ``processes``,
  ``output_bytes``; additions: ``interrupt_grace`` (seconds between the interrupt and the
  kill), ``startup_timeout``, ``tmp_bytes`` (size of the private /tmp).
* ``CellOutcome(status, error, output)`` with status ``ok|error|timeout|memory|died``.
  A protocol violation during a cell gives ``error`` with ``"ProtocolError: ..."`` and the
  sandbox is killed (later cells: ``died``). Once the notebook budget is spent, cells return
  ``timeout`` without running.
* ``Sandbox(scratch_dir, limits, slot, preload, mode="auto")``: ``start()``,
  ``run_cell(source, on_check)``, ``checkpoint(question, on_check)``, ``namespace``,
  ``alive()``, ``isolation``, ``close()``, context manager. Additions: ``mode`` (force
  ``"jail"``, ``"userns"`` or ``"basic"``), ``runner_pid`` (host pid of the runner),
  ``startup_seconds``, ``exit_reason``.
* ``RemoteHandle``, ``RemoteError``, ``SandboxTimeout``, ``SandboxDied`` (with ``.reason``)
  and its subclass ``SandboxProtocolError`` (re-exported from ``remote``).

Timing rules: ``cell_timeout`` counts the student's running time of one cell (time spent in
``on_check`` is excluded); ``notebook_timeout`` counts the wall clock of all ``run_cell``
calls, checkpoints included (so a cell that calls ``grader.check`` in an endless loop still
ends); ``call_timeout`` bounds each forwarded operation.

Asynchronous exceptions: a test's SIGALRM timeout (or Ctrl-C) may interrupt a remote call
while it waits; the reply is then drained before the next exchange (the student code is
interrupted) and the sandbox stays usable. Protocol bookkeeping runs with those handlers
held back (``signals_deferred``). An asynchronous exception while a *cell* runs kills the
sandbox (the cell's state is unknown). Exceptions raised by ``on_check`` propagate out of
``run_cell`` after the cell has finished.

Notes for callers:

* ``slot`` is a hint: as root the sandbox leases a slot uid ``62000 + n`` machine-wide
  (``SlotLease``, trying ``n = slot`` first), so concurrent sandboxes of any number of
  batches never share a uid; closing a sandbox kills every leftover process of its uid.
* The scratch dir is chowned to the slot uid and the student can write anything in it
  (including symlinks to anywhere): treat its contents as untrusted afterwards.
* Text printed by student code during a forwarded call is written to the grading
  process's ``sys.stdout`` (for doctest-style tests). Student code sees the arguments a
  hidden test passes to it and may print them: keep that output out of student feedback.
* Values that cross as data: None/bool/int/float/str/complex/bytes, list/tuple, dicts with
  str or plain hashable keys, set/frozenset of plain hashables, numeric/bool ndarrays and
  numpy scalars (exact types only), allow-listed modules (as the grader's own module).
  Everything else (student objects, functions, generators, pandas objects, subclasses of
  the above, values larger than ``protocol.MAX_FRAME_BYTES``) is a ``RemoteHandle``.

Threading: one Sandbox is meant to be driven by one thread; a lock serializes the pipe.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from autograder.grading import jail, protocol
from autograder.grading.remote import (
    RemoteError,
    RemoteHandle,
    RemoteNamespace,
    SandboxDied,
    SandboxProtocolError,
    SandboxTimeout,
    remote_error,
)

__all__ = [
    "CellOutcome", "Limits", "RemoteError", "RemoteHandle", "Sandbox", "SandboxDied",
    "SandboxProtocolError", "SandboxTimeout", "available_mode",
]

SLOT_UID_BASE = 62000
"""Slot ``n`` runs as uid/gid ``62000 + n`` when the grader is root."""

SLOT_COUNT = 1000
"""Slot uids ``62000 .. 62999``; each is leased machine-wide (see ``SlotLease``)."""

SLOT_LEASE_DIR = os.environ.get("MLPHYS_SLOT_DIR", "/run/mlphys/slots")
"""Where the lease files live (root only: slot uids are used only by a root grader)."""

HIDDEN_PACKAGES = ("reference", "autograder")
"""Project packages masked inside the jail (answers and the grader itself)."""

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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
                _kill_uid(lease.uid, host_only=False)
            return lease
        raise SandboxDied(f"no free sandbox slot on this machine ({SLOT_COUNT} in use)")

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.release()


@dataclass(frozen=True)
class Limits:
    """Resource and time limits of one sandbox."""

    notebook_timeout: float = 600.0
    cell_timeout: float = 120.0
    call_timeout: float = 60.0
    memory_bytes: int = 2 * 1024**3
    cpu_seconds: int = 900
    file_size_bytes: int = 64 * 1024**2
    open_files: int = 256
    processes: int = 64
    output_bytes: int = 200_000
    interrupt_grace: float = 2.0
    startup_timeout: float = 60.0
    tmp_bytes: int = 256 * 1024**2


@dataclass
class CellOutcome:
    """Result of one cell (``error``/``output`` are for instructor logs only)."""

    status: Literal["ok", "error", "timeout", "memory", "died"]
    error: str | None
    output: str


# --------------------------------------------------------------------------------------------
# Mode selection
# --------------------------------------------------------------------------------------------


@cache
def _probe(mode: str) -> bool:
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
    if os.geteuid() == 0 and _probe("jail"):
        return "jail"
    if os.geteuid() != 0 and _probe("userns"):
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


def _site_dirs() -> list[str]:
    """site-packages directories of the venv and of the base interpreter."""
    import site
    import sysconfig

    dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    with contextlib.suppress(AttributeError):
        dirs.update(site.getsitepackages())
    return sorted(d for d in dirs if os.path.isdir(d))


def _usable_by_others(executable: str) -> bool:
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
def _runner_site_dirs() -> list[str]:
    """The site-packages dirs the runner adds itself (it starts with ``-S``)."""
    import site

    try:
        dirs = site.getsitepackages()
    except AttributeError:
        dirs = []
    return [d for d in dirs if os.path.isdir(d)]


@cache
def _hide_paths() -> list[str]:
    """Paths masked inside the jail: the project's packages wherever they are installed.

    The editable install's finder points at the repo, which is simply not mounted; a
    regular install would put the packages in site-packages, so those are masked too.
    """
    hidden = []
    for directory in _site_dirs():
        for name in HIDDEN_PACKAGES:
            hidden.append(os.path.join(directory, name))
            hidden.append(os.path.join(directory, name + ".py"))
    return hidden


@cache
def _ro_paths() -> list[str]:
    """System trees bound read-only into the jail (symlinks such as /bin are recreated)."""
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
             sys.base_prefix, sys.prefix]
    real_python = os.path.realpath(sys.executable)
    if not any(real_python.startswith(p.rstrip("/") + "/") for p in paths):
        paths.append(os.path.dirname(os.path.dirname(real_python)))
    return list(dict.fromkeys(paths))


# --------------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------------


def _describe_exit(code: int | None) -> str:
    """Keeper exit code (= runner's, 128+N for signals) -> human text."""
    if code is None:
        return "sandbox process vanished"
    if code == 126 or code == 127:
        return f"sandbox failed to start (status {code})"
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return f"runner killed by {name}"
    if code < 0:
        return f"keeper killed by {signal.Signals(-code).name}"
    return f"runner exited with status {code}"


class Sandbox:
    """One isolated runner process holding one student's notebook state."""

    def __init__(self, scratch_dir: Path, limits: Limits = Limits(), slot: int = 0,
                 preload: Sequence[str] = ("numpy",), mode: str = "auto") -> None:
        self.scratch_dir = Path(scratch_dir).resolve()
        self.limits = limits
        self.slot = int(slot)
        self.preload = tuple(preload)
        self.requested_mode = mode
        self.mode = ""
        self.uid: int | None = None
        self._lease: SlotLease | None = None
        self.runner_pid: int | None = None
        self.startup_seconds: float | None = None
        self.exit_reason: str | None = None
        self._keeper: subprocess.Popen[bytes] | None = None
        self._runtime: str | None = None
        self._to_runner = self._from_runner = self._lifeline = self._pidfd = -1
        self._reader: protocol.FrameReader | None = None
        self._lock = threading.RLock()
        self._state = "new"  # new | idle | running | checkpoint | dead | closed
        self._released: list[int] = []
        self._handles: weakref.WeakValueDictionary[int, RemoteHandle] = (
            weakref.WeakValueDictionary())
        self._notebook_used = 0.0
        self._seq = 0
        self._awaiting: int | None = None  # seq of a request whose reply is still unread
        self._scratch_owner = (os.getuid(), os.getgid())
        self._finalizer: weakref.finalize | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the keeper/jail/runner and wait for the runner's hello."""
        if self._state != "new":
            raise RuntimeError("a Sandbox can only be started once")
        began = time.monotonic()
        self.mode = available_mode() if self.requested_mode == "auto" else self.requested_mode
        if os.geteuid() == 0 and self.mode in ("jail", "basic"):
            if self.mode == "basic" and not _usable_by_others(sys.executable):
                raise SandboxDied(
                    "cannot isolate: no namespaces, and the interpreter is not readable by "
                    "an unprivileged uid (student code will not run as root)")
            self._lease = SlotLease.acquire(self.slot)
            self.uid = self._lease.uid
            info = self.scratch_dir.stat()
            self._scratch_owner = (info.st_uid, info.st_gid)
            self._chown_scratch(self.uid, self.uid)
        self._runtime = self._make_runtime()
        self._spawn()
        try:
            hello = self._read(time.monotonic() + self.limits.startup_timeout)
        except (protocol.FrameTimeoutError, protocol.ProtocolError, SandboxDied) as exc:
            reason = self._startup_failure(exc)
            self.close()
            raise SandboxDied(reason) from None
        if hello.get("op") != "hello":
            self.close()
            raise SandboxProtocolError("runner did not say hello")
        self.runner_pid = self._find_runner_pid()
        self._state = "idle"
        self.startup_seconds = time.monotonic() - began

    def _chown_scratch(self, uid: int, gid: int) -> None:
        """Give the scratch tree to the slot uid (the runner must create files in it); at
        close, give everything in it back to the scratch dir's original owner."""
        with contextlib.suppress(OSError):
            os.lchown(self.scratch_dir, uid, gid)
        for root, dirs, files in os.walk(self.scratch_dir):
            for name in dirs + files:
                with contextlib.suppress(OSError):
                    os.lchown(os.path.join(root, name), uid, gid)

    def _make_runtime(self) -> str:
        """A private temp dir: ``code/`` (runner files), ``root/`` (jail mount point), log."""
        runtime = tempfile.mkdtemp(prefix="mlphys-sandbox-")
        os.chmod(runtime, 0o711)
        code = os.path.join(runtime, "code")
        os.mkdir(code, 0o755)
        here = os.path.dirname(os.path.abspath(__file__))
        shutil.copyfile(os.path.join(here, "runner.py"), os.path.join(code, "runner.py"))
        shutil.copyfile(os.path.join(here, "protocol.py"),
                        os.path.join(code, "mlphys_protocol.py"))
        for name in ("runner.py", "mlphys_protocol.py"):
            os.chmod(os.path.join(code, name), 0o644)
        fonts = matplotlib_cache()
        if fonts is not None:
            shutil.copytree(fonts, os.path.join(code, "mplcache"))
        os.mkdir(os.path.join(runtime, "root"), 0o755)
        return runtime

    def _runner_env(self, home: str) -> dict[str, str]:
        """Minimal environment: nothing of the grader's leaks in."""
        return {
            "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
            "HOME": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/.matplotlib",
            "IPYTHONDIR": "/tmp/.ipython", "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "SHELL": "/bin/sh",
        }

    def _rlimits(self) -> dict[str, int]:
        limits = self.limits
        nproc = limits.processes
        if self.uid is None:  # shared uid: NPROC counts the grader's own processes too
            nproc += len(jail.processes_of_uid(os.getuid()))
        return {
            "RLIMIT_AS": limits.memory_bytes, "RLIMIT_CPU": limits.cpu_seconds,
            "RLIMIT_FSIZE": limits.file_size_bytes, "RLIMIT_NOFILE": limits.open_files,
            "RLIMIT_NPROC": nproc, "RLIMIT_CORE": 0,
        }

    def _spawn(self) -> None:
        """Create the pipes and start the keeper process (see ``jail`` for the tree)."""
        assert self._runtime is not None
        jailed = self.mode in ("jail", "userns")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        life_r, life_w = os.pipe()
        code_dir = os.path.join(self._runtime, "code")
        runner_code = jail.JAIL_CODE if jailed else code_dir
        home = jail.JAIL_HOME if jailed else str(self.scratch_dir)
        runner_cfg = {"fds": [to_r, from_w], "output_bytes": self.limits.output_bytes,
                      "preload": list(self.preload), "mplcache": f"{runner_code}/mplcache",
                      "site_dirs": _runner_site_dirs(),
                      "hidden": [os.path.join(PROJECT_ROOT, n) for n in HIDDEN_PACKAGES]}
        cfg = jail.JailConfig(
            mode=self.mode, python=sys.executable,
            runner_args=["-S", "-E", "-s", "-B", f"{runner_code}/runner.py",
                         json.dumps(runner_cfg)],
            env=self._runner_env(home), scratch=str(self.scratch_dir), code_dir=code_dir,
            root_dir=os.path.join(self._runtime, "root"), workdir=home,
            lifeline_fd=life_r, keep_fds=[to_r, from_w], rlimits=self._rlimits(),
            uid=self.uid, gid=self.uid, ro_paths=_ro_paths(), hide_paths=_hide_paths(),
            tmp_bytes=self.limits.tmp_bytes, outer_uid=os.getuid(), outer_gid=os.getgid())
        # the config goes through stdin, not argv: /proc/1/cmdline is readable in the jail
        config_r, config_w = os.pipe()
        os.write(config_w, cfg.to_json().encode())  # a few KiB: fits in the pipe buffer
        os.close(config_w)
        log = open(os.path.join(self._runtime, "keeper.log"), "wb")  # noqa: SIM115
        try:
            self._keeper = subprocess.Popen(
                [sys.executable, "-I", "-S", jail.__file__],
                stdin=config_r, stdout=log, stderr=log,
                pass_fds=(to_r, from_w, life_r), close_fds=True, cwd=self._runtime)
        finally:
            log.close()
            for fd in (to_r, from_w, life_r, config_r):
                os.close(fd)
        self._to_runner, self._from_runner, self._lifeline = to_w, from_r, life_w
        os.set_blocking(to_w, False)
        os.set_blocking(from_r, False)
        self._pidfd = os.pidfd_open(self._keeper.pid)
        self._reader = protocol.FrameReader(from_r, critical=signals_deferred)
        self._finalizer = weakref.finalize(self, _emergency_cleanup, self._keeper,
                                           life_w, self._runtime)

    def _startup_failure(self, exc: BaseException) -> str:
        """Why the runner never said hello (tail of the keeper's log)."""
        log = ""
        if self._runtime:
            with contextlib.suppress(OSError), open(
                    os.path.join(self._runtime, "keeper.log"), "rb") as handle:
                log = handle.read()[-4000:].decode("utf-8", "replace")
        return f"sandbox failed to start ({type(exc).__name__}: {exc}): {log.strip()}"

    def _find_runner_pid(self) -> int:
        """Host pid of the runner: keeper -> (init ->) runner."""
        assert self._keeper is not None
        pid = self._keeper.pid
        for _ in range(2 if self.mode in ("jail", "userns") else 1):
            kids = jail.children(pid)
            if len(kids) != 1:
                raise SandboxDied(f"unexpected process tree under {pid}: {kids}")
            pid = kids[0]
        return pid

    def alive(self) -> bool:
        """True while the runner can take cells and requests."""
        if self._state in ("new", "dead", "closed"):
            return False
        code = self._reap(0)
        if code is not None:
            self._mark_dead(_describe_exit(code))
            return False
        return True

    def _reap(self, timeout: float | None) -> int | None:
        """The keeper's exit code once it has exited (waiting up to ``timeout``), else None.

        Why not ``Popen.wait``/``poll``: they hold an internal lock that an asynchronous
        exception (a test's alarm) can leave locked forever; pidfd + waitpid hold none.
        """
        keeper = self._keeper
        if keeper is None or keeper.returncode is not None:
            return None if keeper is None else keeper.returncode
        if self._pidfd >= 0:
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if not ready:
                return None
        try:
            pid, status = os.waitpid(keeper.pid, 0 if self._pidfd >= 0 else os.WNOHANG)
        except ChildProcessError:
            return keeper.returncode
        if pid == 0:
            return None
        keeper.returncode = os.waitstatus_to_exitcode(status)
        return keeper.returncode

    @property
    def isolation(self) -> str:
        """Which protections are active, e.g. ``uid+pidns+netns+mountns+rlimits``."""
        if self.mode == "jail":
            return "uid+pidns+netns+mountns+ipcns+utsns+rlimits+no_new_privs"
        if self.mode == "userns":
            return "userns+pidns+netns+mountns+ipcns+utsns+rlimits+no_new_privs (no slot uid)"
        if self.mode == "basic":
            base = "rlimits+session+subreaper+scrubbed-env"
            extra = "uid+" if self.uid is not None else ""
            return (f"{extra}{base} (WEAK: no namespaces, the file system and network are "
                    "visible to student code)")
        return "not started"

    def close(self) -> None:
        """Kill the whole process tree and remove the runtime dir (idempotent)."""
        if self._state == "closed":
            return
        if self._state != "dead":
            self._mark_dead("sandbox closed")
        self._state = "closed"
        self._terminate()
        if self.uid is not None:
            # the lease is exclusive machine-wide: any process of this uid is ours to kill
            _kill_uid(self.uid, host_only=False)
            self._chown_scratch(*self._scratch_owner)
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        for fd in (self._to_runner, self._from_runner, self._pidfd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_runner = self._from_runner = self._pidfd = -1
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._runtime:
            shutil.rmtree(self._runtime, ignore_errors=True)
            self._runtime = None

    def _terminate(self) -> None:
        """Close the lifeline (the keeper kills init: the kernel kills the namespace)."""
        if self._lifeline >= 0:
            with contextlib.suppress(OSError):
                os.close(self._lifeline)
            self._lifeline = -1
        keeper = self._keeper
        if keeper is None or self._reap(5) is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(keeper.pid, signal.SIGKILL)
        self._reap(None)

    def _mark_dead(self, reason: str) -> None:
        if self._state not in ("dead", "closed"):
            self._state = "dead"
            self.exit_reason = reason

    def _kill(self, reason: str) -> None:
        """Kill the sandbox now (timeouts, protocol errors); keep the reason."""
        self._mark_dead(reason)
        self._terminate()

    def __enter__(self) -> Sandbox:
        if self._state == "new":
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- pipe I/O ---------------------------------------------------------------------------
    def _died(self) -> None:
        """Called when the keeper exited while we waited for a frame."""
        raise SandboxDied(_describe_exit(self._reap(None)))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _read(self, deadline: float, seq: int | None = None) -> dict[str, Any]:
        """Next frame; ``FrameTimeoutError``; ``SandboxDied`` if the sandbox is gone.

        ``seq``: the sequence number the frame must carry (a stray or replayed frame is a
        protocol error rather than an answer to the wrong question).
        """
        assert self._reader is not None
        try:
            message = self._reader.read(deadline, extra_fd=self._pidfd, on_extra=self._died,
                                        on_frame=self._consumed)
            if seq is not None and message.get("seq") != seq:
                raise protocol.ProtocolError("frame out of sequence")
            return message
        except protocol.PeerClosedError:
            raise SandboxDied(_describe_exit(self._reap(2))) from None

    def _consumed(self, message: dict[str, Any]) -> None:
        """A frame was taken off the pipe (runs with signal handlers held back)."""
        if self._awaiting is not None and message.get("seq") == self._awaiting:
            self._awaiting = None

    def _write(self, message: dict[str, Any], deadline: float,
               expect_reply: bool = False) -> None:
        """Write a whole frame with signal handlers held back (a half frame is fatal).

        ``expect_reply``: remember, in the same uninterruptible step, that a reply with this
        frame's ``seq`` is now owed to us (see ``_recover``).
        """
        try:
            with signals_deferred():
                protocol.write_frame(self._to_runner, message, deadline)
                if expect_reply:
                    self._awaiting = message["seq"]
        except protocol.PeerClosedError:
            self._died()
        except protocol.FrameTimeoutError:
            raise SandboxDied("the runner stopped reading its requests") from None

    def _interrupt(self) -> None:
        """SIGINT the runner: KeyboardInterrupt in the student code it is running."""
        if self.runner_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.runner_pid, signal.SIGINT)

    def _fail(self, exc: BaseException) -> SandboxDied:
        """Turn a pipe failure into the right ``SandboxDied`` and make sure it is dead."""
        if (isinstance(exc, protocol.ProtocolError)
                and not isinstance(exc, protocol.PeerClosedError)):
            reason = f"protocol error: {exc}"
            self._kill(reason)
            return SandboxProtocolError(reason)
        reason = exc.reason if isinstance(exc, SandboxDied) else str(exc)
        self._kill(reason)
        return SandboxDied(reason)

    # -- cells ------------------------------------------------------------------------------
    def run_cell(self, source: str, on_check: Callable[[str], None] | None = None
                 ) -> CellOutcome:
        """Run one code cell; ``grader.check(q)`` inside it calls ``on_check(q)`` mid-cell."""
        with self._lock:
            if not self.alive():
                return CellOutcome("died", self.exit_reason, "")
            if self._state != "idle":
                raise RuntimeError(f"run_cell while the sandbox is {self._state}")
            started = time.monotonic()
            budget = self.limits.notebook_timeout - self._notebook_used
            if budget <= 0:
                return CellOutcome("timeout", "notebook time limit exceeded", "")
            try:
                self._recover()
                return self._run_cell(source, on_check, started, budget)
            except SandboxDied as exc:
                return CellOutcome("died", exc.reason, "")
            except Exception:
                raise
            except BaseException:  # interrupted while the cell ran: the exchange is lost
                if self._state in ("running", "checkpoint"):
                    self._kill("interrupted by the grader while a cell was running")
                raise
            finally:
                self._notebook_used += time.monotonic() - started

    def _run_cell(self, source: str, on_check: Callable[[str], None] | None,
                  started: float, budget: float) -> CellOutcome:
        notebook_deadline = started + budget
        cell_deadline = started + self.limits.cell_timeout
        pending: BaseException | None = None
        try:
            seq = self._next_seq()
            self._state = "running"
            self._write({"op": "cell", "source": source, "seq": seq},
                        started + self.limits.call_timeout)
            while True:
                deadline = min(cell_deadline, notebook_deadline)
                try:
                    message = self._read(deadline, seq)
                except protocol.FrameTimeoutError:
                    which = ("cell" if cell_deadline <= notebook_deadline else "notebook")
                    return self._interrupt_cell(which, seq)
                op = message.get("op")
                if op == "check":
                    paused = time.monotonic()
                    error = self._serve_check(message, on_check)
                    pending = pending or error
                    cell_deadline += time.monotonic() - paused
                elif op == "cell_done":
                    outcome = self._cell_outcome(message)
                    self._state = "idle"
                    break
                else:
                    raise protocol.ProtocolError(f"unexpected {op!r} during a cell")
        except (protocol.ProtocolError, SandboxDied) as exc:
            died = self._fail(exc)
            if isinstance(died, SandboxProtocolError):
                return CellOutcome("error", f"ProtocolError: {died.reason}", "")
            if "SIGXCPU" in died.reason:  # RLIMIT_CPU: a time limit, not a crash
                return CellOutcome("timeout", f"CPU time limit exceeded ({died.reason})", "")
            return CellOutcome("died", died.reason, "")
        if pending is not None:
            raise pending
        return outcome

    def _serve_check(self, message: dict[str, Any],
                     on_check: Callable[[str], None] | None) -> BaseException | None:
        """A mid-cell checkpoint: run ``on_check`` with the namespace live, then resume."""
        question = message.get("q")
        if type(question) is not str or len(question) > 200:
            raise protocol.ProtocolError("malformed check message")
        error = None
        if on_check is not None:
            self._state = "checkpoint"
            try:
                on_check(question)
            except BaseException as exc:  # re-raised once the cell has finished
                error = exc
        if not self.alive():
            raise SandboxDied(self.exit_reason or "sandbox died during a checkpoint")
        self._recover()
        self._state = "running"
        self._write({"op": "resume"}, time.monotonic() + self.limits.call_timeout)
        return error

    def _cell_outcome(self, message: dict[str, Any]) -> CellOutcome:
        """Validate a ``cell_done`` message (untrusted) into a CellOutcome."""
        status, error, output = message.get("status"), message.get("error"), message.get("output")
        if status not in ("ok", "error", "memory") or type(output) is not str or not (
                error is None or type(error) is str):
            raise protocol.ProtocolError("malformed cell_done message")
        return CellOutcome(status, None if error is None else _clean(error, protocol.MAX_TEXT),
                           _clean(output, self.limits.output_bytes))

    def _interrupt_cell(self, which: str, seq: int) -> CellOutcome:
        """Cell over time: interrupt, give it ``interrupt_grace`` to stop, else kill."""
        limit = self.limits.cell_timeout if which == "cell" else self.limits.notebook_timeout
        self._interrupt()
        deadline = time.monotonic() + self.limits.interrupt_grace
        while True:
            try:
                message = self._read(deadline, seq)
            except protocol.FrameTimeoutError:
                self._kill(f"{which} time limit ({limit:g} s) exceeded; killed")
                return CellOutcome("timeout", f"{which} time limit ({limit:g} s) exceeded; "
                                   "the sandbox did not stop and was killed", "")
            except (protocol.ProtocolError, SandboxDied) as exc:
                self._fail(exc)
                return CellOutcome("timeout", f"{which} time limit ({limit:g} s) exceeded", "")
            if message.get("op") == "check":  # no tests now: let it run into the interrupt
                self._write({"op": "resume"}, deadline)
                continue
            if message.get("op") == "cell_done" and type(message.get("output")) is str:
                self._state = "idle"
                return CellOutcome("timeout", f"{which} time limit ({limit:g} s) exceeded "
                                   "(interrupted)", _clean(message["output"],
                                                          self.limits.output_bytes))
            self._fail(protocol.ProtocolError("unexpected message after an interrupt"))
            return CellOutcome("timeout", f"{which} time limit ({limit:g} s) exceeded", "")

    def checkpoint(self, question: str, on_check: Callable[[str], None]) -> None:
        """Between cells: run ``on_check(question)`` with the namespace live."""
        with self._lock:
            if self._state not in ("idle", "dead", "closed"):
                raise RuntimeError(f"checkpoint while the sandbox is {self._state}")
            on_check(question)

    # -- namespace and remote objects -------------------------------------------------------
    @property
    def namespace(self) -> Mapping[str, Any]:
        """Lazy view of the student's globals as they are now (see ``RemoteNamespace``)."""
        return RemoteNamespace(self)

    def _release(self, handle_id: int) -> None:
        """A RemoteHandle was garbage-collected: tell the runner with the next request."""
        self._released.append(handle_id)

    def _make_handle(self, handle_id: int, type_name: str, flags: frozenset[str]) -> Any:
        handle = self._handles.get(handle_id)
        if handle is None:
            handle = RemoteHandle(self, handle_id, type_name, flags)
            self._handles[handle_id] = handle
        return handle

    def _encode_arg(self, value: Any) -> Any:
        """Arguments of forwarded calls: plain data or handles of THIS sandbox."""
        def handle_for(obj: Any) -> dict[str, Any]:
            if isinstance(obj, RemoteHandle) and obj._sandbox is self:
                return {"$": "handle", "id": obj._id, "type": "", "flags": []}
            raise TypeError(f"cannot pass a {type(obj).__name__} into the sandbox "
                            "(only plain data and its own remote objects)")

        def module_name(obj: Any) -> str | None:
            name = obj.__name__ if isinstance(obj, types.ModuleType) else None
            return name if name in protocol.MODULE_ALLOWLIST else None

        try:
            return protocol.encode_value(value, handle_for, module_name)
        except protocol.TooBigError:
            raise ValueError("argument too large to send to the sandbox") from None

    def _decode(self, value: Any) -> Any:
        return protocol.decode_value(value, self._make_handle, _import_allowed)

    def _request(self, message: dict[str, Any], encode: tuple[str, ...] = (),
                 missing_key: str | None = None) -> Any:
        """One forwarded operation: send, wait ``call_timeout``, decode the reply."""
        with self._lock:
            if not self.alive():
                raise SandboxDied(self.exit_reason or "sandbox is not running")
            if self._state not in ("idle", "checkpoint"):
                raise RuntimeError("the student namespace is only available between cells "
                                   "and during on_check")
            for key in encode:
                message[key] = self._encode_arg(message[key])
            try:
                self._recover()
                if self._released:
                    message["rel"], self._released = self._released, []
                seq = message["seq"] = self._next_seq()
                deadline = time.monotonic() + self.limits.call_timeout
                self._write(message, deadline, expect_reply=True)
                try:
                    reply = self._read(deadline, seq)
                except protocol.FrameTimeoutError:
                    self._interrupt_call(seq)
                    raise SandboxTimeout(f"remote {message['op']} exceeded "
                                         f"{self.limits.call_timeout:g} s") from None
                return self._reply_value(reply, missing_key)
            except (protocol.ProtocolError, SandboxDied) as exc:
                raise self._fail(exc) from None

    def _recover(self) -> None:
        """Catch up after an abandoned exchange (see ``signals_deferred``).

        If an asynchronous exception (a test's alarm) left while a reply was still owed,
        interrupt the student code and read that reply before anything else; if it does
        not come within ``interrupt_grace``, kill the sandbox.
        """
        if self._awaiting is None:
            return
        self._interrupt()
        deadline = time.monotonic() + self.limits.interrupt_grace
        while self._awaiting is not None:
            owed = self._awaiting
            try:
                self._read(deadline, owed)
            except protocol.FrameTimeoutError:
                self._kill("an abandoned remote call did not stop; killed")
                raise SandboxDied("an abandoned remote call did not stop; killed") from None

    def _interrupt_call(self, seq: int) -> None:
        """A forwarded call hung: interrupt; if no reply within the grace, kill."""
        self._interrupt()
        try:
            while self._awaiting == seq:
                self._read(time.monotonic() + self.limits.interrupt_grace, seq)
        except protocol.FrameTimeoutError:
            self._kill(f"remote call exceeded {self.limits.call_timeout:g} s; killed")
        except (protocol.ProtocolError, SandboxDied) as exc:
            self._fail(exc)

    def _reply_value(self, reply: dict[str, Any], missing_key: str | None) -> Any:
        """Turn a reply into a value, RemoteError, StopIteration or KeyError."""
        op = reply.get("op")
        out = reply.get("out", "")
        if type(out) is not str:
            raise protocol.ProtocolError("output must be a string")
        if out:
            sys.stdout.write(_clean(out, self.limits.output_bytes))
        if op == "ok" and "value" in reply:
            return self._decode(reply["value"])
        if op == "stop":
            raise StopIteration
        if op == "missing" and missing_key is not None:
            raise KeyError(missing_key)
        if op == "raise":
            type_name = reply.get("type")
            message = reply.get("message")
            module = reply.get("module", "")
            base = reply.get("base", "")
            if not all(type(v) is str for v in (type_name, message, module, base)):
                raise protocol.ProtocolError("malformed error reply")
            raise remote_error(_clean(type_name, 200), _clean(message, protocol.MAX_TEXT),
                               _clean(module, 200), _clean(base, 200))
        raise protocol.ProtocolError(f"unexpected reply {op!r}")


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold back Python signal handlers (a test's SIGALRM timeout, Ctrl-C) for a moment.

    Why: a Python signal handler that raises can interrupt any bytecode. Half-way through
    writing a frame or consuming bytes from the pipe, that would corrupt the conversation
    with the runner; waiting, by contrast, is safe to interrupt (see ``Sandbox._recover``).

    How: the handlers of ``_DEFERRED_SIGNALS`` are swapped for a recorder, and whatever
    arrived is replayed through the real handlers afterwards. (Masking with
    pthread_sigmask is not enough: NumPy's BLAS threads would still receive the signal and
    the interpreter would run the handler in the main thread anyway.) Python runs signal
    handlers only in the main thread, so other threads need no protection.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[tuple[int, Any]] = []

    def record(signum: int, frame: Any) -> None:
        arrived.append((signum, frame))

    saved: dict[int, Any] = {}
    try:
        for signum in _DEFERRED_SIGNALS:
            handler = signal.getsignal(signum)
            if callable(handler):
                saved[signum] = handler
                signal.signal(signum, record)
        yield
    finally:
        _restore_handlers(saved)
    for signum, frame in arrived:
        saved[signum](signum, frame)


def _restore_handlers(saved: dict[int, Any]) -> None:
    """Put every handler back, even if a signal's real handler raises meanwhile."""
    pending = list(saved.items())

    def restore_from(index: int) -> None:
        if index < len(pending):
            try:
                restore_from(index + 1)
            finally:
                signal.signal(*pending[index])

    restore_from(0)


_DEFERRED_SIGNALS = (signal.SIGALRM, signal.SIGINT, signal.SIGTERM)


def _import_allowed(name: str) -> Any:
    """The trusted process's own import of an allow-listed module."""
    if name not in protocol.MODULE_ALLOWLIST:
        raise protocol.ProtocolError(f"module {name!r} is not allow-listed")
    return importlib.import_module(name)


def _clean(text: str, limit: int) -> str:
    """Untrusted text: cut to ``limit`` UTF-8 bytes, lone surrogates replaced."""
    raw = text.encode("utf-8", "replace")
    if len(raw) > limit:
        raw = raw[:limit]
    return raw.decode("utf-8", "ignore")


def _pid_namespace(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _kill_uid(uid: int, host_only: bool) -> None:
    """Kill every process of ``uid`` (a helper running as that uid calls kill(-1, SIGKILL)).

    In jail mode the PID namespace kill has already ended everything; a process of the
    uid still in the grader's own PID namespace would be an escapee, and those are killed
    one by one (``host_only``): processes of the same uid inside another live sandbox's
    namespace (a caller that reused a slot) are left alone. In basic mode this is the main
    way to get setsid'd daemons.
    """
    if host_only:
        host = _pid_namespace("self")
        for _ in range(20):
            escaped = [p for p in jail.processes_of_uid(uid) if _pid_namespace(p) == host]
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


def _emergency_cleanup(keeper: subprocess.Popen[bytes], lifeline: int, runtime: str) -> None:
    """Garbage-collected without close(): kill the keeper and drop the runtime dir."""
    with contextlib.suppress(OSError):
        os.close(lifeline)
    with contextlib.suppress(OSError):
        keeper.kill()
    with contextlib.suppress(Exception):
        keeper.wait(timeout=5)
    shutil.rmtree(runtime, ignore_errors=True)
