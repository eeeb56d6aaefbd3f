"""The fork server: sandboxes forked from a warm zygote are as isolated as cold ones.

Each test runs what a student (or the machine) would do to a forked sandbox and checks the
outcome a cold start gives: privileges, descriptors, limits, randomness, leftovers from the
previous student, and the lifetime of the zygote itself. The rest of the sandbox suite runs
on the fork server too (it is the default), so every attack there is also an attack here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from sandbox_fixtures.helpers import IS_ROOT, is_running, leftovers, open_sandbox, pid_namespace

from autograder.grading.sandbox import Sandbox, host, zygote

pytestmark = pytest.mark.skipif(
    not IS_ROOT or host.available_mode() != "jail",
    reason="the fork server serves the root jail mode only (other modes start cold)")

PROBE = textwrap.dedent("""
    import os, sys, resource, json
    status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
    def kind(fd):
        try:
            target = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            return 'gone'
        return target.split(':')[0] if ':' in target else 'file:' + os.path.basename(target)
    fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))
    probe = {
        'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(), 'groups': os.getgroups(),
        'caps': {k: status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapAmb')},
        'no_new_privs': status['NoNewPrivs'].strip(),
        'rlimit_as': resource.getrlimit(resource.RLIMIT_AS),
        'rlimit_nproc': resource.getrlimit(resource.RLIMIT_NPROC)[0] > 0,
        'fd_kinds': sorted(kind(fd) for fd in fds if fd > 2),
        'sockets': [fd for fd in fds if kind(fd) == 'socket'],
        'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),
        'project': [m for m in sys.modules if m.split('.')[0] in ('autograder', 'reference')],
        'sid_is_pid': os.getsid(0) == os.getpid(),
        'home': os.environ.get('HOME'), 'env_keys': sorted(os.environ),
        'cwd': os.getcwd(),
        'sigpipe_ignored': __import__('signal').getsignal(__import__('signal').SIGPIPE)
            == __import__('signal').SIG_IGN,
        'argv_has_config': len(sys.argv) == 2 and 'fds' in json.loads(sys.argv[1]),
    }
""")


def _probe(box: Sandbox) -> dict:
    outcome = box.run_cell(PROBE)
    assert outcome.status == "ok", outcome.output
    return box.namespace["probe"]


def test_sandboxes_are_forked_by_default_and_cold_when_switched_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_sandbox(tmp_path, name="warm") as box:
        assert box.start_method == "fork server"
        assert "; start: fork server; " in box.isolation
        assert box.run_cell("x = 6 * 7").status == "ok" and box.namespace["x"] == 42
    monkeypatch.setenv(zygote.ENV_SWITCH, "0")
    with open_sandbox(tmp_path, name="cold") as box:
        assert box.start_method == "exec"
        assert "; start: exec; " in box.isolation


def test_a_forked_runner_is_exactly_as_unprivileged_as_a_cold_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_sandbox(tmp_path, name="warm") as box:
        assert box.start_method == "fork server"
        warm = _probe(box)
        uid = box.uid
    monkeypatch.setenv(zygote.ENV_SWITCH, "0")
    with open_sandbox(tmp_path, name="cold") as box:
        assert box.start_method == "exec"
        cold = _probe(box)
    assert warm["uid"] == warm["euid"] == warm["gid"] == uid and warm["groups"] == []
    assert set(warm["caps"].values()) == {"0000000000000000"}
    assert warm["no_new_privs"] == "1"
    assert warm["sockets"] == [] and warm["project"] == []
    assert warm["pids"] == [1, 2]  # init and the runner: the zygote is out of sight
    assert warm["sid_is_pid"] and warm["sigpipe_ignored"] and warm["argv_has_config"]
    for key in ("caps", "no_new_privs", "rlimit_as", "rlimit_nproc", "fd_kinds", "sockets",
                "pids", "project", "sid_is_pid", "home", "env_keys", "cwd", "sigpipe_ignored",
                "argv_has_config", "groups"):
        assert warm[key] == cold[key], key


def test_every_forked_runner_draws_its_own_random_numbers(tmp_path: Path) -> None:
    draws = []
    for index in range(3):
        with open_sandbox(tmp_path, name=f"s{index}") as box:
            assert box.start_method == "fork server"
            box.run_cell("import random, numpy as np\n"
                         "draw = [float(np.random.rand()), random.random(), "
                         "float(np.random.default_rng().random())]")
            draws.append(box.namespace["draw"])
    for column in range(3):
        assert len({draw[column] for draw in draws}) == 3, draws


def test_nothing_one_student_changes_reaches_the_next(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, name="first") as box:
        outcome = box.run_cell(
            "import builtins, os, sys, numpy, matplotlib\n"
            "numpy.pi = 3\nnumpy.secret = 'first'\nbuiltins.planted = 1\n"
            "matplotlib.rcParams['lines.linewidth'] = 9.0\n"
            "sys.modules['json'].planted = True\nos.environ['PLANTED'] = '1'\n"
            "open('/tmp/planted', 'w').write('x')\nsys.path.append('/tmp')\n")
        assert outcome.status == "ok", outcome.output
    with open_sandbox(tmp_path, name="second") as box:
        assert box.start_method == "fork server"
        box.run_cell(
            "import builtins, os, sys, json, numpy, matplotlib\n"
            "seen = [numpy.pi == 3, hasattr(numpy, 'secret'), hasattr(builtins, 'planted'),\n"
            "        matplotlib.rcParams['lines.linewidth'] == 9.0, hasattr(json, 'planted'),\n"
            "        'PLANTED' in os.environ, os.path.exists('/tmp/planted'),\n"
            "        '/tmp' in sys.path]")
        assert box.namespace["seen"] == [False] * 8


def test_the_student_cannot_reach_or_kill_the_zygote(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, name="first") as box:
        assert box.start_method == "fork server"
        (server,) = [s for s in zygote.running() if s.alive()][-1:]
        assert server.pid is not None
        outcome = box.run_cell(
            "import os, signal\nresults = []\n"
            f"for pid in (1, {server.pid}, {os.getpid()}):\n"
            "    try:\n        os.kill(pid, signal.SIGKILL)\n        results.append('sent')\n"
            "    except OSError as exc:\n        results.append(type(exc).__name__)\n")
        assert outcome.status == "ok"
        assert "sent" not in box.namespace["results"][1:]
        assert server.alive()
    with open_sandbox(tmp_path, name="second") as box:
        assert box.start_method == "fork server"
        assert server.alive() and server in zygote.running()


def test_a_killed_zygote_is_replaced_and_its_sandboxes_live_on(tmp_path: Path) -> None:
    with open_sandbox(tmp_path, name="before") as first:
        assert first.start_method == "fork server"
        old = [s for s in zygote.running() if s.alive()][-1]
        assert old.pid is not None
        os.kill(old.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while old.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not old.alive()
        # the running sandbox does not depend on its zygote
        assert first.run_cell("y = sum(range(10))").status == "ok"
        assert first.namespace["y"] == 45
        with open_sandbox(tmp_path, name="after") as second:
            assert second.start_method == "fork server"
            assert second.run_cell("import numpy\nz = int(numpy.arange(4).sum())").status == "ok"
            assert second.namespace["z"] == 6
        new = [s for s in zygote.running() if s.alive()][-1]
        assert new is not old and new.pid != old.pid
    namespace = None
    assert leftovers(first, namespace) == []


def test_the_zygote_and_its_sandboxes_die_with_the_grading_process(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    script = textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        from autograder.grading.sandbox import Sandbox, zygote
        from autograder.grading.model import Limits
        box = Sandbox(Path({str(scratch)!r}), Limits(cell_timeout=30), slot=877)
        box.start()
        box.run_cell("import time")
        print(json.dumps({{"zygote": zygote.running()[0].pid, "runner": box.runner_pid,
                          "method": box.start_method}}), flush=True)
        time.sleep(600)
    """)
    grader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        assert grader.stdout is not None
        pids = json.loads(grader.stdout.readline())
        assert pids["method"] == "fork server"
        namespace = pid_namespace(pids["runner"])
        assert namespace is not None and os.path.exists(f"/proc/{pids['zygote']}")
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (
            is_running(pids["zygote"]) or is_running(pids["runner"])):
        time.sleep(0.1)
    assert not is_running(pids["zygote"]) and not is_running(pids["runner"])


def test_a_script_that_opens_sandboxes_leaves_no_folder_behind(tmp_path: Path) -> None:
    """A script (or a test, or a notebook) that uses ``Sandbox`` directly: when it ends, the
    zygote's folder goes with it, as the sandbox's own folder does."""
    temp = Path(tempfile.mkdtemp(prefix="mlphys-test-tmp-"))  # slot uids must traverse it
    temp.chmod(0o711)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    script = textwrap.dedent(f"""
        from pathlib import Path
        from autograder.grading.sandbox import Sandbox, zygote
        from autograder.grading.model import Limits
        with Sandbox(Path({str(scratch)!r}), Limits(cell_timeout=30), slot=878) as box:
            assert box.run_cell("import numpy").status == "ok"
            assert box.start_method == "fork server"
        assert zygote.running()  # still there: the process ends here
    """)
    try:
        subprocess.run([sys.executable, "-c", script], check=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2], env={**os.environ, "TMPDIR": str(temp)})
        assert sorted(p.name for p in temp.iterdir()) == []
    finally:
        shutil.rmtree(temp, ignore_errors=True)
