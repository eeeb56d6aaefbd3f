"""One grading worker process (``executors.local``'s program) driven synchronously: spawn it,
grade one submission at a time, stop it.

Why reuse the local worker program instead of grading in the calling process: the caller is a
Dask worker thread, and grading needs the main thread of a process of its own (Otter's doctest
runner swaps process-wide state such as ``sys.stdout``, and test time limits use ``SIGALRM``,
which only the main thread receives). The process dies with the process that spawned it
(``PR_SET_PDEATHSIG``), and its sandbox dies with it.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import Any

from autograder.grading.executors.local import WorkerConfig, end_worker, start_worker
from autograder.grading.sandbox import cgroups
from autograder.grading.sandbox.channel import (
    FrameReader,
    FrameTimeoutError,
    ProtocolError,
    write_frame,
)


class GraderProcessError(RuntimeError):
    """The grading process could not start, died or stopped answering (its submission may be
    tried again elsewhere). ``cause``: a ``causes.Cause`` value (``grader_failure``,
    ``grader_memory``, ``grader_time``). Every attribute is in ``args``: Dask pickles it."""

    def __init__(self, message: str, cause: str = "grader_failure",
                 number: float | None = None) -> None:
        super().__init__(message, cause, number)

    def __str__(self) -> str:
        return str(self.args[0])

    @property
    def cause(self) -> str:
        return str(self.args[1])

    @property
    def number(self) -> float | None:
        """the limit that ran out: bytes (memory) or seconds (time)"""
        return self.args[2]


class GraderProcess:
    """A grading worker process; :meth:`spawn` must run in a thread that outlives it (Linux
    ties ``PR_SET_PDEATHSIG`` to the spawning *thread*)."""

    def __init__(self, cfg: WorkerConfig, slot: int):
        self.cfg = cfg
        self.slot = slot
        self.process: subprocess.Popen[bytes] | None = None
        self.reader: FrameReader | None = None
        self.pid: int | None = None
        self.group: cgroups.SandboxCgroup | None = None

    def spawn(self) -> None:
        """Start the process, in a memory control group of its own where the machine has them
        (as the local pool does: a test's work on student data cannot exhaust the worker)."""
        self.process, self.group = start_worker(self.cfg, self.slot)
        assert self.process.stdout is not None
        self.reader = FrameReader(self.process.stdout.fileno())

    def wait_ready(self, timeout: float) -> None:
        """Wait for the process to load the autograder and say ``ready``."""
        message = self._read(time.monotonic() + timeout, "start")
        if message.get("op") == "fatal":
            self.kill()
            raise GraderProcessError(str(message.get("message")))
        if message.get("op") != "ready":
            self.kill()
            raise GraderProcessError(f"unexpected {message.get('op')!r} from a grading process")
        self.pid = int(message["pid"])

    def grade(self, key: str, path: str, timeout: float,
              submitter: dict[str, Any] | None = None) -> dict[str, Any]:
        """Grade the submission at ``path`` (for ``submitter``, see ``GradingTask``); the result
        as ``SubmissionResult.to_dict``."""
        assert self.process is not None and self.process.stdin is not None
        try:
            data_limit = 0 if self.group is not None else self.cfg.grader_memory_bytes
            write_frame(self.process.stdin.fileno(), {"op": "grade", "key": key, "path": path,
                                                      "data_limit": data_limit,
                                                      "submitter": submitter})
        except (OSError, ProtocolError):
            raise self._died() from None
        message = self._read(time.monotonic() + timeout, "grade")
        if message.get("op") != "result" or message.get("key") != key:
            self.kill()
            raise GraderProcessError(f"unexpected {message.get('op')!r} from a grading process")
        return message["result"]

    def _read(self, deadline: float, doing: str) -> dict[str, Any]:
        assert self.reader is not None and self.process is not None
        try:
            return self.reader.read(deadline)
        except FrameTimeoutError:
            self.kill()
            raise GraderProcessError(f"grader worker did not answer in time ({doing}); killed",
                                     "grader_time", deadline) from None
        except (ProtocolError, OSError):
            raise self._died() from None

    def _died(self) -> GraderProcessError:
        """The pipe broke: the process is exiting; its exit code says why."""
        assert self.process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        code = self.process.returncode
        out_of_memory = self.group is not None and self.group.oom_kills() > 0
        self.kill()
        if out_of_memory:
            return GraderProcessError("grader worker ran out of memory", "grader_memory",
                                      self.cfg.grader_memory_bytes)
        return GraderProcessError(f"grader worker died (exit code {code})")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        """Ask the process to stop, then make sure it has."""
        if self.process is None:
            return
        if self.process.poll() is None and self.process.stdin is not None:
            with contextlib.suppress(OSError, ProtocolError):
                write_frame(self.process.stdin.fileno(), {"op": "stop"})
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self.kill()

    def kill(self) -> None:
        if self.process is None:
            return
        end_worker(self.process, self.group)
        self.group = None
