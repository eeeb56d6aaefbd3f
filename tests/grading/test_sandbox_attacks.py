"""Hostile notebooks: each attack from the threat model, with the exact outcome it must get.

Every test that leaves processes behind checks, after ``close()``, that none survived: no
process of the slot's uid (root) and none in the sandbox's PID namespace.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from sandbox_fixtures.helpers import (
    FAST,
    IS_ROOT,
    leftovers,
    open_sandbox,
    pid_namespace,
    processes_in_namespace,
    slot_uid,
)

from autograder.grading.causes import Cause, Stop
from autograder.grading.sandbox import (
    Limits,
    RemoteHandle,
    Sandbox,
    SandboxDied,
    SandboxProtocolError,
)

QUICK = Limits(cell_timeout=1.0, call_timeout=2.0, interrupt_grace=1.0, notebook_timeout=60.0)


def _namespace_of(sandbox: Sandbox) -> str | None:
    assert sandbox.runner_pid is not None
    return pid_namespace(sandbox.runner_pid)


def _assert_nothing_survives(sandbox: Sandbox, namespace: str | None) -> None:
    sandbox.close()
    assert leftovers(sandbox, namespace) == []


# -- time -----------------------------------------------------------------------------------


def test_infinite_loop_is_interrupted_and_the_next_cell_runs(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, QUICK) as box:
        started = time.monotonic()
        outcome = box.run_cell("while True:\n    pass")
        assert outcome.status == "timeout"
        assert outcome.error == "cell time limit (1 s) exceeded (interrupted)"
        assert "KeyboardInterrupt" in outcome.output
        assert time.monotonic() - started < 3
        assert box.run_cell("after = 1").status == "ok"
        assert box.namespace["after"] == 1


def test_sleep_is_interrupted(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, QUICK) as box:
        outcome = box.run_cell("import time\ntime.sleep(100)")
        assert (outcome.status, outcome.error) == (
            "timeout", "cell time limit (1 s) exceeded (interrupted)")
        assert box.alive()


def test_loop_that_swallows_interrupts_is_killed(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, QUICK) as box:
        namespace = _namespace_of(box)
        started = time.monotonic()
        outcome = box.run_cell("while True:\n    try:\n        while True:\n            pass\n"
                               "    except KeyboardInterrupt:\n        pass")
        assert outcome.status == "timeout" and outcome.error.endswith("was killed")
        assert time.monotonic() - started < 4
        assert not box.alive()
        assert box.run_cell("1").status == "died"
        _assert_nothing_survives(box, namespace)


def test_sigint_ignored_is_killed(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, QUICK) as box:
        outcome = box.run_cell("import signal, time\nsignal.signal(signal.SIGINT, "
                               "signal.SIG_IGN)\ntime.sleep(30)")
        assert outcome.status == "timeout" and not box.alive()


def test_notebook_budget_stops_later_cells(tmp_path: Path) -> None:
    limits = Limits(cell_timeout=10.0, notebook_timeout=1.5, interrupt_grace=1.0)
    with open_sandbox(tmp_path, limits) as box:
        assert box.run_cell("import time\ntime.sleep(1)").status == "ok"
        second = box.run_cell("time.sleep(5)")
        assert second.status == "timeout" and second.error.startswith("notebook time limit")
        third = box.run_cell("x = 1")
        assert (third.status, third.error) == ("timeout", "notebook time limit exceeded")


def test_cpu_limit_kills_as_timeout(tmp_path: Path) -> None:
    limits = Limits(cell_timeout=30.0, cpu_seconds=2, interrupt_grace=1.0)
    with open_sandbox(tmp_path, limits) as box:
        outcome = box.run_cell("while True:\n    pass")
        assert outcome.status == "timeout" and "SIGXCPU" in outcome.error


# -- memory, disk, output ------------------------------------------------------------------


def test_huge_allocations_report_memory(tmp_path: Path) -> None:
    limits = Limits(memory_bytes=1024**3, cell_timeout=30.0)
    with open_sandbox(tmp_path, limits) as box:
        outcome = box.run_cell("import numpy as np\nbig = np.ones(10**10)")
        assert outcome.status == "memory" and "Unable to allocate" in outcome.error
        outcome = box.run_cell("chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))")
        assert (outcome.status, outcome.error) == ("memory", "MemoryError")
        assert box.run_cell("del chunks\nok = 1").status == "ok"


def test_gigantic_output_is_truncated_and_trusted_memory_stays_bounded(tmp_path: Path) -> None:
    limits = Limits(output_bytes=10_000, cell_timeout=60.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open_sandbox(tmp_path, limits) as box:
        outcome = box.run_cell(
            "import os, sys\nfor _ in range(300):\n    print('x' * 1_000_000)\n"
            "for _ in range(100):\n    os.write(1, b'y' * 1_000_000)\n"
            "sys.stdout.buffer.write(b'z' * 1_000_000)\n"
            "from IPython.display import Image, display\n"
            "display(Image(data=b'\\x89PNG' + b'0' * 50_000_000))")
        assert outcome.status == "ok", outcome.error
        assert len(outcome.output.encode()) <= limits.output_bytes
        assert outcome.output.startswith("x" * 1000) and "output truncated" in outcome.output
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50 * 1024  # 450 MB printed; the grader grew by less than 50 MB


def test_file_size_limit_stops_disk_filling(tmp_path: Path) -> None:
    limits = Limits(file_size_bytes=1024**2, disk_bytes=4 * 1024**2, cell_timeout=30.0)
    with open_sandbox(tmp_path, limits) as box:
        outcome = box.run_cell("with open('big.bin', 'wb') as f:\n"
                               "    f.write(b'0' * (2 * 1024**2))")
        assert (outcome.status, outcome.error) == ("error", "OSError: [Errno 27] File too large")
        size = box.run_cell("import os\nprint(os.path.getsize('big.bin'))").output
        assert int(size) <= 1024**2
        assert not (tmp_path / "scratch" / "big.bin").exists()  # never on the host's disk
        outcome = box.run_cell("for i in range(10):\n"
                               "    with open(f'/tmp/fill{i}', 'wb') as f:\n"
                               "        f.write(b'0' * (1024**2 - 1))")
        assert outcome.status == "error" and "No space left on device" in outcome.error


# -- processes ------------------------------------------------------------------------------


def test_fork_bomb_is_contained_and_cleaned_up(tmp_path: Path) -> None:
    limits = Limits(cell_timeout=3.0, interrupt_grace=1.0, processes=32)
    with open_sandbox(tmp_path, limits) as box:
        namespace = _namespace_of(box)
        outcome = box.run_cell("import os\nwhile True:\n    try:\n        os.fork()\n"
                               "    except OSError:\n        pass")
        assert outcome.status == "timeout"
        assert len(processes_in_namespace(namespace)) <= limits.processes + 2
        _assert_nothing_survives(box, namespace)


def test_orphaned_daemons_do_not_survive_close(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, FAST) as box:
        namespace = _namespace_of(box)
        outcome = box.run_cell(
            "import os, subprocess, time\n"
            "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        while True:\n            time.sleep(0.05)\n    os._exit(0)\n"
            "subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
            "time.sleep(0.3)")
        assert outcome.status == "ok", outcome
        assert len(processes_in_namespace(namespace)) >= 4  # init, runner, 2 daemons
        if IS_ROOT:
            assert len([p for p in leftovers(box, None)]) >= 3  # runner + 2 daemons (uid)
        _assert_nothing_survives(box, namespace)


def test_os_exit_and_segfault_are_died(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, FAST) as box:
        outcome = box.run_cell("import os\nos._exit(3)")
        assert outcome == outcome.__class__("died", "runner exited with status 3", "",
                                            Stop(Cause.KERNEL_EXITED, exit_code=3))
        assert box.stop.text() == "kernel died: the notebook's process exited with status 3"
        assert box.run_cell("1").status == "died"
        with pytest.raises(SandboxDied):
            box.namespace["x"]
    with open_sandbox(tmp_path, FAST, name="segv") as box:
        outcome = box.run_cell("import ctypes\nctypes.string_at(0)")
        assert (outcome.status, outcome.error) == ("died", "runner killed by SIGSEGV")
        assert outcome.stop == Stop(Cause.KERNEL_KILLED, signal=11)


def test_sys_exit_and_interrupt_exceptions_are_plain_errors(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, FAST) as box:
        for source, error in (("import sys\nsys.exit(3)", "SystemExit: 3"),
                              ("raise SystemExit", "SystemExit"),
                              ("raise KeyboardInterrupt", "KeyboardInterrupt"),
                              ("exit()", None), ("quit()", None)):
            outcome = box.run_cell(source)
            assert outcome.error == error
            assert outcome.status == ("ok" if error is None else "error")
        assert box.run_cell("still_here = 1").status == "ok"


def test_killing_the_parent_or_the_group_cannot_hurt_the_grader(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, FAST) as box:
        outcome = box.run_cell("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
        assert (outcome.status, outcome.error) == (
            "error", "PermissionError: [Errno 1] Operation not permitted")
        outcome = box.run_cell("import os\nos.kill(-1, 9)")  # nothing else it may signal
        assert (outcome.status, outcome.error) == (
            "error", "ProcessLookupError: [Errno 3] No such process")
        assert box.run_cell("import os\nprint(sorted(int(p) for p in os.listdir('/proc') "
                            "if p.isdigit()))").output == "[1, 2]\n"  # the grader is invisible
        outcome = box.run_cell("os.killpg(0, 9)")
        assert (outcome.status, outcome.error) == ("died", "runner killed by SIGKILL")
    assert os.getpid() > 0  # still running; and a new sandbox still works:
    with open_sandbox(tmp_path, FAST, name="again") as box:
        assert box.run_cell("x = 2").status == "ok"


# -- network and file system ----------------------------------------------------------------


def test_no_network(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        with open_sandbox(tmp_path, FAST) as box:
            outcome = box.run_cell(f"import socket\nsocket.create_connection(('127.0.0.1', "
                                   f"{port}), timeout=2)")
            assert (outcome.status, outcome.error) == (
                "error", "OSError: [Errno 101] Network is unreachable")
            outcome = box.run_cell("socket.getaddrinfo('example.com', 80)")
            assert outcome.status == "error" and outcome.error.startswith("gaierror")
            outcome = box.run_cell("print(sorted(l.split(':')[0].strip() for l in "
                                   "open('/proc/net/dev').readlines()[2:]))")
            assert outcome.output == "['lo']\n"
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()


def test_reference_answers_and_the_grader_are_unreachable(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert (repo / "reference" / "__init__.py").exists()
    with open_sandbox(tmp_path, FAST) as box:
        probes = {
            "import reference": "ModuleNotFoundError: No module named 'reference'",
            "import autograder": "ModuleNotFoundError: No module named 'autograder'",
            f"open({str(repo / 'reference' / '__init__.py')!r}).read()":
                "FileNotFoundError: [Errno 2] No such file or directory: "
                f"'{repo / 'reference' / '__init__.py'}'",
        }
        for source, error in probes.items():
            assert box.run_cell(source).error == error
        answers = sorted(str(p) for p in (repo / "reference").glob("*.py"))
        assert len(answers) > 3
        box.run_cell(f"readable = []\nfor path in {answers!r}:\n    try:\n"
                     "        open(path).read()\n        readable.append(path)\n"
                     "    except OSError:\n        pass")
        assert box.namespace["readable"] == []
        listing = box.run_cell(f"import os\nprint(os.listdir({str(repo)!r}))").output
        assert listing == "['.venv']\n" or listing.startswith("FileNotFoundError")
        outcome = box.run_cell(
            "import site, os\nprint([n for d in site.getsitepackages() if os.path.isdir(d) "
            "for n in os.listdir(d) if n in ('reference', 'autograder') and "
            "os.listdir(os.path.join(d, n))])")
        assert outcome.output == "[]\n"
        assert box.run_cell(f"import os\nprint(os.path.exists({str(tmp_path)!r}))"
                            ).output == "False\n"
        # the keeper's config (host paths) is not in init's command line
        cmdline = box.run_cell("print(open('/proc/1/cmdline').read())")
        program = "zygote_server.py" if box.start_method == "fork server" else "jail.py"
        assert cmdline.status == "ok" and program in cmdline.output
        assert "scratch" not in cmdline.output and "mlphys-sandbox" not in cmdline.output
        assert str(tmp_path) not in cmdline.output and "{" not in cmdline.output


def test_writes_outside_scratch_fail_or_stay_private(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel.txt"
    sentinel.write_text("original")
    token = f"mlphys_escape_{os.getpid()}_{time.monotonic_ns()}"
    with open_sandbox(tmp_path, FAST) as box:
        source = f"""
