"""Deadlines and caps enforced by the trusted side, whatever the runner sends (issue 8).

A student reaches the runner's own machinery through the heap (``gc.get_objects()`` holds the
runner's module globals: it lives in the student's process), so these tests forge exactly
what a student can: check requests in an
endless loop, a burst of check frames written without pause, a ``cell_done`` that claims
"memory" with a text of the student's choice, a frame whose op is student text.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from sandbox_fixtures.helpers import FAST, open_sandbox

from autograder.grading.causes import Cause
from autograder.grading.sandbox import SandboxTimeout

RUNNER = """
import gc as _gc, types as _types
runner = _types.SimpleNamespace(**next(  # the runner's module globals, found on the heap
    o for o in _gc.get_objects() if type(o) is dict and "STATE" in o and "serve" in o))
"""

PACED_FLOOD = RUNNER + """
state = runner.STATE
while True:
    runner.send(state, {"op": "check", "q": "q1", "seq": state.cell_seq})
    runner.serve(state, stop_op="resume")
"""

BURST_FLOOD = RUNNER + """
import os, signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
state = runner.STATE
frame = runner.channel.pack_frame({"op": "check", "q": "q1", "seq": state.cell_seq})
os.set_blocking(state.wfd, True)
while True:
    os.write(state.wfd, frame * 256)
"""


def test_a_paced_check_flood_tests_each_question_a_capped_number_of_times(tmp_path: Path):
    """Each forged check waits for the grader's answer, as an honest one does: the first
    ``checks_per_question`` are tested, the rest resume at once, and request number
    ``checks_per_notebook + 1`` (which the honest runner never sends) breaks the sandbox."""
    limits = dataclasses.replace(FAST, cell_timeout=30.0, checks_per_question=7,
                                 checks_per_notebook=300)
    tested = []
    with open_sandbox(tmp_path, limits) as box:
        t0 = time.monotonic()
        outcome = box.run_cell(PACED_FLOOD, on_check=tested.append)
        took = time.monotonic() - t0
        assert tested == ["q1"] * 7          # the grader's cap, not the runner's
        assert outcome.status == "error" and outcome.stop is not None
        assert outcome.stop.cause is Cause.PROTOCOL
        assert not box.alive()
        assert took < 25  # 300 round trips, 7 of them tested: well before the 30 s cell limit


def test_a_paced_check_flood_ends_with_the_cell_time_limit(tmp_path: Path):
    limits = dataclasses.replace(FAST, cell_timeout=2.0, checks_per_question=3,
                                 checks_per_notebook=10**9)
    tested = []
    with open_sandbox(tmp_path, limits) as box:
        t0 = time.monotonic()
        outcome = box.run_cell(PACED_FLOOD, on_check=tested.append)
        took = time.monotonic() - t0
        assert outcome.status == "timeout"
        assert tested == ["q1"] * 3
        # the cell limit ended it, not the notebook limit (120 s); the margin is for a busy machine
        assert took < limits.cell_timeout + limits.interrupt_grace + 10


def test_a_burst_of_forged_checks_is_cut_off_by_the_notebook_cap(tmp_path: Path):
    limits = dataclasses.replace(FAST, cell_timeout=30.0, checks_per_question=3,
                                 checks_per_notebook=50)
    tested = []
    with open_sandbox(tmp_path, limits) as box:
        outcome = box.run_cell(BURST_FLOOD, on_check=tested.append)
        assert outcome.status == "error" and outcome.stop is not None
        assert outcome.stop.cause is Cause.PROTOCOL
        assert tested == ["q1"] * 3
        assert not box.alive()


def test_buffered_frames_do_not_outlive_the_notebook_deadline(tmp_path: Path):
    """Without per-question testing (cap 0) the flood costs the grader nothing per frame:
    only the notebook deadline, looked at before every frame, can end it."""
    limits = dataclasses.replace(FAST, cell_timeout=60.0, call_timeout=60.0,
                                 notebook_timeout=4.0, checks_per_question=0,
                                 checks_per_notebook=10**9)
    with open_sandbox(tmp_path, limits) as box:
        t0 = time.monotonic()
        outcome = box.run_cell(BURST_FLOOD, on_check=lambda q: None)
        took = time.monotonic() - t0
        # ended by the notebook's deadline, or by the resumes it never reads filling the pipe
        # (whose writes may not outlive that deadline either): never by the 60 s limits
        assert outcome.status in ("timeout", "died")
        assert outcome.stop is not None and outcome.stop.cause in (
            Cause.NOTEBOOK_TIMEOUT, Cause.PROTOCOL)
        assert took < limits.notebook_timeout + limits.interrupt_grace + 10  # not 60 s
        assert not box.alive()


def test_calls_between_cells_spend_the_notebook_budget(tmp_path: Path):
    limits = dataclasses.replace(FAST, notebook_timeout=3.0, call_timeout=30.0)
    with open_sandbox(tmp_path, limits) as box:
        assert box.run_cell("import time\ndef slow(s):\n    time.sleep(s)\n    return s"
                            ).status == "ok"
        slow = box.namespace["slow"]
        assert slow(1) == 1
        t0 = time.monotonic()
        try:
            slow(20)  # the call limit is 30 s, but the notebook has ~2 s left
        except SandboxTimeout:
            pass
        else:
            raise AssertionError("the call outlived the notebook budget")
        assert time.monotonic() - t0 < 2.5 + limits.interrupt_grace + 6  # not 20 s
        t1 = time.monotonic()
        try:
            box.namespace["slow"]
        except SandboxTimeout:
            pass
        else:
            raise AssertionError("a request after the budget ran out was served")
        assert time.monotonic() - t1 < 2.0  # refused at once, not after a wait


def test_a_forged_memory_claim_is_not_the_graders_cause(tmp_path: Path):
    with open_sandbox(tmp_path, FAST) as box:
        outcome = box.run_cell(
            RUNNER + "import os\nstate = runner.STATE\n"
            "runner.send(state, {'op': 'cell_done', 'status': 'memory', 'seq': state.cell_seq,"
            " 'output': '', 'error': 'MemoryError: PWNED'})\nos._exit(0)")
        assert outcome.status == "memory"  # what the runner claimed (instructor log only)
        deadline = time.monotonic() + 5
        while box.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not box.alive()
        assert box.stop is not None and box.stop.cause is Cause.KERNEL_EXITED
        assert box.stop.text() == "kernel died: the notebook's process exited with status 0"


def test_a_protocol_violation_is_reported_without_its_text(tmp_path: Path):
    with open_sandbox(tmp_path, FAST) as box:
        outcome = box.run_cell(
            RUNNER + "state = runner.STATE\n"
            "runner.send(state, {'op': 'PWNED student text', 'seq': state.cell_seq})\n"
            "import time\ntime.sleep(5)")
        assert outcome.stop is not None and outcome.stop.cause is Cause.PROTOCOL
        assert "PWNED" not in outcome.stop.text()
