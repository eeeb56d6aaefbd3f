"""cgroups: one memory + pids group per sandbox, limits for all of its processes together.

These run real processes inside a real group: on a machine without a writable cgroup
hierarchy (unprivileged CI) ``SandboxCgroup.create`` must say so by returning None, which the
first test checks; the others need the group.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.grading.sandbox.cgroups import PREFIX, SandboxCgroup, _parents, cgroup_support, sweep

needs_cgroups = pytest.mark.skipif(cgroup_support() is None,
                                   reason="no writable memory+pids cgroup hierarchy here")
MiB = 1024**2


def test_support_is_reported_consistently():
    support = cgroup_support()
    group = SandboxCgroup.create(0, 256 * MiB, 16)
    try:
        assert (group is None) == (support is None)
        if group is not None:
            assert group.version == support
            assert all(d.is_dir() for d in group.directories.values())
            assert all(d.name.startswith(f"{PREFIX}0-{os.getpid()}-")
                       for d in group.directories.values())
    finally:
        if group is not None:
            group.remove()
    if group is not None:
        assert not any(d.exists() for d in group.directories.values())


@needs_cgroups
def test_memory_of_all_processes_together_is_limited():
    """Four processes of 100 MiB each fit a per-process limit of 2 GiB but not a 256 MiB
    group: the kernel kills inside the group and counts it; the grader's process lives."""
    group = SandboxCgroup.create(1, 256 * MiB, 64)
    assert group is not None
    try:
        code = (
            "import os, time\n"
            "kids = []\n"
            "for _ in range(4):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        block = bytearray(100 * 2**20)\n"
            "        for i in range(0, len(block), 4096): block[i] = 1\n"
            "        time.sleep(30)\n"
            "        os._exit(0)\n"
            "    kids.append(pid)\n"
            "killed = 0\n"
            "for pid in kids:\n"
            "    _, status = os.waitpid(pid, 0)\n"
            "    killed += os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9\n"
            "print(killed)\n"
        )
        # the survivors sleep 30 s: end them from outside once someone was OOM-killed
        proc = subprocess.Popen([sys.executable, "-I", "-c",
                                 f"for p in {group.procs_files!r}: open(p, 'w').write('0')\n"
                                 + code], stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while group.oom_kills() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert group.oom_kills() >= 1
        peak = group.peak_memory()
        assert peak is None or peak <= 256 * MiB + 4 * MiB
        assert group.kill_all()
        proc.wait(timeout=30)
        assert group.pids() == []
    finally:
        group.remove()


@needs_cgroups
def test_the_number_of_tasks_is_limited_and_refusals_are_counted():
    group = SandboxCgroup.create(2, 512 * MiB, 12)
    assert group is not None
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-c",
                                 f"for p in {group.procs_files!r}: open(p, 'w').write('0')\n"
                                 "import os, time\nmade = 0\n"
                                 "for _ in range(100):\n"
                                 "    try:\n        pid = os.fork()\n"
                                 "    except OSError:\n        break\n"
                                 "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n"
                                 "    made += 1\n"
                                 "print(made, flush=True)\ntime.sleep(60)\n"],
                                stdout=subprocess.PIPE, text=True)
        made = int(proc.stdout.readline())
        assert made == 12 - 1  # the parent is one of the 12 tasks
        assert group.fork_refusals() >= 1
        assert len(group.pids()) == 12
        assert group.kill_all()
        proc.wait(timeout=30)
    finally:
        group.remove()
    assert not any(d.exists() for d in group.directories.values())


@needs_cgroups
def test_stale_groups_of_dead_holders_are_swept_live_ones_kept():
    version, parents = _parents()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = {c: p / f"{PREFIX}7-{dead_pid}-12345-0" for c, p in parents.items()}
    for d in dict.fromkeys(stale.values()):
        d.mkdir()
    live = SandboxCgroup.create(3, 64 * MiB, 8)  # create() sweeps first
    try:
        assert not any(d.exists() for d in stale.values())
        assert all(d.exists() for d in live.directories.values())
        assert sweep() == 0  # our own live group is not stale
        assert all(d.exists() for d in live.directories.values())
    finally:
        live.remove()
        for d in stale.values():
            if d.exists():
                d.rmdir()
    assert version in ("v1", "v2")
    assert isinstance(next(iter(parents.values())), Path)


def test_without_cgroups_the_label_says_which_limits_are_per_process(tmp_path, monkeypatch):
    """The fallback: a machine without a writable hierarchy still grades, and the isolation
    label (stored with every attempt) says memory is limited per process only."""
    from sandbox_fixtures.helpers import FAST, open_sandbox

    from autograder.grading.sandbox import cgroups as module

    monkeypatch.setattr(module, "_parents", lambda: None)
    with open_sandbox(tmp_path, FAST) as box:
        assert box.run_cell("x = 1").status == "ok"
        assert "memory=process" in box.isolation
        if os.geteuid() == 0:
            assert "tasks=sandbox(slot uid)" in box.isolation
        if box.mode in ("jail", "userns"):
            assert "disk=sandbox(tmpfs)" in box.isolation


@needs_cgroups
def test_with_cgroups_the_label_says_sandbox(tmp_path):
    from sandbox_fixtures.helpers import FAST, open_sandbox

    with open_sandbox(tmp_path, FAST) as box:
        if os.geteuid() == 0:
            assert f"memory=sandbox(cgroup {cgroup_support()})" in box.isolation
            assert f"tasks=sandbox(cgroup {cgroup_support()})" in box.isolation
