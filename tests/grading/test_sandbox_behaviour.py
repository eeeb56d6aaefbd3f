"""Sandbox behaviour for honest notebooks: cells, checkpoints, the lazy namespace, handles."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sandbox_fixtures.helpers import FAST, IS_ROOT, open_sandbox

from autograder.grading.sandbox import (
    CellOutcome,
    Limits,
    RemoteError,
    RemoteHandle,
    Sandbox,
    SandboxDied,
    SandboxTimeout,
)

STUDENT_CODE = '''
import numpy as np
import math

x = 41
values = [1, 2.5, "three", None, True, (4, 5), {"k": [6]}]
arr = np.arange(6).reshape(2, 3)
scalar = np.float32(2.5)
z = 1 + 2j
answers = {"a", "b"}
counts = {0: 5, 1: 3}
blob = b"\\x00\\x01"

def square(n):
    print(f"squaring {n}")
    return n * n

def fails(n):
    if n < 0:
        raise ValueError("negative input")
    return n

def identity(v):
    return v

def countdown(n):
    while n > 0:
        yield n
        n -= 1

class Particle:
    kind = "electron"
    def __init__(self, mass):
        self.mass = mass
    def energy(self, c=3.0):
        return self.mass * c ** 2
    def __len__(self):
        return 3
    def __getitem__(self, i):
        return [10, 20, 30][i]

p = Particle(2.0)
'''


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox with the student code above already run (non-destructive tests only)."""
    with open_sandbox(tmp_path_factory.mktemp("behaviour")) as box:
        outcome = box.run_cell(STUDENT_CODE)
        assert outcome.status == "ok", outcome
        yield box


def test_isolation_is_reported(sandbox: Sandbox) -> None:
    if IS_ROOT:
        assert sandbox.isolation.startswith(
            "uid+pidns+netns+mountns+ipcns+utsns+rlimits+no_new_privs; start: fork server; "
            "limits: memory=")
        assert sandbox.isolation.endswith("disk=sandbox(tmpfs) cpu=process")
    assert sandbox.alive()
    # reported, and a duration (speed is for the benchmarks, not for a timed unit test)
    assert sandbox.startup_seconds is not None and 0.0 < sandbox.startup_seconds < 120.0


def test_cell_statuses_and_ipython_semantics(sandbox: Sandbox) -> None:
    assert sandbox.run_cell("x + 1") == CellOutcome("ok", None, "Out[2]: 42\n")
    printed = sandbox.run_cell("print('hello'); import sys; print('err', file=sys.stderr)")
    assert printed.status == "ok" and printed.output == "hello\nerr\n"
    error = sandbox.run_cell("1 / 0")
    assert error.status == "error" and error.error == "ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in error.output
    syntax = sandbox.run_cell("def broken(:")
    assert syntax.status == "error" and syntax.error.startswith("SyntaxError")
    assert sandbox.run_cell("x").output == "Out[6]: 41\n"  # errors do not stop the notebook
    shell = sandbox.run_cell("!echo from-a-shell\n%time y_magic = 3")
    assert shell.status == "ok" and "from-a-shell" in shell.output
    assert sandbox.namespace["y_magic"] == 3


def test_matplotlib_inline_works_headless(sandbox: Sandbox) -> None:
    outcome = sandbox.run_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\n"
                               "plt.plot([1, 2, 3]); plt.show()")
    assert outcome.status == "ok", outcome


def test_namespace_values_are_plain_trusted_data(sandbox: Sandbox) -> None:
    ns = sandbox.namespace
    assert ns["x"] == 41 and type(ns["x"]) is int
    assert ns["values"] == [1, 2.5, "three", None, True, (4, 5), {"k": [6]}]
    arr = ns["arr"]
    assert type(arr) is np.ndarray and arr.shape == (2, 3)
    np.testing.assert_array_equal(arr, np.arange(6).reshape(2, 3))
    assert type(ns["scalar"]) is np.float32 and ns["scalar"] == 2.5
    assert ns["z"] == 1 + 2j
    assert ns["answers"] == {"a", "b"} and ns["counts"] == {0: 5, 1: 3}
    assert ns["blob"] == b"\x00\x01"
    assert "x" in ns and "nope" not in ns
    with pytest.raises(KeyError):
        ns["nope"]
    assert ns.get("nope", 5) == 5
    keys = ns.keys()
    assert {"x", "arr", "square", "Particle"} <= set(keys)
    assert "In" not in keys and "get_ipython" not in keys  # IPython's own names are hidden