import os
results = {{}}
for path in [{str(sentinel)!r}, '/etc/mlphys', '/usr/mlphys', '/mlphys', '/home/mlphys',
             '/work/main/.venv/mlphys', '/opt/mlphys/runner.py', '/proc/1/mlphys']:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write('pwned')
        results[path] = 'written'
    except OSError as exc:
        results[path] = type(exc).__name__
with open('/tmp/{token}', 'w') as handle:
    handle.write('private tmp')
with open('mine.txt', 'w') as handle:
    handle.write('in scratch')
"""
        assert box.run_cell(source).status == "ok"
        results = box.namespace["results"]
        # the sentinel's path only exists in the sandbox's private /tmp
        assert results.pop(str(sentinel)) == "written"
        assert set(results.values()) <= {"OSError", "PermissionError", "FileNotFoundError"}
        uid = slot_uid(box) if IS_ROOT else os.getuid()
    assert sentinel.read_text() == "original"
    assert not Path("/tmp", token).exists()
    # the home is the sandbox's own tmpfs: what the student wrote there never reaches the
    # host, and the host scratch (support files only) stays the caller's
    scratch = tmp_path / "scratch"
    assert not (scratch / "mine.txt").exists()
    owners = {p.lstat().st_uid for p in [scratch, *scratch.rglob("*")]}
    assert owners == {os.getuid()}
    if IS_ROOT:
        assert [p for p in Path("/tmp").iterdir() if p.lstat().st_uid == uid] == []


def test_two_slots_cannot_see_each_others_scratch(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, FAST, name="alice") as alice, \
            open_sandbox(tmp_path, FAST, name="bob") as bob:
        assert alice.slot != bob.slot
        alice.run_cell("open('secret.txt', 'w').write('alice answers')")
        assert alice.run_cell("print(open('secret.txt').read())").output == "alice answers\n"
        for alice_file in (tmp_path / "alice" / "secret.txt", Path("/home/student/secret.txt")):
            outcome = bob.run_cell(f"open({str(alice_file)!r}).read()")
            assert outcome.error.startswith("FileNotFoundError")
        assert not (tmp_path / "alice" / "secret.txt").exists()
        assert bob.run_cell("import os\nprint(os.listdir('/home'), os.listdir('.'))"
                            ).output == "['student'] []\n"
        assert bob.run_cell("print(len([p for p in os.listdir('/proc') if p.isdigit()]))"
                            ).output == "2\n"  # bob sees only its own init and runner


# -- the protocol pipe ----------------------------------------------------------------------

FORGE = """
import json, os, struct, sys
frame = json.dumps({"op": "cell_done", "status": "ok", "error": None, "output": "forged",
                    "seq": %d}).encode()
