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
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grading.batch.gradebook import GRADEBOOK_FILE, Gradebook
from autograder.grading.batch.outputs import CSV_FILE, submission_ids, write_outputs
from autograder.grading.causes import Stop
from autograder.grading.executors.local import WorkerConfig, WorkerPool
from autograder.grading.model import (
    COMPLETED,
    NUMPY_REPR_NOTE,
    GradingOptions,
    Limits,
    SubmissionResult,
)
from autograder.grading.otter.autograder_zip import AutograderSpec, load_autograder
from autograder.grading.otter.grade_one import stopped_result
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
    numpy_legacy_repr: bool = False,
    install_requirements: bool = False,
    ignore_requirements: bool = False,
) -> BatchSummary:
    """Grade ``submissions`` (files or directories) with ``autograder_zip`` into ``out_dir``.

    Writes ``final_grades.csv``, ``results/<id>.json`` and ``gradebook.sqlite`` there. Raises
    ``AutograderZipError`` (bad zip), ``FileNotFoundError`` (missing submission path) or
    :class:`BatchError` (nothing to grade, directory in use) for user mistakes; one
    submission's failure never raises: it becomes that submission's status.

    ``caps``: the largest zip/notebook looked at (default: ``max_notebook_bytes`` and
    ``SubmissionCaps``' defaults); ``grader_memory_bytes``: memory of each grading worker.
    A submission whose grading failed for the grader's own reasons gets a row, but its attempt
    is not final: the next run grades it again.

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
    jobs = jobs or os.cpu_count() or 1
    gb = Gradebook(out / GRADEBOOK_FILE)
    scratch = Path(tempfile.mkdtemp(prefix="mlphys-grade-"))
    os.chmod(scratch, 0o711)  # traversable by a basic-mode slot uid, listable by nobody
    try:
        run_id = gb.start_run(str(spec.path), spec.sha256, jobs, len(subs))
        paths = [str(s.path) for s in subs]
        ids = submission_ids(paths)
        batch: list[tuple[str, str, str]] = []
        todo: list[tuple[str, str]] = []
        for p in paths:
            sha = sha256_file(p)
            batch.append((p, sha, ids[p]))
            if gb.done_attempt(p, sha, spec.sha256) is None:
                todo.append((p, sha))
        skipped = len(subs) - len(todo)
        bar = _Progress(len(todo), enabled=progress)
        attempts: dict[str, int] = {}
        shas = dict(todo)
        results: dict[str, float] = {}
        repr_only: dict[str, int] = {}
        incomplete = 0

        def started(key: str, path: str, pid: int | None) -> None:
            attempts[key] = gb.begin_attempt(run_id, path, ids[path], shas[path], spec.sha256, pid)

        def record(key: str, path: str, result: SubmissionResult) -> None:
            nonlocal incomplete
            json_dict = results_json(result, spec.config, spec.question_visibility)
            if result.final:
                gb.finish_attempt(attempts.pop(key), result, json_dict)
            else:  # the grader's failure: shown, but regraded by the next run
                gb.fail_attempt(attempts.pop(key), result, json_dict)
            results[path] = result.total
            for question in result.questions:
                n = sum(NUMPY_REPR_NOTE in case.message for case in question.cases if not case.passed)
                if n:
                    repr_only[question.name] = repr_only.get(question.name, 0) + n
            if result.grading_status != COMPLETED:
                incomplete += 1
            bar.advance(Path(path).name, f"{result.total:g}/{result.possible:g} "
                                         f"({result.grading_status[:60]})")

        def finished(key: str, path: str, result: dict[str, Any]) -> None:
            record(key, path, SubmissionResult.from_dict(result))

        def lost(key: str, path: str, why: Stop) -> None:
            record(key, path, stopped_result(spec, why))

        cfg = WorkerConfig(
            autograder_path=str(spec.path), autograder_sha256=zip_sha256,
            limits=dataclasses.asdict(limits), scratch_root=str(scratch),
            max_notebook_bytes=max_notebook_bytes, options=dataclasses.asdict(options),
            caps=dataclasses.asdict(caps or SubmissionCaps(max_notebook_bytes=max_notebook_bytes)),
            **({} if grader_memory_bytes is None else
               {"grader_memory_bytes": int(grader_memory_bytes)}),
        )
        try:
            if todo:
                pool = WorkerPool(min(jobs, len(todo)), cfg)
                pool.run(iter([(p, p) for p, _ in todo]), started, finished, lost)
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
        from autograder.grading.sandbox.untrusted_tree import remove_tree

        try:  # any depth, symlinks never followed; a leftover is reported, never a traceback
            remove_tree(scratch)
        except OSError as e:
            print(f"[mlphys grade] could not remove {scratch}: {e}", file=sys.stderr)
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
