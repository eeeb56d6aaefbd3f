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

Every status written here is composed by the grader from a ``causes.Stop`` it decided itself
(``Sandbox.stop``, its own clock), never from text the sandbox sent: a forged "memory" with a
student's message must not become the grader's words (issue 8). A failure that is the
grader's (the sandbox cannot start, a grader bug) marks the result not final, so the next run
grades it again.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path, PurePosixPath

import numpy as np

from autograder.grading.causes import Cause, Stop
from autograder.grading.model import (
    COMPLETED,
    DEFAULT_OPTIONS,
    GradingOptions,
    Limits,
    QuestionOutcome,
    SubmissionResult,
    Submitter,
)
from autograder.grading.otter.autograder_zip import AutograderSpec, QuestionTests
from autograder.grading.otter.identity_binding import IdentityBinding, unknown_check
from autograder.grading.otter.notebook import CellStep, assignment_name, load_notebook, plan
from autograder.grading.otter.submission_caps import SubmissionCaps
from autograder.grading.otter.submissions import (
    DEFAULT_MAX_NOTEBOOK_BYTES,
    Submission,
    SubmissionError,
    read_notebook_bytes,
)
from autograder.grading.otter.testrun import not_run, run_question


def failed_result(spec: AutograderSpec, status: str,
                  notebook_name: str | None = None, *, final: bool = True) -> SubmissionResult:
    """Every question 0 with ``status`` as the reason (the notebook could not be run at all).

    ``final=False``: the failure is the grader's; the next run grades the submission again.
    """
    known = ("error", "timeout", "memory", "kernel died", "disk")
    qstatus = status if status.startswith(known) else f"error: {status}"
    if status.startswith("error: grader failure"):
        qstatus = "error: grader failure"
    return SubmissionResult(
        grading_status=status,
        questions=[not_run(q, qstatus, status) for q in spec.questions],
        notebook_name=notebook_name, final=final,
    )


def stopped_result(spec: AutograderSpec, stop: Stop) -> SubmissionResult:
    """``failed_result`` for a cause (e.g. a grading worker that ran out of memory)."""
    return failed_result(spec, stop.text(), final=not stop.grader_fault)


SANDBOX_ERRORS = ("SandboxDied", "SandboxProtocolError", "SandboxTimeout")
"""Exceptions of the sandbox layer (by name: this module imports the sandbox lazily)."""


