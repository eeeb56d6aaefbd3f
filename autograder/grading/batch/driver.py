"""The batch driver: ``grade_batch`` grades many submissions, resumably, in parallel.

Streaming by design: the driver holds submission paths and hashes only; notebooks are read by
the workers, and each result goes into the gradebook as soon as it arrives and is then dropped.
Resuming is the gradebook's job: a submission whose (path, sha256, autograder sha256) already
has a committed result is skipped, anything else is graded; a lock file stops two drivers from
sharing one output directory.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grading.batch.gradebook import GRADEBOOK_FILE, Gradebook
from autograder.grading.batch.outputs import CSV_FILE, submission_ids, write_outputs
from autograder.grading.causes import Stop
from autograder.grading.executors.base import (
    Event,
    Executor,
    Finished,
    GradingJob,
    GradingTask,
    Lost,
    Started,
)
from autograder.grading.executors.local import LocalExecutor
from autograder.grading.model import (
    COMPLETED,
    NUMPY_REPR_NOTE,
    GradingOptions,
    Limits,
    SubmissionResult,
    Submitter,
)
from autograder.grading.otter.autograder_zip import AutograderSpec, load_autograder
from autograder.grading.otter.grade_one import stopped_result
from autograder.grading.otter.identity_binding import annotate_results
from autograder.grading.otter.results_json import results_json
from autograder.grading.otter.submission_caps import SubmissionCaps
from autograder.grading.otter.submissions import DEFAULT_MAX_NOTEBOOK_BYTES, discover
from autograder.hashing import sha256_file


class BatchError(RuntimeError):
    """A problem with the batch as a whole (a user mistake): no submission, directory locked."""


@dataclass
class BatchSummary:
    out_dir: Path
    csv_path: Path
    gradebook_path: Path
    submissions: int
    graded: int
    """graded in this run"""
    skipped: int
    """already had a committed result for the same file contents and autograder"""
    incomplete: int
    """results whose grading_status is not 'Completed' (timeouts, crashes, malformed files)"""
    seconds: float
    rows: int
    results: dict[str, float] = field(default_factory=dict)
    """submission path -> total points (this batch)"""
    numpy_repr_failures: dict[str, int] = field(default_factory=dict)
    """question -> failing doctest cases (this batch) that only NumPy 2's scalar repr fails"""


