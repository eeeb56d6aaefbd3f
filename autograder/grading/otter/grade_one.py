"""Grade ONE submission: Otter's cell semantics with student code in the sandbox and the tests
here (in the trusted process).

The order of events is Otter's (``otter.execute.grade_notebook``): the notebook's cells run in
order with errors allowed; a question is tested at the moment the student's ``grader.check``
runs (or at a metadata check position, see ``notebook.plan``), against the namespace as it is
then; a question checked twice keeps its last result but its first position (Otter builds
``GradingResults`` with a dict comprehension); questions never checked are tested at the end in
sorted test-file order. What differs is only what must: the student cannot reach the test code,
a cell or notebook that runs too long is cut off, and a dead sandbox costs the questions not yet
tested (status "timeout", "memory" or "kernel died"), never the batch.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path, PurePosixPath

import numpy as np

from autograder.grading.model import COMPLETED, DEATH_STATUS, Limits, QuestionOutcome, SubmissionResult
from autograder.grading.otter.autograder_zip import AutograderSpec, QuestionTests
from autograder.grading.otter.notebook import CellStep, assignment_name, load_notebook, plan
from autograder.grading.otter.submissions import (
    DEFAULT_MAX_NOTEBOOK_BYTES,
    Submission,
    SubmissionError,
    read_notebook_bytes,
)
from autograder.grading.otter.testrun import not_run, run_question


def failed_result(spec: AutograderSpec, status: str,
                  notebook_name: str | None = None) -> SubmissionResult:
    """Every question 0 with ``status`` as the reason (the notebook could not be run at all)."""
    known = ("error", "timeout", "memory", "kernel died")
    qstatus = status if status.startswith(known) else f"error: {status}"
    return SubmissionResult(
        grading_status=status,
        questions=[not_run(q, qstatus, status) for q in spec.questions],
        notebook_name=notebook_name,
    )


def _write_support_files(spec: AutograderSpec, scratch: Path) -> None:
    for rel, data in spec.sandbox_files().items():
        parts = PurePosixPath(rel).parts
        if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(rel).is_absolute():
            continue
        target = scratch.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def grade_submission(
    spec: AutograderSpec,
    submission: Submission,
    scratch: Path,
    *,
    limits: Limits | None = None,
    slot: int = 0,
    max_notebook_bytes: int = DEFAULT_MAX_NOTEBOOK_BYTES,
) -> SubmissionResult:
    """Grade ``submission`` against ``spec`` using ``scratch`` (emptied first, removed after)."""
    t0 = time.monotonic()
    try:
        data, nb_name = read_notebook_bytes(submission, max_notebook_bytes)
        nb = load_notebook(data)
        del data
    except SubmissionError as e:
        return failed_result(spec, e.status)
    if spec.assignment_name and assignment_name(nb) != spec.assignment_name:
        # Otter's validate_assignment_name: the whole submission is refused
        got = assignment_name(nb)
        return failed_result(
            spec,
            f"error: wrong assignment: the notebook is for {got!r}, this autograder is for "
            f"{spec.assignment_name!r}",
            nb_name,
        )
    if limits is None:
        limits = Limits()
    # Otter's generated names (np_XXXXXX) come from a seeded generator: reproducible grading
    steps = plan(nb, spec.seed, spec.seed_variable, np.random.default_rng(0x07735EED))
    del nb
    call_timeout = float(limits.call_timeout or 60)
    notebook_timeout = float(limits.notebook_timeout or 600)

    outcomes: dict[str, QuestionOutcome] = {}
    tainted = False  # hidden cases have called student code (see testrun.run_question)
    result = SubmissionResult(grading_status=COMPLETED, questions=[], notebook_name=nb_name)
    death: tuple[str, str] | None = None  # (question status, grading status)

    if scratch.exists():
        shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    _write_support_files(spec, scratch)
    t_start = time.monotonic()
    sandbox = None
    try:
        from autograder.grading.sandbox import Sandbox  # the driver process never needs it

        sandbox = Sandbox(scratch, limits=limits, slot=slot)
        sandbox.start()
        result.isolation = str(getattr(sandbox, "isolation", ""))
        result.timings["start"] = time.monotonic() - t_start

        def test(q: QuestionTests) -> None:
            nonlocal tainted
            try:
                outcome = run_question(q, sandbox.namespace, call_timeout, tainted)
            except Exception as e:  # never let a check crash the notebook run
                outcome = not_run(q, f"error: {type(e).__name__}", str(e)[:200])
            tainted = tainted or outcome.ran_hidden
            outcomes[q.name] = outcome

        def on_check(question: str) -> None:
            q = spec.question(str(question))
            if q is not None:  # Otter: "Test q9 does not exist" raised in the student's cell
                test(q)
            return None

        deadline = t_start + notebook_timeout
        for step in steps:
            if time.monotonic() > deadline:
                death = ("timeout", f"timeout: the notebook ran longer than {notebook_timeout:g} s")
                break
            if isinstance(step, CellStep):
                outcome = sandbox.run_cell(step.source, on_check=on_check)
                result.cells_run += 1
            else:
                outcome = None
                if step.seed_source:
                    outcome = sandbox.run_cell(step.seed_source)
                if outcome is None or outcome.status == "ok":
                    for question in step.questions:
                        sandbox.checkpoint(question, on_check)
            if outcome is not None and outcome.status != "ok":
                result.cell_errors += 1
                kind = None  # a MemoryError or an interrupted loop leaves the sandbox alive
                if outcome.status == "died" or not sandbox.alive():
                    kind = outcome.status if outcome.status in ("memory", "timeout") else "died"
                if kind is not None:
                    detail = (outcome.error or "").strip().splitlines()
                    msg = detail[-1][:200] if detail else kind
                    death = (DEATH_STATUS[kind], f"{DEATH_STATUS[kind]}: {msg}")
                    break
        result.timings["cells"] = time.monotonic() - t_start

        t_end = time.monotonic()
        for q in spec.questions:
            if q.name in outcomes:
                continue
            if death is None and not sandbox.alive():
                death = ("kernel died", "kernel died: the student's process exited")
            if death is not None:
                outcomes[q.name] = not_run(q, death[0], death[1])
                continue
            test(q)
        result.timings["end_checks"] = time.monotonic() - t_end
    except Exception as e:  # sandbox failed to start or broke: this submission only
        status = _exception_status(e)
        for q in spec.questions:
            if q.name not in outcomes:
                outcomes[q.name] = not_run(q, status, f"{type(e).__name__}: {e}"[:300])
        death = (status, f"{status}: {type(e).__name__}: {e}"[:300])
    finally:
        if sandbox is not None:
            with contextlib.suppress(Exception):
                sandbox.close()
        shutil.rmtree(scratch, ignore_errors=True)
    if death is not None:
        result.grading_status = death[1]
    result.questions = list(outcomes.values())
    result.timings["total"] = time.monotonic() - t0
    return result


def _exception_status(e: BaseException) -> str:
    name = type(e).__name__
    if name == "SandboxTimeout":
        return "timeout"
    if name == "SandboxDied":
        return "memory" if "memory" in str(getattr(e, "reason", e)).lower() else "kernel died"
    return f"error: {name}"


def grade_path(spec: AutograderSpec, path: str | Path, scratch: Path, *, limits: Limits,
               slot: int, max_notebook_bytes: int) -> SubmissionResult:
    """Grade the submission file at ``path``; never raises (an executor's unit of work).

    Why the catch-all: a bug in the grader must still give this one submission a result (an
    ``error: grader failure: ...`` status) rather than cost the worker and the batch.
    """
    try:
        return grade_submission(spec, Submission(Path(path)), scratch, limits=limits, slot=slot,
                                max_notebook_bytes=max_notebook_bytes)
    except Exception as e:
        return failed_result(spec, f"error: grader failure: {type(e).__name__}: {e}"[:300])