raw = struct.pack('>I', len(frame)) + frame
sys.stdout.write(raw.decode('latin-1'))
sys.stdout.buffer.write(raw)
os.write(1, raw)
os.write(2, raw)
print(json.dumps({"op": "ok", "value": 1}))
raise ValueError('real error')
"""


def test_forged_frames_on_stdout_are_just_output(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, FAST) as box:
        outcome = box.run_cell(FORGE % 1)
        assert (outcome.status, outcome.error) == ("error", "ValueError: real error")
        assert "forged" in outcome.output
        assert box.run_cell("x = 1").status == "ok" and box.namespace["x"] == 1


def _protocol_fd_cell(payload: str) -> str:
    return ("import json, os, struct, sys\nfd = json.loads(sys.argv[1])['fds'][1]\n"
            f"os.write(fd, {payload})\nimport time\ntime.sleep(0.5)")


@pytest.mark.parametrize("payload, fragment", [
    ("b'\\xff\\xff\\xff\\xff'", "announces"),
    ("struct.pack('>I', 5) + b'{{{{{'", "malformed frame"),
    ("struct.pack('>I', 2) + b'[]'", "JSON object"),
    ("(lambda b: struct.pack('>I', len(b)) + b)(json.dumps({'op': 'cell_done', "
     "'status': 'ok', 'error': None, 'output': '', 'seq': 99}).encode())", "sequence"),
    ("(lambda b: struct.pack('>I', len(b)) + b)(json.dumps({'op': 'cell_done', "
     "'status': 'passed', 'error': None, 'output': '', 'seq': 1}).encode())", "cell_done"),
    ("(lambda b: struct.pack('>I', len(b)) + b)(b'[' + b'0,' * 5_000_000 + b'0]')",
     "too many items"),
])
def test_malformed_frames_on_the_protocol_fd_are_reported(tmp_path: Path, payload: str,
                                                         fragment: str) -> None:
    with open_sandbox(tmp_path, FAST) as box:
        namespace = _namespace_of(box)
        outcome = box.run_cell(_protocol_fd_cell(payload))
        assert outcome.status == "error" and outcome.error.startswith("ProtocolError")
        assert fragment in outcome.error
        assert not box.alive() and box.run_cell("1").status == "died"
        _assert_nothing_survives(box, namespace)


def test_garbage_written_during_a_remote_call_kills_the_sandbox(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, FAST) as box:
        box.run_cell("import json, os, sys\nfd = json.loads(sys.argv[1])['fds'][1]\n"
                     "def evil():\n    os.write(fd, b'\\x00\\x00\\x00\\x03abc')\n    return 1")
        with pytest.raises(SandboxProtocolError):
            box.namespace["evil"]()
        assert not box.alive()


# -- comparisons the student cannot rig ------------------------------------------------------

RIGGED = """
import numpy as np

