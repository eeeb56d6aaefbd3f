"""Why grading of a submission stopped early, in the grader's own words.

Why a closed list: a status such as ``grading_status`` ends up in ``final_grades.csv``,
``results.json``, the feedback pages and the LMS exports, which students read. Anything the
sandbox sends is written by student code (a forged ``cell_done`` with status "memory" and an
error text of the student's choosing, a hidden test's arguments stashed in an exception
message...). So the grader decides the *cause* from facts it observed itself (its own clocks,
the exit status the kernel reported, the control group's counters), and the text of every
status is composed here from that cause and from numbers the grader configured. Nothing that
came out of the sandbox is ever part of it; the sandbox's own words go only to the
instructor-only log.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

__all__ = ["Cause", "Stop", "describe_exit", "signal_name"]


class Cause(enum.Enum):
    """Every reason the grader gives for stopping a submission early."""

    NOTEBOOK_TIMEOUT = "notebook_timeout"
    CELL_TIMEOUT = "cell_timeout"
    CPU_TIME = "cpu_time"
    CALL_TIMEOUT = "call_timeout"
    MEMORY = "memory"
    DISK = "disk"
    KERNEL_EXITED = "kernel_exited"
    KERNEL_KILLED = "kernel_killed"
    PROTOCOL = "protocol"
    START_FAILED = "start_failed"
    GRADER_MEMORY = "grader_memory"
    GRADER_TIME = "grader_time"
    GRADER_FAILURE = "grader_failure"


QUESTION_STATUS = {
    Cause.NOTEBOOK_TIMEOUT: "timeout", Cause.CELL_TIMEOUT: "timeout", Cause.CPU_TIME: "timeout",
    Cause.CALL_TIMEOUT: "timeout", Cause.MEMORY: "memory", Cause.DISK: "disk",
    Cause.KERNEL_EXITED: "kernel died", Cause.KERNEL_KILLED: "kernel died",
    Cause.PROTOCOL: "kernel died", Cause.START_FAILED: "error: sandbox failed to start",
    Cause.GRADER_MEMORY: "error: grader failure", Cause.GRADER_TIME: "error: grader failure",
    Cause.GRADER_FAILURE: "error: grader failure",
}
"""The per-question status (the first word of the grading status)."""

GRADER_FAULTS = frozenset({Cause.START_FAILED, Cause.GRADER_MEMORY, Cause.GRADER_TIME,
                           Cause.GRADER_FAILURE})
"""Causes that are the grader's (or the machine's) fault, not the submission's: such a result
is shown but never kept as final, so the next run grades the submission again."""


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; an unknown number stays a number (never text from elsewhere)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {int(number)}"


@dataclass(frozen=True)
class Stop:
    """A cause plus the grader-side numbers its text needs."""

    cause: Cause
    seconds: float | None = None
    """the limit that ran out (timeouts)"""
    limit_bytes: int | None = None
    """the limit that ran out (memory, disk)"""
    signal: int | None = None
    exit_code: int | None = None

    @property
    def question_status(self) -> str:
        return QUESTION_STATUS[self.cause]

    @property
    def grader_fault(self) -> bool:
        return self.cause in GRADER_FAULTS

    def text(self) -> str:
        """The status line, e.g. ``timeout: cell time limit (3 s) exceeded``; the grader's
        own failures read ``error: grader failure: ...``."""
        return f"{self.question_status}: {self.detail()}"

    def detail(self) -> str:
        c = self.cause
        if c is Cause.NOTEBOOK_TIMEOUT:
            return f"notebook time limit ({self.seconds:g} s) exceeded"
        if c is Cause.CELL_TIMEOUT:
            return f"cell time limit ({self.seconds:g} s) exceeded"
        if c is Cause.CPU_TIME:
            return f"CPU time limit ({self.seconds:g} s) exceeded"
        if c is Cause.CALL_TIMEOUT:
            return f"a call into the notebook exceeded {self.seconds:g} s"
        if c is Cause.MEMORY:
            return f"the notebook ran out of memory ({_size(self.limit_bytes)})"
        if c is Cause.DISK:
            return f"the notebook ran out of disk space ({_size(self.limit_bytes)})"
        if c is Cause.KERNEL_EXITED:
            code = "" if self.exit_code is None else f" with status {int(self.exit_code)}"
            return f"the notebook's process exited{code}"
        if c is Cause.KERNEL_KILLED:
            sig = "" if self.signal is None else f" by {signal_name(self.signal)}"
            return f"the notebook's process was killed{sig}"
        if c is Cause.PROTOCOL:
            return "the notebook's process broke the grading protocol and was stopped"
        if c is Cause.START_FAILED:
            return "the sandbox could not be started (not the submission's fault; rerun)"
        if c is Cause.GRADER_MEMORY:
            return (f"the grader ran out of memory ({_size(self.limit_bytes)}) testing this "
                    "submission (rerun)")
        if c is Cause.GRADER_TIME:
            return (f"grading this submission took the grader more than {self.seconds:g} s "
                    "(rerun)")
        return "the grader failed on this submission (rerun)"


def _size(nbytes: int | None) -> str:
    if nbytes is None:
        return "limit reached"
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if nbytes >= size:
            return f"limit {nbytes / size:g} {unit}"
    return f"limit {int(nbytes)} bytes"


def describe_exit(code: int | None) -> Stop:
    """The runner's exit as the kernel reported it (shell-style: 128+N for signal N)."""
    if code is None:
        return Stop(Cause.KERNEL_KILLED)
    if code > 128:
        number = code - 128
        if number == signal.SIGXCPU:
            return Stop(Cause.CPU_TIME)
        if number == signal.SIGXFSZ:
            return Stop(Cause.DISK)
        return Stop(Cause.KERNEL_KILLED, signal=number)
    if code < 0:
        return Stop(Cause.KERNEL_KILLED, signal=-code)
    return Stop(Cause.KERNEL_EXITED, exit_code=code)
