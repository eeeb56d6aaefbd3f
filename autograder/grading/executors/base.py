"""The executor seam: where submissions are graded, seen by the batch driver as tasks and events.

Why a seam: the batch driver owns everything that must happen exactly once and in one place
(the gradebook, resume, the lock on the output directory, the output files); where and how the
grading runs (worker processes on this machine, a Dask cluster) changes for other reasons. The
driver hands an :class:`Executor` the batch's :class:`GradingJob` and its
:class:`GradingTask` list, and receives events in its own thread:

* :class:`Started`: a worker took the task (again, if a worker was lost: the earlier try is
  abandoned and a new attempt begins);
* :class:`Finished`: the task's result (the one and only: nothing follows it);
* :class:`Lost`: the task could not be graded (its workers kept dying or ran out of memory);
  nothing follows it either. It is the grader's failure: recorded, but not final.

Every task gets exactly one ``Finished`` or ``Lost`` before ``run`` returns, unless ``run``
raises (a broken executor: the driver records nothing more, and a rerun grades what is left).
Tasks carry plain data only (paths, hashes, limits): an executor that cannot reach the paths
ships the bytes (:meth:`GradingTask.read_bytes`).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.grading.causes import Stop
from autograder.grading.model import GradingOptions, Limits, SubmissionResult
from autograder.grading.otter.submission_caps import SubmissionCaps


@dataclass(frozen=True)
class GradingJob:
    """What every task of one batch shares (sent to a worker once, not per task)."""

    autograder_path: str
    autograder_sha256: str
    limits: Limits
    max_notebook_bytes: int
    caps: SubmissionCaps
    """the largest zip/notebook a worker looks at"""
    grader_memory_bytes: int | None = None
    """memory of one grading process (None: the local pool's default)"""
    options: GradingOptions = GradingOptions()
    """how the batch grades beyond the limits (NumPy 1 repr, the sandboxes' site dirs)"""


class ExecutorError(RuntimeError):
    """The executor cannot grade at all (a cluster that cannot be reached or that dropped the
    batch): one line for the user; the submissions not yet recorded are graded by a rerun."""


class SubmissionChangedError(Exception):
    """The submission's bytes no longer have the hash the batch recorded for them."""


@dataclass(frozen=True)
class GradingTask:
    """One submission to grade.

    ``key`` is its identity in the batch (the driver keys attempts by it); ``path`` is where its
    bytes are on the driver's machine; ``sha256`` is the hash of those bytes when the batch
    started (the gradebook records results against it).
    """

    key: str
    path: str
    sha256: str
    submitter: dict[str, Any] | None = None
    """who handed it in, as the LMS says (``Submitter.to_dict``): a quiz's key is computed for
    this identity, not for the notebook's ``student_id``; None when the batch binds no identity"""

    @property
    def name(self) -> str:
        """The file name (a worker grading shipped bytes needs it: ``.zip`` or ``.ipynb``, and
        the notebook's name in the results)."""
        return Path(self.path).name

    def size(self) -> int:
        return Path(self.path).stat().st_size

    def read_head(self, limit: int) -> bytes:
        """The first ``limit`` bytes (of a file too large to be worth sending whole)."""
        with open(self.path, "rb") as f:
            return f.read(limit)

    def read_bytes(self) -> bytes:
        """The submission's bytes, checked against ``sha256`` (``SubmissionChangedError`` if the
        file was replaced after the batch hashed it: its result would be recorded against the
        wrong contents)."""
        data = Path(self.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise SubmissionChangedError(f"{self.name} changed while the batch was running")
        return data


@dataclass(frozen=True)
class Started:
    key: str
    worker: str
    """where it runs: ``local`` or a Dask worker's address"""
    pid: int | None
    """the grading process (the gradebook's ``worker_pid``)"""


@dataclass(frozen=True)
class Finished:
    key: str
    result: SubmissionResult


@dataclass(frozen=True)
class Lost:
    key: str
    stop: Stop
    """why no result came, as a cause of the grader's (``GRADER_FAILURE``, ``GRADER_MEMORY``,
    ...): the driver records it, not as final (a rerun grades the submission again)"""


Event = Started | Finished | Lost


class Executor(ABC):
    """Grades the tasks of a batch and reports what happens to each of them."""

    @property
    @abstractmethod
    def parallelism(self) -> int:
        """How many submissions can be graded at once (recorded with the run)."""

    @abstractmethod
    def run(self, job: GradingJob, tasks: Sequence[GradingTask],
            emit: Callable[[Event], None]) -> None:
        """Grade ``tasks``; call ``emit`` in the calling thread for every event (see the module
        docstring for the guarantees). Stops every worker process it started before it returns
        or raises."""

    def close(self) -> None:  # noqa: B027 - most executors hold nothing between batches
        """Release what the executor holds between batches (a cluster connection)."""