class Always:
    def __eq__(self, other):
        return True
    __hash__ = None
    def __repr__(self):
        return '42'

class SneakyInt(int):
    def __eq__(self, other):
        return True
    def __repr__(self):
        return '42'

class SneakyList(list):
    def __eq__(self, other):
        return True

class SneakyArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)

answer = Always()
number = SneakyInt(7)
items = SneakyList([1])
array = np.zeros(3).view(SneakyArray)
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
"""


def test_rigged_objects_come_back_as_handles_that_compare_unequal(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, FAST) as box:
        assert box.run_cell(RIGGED).status == "ok"
        ns = box.namespace
        for name in ("answer", "number", "items", "array"):
            value = ns[name]
            assert isinstance(value, RemoteHandle), name
            assert value != 42 and value != 7 and value != [1]
            assert repr(value) != "42" and str(value).startswith("<remote ")
        assert not np.allclose(ns["np"].array([1.0]), [2.0])  # the grader's own NumPy
        assert ns["np"].allclose is np.allclose and ns["np"] is np
        with pytest.raises(AssertionError):
            ns["np"].testing.assert_allclose([1.0], [2.0])


def test_patched_builtins_stay_in_the_sandbox(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, FAST) as box:
        outcome = box.run_cell("values = [1, 2, 3]\nimport builtins\n"
                               "builtins.isinstance = lambda *a: True\n"
                               "builtins.len = lambda x: 99\nbuiltins.print = lambda *a, **k: 0\n"
                               "def f():\n    return len([1])")
        assert outcome == outcome.__class__("ok", None, "")
        assert box.namespace["values"] == [1, 2, 3] and len(box.namespace["values"]) == 3
        assert box.namespace["f"]() == 99  # the student's own code sees its own patch
        assert isinstance(3, str) is False  # the grader's built-ins are untouched
