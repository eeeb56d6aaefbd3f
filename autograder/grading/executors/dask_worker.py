"""The Dask worker's side of ``DaskExecutor``: the one function the driver sends to a cluster.

A Dask worker receives from the driver only calls of this module's functions (by reference:
the worker imports them from its own installation of this package): :func:`grade_on_worker`,
and the probes :func:`isolation_mode` and :func:`code_fingerprint`; and plain data: the batch's
settings, the autograder zip's bytes and each submission's name and bytes. Nothing the driver
sends is unpickled into code, and no shared file system is assumed. A worker whose grading code
is not the driver's (another version of mlphys) refuses to grade.

Each thread of a Dask worker grades through a grading process of its own (``local.py``'s
program, started once and reused; see ``grader_process`` for why a process), which grades in
the same sandbox as ``mlphys grade`` on one machine. Per worker process the autograder zip is
written once (checked against its sha256) to a private temporary directory; each submission's
bytes are written there for the time of its grading.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from autograder.grading.executors.grader_process import GraderProcess, GraderProcessError
from autograder.grading.executors.local import WorkerConfig, submission_seconds

STARTUP_SECONDS = 120.0
"""How long a grading process may take to load the autograder zip."""


def grading_deadline(cfg: WorkerConfig) -> float:
    """Seconds after which a grading process that has not answered is killed: the local
    pool's backstop (``local.submission_seconds``); the grader's own deadlines end a submission
    before it, so this only catches a grader bug, never a slow student."""
    return submission_seconds(cfg)


@dataclasses.dataclass(frozen=True)
class _Batch:
    """The settings a grading process is started with (one autograder, one set of limits)."""

    autograder_sha256: str
    limits_json: str
    max_notebook_bytes: int
    caps_json: str = "{}"
    grader_memory_bytes: int | None = None
    options_json: str = "{}"


IDLE_BATCHES = 2
"""Batches whose idle grading processes a worker keeps (two instructors grading two
assignments on one cluster at once do not restart each other's processes on every task)."""


class _WorkerState:
    """Per Dask worker process: the grading processes, the zips, the temporary directory."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.workdir = Path(tempfile.mkdtemp(prefix="mlphys-dask-worker-"))
        self.idle: collections.OrderedDict[_Batch, list[GraderProcess]] = \
            collections.OrderedDict()  # least recently used first
        self.free_slots: list[int] = []
        self.next_slot = 0
        self.counter = 0
        # PR_SET_PDEATHSIG follows the spawning thread: Dask's task threads may come and go,
        # so grading processes are spawned from one thread that lives as long as the process
        self.spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlphys-spawner")
        atexit.register(self.shutdown)

    def _evict(self) -> list[GraderProcess]:
        """Under the lock: the idle processes of batches beyond ``IDLE_BATCHES``."""
        stale: list[GraderProcess] = []
        while len(self.idle) > IDLE_BATCHES:
            stale += self.idle.popitem(last=False)[1]
        return stale

    def _retire(self, processes: list[GraderProcess]) -> None:
        for process in processes:
            process.stop()
        with self.lock:
            self.free_slots += [p.slot for p in processes]

    def take(self, batch: _Batch, autograder: bytes) -> GraderProcess:
        """An idle grading process for ``batch``, or a new one."""
        with self.lock:
            zip_path = self.workdir / f"autograder-{batch.autograder_sha256}.zip"
            if not zip_path.exists():
                if hashlib.sha256(autograder).hexdigest() != batch.autograder_sha256:
                    raise GraderProcessError("the autograder zip arrived damaged")
                tmp = zip_path.with_suffix(".tmp")
                tmp.write_bytes(autograder)
                os.replace(tmp, zip_path)
            waiting = self.idle.get(batch)
            process = waiting.pop() if waiting else None
            if process is None:
                if self.free_slots:
                    slot = min(self.free_slots)
                    self.free_slots.remove(slot)
                else:
                    slot = self.next_slot
                    self.next_slot += 1
        if process is not None:
            if process.alive():
                return process
            slot = process.slot  # it died while idle: its slot (and scratch) is free
        scratch = self.workdir / "scratch"
        scratch.mkdir(exist_ok=True)
        process = GraderProcess(self.config(batch, zip_path, scratch), slot)
        try:
            self.spawner.submit(process.spawn).result()
            process.wait_ready(STARTUP_SECONDS)
        except BaseException:
            self._retire([process])
            raise
        return process

    @staticmethod
    def config(batch: _Batch, zip_path: Path, scratch: Path) -> WorkerConfig:
        return WorkerConfig(
            autograder_path=str(zip_path), autograder_sha256=batch.autograder_sha256,
            limits=json.loads(batch.limits_json), scratch_root=str(scratch),
            max_notebook_bytes=batch.max_notebook_bytes, caps=json.loads(batch.caps_json),
            options=json.loads(batch.options_json),
            **({} if batch.grader_memory_bytes is None else
               {"grader_memory_bytes": batch.grader_memory_bytes}))

    def give_back(self, batch: _Batch, process: GraderProcess) -> None:
        """A grading process done with its submission: kept idle if it is alive."""
        stale = [process]
        if process.alive():
            with self.lock:
                self.idle.setdefault(batch, []).append(process)
                self.idle.move_to_end(batch)
                stale = self._evict()
        self._retire(stale)

    def submission_dir(self) -> Path:
        with self.lock:
            self.counter += 1
            n = self.counter
        path = self.workdir / "in" / str(n)
        path.mkdir(parents=True)
        return path

    def shutdown(self) -> None:
        with self.lock:
            idle = [p for processes in self.idle.values() for p in processes]
            self.idle.clear()
        for process in idle:
            process.stop(timeout=2)
        shutil.rmtree(self.workdir, ignore_errors=True)


_STATE: _WorkerState | None = None
_STATE_LOCK = threading.Lock()


def _state() -> _WorkerState:
    global _STATE
    with _STATE_LOCK:
        if _STATE is None:
            _STATE = _WorkerState()
        return _STATE


@functools.cache
def code_fingerprint() -> str:
    """A hash of this installation's grading code (``autograder/grading/**/*.py``).

    Why: the driver and the workers are separate installations (a worker image, a cluster's
    environment); a worker with other grading code would give other grades without a word.
    """
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class WrongVersionError(RuntimeError):
    """This worker's grading code is not the driver's."""


def _safe_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/"))
    return base if base not in ("", ".", "..") else "submission.ipynb"


def autograder_bytes(data: bytes) -> bytes:
    """The zip as a Dask task's result: a worker that needs it fetches it from one that has it,
    and if every holder is lost the scheduler computes it again (scattered data would be
    gone)."""
    return data


def grade_on_worker(settings: dict[str, Any], autograder: bytes, name: str, data: bytes,
                    size: int, sha256: str, topic: str, ref: str,
                    submitter: dict[str, Any] | None = None) -> dict[str, Any]:
    """Grade one submission on this Dask worker; the result as ``SubmissionResult.to_dict``.

    ``settings``: ``autograder_sha256``, ``limits`` (``Limits`` as a dict),
    ``max_notebook_bytes`` and ``code`` (the driver's :func:`code_fingerprint`). ``data`` is
    the file's content, or only its head when ``size`` is larger (see
    ``dask.MAX_SEND_BYTES``). ``submitter``: who handed it in (``GradingTask.submitter``).
    Announces the start on ``topic`` (``{"ref", "worker", "pid"}``).
    Raises ``GraderProcessError`` when the grading process dies (the driver retries once).
    """
    from distributed import get_worker

    if settings.get("code") != code_fingerprint():
        raise WrongVersionError(f"the Dask worker {get_worker().address} runs other grading "
                                "code than the driver (install the same version of mlphys)")
    whole = len(data) == size
    if whole and hashlib.sha256(data).hexdigest() != sha256:
        raise GraderProcessError(f"the submission {name} arrived damaged")
    state = _state()
    memory = settings.get("grader_memory_bytes")
    batch = _Batch(settings["autograder_sha256"], json.dumps(settings["limits"], sort_keys=True),
                   int(settings["max_notebook_bytes"]),
                   json.dumps(settings.get("caps") or {}, sort_keys=True),
                   None if memory is None else int(memory),
                   json.dumps(settings.get("options") or {}, sort_keys=True))
    process = state.take(batch, autograder)
    where = state.submission_dir()
    try:
        worker = get_worker()
        worker.log_event(topic, {"ref": ref, "worker": worker.address, "pid": process.pid})
        path = where / _safe_name(name)
        with open(path, "wb") as f:
            f.write(data)
            if not whole:  # only the head was sent: the size alone gets it refused
                f.truncate(size)
        result = process.grade(ref, str(path), grading_deadline(process.cfg), submitter)
    except BaseException:
        with contextlib.suppress(Exception):
            process.kill()
            state.give_back(batch, process)  # dead: not kept, its slot is freed
        raise
    finally:
        shutil.rmtree(where, ignore_errors=True)
    state.give_back(batch, process)
    return result


def isolation_mode() -> str:
    """The sandbox mode this worker's machine gives (``jail``, ``userns`` or ``basic``)."""
    from autograder.grading.sandbox.host import available_mode

    return available_mode()


MESSAGE_LOG_SETTING = "distributed.admin.low-level-log-length"
"""Dask's setting for how many recent messages a process keeps per connection."""


def message_log_length() -> int:
    """How many recent messages this Dask process keeps per connection (Dask's
    ``MESSAGE_LOG_SETTING``). Each message that hands a worker a
    submission holds the submission's bytes, so this many submissions per worker stay in the
    scheduler's memory (and in each worker's) long after they were graded."""
    import dask

    return int(dask.config.get(MESSAGE_LOG_SETTING))
