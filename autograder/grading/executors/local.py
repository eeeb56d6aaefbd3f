"""The local executor: worker processes on this machine that grade submissions in parallel.

Why processes and not threads: test code runs in the grading process and Otter's doctest runner
swaps process-wide state (``sys.stdout``, the display hook), so two questions may not be tested
at the same time in one process. Why plain ``python -m autograder.grading.executors.local`` subprocesses
and not ``multiprocessing``: its spawn/forkserver start methods re-import the caller's
``__main__`` in every worker (an LMS-export script calling ``grade_batch`` would run again, and
fail without a ``__main__`` guard), and fork would copy the caller's threads and open databases.
Why our own small pool: one worker dying (it should not, but student code is hostile) must cost
only the submission it was grading; and every worker dies with the batch
(``PR_SET_PDEATHSIG``), so ``kill -9`` of ``mlphys grade`` leaves nothing running.

Protocol: the frames of ``sandbox.channel`` on the worker's stdin/stdout (driver -> worker:
``grade{key,path}``, ``stop``; worker -> driver: ``ready{pid}``, ``result{key,result}``,
``fatal{message}``); anything else the worker prints goes to its stderr. Each worker grades one
submission at a time (``otter.grade_one.grade_path``) with one sandbox slot, in a fresh scratch
directory per submission.

Limits of the trusted side (issue 8: a huge hidden layer made a root worker peak at 2 GB): each
worker runs in its own memory control group (``grader_memory_bytes``; where there are no
cgroups, a soft ``RLIMIT_DATA`` of the same size), and a worker that spends more than
``submission_seconds`` on one submission is killed. Either costs that one submission a status
composed by the grader (``causes.GRADER_MEMORY`` / ``GRADER_TIME``), recorded as not final
(the next run grades it again); it is not retried in this run, since it would fail the same
way. A worker that dies otherwise is retried once, then ``GRADER_FAILURE``.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import itertools
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.grading.causes import Cause, Stop
from autograder.grading.executors.base import (
    Event,
    Executor,
    Finished,
    GradingJob,
    GradingTask,
    Lost,
    Started,
)
from autograder.grading.model import SubmissionResult
from autograder.grading.sandbox import cgroups
from autograder.grading.sandbox.channel import (
    FrameReader,
    ProtocolError,
    write_frame,
)

DEFAULT_GRADER_MEMORY_BYTES = 2 * 1024**3
"""Memory of one grading worker (its tests' work on student data included)."""

WORKER_TASKS = 512
"""Tasks (threads) of one grading worker's control group."""

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


@dataclass
class WorkerConfig:
    autograder_path: str
    autograder_sha256: str
    limits: dict[str, Any]
    """``dataclasses.asdict`` of the sandbox ``Limits``"""
    scratch_root: str
    max_notebook_bytes: int
    caps: dict[str, Any] = dataclasses.field(default_factory=dict)
    """``dataclasses.asdict`` of ``otter.submission_caps.SubmissionCaps``"""
    grader_memory_bytes: int = DEFAULT_GRADER_MEMORY_BYTES
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """``dataclasses.asdict`` of the batch's ``GradingOptions``"""
    submission_seconds: float = 0.0
    """kill a worker busy longer than this with one submission (0: notebook timeout +
    startup timeout + 30 s)"""


def submission_seconds(cfg: WorkerConfig) -> float:
    """The pool's backstop for one submission (see ``WorkerConfig.submission_seconds``)."""
    if cfg.submission_seconds > 0:
        return cfg.submission_seconds
    limits = cfg.limits
    return (float(limits.get("notebook_timeout", 600)) + float(limits.get("startup_timeout", 60))
            + 30.0)


def worker_main(cfg: WorkerConfig, slot: int, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when we stop
    # our protocol owns the real stdout; stray prints (test code may print) go to stderr
    proto_out = os.dup(1)
    os.dup2(2, 1)
    proto_in = FrameReader(0)

    from autograder.grading.otter.autograder_zip import use_light_otter

    use_light_otter()
    from autograder.grading.model import GradingOptions, Limits, Submitter
    from autograder.grading.otter.autograder_zip import import_support_files, load_autograder
    from autograder.grading.otter.grade_one import grade_path

    # every temporary folder of this worker (support files, sandbox runtime dirs) inside the
    # batch's scratch root: removed by the driver even if this worker is killed
    worker_tmp = Path(cfg.scratch_root) / f"worker{slot}-{os.getpid()}"
    worker_tmp.mkdir(mode=0o711)
    tempfile.tempdir = str(worker_tmp)
    spec = load_autograder(cfg.autograder_path)
    if spec.sha256 != cfg.autograder_sha256:
        write_frame(proto_out, {"op": "fatal",
                                "message": "the autograder zip changed while grading started"})
        return
    from autograder.grading.otter.submission_caps import SubmissionCaps

    import_support_files(spec)
    limits = Limits(**cfg.limits)
    caps = SubmissionCaps(**cfg.caps) if cfg.caps else SubmissionCaps(
        max_notebook_bytes=cfg.max_notebook_bytes)
    options = GradingOptions(**{**cfg.options, "site_dirs": tuple(cfg.options.get("site_dirs", ()))})
    # test code imports what the autograder's environment added, after the grader's own
    sys.path.extend(d for d in options.site_dirs if d not in sys.path)
    write_frame(proto_out, {"op": "ready", "pid": os.getpid()})
    for number in itertools.count():
        try:
            task = proto_in.read()
        except (ProtocolError, OSError):
            return
        if task["op"] != "grade":
            return
        if task.get("data_limit"):  # no control group for us: cap our own heap instead
            import resource

            hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
            resource.setrlimit(resource.RLIMIT_DATA, (int(task["data_limit"]), hard))
        scratch = worker_tmp / f"scratch-{number}"  # fresh for each submission
        submitter = task.get("submitter")
        result = grade_path(spec, task["path"], scratch, limits=limits, slot=slot,
                            max_notebook_bytes=cfg.max_notebook_bytes, caps=caps,
                            options=options,
                            submitter=None if submitter is None else Submitter.from_dict(submitter))
        write_frame(proto_out, {"op": "result", "key": task["key"], "result": result.to_dict()})


@dataclass
class _Worker:
    slot: int
    process: subprocess.Popen[bytes]
    reader: FrameReader
    task: tuple[Any, str] | None = None
    ready: bool = False
    pid: int | None = None
    group: cgroups.SandboxCgroup | None = None
    started: float = 0.0
    """when the current task was sent"""


def worker_cgroups() -> bool:
    """Whether grading processes get memory control groups of their own here (root, and a
    cgroup v2 hierarchy we may write)."""
    return os.geteuid() == 0 and cgroups.cgroup_support() is not None


def start_worker(cfg: WorkerConfig, slot: int, *, quiet: bool = True,
                 use_cgroup: bool | None = None,
                 ) -> tuple[subprocess.Popen[bytes], cgroups.SandboxCgroup | None]:
    """Start one grading process (this module's program) and, where the machine has memory
    control groups (root, cgroup v2), put it in one of its own before it has loaded anything:
    a test's work on student data then cannot exhaust the machine. The pool and the Dask
    worker's single grading process both start theirs here. ``use_cgroup`` None: whenever the
    machine has them."""
    process = subprocess.Popen(
        [sys.executable, "-m", "autograder.grading.executors.local",
         json.dumps(dataclasses.asdict(cfg)), str(slot), str(os.getpid())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None)
    if use_cgroup is None:
        use_cgroup = worker_cgroups()
    group = None
    if use_cgroup:
        group = cgroups.SandboxCgroup.create(f"w{slot}", cfg.grader_memory_bytes, WORKER_TASKS)
        if group is not None:
            try:
                group.add(process.pid)
            except OSError:
                group.remove()
                group = None
    return process, group


def end_worker(process: subprocess.Popen[bytes], group: cgroups.SandboxCgroup | None) -> None:
    """Kill a grading worker process, reap it, close our ends of its pipes and remove its
    control group (if it has one).

    Why one function: the pool (``WorkerPool``) and the single process that a Dask worker
    drives (``grader_process.GraderProcess``) end their workers the same way, and each step
    matters: without the wait the process stays a zombie, without the closes the pipes' file
    descriptors leak with every retired worker, and a group can only be removed once no
    process is left in it (so after the wait)."""
    with contextlib.suppress(OSError):  # it may have exited already
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
    if group is not None:
        group.remove()


class WorkerPool:
    """Run ``tasks`` (key, submission path) on ``jobs`` workers; callbacks run in the caller."""

    def __init__(self, jobs: int, cfg: WorkerConfig, retries: int = 1, quiet: bool = True):
        self.jobs = max(1, jobs)
        self.cfg = cfg
        self.deadline_s = submission_seconds(cfg)
        self.use_cgroups = worker_cgroups()
        self.retries = retries
        self.quiet = quiet
        self.workers: list[_Worker] = []
        self.selector = selectors.DefaultSelector()

    def _spawn(self, slot: int) -> _Worker:
        p, group = start_worker(self.cfg, slot, quiet=self.quiet, use_cgroup=self.use_cgroups)
        assert p.stdout is not None
        w = _Worker(slot=slot, process=p, reader=FrameReader(p.stdout.fileno()), group=group)
        self.selector.register(p.stdout, selectors.EVENT_READ, w)
        return w

    def _retire(self, w: _Worker) -> None:
        with contextlib.suppress(Exception):
            self.selector.unregister(w.process.stdout)
        end_worker(w.process, w.group)

    def run(
        self,
        tasks: Iterator[tuple[Any, str]],
        on_start: Callable[[Any, str, int | None], None],
        on_result: Callable[[Any, str, dict[str, Any]], None],
        on_lost: Callable[[Any, str, Stop], None],
        fields: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        """``fields(key)``: more of the task for the worker (e.g. its ``submitter``)."""
        pending: deque[tuple[Any, str]] = deque()
        tries: dict[Any, int] = {}
        exhausted = False
        start_failures = 0

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
                            w.started = time.monotonic()
                            on_start(t[0], t[1], w.pid)
                            data_limit = 0 if w.group is not None else self.cfg.grader_memory_bytes
                            with contextlib.suppress(OSError, ProtocolError):  # noticed below
                                self._send(w, {**(fields(t[0]) if fields else {}),
                                               "op": "grade", "key": t[0], "path": t[1],
                                               "data_limit": data_limit})
                if exhausted and not pending and not any(w.task for w in self.workers):
                    break
                for w in list(self.workers):  # the backstop: a worker stuck on one submission
                    if w.task is not None and time.monotonic() - w.started > self.deadline_s:
                        key, path = w.task
                        w.task = None
                        self._retire(w)
                        on_lost(key, path, Stop(Cause.GRADER_TIME, seconds=self.deadline_s))
                        self.workers[self.workers.index(w)] = self._spawn(w.slot)
                for sel_key, _ in self.selector.select(timeout=1.0):
                    w = sel_key.data
                    if w not in self.workers:
                        continue
                    try:
                        msg = w.reader.read()
                    except (ProtocolError, OSError):  # the pipe closed: the worker died
                        msg = None
                    if msg is not None:
                        if msg["op"] == "ready":
                            w.ready, w.pid = True, msg["pid"]
                        elif msg["op"] == "result":
                            task, w.task = w.task, None
                            on_result(task[0], task[1], msg["result"])
                        elif msg["op"] == "fatal":
                            raise RuntimeError(msg["message"])
                        continue
                    # the worker died: out of memory costs its submission alone (not
                    # retried: it would fail the same way); otherwise retried once
                    out_of_memory = w.group is not None and w.group.oom_kills() > 0
                    self._retire(w)
                    code = w.process.returncode
                    if not w.ready:
                        start_failures += 1
                        if start_failures > 2 * self.jobs:
                            raise RuntimeError(f"grader workers cannot start (exit code {code})")
                    if w.task is not None:
                        key, path = w.task
                        tries[key] = tries.get(key, 0) + 1
                        if out_of_memory:
                            on_lost(key, path, Stop(Cause.GRADER_MEMORY,
                                                    limit_bytes=self.cfg.grader_memory_bytes))
                        elif tries[key] <= self.retries:
                            pending.append(w.task)
                        else:
                            on_lost(key, path, Stop(Cause.GRADER_FAILURE))
                    self.workers[self.workers.index(w)] = self._spawn(w.slot)
        finally:
            self.shutdown()

    @staticmethod
    def _send(w: _Worker, message: dict[str, Any]) -> None:
        assert w.process.stdin is not None
        write_frame(w.process.stdin.fileno(), message)

    def shutdown(self) -> None:
        for w in self.workers:
            with contextlib.suppress(Exception):
                self._send(w, {"op": "stop"})
        for w in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.process.wait(timeout=10)
            self._retire(w)
        self.workers = []
        self.selector.close()
        if self.use_cgroups:  # groups of sandboxes whose worker was killed
            cgroups.sweep()


def worker_config(job: GradingJob, scratch_root: str) -> WorkerConfig:
    """What a grading worker process is started with, for ``job``."""
    return WorkerConfig(
        autograder_path=job.autograder_path, autograder_sha256=job.autograder_sha256,
        limits=dataclasses.asdict(job.limits), scratch_root=scratch_root,
        max_notebook_bytes=job.max_notebook_bytes, caps=dataclasses.asdict(job.caps),
        options=dataclasses.asdict(job.options),
        **({} if job.grader_memory_bytes is None else
           {"grader_memory_bytes": int(job.grader_memory_bytes)}))


class LocalExecutor(Executor):
    """The :class:`WorkerPool` behind the executor interface: ``jobs`` worker processes here."""

    def __init__(self, jobs: int | None = None, quiet: bool = True):
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.quiet = quiet

    @property
    def parallelism(self) -> int:
        return self.jobs

    def run(self, job: GradingJob, tasks: Sequence[GradingTask],
            emit: Callable[[Event], None]) -> None:
        if not tasks:
            return
        submitters = {t.key: t.submitter for t in tasks}
        scratch = tempfile.mkdtemp(prefix="mlphys-grade-")
        os.chmod(scratch, 0o711)  # traversable by a basic-mode slot uid, listable by nobody
        try:
            WorkerPool(min(self.jobs, len(tasks)), worker_config(job, scratch),
                       quiet=self.quiet).run(
                iter([(t.key, t.path) for t in tasks]),
                lambda key, _path, pid: emit(Started(key, "local", pid)),
                lambda key, _path, result: emit(Finished(key, SubmissionResult.from_dict(result))),
                lambda key, _path, stop: emit(Lost(key, stop)),
                fields=lambda key: {"submitter": submitters[key]})
        finally:
            from autograder.grading.sandbox.untrusted_tree import remove_tree

            try:  # any depth, symlinks never followed; a leftover is reported, never a traceback
                remove_tree(scratch)
            except OSError as e:
                print(f"[mlphys grade] could not remove {scratch}: {e}", file=sys.stderr)


if __name__ == "__main__":
    worker_main(WorkerConfig(**json.loads(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]))
