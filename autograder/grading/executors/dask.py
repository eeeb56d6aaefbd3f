"""``DaskExecutor``: grade a batch on a Dask distributed cluster (``mlphys grade --dask-scheduler``).

The driver (``grade_batch``) stays where it is: it keeps the gradebook, resume and the
exactly-once bookkeeping, and this executor is a Dask *client* that sends each submission as
bytes to :func:`dask_worker.grade_on_worker` and turns what comes back into the executor
events. What travels, and why:

* the autograder zip's bytes, once per batch, as the result of a tiny task every grading task
  depends on: Dask copies it to each worker once, and recomputes it if every holder is lost;
* per submission: its file name, bytes, size and sha256, and the batch's settings (hash, limits) --
  plain data; no path is sent, so the workers need no shared file system;
* back: the ``SubmissionResult`` as a dict, and a "started" event on a topic of this batch
  (``Worker.log_event``) naming the worker and the grading process.

Failures: a grading process that dies raises on the worker and the task is retried once (as
in the local pool); a Dask worker lost mid-task is rescheduled by the scheduler on another
worker (up to its ``allowed-failures``), and the driver records a new attempt and ends the
abandoned one, so every submission still gets one committed result. If the driver is killed,
the scheduler forgets its tasks; a rerun grades whatever has no committed result.

At most a window of tasks is in flight (twice the cluster's threads, at least
``min_window``, at most ``max_inflight_bytes`` of submissions): the driver's memory stays flat
for any class size, and an adaptive cluster still sees queued work to scale up for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import queue
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autograder.grading.causes import Cause, Stop
from autograder.grading.executors import dask_worker
from autograder.grading.executors.base import (
    Event,
    Executor,
    ExecutorError,
    Finished,
    GradingJob,
    GradingTask,
    Lost,
    Started,
    SubmissionChangedError,
)
from autograder.grading.model import SubmissionResult

MAX_SEND_BYTES = 256 * 1024**2
"""Of a larger submission file only this many bytes are sent: the worker recreates a (sparse)
file of the original size, which the grader refuses by its size before reading it, exactly as
it refuses the original (every size limit is far smaller)."""


def local_code_fingerprint() -> str:
    """This machine's grading code (what the workers' must equal)."""
    return dask_worker.code_fingerprint()


MESSAGE_LOG_ADVICE = 100
"""Above this many kept messages per connection, ``describe`` advises lowering it..."""

MESSAGE_LOG_KEPT = 50
"""...to this many, which the driver's own connection keeps."""


