"""Helpers for the sandbox tests: unique slots, sandbox factories, process scans."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from autograder.grading.sandbox import SLOT_UID_BASE, Limits, Sandbox
from autograder.grading.sandbox.jail import processes_of_uid

IS_ROOT = os.geteuid() == 0

_counter = itertools.count()


def new_slot() -> int:
    """A slot no other test process uses now.

    Two live sandboxes must never share a slot (= uid): closing one kills every process of
    its uid. Slots 400+ keep clear of the batch grader's worker slots (0..N), whose tests
    may run at the same time; each test process takes a block of 50 slots chosen by its
    pid, so concurrent pytest runs (or xdist workers) do not collide.
    """
    block = os.getpid() % 60
    return 400 + 50 * block + next(_counter) % 50


FAST = Limits(cell_timeout=5.0, call_timeout=5.0, interrupt_grace=1.0, notebook_timeout=120.0)


@contextlib.contextmanager
def open_sandbox(tmp_path: Path, limits: Limits = FAST, mode: str = "auto",
                 name: str = "scratch", files: dict[str, str] | None = None
                 ) -> Iterator[Sandbox]:
    """A started sandbox over a fresh scratch dir (closed afterwards, even on failure)."""
    scratch = tmp_path / name
    scratch.mkdir()
    for rel, text in (files or {}).items():
        (scratch / rel).write_text(text)
    sandbox = Sandbox(scratch, limits, slot=new_slot(), mode=mode)
    try:
        sandbox.start()
        yield sandbox
    finally:
        sandbox.close()


def slot_uid(sandbox: Sandbox) -> int:
    assert sandbox.uid is not None and sandbox.uid >= SLOT_UID_BASE
    return sandbox.uid


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting for its (dead) parent's reaper."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pid_namespace(pid: int) -> str | None:
    """The pid-namespace id of a host process (None if it is gone)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def processes_in_namespace(namespace: str) -> list[int]:
    """Host pids of every process inside the given pid namespace."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and pid_namespace(int(entry)) == namespace:
            found.append(int(entry))
    return found


def leftovers(sandbox: Sandbox, namespace: str | None) -> list[int]:
    """Processes that survived close(): of the slot uid (root) or in the pid namespace."""
    pids = set(processes_of_uid(slot_uid(sandbox))) if IS_ROOT else set()
    if namespace is not None:
        pids |= set(processes_in_namespace(namespace))
    return sorted(pids)
