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
import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Any

from autograder.grading.executors.local import WorkerConfig
from autograder.grading.sandbox.channel import (
    FrameReader,
    FrameTimeoutError,
    ProtocolError,
    write_frame,
)


class GraderProcessError(RuntimeError):
    """The grading process could not start, died or stopped answering (its submission may be
    tried again elsewhere)."""


class GraderProcess:
    """A grading worker process; :meth:`spawn` must run in a thread that outlives it (Linux
    ties ``PR_SET_PDEATHSIG`` to the spawning *thread*)."""

    def __init__(self, cfg: WorkerConfig, slot: int):
        self.cfg = cfg
        self.slot = slot
        self.process: subprocess.Popen[bytes] | None = None
        self.reader: FrameReader | None = None
        self.pid: int | None = None

    def spawn(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.grading.executors.local",
             json.dumps(dataclasses.asdict(self.cfg)), str(self.slot), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
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

    def grade(self, key: str, path: str, timeout: float) -> dict[str, Any]:
        """Grade the submission at ``path``; the result as ``SubmissionResult.to_dict``."""
        assert self.process is not None and self.process.stdin is not None
        try:
            write_frame(self.process.stdin.fileno(), {"op": "grade", "key": key, "path": path})
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
            raise GraderProcessError(f"grader worker did not answer in time ({doing}); killed"
                                     ) from None
        except (ProtocolError, OSError):
            raise self._died() from None

    def _died(self) -> GraderProcessError:
        """The pipe broke: the process is exiting; its exit code says why."""
        assert self.process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        code = self.process.returncode
        self.kill()
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
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(Exception):
                stream.close()