def _log(text: str) -> None:
    """Instructor-only diagnostics (the worker's stderr), never part of a result."""
    print(f"[mlphys grade] {text}", file=sys.stderr, flush=True)


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
    caps: SubmissionCaps | None = None,
    options: GradingOptions = DEFAULT_OPTIONS,
    submitter: Submitter | None = None,
) -> SubmissionResult:
    """Grade ``submission`` against ``spec`` using ``scratch`` (a fresh directory: created
    here, removed after; a failed removal is logged and never changes the result).

    ``submitter``: who handed it in, as the LMS says. For an autograder that declares a quiz
    identity (``spec.identity_column``) the tests then see the submitter's identity as
    ``student_id`` and the result carries an identity check (``otter.identity_binding``); an
    owner the identity source does not know is not graded at all."""
    t0 = time.monotonic()
    binding = None
    if submitter is not None and spec.identity_column is not None:
        if not submitter.identities:
            check = unknown_check(submitter)
            result = failed_result(spec, f"error: unknown submitter: {check.why}")
            result.identity = check.to_dict()
            return result
        binding = IdentityBinding(submitter)
    if caps is None:
        caps = SubmissionCaps(max_notebook_bytes=max_notebook_bytes)
    try:
        data, nb_name = read_notebook_bytes(submission, caps.max_notebook_bytes, caps)
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
    death: Stop | None = None
    # (lazily: importing the sandbox package costs the batch driver, which never needs it)
    from autograder.grading.sandbox.untrusted_tree import remove_tree

    if scratch.exists():
        remove_tree(scratch)
    scratch.mkdir(parents=True)
    _write_support_files(spec, scratch)
    t_start = time.monotonic()
    sandbox = None
    try:
        from autograder.grading.sandbox import Sandbox  # the driver process never needs it

        sandbox = Sandbox(scratch, limits=limits, slot=slot,
                          site_dirs=options.site_dirs or None)
        sandbox.start()
        result.isolation = str(getattr(sandbox, "isolation", ""))
        result.timings["start"] = time.monotonic() - t_start

        def test(q: QuestionTests) -> None:
            nonlocal tainted
            namespace = sandbox.namespace
            if binding is not None:  # the submitter's variant, whatever the notebook says
                namespace = binding.tests_namespace(namespace)
            try:
                outcome = run_question(q, namespace, call_timeout, tainted,
                                       numpy_legacy_repr=options.numpy_legacy_repr)
            except Exception as e:  # never let a check crash the notebook run
                _log(f"{q.name}: tests crashed: {type(e).__name__}: {e}"[:2000])
                if type(e).__name__ in SANDBOX_ERRORS:  # the sandbox broke: the student's doing
                    stop = sandbox.stop or Stop(Cause.KERNEL_KILLED)
                    if type(e).__name__ == "SandboxTimeout":
                        stop = Stop(Cause.CALL_TIMEOUT, seconds=call_timeout)
                    outcome = not_run(q, stop.question_status, stop.detail())
                else:  # a grader bug: shown, and the submission is graded again next run
                    outcome = not_run(q, "error: grader failure",
                                      Stop(Cause.GRADER_FAILURE).detail())
                    result.final = False
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
                death = Stop(Cause.NOTEBOOK_TIMEOUT, seconds=notebook_timeout)
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
                    death = _death(outcome, sandbox, limits)
                    break
        result.timings["cells"] = time.monotonic() - t_start

        t_end = time.monotonic()
        for q in spec.questions:
            if q.name in outcomes:
                continue
            if death is None and not sandbox.alive():
                death = sandbox.stop or Stop(Cause.KERNEL_KILLED)
            if death is not None:
                outcomes[q.name] = not_run(q, death.question_status, death.detail())
                continue
            test(q)
        result.timings["end_checks"] = time.monotonic() - t_end
    except Exception as e:  # sandbox failed to start or broke: this submission only
        _log(f"{submission.path}: {type(e).__name__}: {e}"[:2000])
        death = _exception_stop(e, sandbox, limits)
        for q in spec.questions:
            if q.name not in outcomes:
                outcomes[q.name] = not_run(q, death.question_status, death.detail())
    finally:
        if sandbox is not None:
            with contextlib.suppress(Exception):
                sandbox.close()
        try:
            remove_tree(scratch)
        except OSError as e:  # logged; the grade stands and the next submission has its own
            _log(f"could not remove {scratch}: {e}")
    if death is not None:
        result.grading_status = death.text()
        if death.grader_fault:
            result.final = False
    if binding is not None:
        result.identity = binding.check().to_dict()
    result.questions = list(outcomes.values())
    result.timings["total"] = time.monotonic() - t0
    return result


def _death(outcome: object, sandbox: object, limits: Limits) -> Stop:
    """Why the sandbox stopped during a cell, in the grader's terms (never the runner's text)."""
    stop = getattr(outcome, "stop", None) or getattr(sandbox, "stop", None)
    if stop is not None:
        return stop
    if getattr(outcome, "status", None) == "timeout":
        return Stop(Cause.CELL_TIMEOUT, seconds=limits.cell_timeout)
    return Stop(Cause.KERNEL_KILLED)


def _exception_stop(e: BaseException, sandbox: object, limits: Limits) -> Stop:
    """An exception out of the sandbox layer (or a grader bug) as a cause."""
    name = type(e).__name__
    started = sandbox is not None and getattr(sandbox, "runner_pid", None) is not None
    if name == "SandboxTimeout":
        return Stop(Cause.NOTEBOOK_TIMEOUT, seconds=limits.notebook_timeout)
    if name in ("SandboxDied", "SandboxProtocolError"):
        if not started:
            return Stop(Cause.START_FAILED)
        return getattr(sandbox, "stop", None) or Stop(Cause.KERNEL_KILLED)
    return Stop(Cause.GRADER_FAILURE)


def grade_path(spec: AutograderSpec, path: str | Path, scratch: Path, *, limits: Limits,
               slot: int, max_notebook_bytes: int,
               caps: SubmissionCaps | None = None,
               options: GradingOptions = DEFAULT_OPTIONS,
               submitter: Submitter | None = None) -> SubmissionResult:
    """Grade the submission file at ``path``; never raises (an executor's unit of work).

    Why the catch-all: a bug in the grader must still give this one submission a result (an
    ``error: grader failure: ...`` status) rather than cost the worker and the batch.
    """
    try:
        return grade_submission(spec, Submission(Path(path)), scratch, limits=limits, slot=slot,
                                max_notebook_bytes=max_notebook_bytes, caps=caps,
                                options=options, submitter=submitter)
    except Exception as e:
        _log(f"{path}: grader failure: {type(e).__name__}: {e}"[:2000])
        return stopped_result(spec, Stop(Cause.GRADER_FAILURE))
