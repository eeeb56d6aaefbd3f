"""Worker processes that grade submissions in parallel, one sandbox slot each.

Why processes and not threads: test code runs in the grading process and Otter's doctest runner
swaps process-wide state (``sys.stdout``, the display hook), so two questions may not be tested
at the same time in one process. Why our own small pool and not ``ProcessPoolExecutor``: one
worker dying (it should not, but student code is hostile) must cost only the submission it was
grading, not break the pool; and every worker must die with the batch (``PR_SET_PDEATHSIG``), so
``kill -9`` of ``mlphys grade`` leaves nothing running.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent is already gone
        os._exit(1)


@dataclass
class WorkerConfig:
    autograder_path: str
    autograder_sha256: str
    limits: Any
    scratch_root: str
    max_notebook_bytes: int
    sandbox_factory: Any = None  # tests inject a picklable factory


def _worker_main(conn: Connection, cfg: WorkerConfig, slot: int) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when we stop
    from autograder.grading.flow import failed_result, grade_submission
    from autograder.grading.gradescope import gradescope_dict
    from autograder.grading.otter_zip import load_autograder
    from autograder.grading.submissions import Submission

    spec = load_autograder(cfg.autograder_path)
    if spec.sha256 != cfg.autograder_sha256:
        conn.send(("fatal", "the autograder zip changed while grading started"))
        return
    scratch = Path(cfg.scratch_root) / f"slot{slot}"
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        key, path = task
        try:
            result = grade_submission(
                spec, Submission(Path(path)), scratch, limits=cfg.limits, slot=slot,
                max_notebook_bytes=cfg.max_notebook_bytes, sandbox_factory=cfg.sandbox_factory,
            )
        except Exception as e:  # a grader bug must still give this submission a result
            result = failed_result(spec, f"error: grader failure: {type(e).__name__}: {e}"[:300])
        results_json = gradescope_dict(result.questions, spec.config, result.grading_status)
        conn.send(("result", key, result.to_dict(), results_json))


@dataclass
class _Worker:
    slot: int
    process: Any
    conn: Connection
    task: tuple[Any, str] | None = None
    ready: bool = False
    pid: int | None = None


class WorkerPool:
    """Run ``tasks`` (key, submission path) on ``jobs`` workers; callbacks run in the caller."""

    def __init__(self, jobs: int, cfg: WorkerConfig, retries: int = 1):
        self.jobs = max(1, jobs)
        self.cfg = cfg
        self.retries = retries
        self.ctx = mp.get_context("spawn")
        self.workers: list[_Worker] = []

    def _spawn(self, slot: int) -> _Worker:
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker_main, args=(child, self.cfg, slot), daemon=True,
                             name=f"mlphys-grade-worker-{slot}")
        p.start()
        child.close()
        return _Worker(slot=slot, process=p, conn=parent)

    def run(
        self,
        tasks: Iterator[tuple[Any, str]],
        on_start: Callable[[Any, str, int | None], None],
        on_result: Callable[[Any, str, dict[str, Any], dict[str, Any]], None],
        on_lost: Callable[[Any, str, str], None],
    ) -> None:
        pending: deque[tuple[Any, str]] = deque()
        tries: dict[Any, int] = {}
        exhausted = False

        def next_task() -> tuple[Any, str] | None:
            nonlocal exhausted
            if pending:
                return pending.popleft()
            if exhausted:
                return None
            try:
                return next(tasks)
            except StopIteration:
                exhausted = True
                return None

        self.workers = [self._spawn(slot) for slot in range(self.jobs)]
        try:
            while True:
                for w in self.workers:
                    if w.ready and w.task is None:
                        t = next_task()
                        if t is not None:
                            w.task = t
                            on_start(t[0], t[1], w.pid)
                            w.conn.send(t)
                busy = [w for w in self.workers if w.task is not None or not w.ready]
                if exhausted and not pending and not any(w.task for w in self.workers):
                    break
                if not busy:
                    continue
                waitables = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                ready = wait(waitables)
                for w in list(self.workers):
                    msg = None
                    if w.conn in ready:
                        try:
                            msg = w.conn.recv()
                        except (EOFError, OSError):
                            msg = None
                    if msg is not None:
                        if msg[0] == "ready":
                            w.ready, w.pid = True, msg[1]
                        elif msg[0] == "result":
                            task, w.task = w.task, None
                            on_result(task[0], task[1], msg[2], msg[3])
                        elif msg[0] == "fatal":
                            raise RuntimeError(msg[1])
                        continue
                    if w.process.sentinel in ready or (w.conn in ready and msg is None):
                        # the worker died: its submission is retried once, then recorded as lost
                        w.process.join(timeout=5)
                        if w.task is not None:
                            key, path = w.task
                            tries[key] = tries.get(key, 0) + 1
                            if tries[key] <= self.retries:
                                pending.append(w.task)
                            else:
                                on_lost(key, path, f"grader worker died (exit code "
                                                   f"{w.process.exitcode})")
                        if not w.ready and w.task is None and w.process.exitcode not in (0, None):
                            # died during start-up: do not respawn forever
                            if all(not x.ready for x in self.workers if x is not w):
                                raise RuntimeError("grader workers cannot start "
                                                   f"(exit code {w.process.exitcode})")
                        idx = self.workers.index(w)
                        with contextlib.suppress(Exception):
                            w.conn.close()
                        self.workers[idx] = self._spawn(w.slot)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        for w in self.workers:
            with contextlib.suppress(Exception):
                w.conn.send(None)
        for w in self.workers:
            w.process.join(timeout=10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            with contextlib.suppress(Exception):
                w.conn.close()
        self.workers = []
