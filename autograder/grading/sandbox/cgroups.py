"""A memory + pids control group per sandbox: limits for the sandbox as a whole.

Why: ``RLIMIT_AS`` bounds one process, so a notebook that forks 30 children of 1.9 GiB each
held 4.2 GiB against a "2 GiB" limit (issue 8). A control group counts every process of the
sandbox together: memory (anonymous memory, page cache and the sandbox's tmpfs files) and the
number of tasks. When the group runs out of memory the kernel kills a process *in the group*
(never the grader) and counts it, so the grader can report ``memory`` instead of "kernel died".

Where: below the grader's own cgroup in each hierarchy (``/proc/self/cgroup``), never at the
root: a grader that runs inside a limited service or CI job keeps its sandboxes inside that
job's limits, and nothing outside our own subtree is touched. cgroup v2 is used when the
unified hierarchy offers both controllers (a delegated subtree: ``memory`` and ``pids`` enabled
in our cgroup's ``cgroup.subtree_control``); otherwise cgroup v1's ``memory`` and ``pids``
hierarchies (these machines). No writable hierarchy (unprivileged, or a container without
them): ``SandboxCgroup.create`` returns None and the sandbox says which limits are per process.

A grading worker's own group (``mlphys-w<n>-...``, see ``executors.local``) is skipped over:
its sandboxes' groups go beside it, so that a sandbox's memory is never counted against the
worker's limit.

Names: ``mlphys-<slot>-<holder pid>-<holder start time>-<n>``. A group whose holder process no
longer exists (same pid *and* start time, so pid reuse cannot fool it) is stale: ``sweep``
kills what is left in it and removes it. Every group is removed by its sandbox's ``close``.

Joining: the keeper writes ``0`` (= itself) into every ``procs_files`` entry before it forks, so
every process of the sandbox starts inside the group; there is no window in which a student
process runs outside it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SandboxCgroup", "cgroup_support", "sweep"]

PREFIX = "mlphys-"
_counter = itertools.count()


def _read(path: Path) -> str:
    with open(path, encoding="ascii", errors="replace") as handle:
        return handle.read()


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def _mounts() -> dict[str, Path]:
    """Mount point per hierarchy: ``"unified"`` for cgroup2, controller names for v1."""
    found: dict[str, Path] = {}
    try:
        lines = _read(Path("/proc/self/mountinfo")).splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3:
            continue
        point = Path(fields[4].replace("\\040", " "))
        if fields[3] != "/":  # a bind of a sub-group (containers): paths would not line up
            continue
        if extra[0] == "cgroup2":
            found.setdefault("unified", point)
        elif extra[0] == "cgroup":
            for option in extra[2].split(","):
                if option in ("memory", "pids"):
                    found.setdefault(option, point)
    return found


def _own_groups() -> dict[str, str]:
    """Our cgroup path per hierarchy (``""`` key: the unified one)."""
    groups: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in _read(Path("/proc/self/cgroup")).splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                groups[name] = path
    return groups


def _parents() -> tuple[str, dict[str, Path]] | None:
    """(version, {controller: directory under which our sandbox groups go}) or None."""
    mounts, own = _mounts(), _own_groups()
    for key, path in own.items():  # a grading worker's own group: sandboxes go beside it
        if os.path.basename(path).startswith(PREFIX):
            own[key] = os.path.dirname(path)
    if "unified" in mounts and "" in own:
        base = mounts["unified"] / own[""].lstrip("/")
        with contextlib.suppress(OSError):
            enabled = _read(base / "cgroup.subtree_control").split()
            if {"memory", "pids"} <= set(enabled) and os.access(base, os.W_OK):
                return "v2", {"memory": base, "pids": base}
    if "memory" in mounts and "pids" in mounts and "memory" in own and "pids" in own:
        parents = {name: mounts[name] / own[name].lstrip("/") for name in ("memory", "pids")}
        if all(os.access(p, os.W_OK) and (p / "cgroup.procs").exists()
               for p in parents.values()):
            return "v1", parents
    return None


def cgroup_support() -> str | None:
    """``"v2"``, ``"v1"`` or None: what ``SandboxCgroup.create`` would use here."""
    found = _parents()
    return None if found is None else found[0]


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (clock ticks after boot): with the pid, unique for a boot."""
    try:
        stat = _read(Path(f"/proc/{pid}/stat"))
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass
class SandboxCgroup:
    """The group(s) of one sandbox: one directory (v2) or one per controller (v1)."""

    version: str
    directories: dict[str, Path]
    """controller -> group directory (v2: the same directory twice)"""
    memory_bytes: int
    processes: int
    removed: bool = field(default=False)

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, slot: int | str, memory_bytes: int, processes: int
               ) -> SandboxCgroup | None:
        """A new group with the limits set, or None where cgroups cannot be used.

        ``slot`` names it (a sandbox's slot index, ``w<n>`` for a grading worker);
        ``processes`` counts tasks (threads too), like ``RLIMIT_NPROC``.
        """
        found = _parents()
        if found is None:
            return None
        version, parents = found
        sweep(parents)
        me = os.getpid()
        name = f"{PREFIX}{slot}-{me}-{_start_time(me)}-{next(_counter)}"
        directories = {ctl: parent / name for ctl, parent in parents.items()}
        group = cls(version, directories, memory_bytes, processes)
        try:
            for directory in dict.fromkeys(directories.values()):
                directory.mkdir(mode=0o755)
            group._set_limits()
        except OSError:
            group.remove()
            return None
        return group

    def _set_limits(self) -> None:
        memory, pids = self.directories["memory"], self.directories["pids"]
        if self.version == "v2":
            _write(memory / "memory.max", str(self.memory_bytes))
            with contextlib.suppress(OSError):  # no swap configured: the file may be absent
                _write(memory / "memory.swap.max", "0")
            _write(pids / "pids.max", str(self.processes))
            return
        _write(memory / "memory.limit_in_bytes", str(self.memory_bytes))
        with contextlib.suppress(OSError):  # memsw exists only with swap accounting
            _write(memory / "memory.memsw.limit_in_bytes", str(self.memory_bytes))
        with contextlib.suppress(OSError):
            _write(memory / "memory.swappiness", "0")
        _write(pids / "pids.max", str(self.processes))

    def add(self, pid: int) -> None:
        """Move the process ``pid`` into the group (used for grading workers)."""
        for path in self.procs_files:
            _write(Path(path), str(pid))

    @property
    def procs_files(self) -> list[str]:
        """Files the keeper writes ``0`` into to join (one per hierarchy)."""
        return [str(d / "cgroup.procs") for d in dict.fromkeys(self.directories.values())]

    @property
    def label(self) -> str:
        return f"cgroup {self.version} (memory {self.memory_bytes} B, {self.processes} tasks)"

    # -- what happened ----------------------------------------------------------------------
    def _events(self, controller: str, filename: str) -> dict[str, int]:
        out: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            for line in _read(self.directories[controller] / filename).splitlines():
                key, _, value = line.partition(" ")
                if value.strip().lstrip("-").isdigit():
                    out[key] = int(value)
        return out

    def oom_kills(self) -> int:
        """Processes the kernel killed in this group for want of memory."""
        if self.version == "v2":
            return self._events("memory", "memory.events").get("oom_kill", 0)
        return self._events("memory", "memory.oom_control").get("oom_kill", 0)

    def memory_limit_hits(self) -> int:
        """Times the group reached its memory limit (reclaimed or not)."""
        if self.version == "v2":
            return self._events("memory", "memory.events").get("max", 0)
        with contextlib.suppress(OSError, ValueError):
            return int(_read(self.directories["memory"] / "memory.failcnt"))
        return 0

    def fork_refusals(self) -> int:
        """Forks refused because the group had ``processes`` tasks."""
        return self._events("pids", "pids.events").get("max", 0)

    def peak_memory(self) -> int | None:
        """Highest memory use of the group so far (None if the kernel does not say)."""
        name = "memory.peak" if self.version == "v2" else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int(_read(self.directories["memory"] / name))
        return None

    def pids(self) -> list[int]:
        found: set[int] = set()
        for directory in dict.fromkeys(self.directories.values()):
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in _read(directory / "cgroup.procs").split())
        return sorted(found)

    # -- teardown ---------------------------------------------------------------------------
    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the group until it is empty; True if it emptied."""
        if self.removed:
            return True
        kill_file = self.directories["memory"] / "cgroup.kill"
        if self.version == "v2" and kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in pids:  # v1: a fork racing the loop is caught on the next round
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self) -> None:
        """Kill what is left and remove the directories (idempotent, never raises)."""
        if self.removed:
            return
        with contextlib.suppress(OSError):
            self.kill_all()
        for directory in dict.fromkeys(self.directories.values()):
            for _ in range(200):  # rmdir fails (EBUSY) until the last task is reaped
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)
        self.removed = True


def sweep(parents: dict[str, Path] | None = None) -> int:
    """Remove groups of holders that died (kill -9 of a grader); returns how many."""
    if parents is None:
        found = _parents()
        if found is None:
            return 0
        parents = found[1]
    removed = 0
    for parent in dict.fromkeys(parents.values()):
        try:
            entries = [e for e in os.listdir(parent) if e.startswith(PREFIX)]
        except OSError:
            continue
        for entry in entries:
            parts = entry[len(PREFIX):].split("-")
            if len(parts) != 4 or not parts[1].isdigit():
                continue
            if _start_time(int(parts[1])) == parts[2]:
                continue  # the holder is alive: its group, not ours to touch
            with contextlib.suppress(OSError):
                _sweep_one(parent / entry)
                removed += 1
    return removed


def _sweep_one(directory: Path) -> None:
    for _ in range(200):
        with contextlib.suppress(OSError, ValueError):
            pids = [int(p) for p in _read(directory / "cgroup.procs").split()]
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.005)
