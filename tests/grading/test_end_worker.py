"""Ending a grading worker: ``executors.local.end_worker``, used by the local pool
(``WorkerPool._retire``) and by the Dask side's single process (``GraderProcess.kill``).

What a forgotten step would cost, and what each test checks: a process not reaped stays a
zombie (``waitpid`` finds nothing left to reap), pipes not closed leak two descriptors per
worker (both of our ends are closed), a control group not removed piles up under the cgroup
hierarchy (its directories are gone).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.grading.executors.grader_process import GraderProcess
from autograder.grading.executors.local import WorkerConfig, WorkerPool, end_worker
from autograder.grading.sandbox.cgroups import SandboxCgroup, cgroup_support

needs_cgroups = pytest.mark.skipif(os.geteuid() != 0 or cgroup_support() is None,
                                   reason="no writable memory+pids cgroup hierarchy here")
MiB = 1024**2


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def reaped(pid: int) -> bool:
    """Nothing is left of our child ``pid`` to wait for (no zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def ended(process: subprocess.Popen[bytes]) -> bool:
    return (process.returncode is not None and reaped(process.pid)
            and process.stdin.closed and process.stdout.closed)


def test_a_running_worker_is_killed_reaped_and_its_pipes_closed():
    p = sleeper()
    end_worker(p, None)
    assert p.returncode == -signal.SIGKILL
    assert ended(p)


def test_a_worker_that_already_exited_is_ended_without_an_error():
    p = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    while not os.path.exists(f"/proc/{p.pid}") or \
            Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)  # until it is a zombie: exited, not yet reaped
    end_worker(p, None)
    assert p.returncode == 0 and ended(p)


@needs_cgroups
def test_the_workers_control_group_is_removed_after_the_process():
    p = sleeper()
    group = SandboxCgroup.create("endw", 256 * MiB, 16)
    assert group is not None
    group.add(p.pid)
    directories = list(group.directories.values())
    assert all(d.is_dir() for d in directories)
    end_worker(p, group)
    assert ended(p)
    assert not any(d.exists() for d in directories)


def config(tmp_path: Path) -> WorkerConfig:
    """A worker that never gets far (no autograder there): it is ended before its first task."""
    return WorkerConfig(autograder_path=str(tmp_path / "missing.zip"), autograder_sha256="0" * 64,
                        limits={}, scratch_root=str(tmp_path), max_notebook_bytes=1 << 20)


@needs_cgroups
def test_the_pool_retires_a_worker_with_its_group(tmp_path):
    pool = WorkerPool(1, config(tmp_path))
    w = pool._spawn(0)
    assert w.group is not None
    directories = list(w.group.directories.values())
    pool._retire(w)
    assert ended(w.process)
    assert not any(d.exists() for d in directories)
    assert len(pool.selector.get_map()) == 0  # and no longer watched


@needs_cgroups
def test_the_single_grading_process_is_killed_with_its_group(tmp_path):
    grader = GraderProcess(config(tmp_path), 0)
    grader.spawn()
    assert grader.group is not None and grader.process is not None
    directories = list(grader.group.directories.values())
    grader.kill()
    assert ended(grader.process)
    assert grader.group is None and not any(d.exists() for d in directories)
    grader.kill()  # a second kill (stop after a failed start) is harmless