def test_allow_listed_modules_resolve_to_trusted_modules(sandbox: Sandbox) -> None:
    import math

    assert sandbox.namespace["np"] is np
    assert sandbox.namespace["math"] is math


def test_remote_functions_generators_and_classes(sandbox: Sandbox,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ns = sandbox.namespace
    square = ns["square"]
    assert isinstance(square, RemoteHandle) and "callable" in square.remote_flags
    assert square(7) == 49
    assert capsys.readouterr().out == "squaring 7\n"  # printed text reaches trusted stdout
    assert square(np.float64(1.5)) == 2.25
    assert list(ns["countdown"](3)) == [3, 2, 1]
    generator = ns["countdown"](2)
    assert next(generator) == 2 and next(generator) == 1
    with pytest.raises(StopIteration):
        next(generator)
    particle_class = ns["Particle"]
    particle = particle_class(mass=1.5)
    assert isinstance(particle, RemoteHandle) and repr(particle) == "<remote Particle object>"
    assert particle.mass == 1.5 and particle.kind == "electron"
    assert particle.energy() == 13.5 and particle.energy(c=1) == 1.5
    assert len(particle) == 3 and particle[1] == 20 and particle[0:2] == [10, 20]
    assert ns["p"].energy(c=2.0) == 8.0
    with pytest.raises(AttributeError):
        particle.__dict__  # noqa: B018  (private attributes are never forwarded)
    assert sum(ns["countdown"](4)) == 10


def test_remote_handles_pass_back_into_the_sandbox(sandbox: Sandbox) -> None:
    ns = sandbox.namespace
    assert ns["identity"](ns["p"]) is ns["p"]  # identity is preserved for the same object
    with pytest.raises(TypeError):
        ns["square"](object())  # trusted objects cannot be sent in


def test_student_exceptions_become_remote_errors(sandbox: Sandbox) -> None:
    fails = sandbox.namespace["fails"]
    with pytest.raises(RemoteError) as info:
        fails(-1)
    assert info.value.type_name == "ValueError" and info.value.message == "negative input"
    assert isinstance(info.value, ValueError)  # ``except ValueError`` in a test works
    with pytest.raises(TypeError):  # wrong arity: the remote TypeError
        fails()
    sandbox.run_cell("class Negative(ValueError):\n    pass\n"
                     "def checked(n):\n    raise Negative('custom')\n"
                     "def too_big():\n    import numpy as np\n    return np.ones(10**11)")
    with pytest.raises(ValueError) as custom:  # a student subclass of a built-in
        sandbox.namespace["checked"](1)
    assert custom.value.type_name == "Negative" and custom.value.message == "custom"
    with pytest.raises(MemoryError):  # numpy's _ArrayMemoryError
        sandbox.namespace["too_big"]()
    sandbox.run_cell("def leave():\n    raise SystemExit(3)")
    with pytest.raises(RemoteError) as info:
        sandbox.namespace["leave"]()
    assert not isinstance(info.value, SystemExit)  # never exits the grader


def test_checkpoint_inside_a_loop_sees_the_globals_of_that_moment(sandbox: Sandbox) -> None:
    seen: list[tuple[str, object]] = []

    def on_check(question: str) -> None:
        seen.append((question, sandbox.namespace["i"], sandbox.namespace["square"](2)))

    outcome = sandbox.run_cell(
        "import otter\ngrader = otter.Notebook('hw.ipynb', tests_dir='tests')\n"
        "for i in range(3):\n    result = grader.check('q1')\n    print('after', i, result)\n"
        "i = 'done'\ngrader.check('q2')\ngrader.check_all()\ngrader.export(pdf=False)",
        on_check=on_check)
    assert outcome.status == "ok", outcome
    assert seen == [("q1", 0, 4), ("q1", 1, 4), ("q1", 2, 4), ("q2", "done", 4)]
    assert "after 2 None" in outcome.output


def test_checkpoint_between_cells(sandbox: Sandbox) -> None:
    got = []
    sandbox.checkpoint("q3", lambda q: got.append((q, sandbox.namespace["x"])))
    assert got == [("q3", 41)]


def test_on_check_exceptions_surface_after_the_cell(sandbox: Sandbox) -> None:
    def on_check(question: str) -> None:
        raise RuntimeError("test harness bug")

    with pytest.raises(RuntimeError, match="harness"):
        sandbox.run_cell("import otter\notter.Notebook().check('q1')\nafter_check = 1",
                         on_check=on_check)
    assert sandbox.namespace["after_check"] == 1  # the cell finished first


def test_remote_call_timeout_interrupts_and_the_sandbox_survives(sandbox: Sandbox) -> None:
    sandbox.run_cell("def spin():\n    while True:\n        pass")
    quick = Limits(call_timeout=0.5, interrupt_grace=2.0)
    object.__setattr__(sandbox, "limits", quick)
    try:
        started = time.monotonic()
        with pytest.raises(SandboxTimeout):
            sandbox.namespace["spin"]()
        assert time.monotonic() - started < 3
        assert sandbox.alive() and sandbox.namespace["x"] == 41
    finally:
        object.__setattr__(sandbox, "limits", FAST)


def test_output_during_a_call_is_truncated(sandbox: Sandbox,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.run_cell("def chatty():\n    print('y' * 10_000_000)\n    return 1")
    assert sandbox.namespace["chatty"]() == 1
    out = capsys.readouterr().out
    assert len(out) < FAST.output_bytes + 200 and "output truncated" in out


def test_big_values_come_back_as_handles_with_working_attributes(sandbox: Sandbox) -> None:
    sandbox.run_cell("import numpy as np\nbig = np.zeros((9000, 2000))")  # 144 MB
    big = sandbox.namespace["big"]
    assert isinstance(big, RemoteHandle)
    assert big.shape == (9000, 2000) and big.dtype.name == "float64"
    assert big.sum() == 0.0


def test_a_remote_hang_that_ignores_interrupts_kills_the_sandbox(tmp_path: Path) -> None:
    limits = Limits(call_timeout=0.5, interrupt_grace=0.5)
    with open_sandbox(tmp_path, limits) as box:
        box.run_cell("import time\ndef stubborn():\n    while True:\n        try:\n"
                     "            time.sleep(10)\n        except KeyboardInterrupt:\n"
                     "            pass")
        with pytest.raises(SandboxTimeout):
            box.namespace["stubborn"]()
        assert not box.alive()
        with pytest.raises(SandboxDied):
            box.namespace["x"]
        assert box.run_cell("1").status == "died"


class AlarmTimeout(KeyboardInterrupt):
    """Like the batch layer's per-test timeout: raised asynchronously by SIGALRM."""


def test_a_test_alarm_during_a_remote_call_leaves_the_sandbox_usable(sandbox: Sandbox) -> None:
    """The batch layer bounds each test case with a SIGALRM handler that raises (and keeps
    re-arming until the case unwinds). Such exceptions may land anywhere in an exchange;
    the conversation with the runner must stay in sync and the sandbox usable."""
    import signal

    sandbox.run_cell("import time\ndef slow():\n    time.sleep(30)\n    return 1\n"
                     "def fast(i):\n    return i")
    armed = [True]

    def on_alarm(signum: int, frame: object) -> None:
        if armed[0]:
            signal.setitimer(signal.ITIMER_REAL, 0.003)
            raise AlarmTimeout

    def disarm() -> None:
        while True:
            try:
                armed[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
                return
            except AlarmTimeout:
                continue

    previous = signal.signal(signal.SIGALRM, on_alarm)
    fired = 0
    try:
        started = time.monotonic()
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            sandbox.namespace["slow"]()
        except AlarmTimeout:
            fired += 1
        assert time.monotonic() - started < 2
        for i in range(300):  # alarms landing anywhere in many short exchanges
            try:
                assert sandbox.namespace["fast"](i) == i
            except AlarmTimeout:
                fired += 1
    except AlarmTimeout:
        fired += 1
    finally:
        while True:  # an alarm may land on the way into disarm() itself: disarm again
            try:
                disarm()
                break
            except AlarmTimeout:
                fired += 1
        signal.signal(signal.SIGALRM, previous)
    assert fired > 1
    assert sandbox.alive()
    assert sandbox.namespace["x"] == 41 and sandbox.namespace["fast"](7) == 7
    assert sandbox.run_cell("x").output.startswith("Out[")