class _Progress:
    """A rich progress bar on a terminal; plain lines otherwise (logs, CI, pipes)."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.done = total, 0
        self.enabled = enabled
        self.rich = None
        if enabled and sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.rich = Progress(
                TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.description}"), transient=False,
            )
            self.rich.start()
            self.task = self.rich.add_task("", total=total)

    def advance(self, name: str, text: str) -> None:
        self.done += 1
        if self.rich is not None:
            self.rich.update(self.task, advance=1, description=f"{name}: {text}")
        elif self.enabled:
            print(f"[{self.done}/{self.total}] {name}: {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.rich is not None:
            self.rich.stop()


def _default_limits(timeout: float | None, cell_timeout: float | None) -> Limits:
    limits = Limits()
    changes: dict[str, Any] = {}
    if timeout is not None:
        changes["notebook_timeout"] = timeout
    if cell_timeout is not None:
        changes["cell_timeout"] = cell_timeout
    return dataclasses.replace(limits, **changes) if changes else limits


def grade_batch(
    autograder_zip: str | Path,
    submissions: Iterable[str | Path],
    out_dir: str | Path,
    *,
    jobs: int | None = None,
    limits: Limits | None = None,
    timeout: float | None = None,
    cell_timeout: float | None = None,
    max_notebook_bytes: int = DEFAULT_MAX_NOTEBOOK_BYTES,
    progress: bool = True,
    caps: SubmissionCaps | None = None,
    grader_memory_bytes: int | None = None,
    submitter_of: Callable[[Path], Submitter] | None = None,
    numpy_legacy_repr: bool = False,
    install_requirements: bool = False,
    ignore_requirements: bool = False,
    executor: Executor | None = None,
) -> BatchSummary:
    """Grade ``submissions`` (files or directories) with ``autograder_zip`` into ``out_dir``.

    Writes ``final_grades.csv``, ``results/<id>.json`` and ``gradebook.sqlite`` there. The
    grading itself runs on ``executor`` (default: ``LocalExecutor(jobs)``, worker processes on
    this machine; ``executors.dask.DaskExecutor`` grades on a Dask cluster). Raises
    ``AutograderZipError`` (bad zip), ``FileNotFoundError`` (missing submission path) or
    :class:`BatchError` (nothing to grade, directory in use) for user mistakes; one
    submission's failure never raises: it becomes that submission's status.

    ``caps``: the largest zip/notebook looked at (default: ``max_notebook_bytes`` and
    ``SubmissionCaps``' defaults); ``grader_memory_bytes``: memory of each grading worker.
    A submission whose grading failed for the grader's own reasons gets a row, but its attempt
    is not final: the next run grades it again.

    ``submitter_of(path)``: who handed the submission in, as the LMS says (an identity source:
    ``autograder.identity``). Used for autograders that declare a quiz identity: their tests
    see the submitter's identity, not the notebook's ``student_id``. A result graded for
    another submitter (or without one) is not current: the submission is graded again.

    The zip's requirements (``environment.yml``/``requirements.txt``) are compared with the
    sandboxes' environment first: a :class:`BatchError` lists what is missing, unless
    ``install_requirements`` builds (or reuses) the autograder's own environment for the
    sandboxes, or ``ignore_requirements`` grades anyway. ``numpy_legacy_repr`` runs doctests
    with NumPy 1's scalar repr; results graded with and without it are kept apart (the
    gradebook keys them by a hash of the zip's sha256 and the option).
    """
    t0 = time.monotonic()
    spec = load_autograder(autograder_zip)
    subs = list(discover(submissions))
    if not subs:
        raise BatchError("no submissions found (.ipynb files, .zip files or directories of them)")
    site_dirs = _environment(spec, install_requirements, ignore_requirements, progress)
    options = GradingOptions(numpy_legacy_repr=numpy_legacy_repr, site_dirs=site_dirs)
    zip_sha256 = spec.sha256
    if numpy_legacy_repr:  # other grades than without the option: resume must not mix them
        spec = dataclasses.replace(spec, sha256=hashlib.sha256(
            f"{zip_sha256}+numpy-legacy-repr".encode()).hexdigest())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lock = open(out / ".mlphys-grade.lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise BatchError(f"another 'mlphys grade' is using {out}") from None
    if limits is None:
        limits = _default_limits(timeout, cell_timeout)
    if executor is None:
        executor = LocalExecutor(jobs)
    gb = Gradebook(out / GRADEBOOK_FILE)
    try:
        run_id = gb.start_run(str(spec.path), spec.sha256, executor.parallelism, len(subs))
        paths = [str(s.path) for s in subs]
        ids = submission_ids(paths)
        batch: list[tuple[str, str, str]] = []
        todo: list[tuple[str, str]] = []
        binds = submitter_of is not None and spec.identity_column is not None
        submitters = {p: submitter_of(Path(p)).to_dict() if binds else None for p in paths}
        for p in paths:
            sha = sha256_file(p)
            batch.append((p, sha, ids[p]))
            done = gb.done_attempt(p, sha, spec.sha256)
            if done is not None and not gb.same_submitter(done, submitters[p]):
                gb.retire_attempt(done["id"])  # graded for another submitter: grade again
                done = None
            if done is None:
                todo.append((p, sha))
        skipped = len(subs) - len(todo)
        bar = _Progress(len(todo), enabled=progress)
        attempts: dict[str, int] = {}
        shas = dict(todo)
        results: dict[str, float] = {}
        repr_only: dict[str, int] = {}
        incomplete = 0

        def started(key: str, path: str, pid: int | None) -> None:
            if key in attempts:  # tried again after its worker was lost
                gb.interrupt_attempt(attempts[key])
            attempts[key] = gb.begin_attempt(run_id, path, ids[path], shas[path], spec.sha256, pid,
                                             submitters[path])

        def record(key: str, path: str, result: SubmissionResult) -> None:
            nonlocal incomplete
            payload = annotate_results(
                results_json(result, spec.config, spec.question_visibility), result.identity)
            if result.final:
                gb.finish_attempt(attempts.pop(key), result, payload)
            else:  # the grader's failure: shown, but regraded by the next run
                gb.fail_attempt(attempts.pop(key), result, payload)
            results[path] = result.total
            for question in result.questions:
                n = sum(NUMPY_REPR_NOTE in case.message for case in question.cases if not case.passed)
                if n:
                    repr_only[question.name] = repr_only.get(question.name, 0) + n
            if result.grading_status != COMPLETED:
                incomplete += 1
            bar.advance(Path(path).name, f"{result.total:g}/{result.possible:g} "
                                         f"({result.grading_status[:60]})")

        def lost(key: str, path: str, why: Stop) -> None:
            record(key, path, stopped_result(spec, why))

        def on_event(event: Event) -> None:
            # the key of a task is its submission path
            if isinstance(event, Started):
                started(event.key, event.key, event.pid)
            elif isinstance(event, Finished):
                if event.key not in attempts:  # an executor that reports only results
                    started(event.key, event.key, None)
                record(event.key, event.key, event.result)
            elif isinstance(event, Lost):
                if event.key not in attempts:
                    started(event.key, event.key, None)
                lost(event.key, event.key, event.stop)

        job = GradingJob(
            autograder_path=str(spec.path), autograder_sha256=zip_sha256, limits=limits,
            max_notebook_bytes=max_notebook_bytes,
            caps=caps or SubmissionCaps(max_notebook_bytes=max_notebook_bytes),
            grader_memory_bytes=grader_memory_bytes, options=options)
        try:
            executor.run(job, [GradingTask(key=p, path=p, sha256=sha, submitter=submitters[p])
                               for p, sha in todo], on_event)
        finally:
            bar.close()
        rows = write_outputs(out, gb, spec, batch)
        gb.finish_run(run_id)
        return BatchSummary(
            out_dir=out, csv_path=out / CSV_FILE, gradebook_path=out / GRADEBOOK_FILE,
            submissions=len(subs), graded=len(todo), skipped=skipped, incomplete=incomplete,
            seconds=time.monotonic() - t0, rows=rows, results=results,
            numpy_repr_failures=dict(sorted(repr_only.items())),
        )
    finally:
        gb.close()
        lock.close()


def _environment(spec: AutograderSpec, install: bool, ignore: bool, progress: bool
                 ) -> tuple[str, ...]:
    """The site dirs for the sandboxes (empty: the grader's own), after comparing the zip's
    requirements with them; a :class:`BatchError` names what is missing."""
    from autograder.grading.otter.requirements import (
        RequirementsError,
        grader_site_dirs,
        missing,
        read_requirements,
    )

    try:
        requirements = read_requirements(spec.path)
        if install:
            from autograder.grading.batch.environment import build_environment

            def say(line: str) -> None:
                if progress:
                    print(f"[environment] {line}", file=sys.stderr, flush=True)

            return tuple(build_environment(requirements, progress=say).site_dirs)
        gaps = missing(requirements, grader_site_dirs())
    except RequirementsError as e:
        raise BatchError(str(e)) from None
    if gaps and not ignore:
        raise BatchError(
            f"the autograder needs packages this grading environment lacks: {', '.join(gaps)} "
            "(install them, pass --install-requirements to build the autograder's environment, "
            "or --ignore-requirements to grade without them)")
    if gaps:
        print(f"warning: grading without the autograder's requirements {', '.join(gaps)}",
              file=sys.stderr, flush=True)
    return ()