class DaskExecutor(Executor):
    """Grades on the workers of the Dask scheduler at ``address`` (or named in
    ``scheduler_file``). Connects at construction (``ExecutorError`` if it cannot); use it as
    a context manager, or call :meth:`close`. One executor can grade several batches."""

    def __init__(self, address: str | None = None, *, scheduler_file: str | None = None,
                 connect_timeout: float = 30.0, retries: int = 1, min_window: int = 8,
                 max_inflight_bytes: int = 512 * 1024**2,
                 max_send_bytes: int = MAX_SEND_BYTES) -> None:
        if (address is None) == (scheduler_file is None):
            raise ExecutorError("give either a Dask scheduler address or a scheduler file")
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorError("Dask is not installed: pip install 'mlphys[dask]'") from None
        self.where = address or f"the scheduler in {scheduler_file}"
        if scheduler_file is not None and not Path(scheduler_file).is_file():
            raise ExecutorError(f"no Dask scheduler file at {scheduler_file}")
        import dask

        kept = min(dask_worker.message_log_length(), MESSAGE_LOG_KEPT)
        try:  # the client keeps its messages, every submission's bytes among them: few
            with dask.config.set({dask_worker.MESSAGE_LOG_SETTING: kept}):
                self.client = Client(address, scheduler_file=scheduler_file,
                                     timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {self.where}: "
                                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                ) from None
        self.retries = retries
        self.min_window = min_window
        self.max_inflight_bytes = max_inflight_bytes
        self.max_send_bytes = max_send_bytes

    # -- cluster ---------------------------------------------------------------------------
    def _threads(self) -> int:
        return sum(self.client.nthreads().values())

    @property
    def parallelism(self) -> int:
        return self._threads()

    def describe(self) -> str:
        """One line: the scheduler, its workers and the sandbox mode each machine gives."""
        workers = self.client.nthreads()
        modes = Counter(self.client.run(dask_worker.isolation_mode).values()) if workers else Counter()
        sandbox = ", ".join(f"{n} x {mode}" for mode, n in sorted(modes.items())) or "-"
        line = (f"Dask scheduler {self.client.scheduler.address}: {len(workers)} workers, "
                f"{sum(workers.values())} threads; sandbox isolation per worker: {sandbox}")
        kept = self._message_log_length()
        if kept > MESSAGE_LOG_ADVICE:
            line += (f"\nnote: the Dask processes keep their last {kept} messages per "
                     "connection, each submission's bytes included (the scheduler's memory "
                     "grows by that many submissions per worker); start the scheduler and the "
                     f"workers with DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH="
                     f"{MESSAGE_LOG_KEPT} (docs/cluster.md)")
        return line

    def _message_log_length(self) -> int:
        """The largest ``message_log_length`` of the scheduler and the workers (0 if unknown:
        a scheduler may refuse to run functions)."""
        try:
            lengths = [self.client.run_on_scheduler(dask_worker.message_log_length),
                       *self.client.run(dask_worker.message_log_length).values()]
        except Exception:
            return 0
        return max(int(n) for n in lengths)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- grading ---------------------------------------------------------------------------
    def run(self, job: GradingJob, tasks: Sequence[GradingTask],
            emit: Callable[[Event], None]) -> None:
        if not tasks:
            return
        if job.max_notebook_bytes >= self.max_send_bytes:
            raise ExecutorError(f"notebooks of up to {job.max_notebook_bytes} bytes cannot be "
                                f"sent to Dask workers (at most {self.max_send_bytes - 1})")
        if job.options.site_dirs:
            raise ExecutorError("--install-requirements builds the autograder's environment on "
                                "this machine; Dask workers need its packages in their own "
                                "installation (grade with --ignore-requirements, or install them)")
        zip_data = Path(job.autograder_path).read_bytes()
        if hashlib.sha256(zip_data).hexdigest() != job.autograder_sha256:
            raise ExecutorError("the autograder zip changed while grading started")
        token = hashlib.sha256(f"{socket.gethostname()} {os.getpid()} {time.time_ns()} "
                               f"{job.autograder_sha256}".encode()).hexdigest()[:16]
        topic = f"mlphys-started-{token}"
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client.subscribe_topic(topic, lambda event: events.put(("started", event[1])))
        code = local_code_fingerprint()
        others = sorted(w for w, c in self.client.run(dask_worker.code_fingerprint).items()
                        if c != code)
        if others:
            raise ExecutorError(f"{len(others)} Dask worker(s) run other grading code than this "
                                f"machine (install the same version of mlphys): {others[0]} ...")
        settings = {"autograder_sha256": job.autograder_sha256,
                    "limits": dataclasses.asdict(job.limits),
                    "max_notebook_bytes": job.max_notebook_bytes,
                    "caps": dataclasses.asdict(job.caps),
                    "grader_memory_bytes": job.grader_memory_bytes,
                    "options": dataclasses.asdict(job.options), "code": code}
        zip_future = self.client.submit(dask_worker.autograder_bytes, zip_data, key=f"mlphys-ag-{token}",
                                        pure=False)
        del zip_data
        inflight: dict[str, tuple[GradingTask, int, Any]] = {}
        pending = iter(tasks)
        counter = 0
        window = max(2 * self._threads(), self.min_window)
        refreshed = time.monotonic()

        def refill() -> None:
            nonlocal counter
            while len(inflight) < window and (
                    not inflight
                    or sum(size for _, size, _ in inflight.values()) < self.max_inflight_bytes):
                task = next(pending, None)
                if task is None:
                    return
                try:
                    size = task.size()
                    if size > self.max_send_bytes:  # refused by its size on the worker
                        data = task.read_head(self.max_send_bytes)
                    else:
                        data = task.read_bytes()
                except (SubmissionChangedError, OSError) as exc:  # a rerun will see it anew
                    _note(task, str(exc))
                    emit(Lost(task.key, Stop(Cause.GRADER_FAILURE)))
                    continue
                counter += 1
                ref = f"mlphys-grade-{token}-{counter}"
                future = self.client.submit(
                    dask_worker.grade_on_worker, settings, zip_future, task.name, data, size, task.sha256,
                    topic, ref, task.submitter, key=ref, pure=False, retries=self.retries)
                future.add_done_callback(lambda f: events.put(("done", f)))
                inflight[ref] = (task, len(data), future)

        try:
            refill()
            while inflight:
                try:
                    kind, item = events.get(timeout=2.0)
                except queue.Empty:
                    kind, item = "", None
                if kind == "started":
                    entry = inflight.get(str(item.get("ref")))
                    if entry is not None:
                        emit(Started(entry[0].key, str(item.get("worker")), item.get("pid")))
                elif kind == "done":
                    entry = inflight.pop(str(item.key), None)
                    if entry is not None:
                        emit(self._outcome(entry[0], item))
                        item.release()
                if self.client.status in ("closing", "closed"):
                    raise ExecutorError(f"lost the connection to the Dask scheduler at "
                                        f"{self.where}")
                if time.monotonic() - refreshed > 2.0:
                    window = max(2 * self._threads(), self.min_window)
                    refreshed = time.monotonic()
                refill()
        finally:
            if inflight:
                with contextlib.suppress(Exception):
                    self.client.cancel([f for _, _, f in inflight.values()], force=True)
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(topic)
            with contextlib.suppress(Exception):
                zip_future.release()

    def _outcome(self, task: GradingTask, future: Any) -> Event:
        """The final event of a task whose future is done."""
        if future.status == "cancelled":
            raise ExecutorError("the Dask scheduler dropped this batch's tasks (was it "
                                "restarted?)")
        try:
            return Finished(task.key, SubmissionResult.from_dict(future.result()))
        except Exception as exc:
            _note(task, _why_lost(exc))
            return Lost(task.key, _stop(exc))


def _note(task: GradingTask, why: str) -> None:
    """The instructor's one line on a lost submission (its status only names the cause)."""
    print(f"[mlphys grade] {task.name}: not graded this time ({why}); a rerun grades it",
          file=sys.stderr, flush=True)


def _why_lost(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return "the Dask workers grading it kept dying"
    if name in ("GraderProcessError", "WrongVersionError"):
        return str(exc)
    return f"{name}: {exc}"[:300]


def _stop(exc: BaseException) -> Stop:
    """The grader's cause for a task that raised (never the submission's: not final)."""
    if isinstance(exc, dask_worker.GraderProcessError):
        if exc.cause == Cause.GRADER_MEMORY.value:
            return Stop(Cause.GRADER_MEMORY, limit_bytes=int(exc.number or 0) or None)
        if exc.cause == Cause.GRADER_TIME.value:
            return Stop(Cause.GRADER_TIME, seconds=exc.number)
    return Stop(Cause.GRADER_FAILURE)
