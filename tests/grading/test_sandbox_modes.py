"""Isolation modes, environment, lifecycle: what each mode promises, checked from inside."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from sandbox_fixtures.helpers import FAST, IS_ROOT, is_running, new_slot, open_sandbox, slot_uid

from autograder.grading.sandbox import Limits, Sandbox, SandboxDied, available_mode, host

EXPECTED_ENV = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "MPLBACKEND", "MPLCONFIGDIR",
                "IPYTHONDIR", "PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "SHELL"}

DAEMON = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    pid = os.fork()\n"
          "    if pid == 0:\n        while True:\n            time.sleep(0.05)\n"
          "    open('daemon.pid', 'w').write(str(pid))\n    os._exit(0)\n"
          "time.sleep(0.3)\ndaemon = int(open('daemon.pid').read())")


def test_auto_mode_as_root_is_the_full_jail() -> None:
    if IS_ROOT:
        assert available_mode() == "jail"
    else:
        assert available_mode() in ("userns", "basic")


def test_environment_is_scrubbed_and_files_are_in_place(tmp_path: Path) -> None:
    os.environ["MLPHYS_GRADER_SECRET"] = "do-not-leak"
    try:
        with open_sandbox(tmp_path, FAST, files={"data.csv": "1,2\n"}) as box:
            box.run_cell("import os\nenv = dict(os.environ)\ncwd = os.getcwd()\n"
                         "data = open('data.csv').read()\nuid = os.getuid()")
            env = box.namespace["env"]
            assert set(env) == EXPECTED_ENV
            assert box.namespace["data"] == "1,2\n"
            if IS_ROOT:
                assert box.namespace["cwd"] == env["HOME"] == "/home/student"
                assert box.namespace["uid"] == slot_uid(box)
    finally:
        del os.environ["MLPHYS_GRADER_SECRET"]


def test_lifecycle_close_is_idempotent(tmp_path: Path) -> None:
    scratch = tmp_path / "s"
    scratch.mkdir()
    box = Sandbox(scratch, FAST, slot=new_slot())
    assert not box.alive() and box.isolation == "not started"
    with box:
        assert box.alive()
        pid = box.runner_pid
        assert pid is not None and is_running(pid)
        with pytest.raises(RuntimeError):
            box.start()
    assert not box.alive() and not is_running(pid)
    box.close()
    assert box.run_cell("1").status == "died"
    with pytest.raises(SandboxDied):
        box.namespace["x"]


@pytest.fixture
def as_non_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exercise the non-root fallback on a root machine: the sandbox sees euid 1000.

    (A root grader without namespaces drops to the slot uid instead; this machine's
    interpreter lives under /root, which that uid cannot read, so it refuses to start.)
    """
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)


def test_basic_mode_as_root_never_runs_student_code_as_root(tmp_path: Path) -> None:
    if not IS_ROOT:
        return
    if host.usable_by_others(sys.executable):
        with open_sandbox(tmp_path, FAST, mode="basic") as box:
            box.run_cell("import os\nuid = os.getuid()")
            assert box.namespace["uid"] == slot_uid(box)
    else:
        with pytest.raises(SandboxDied, match="will not run as root"), \
                open_sandbox(tmp_path, FAST, mode="basic"):
            pass


def test_basic_mode_is_weaker_but_still_contains_processes(tmp_path: Path,
                                                            as_non_root: None) -> None:
    with open_sandbox(tmp_path, FAST, mode="basic") as box:
        assert "WEAK" in box.isolation and box.mode == "basic"
        assert box.run_cell("import reference").error == (
            "ModuleNotFoundError: No module named 'reference'")
        assert box.run_cell(DAEMON).status == "ok"
        daemon = box.namespace["daemon"]
        assert is_running(daemon)
        box.run_cell("import os\nenv = sorted(os.environ)")
        assert set(box.namespace["env"]) == EXPECTED_ENV
    time.sleep(0.05)
    assert not is_running(daemon)  # the keeper is a subreaper: the daemon came back and died


def test_basic_mode_interrupts_and_limits(tmp_path: Path, as_non_root: None) -> None:
    limits = Limits(cell_timeout=1.0, interrupt_grace=1.0, memory_bytes=1024**3)
    with open_sandbox(tmp_path, limits, mode="basic") as box:
        outcome = box.run_cell("while True:\n    pass")
        assert outcome.status == "timeout" and outcome.error.endswith("(interrupted)")
        assert box.run_cell("import numpy as np\nnp.ones(10**10)").status == "memory"


def test_user_namespace_mode_when_the_kernel_allows_it(tmp_path: Path) -> None:
    if not host.probe("userns"):
        with pytest.raises(SandboxDied), open_sandbox(tmp_path, FAST, mode="userns"):
            pass
        return
    with open_sandbox(tmp_path, FAST, mode="userns") as box:
        assert box.isolation.startswith("userns+pidns+netns+mountns")
        box.run_cell("import os, socket\nuid = os.getuid()\n"
                     "caps = [l for l in open('/proc/self/status') if l.startswith('CapEff')]\n"
                     "listing = os.listdir('/work/main') if os.path.isdir('/work/main') "
                     "else []\ntry:\n    socket.create_connection(('127.0.0.1', 22), 1)\n"
                     "    net = 'open'\nexcept OSError as exc:\n    net = exc.errno")
        ns = box.namespace
        assert ns["uid"] == 1000 and ns["caps"] == ["CapEff:\t0000000000000000\n"]
        assert ns["listing"] in ([], [".venv"]) and ns["net"] == 101
        assert box.run_cell("import reference").status == "error"
        assert box.run_cell("!umount /usr").output.strip().endswith(
            "must be superuser to unmount.")


def test_closing_a_sandbox_spares_another_that_asked_for_its_slot(tmp_path: Path) -> None:
    """Two sandboxes asking for the same slot get different uids (a machine-wide lease), and
    closing one leaves the other running."""
    slot = new_slot()
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()
    with Sandbox(second, FAST, slot=slot) as survivor:
        with Sandbox(first, FAST, slot=slot) as doomed:
            doomed.run_cell("x = 1")
            if IS_ROOT:
                assert doomed.uid != survivor.uid
        assert survivor.alive() and survivor.run_cell("y = 2").status == "ok"
        assert survivor.namespace["y"] == 2


def test_without_preloads_numpy_still_crosses(tmp_path: Path) -> None:
    scratch = tmp_path / "bare"
    scratch.mkdir()
    with Sandbox(scratch, FAST, slot=new_slot(), preload=()) as box:
        assert box.run_cell("import sys\nloaded = 'numpy' in sys.modules").status == "ok"
        assert box.namespace["loaded"] is False
        box.run_cell("import numpy as np\nv = np.arange(3)")
        assert box.namespace["v"].tolist() == [0, 1, 2]
