"""The hardened, Docker-free batch grader for Otter-Grader 7 autograder zips (``mlphys grade``).

Student code runs in a sandboxed process (``sandbox``); Otter's test files run here, in the
trusted grading process, against a lazy view of the student's globals (``testrun``). The public
entry points for other tools are :func:`grade_batch` and :func:`read_feedback`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["BatchSummary", "grade_batch", "read_feedback", "load_autograder"]


def __getattr__(name: str) -> Any:
    # Lazy: ``import autograder.grading`` must stay cheap for the CLI's --help.
    if name in {"BatchSummary", "grade_batch"}:
        from autograder.grading import batch

        return getattr(batch, name)
    if name == "read_feedback":
        from autograder.grading.feedback import read_feedback

        return read_feedback
    if name == "load_autograder":
        from autograder.grading.otter_zip import load_autograder

        return load_autograder
    raise AttributeError(name)


if TYPE_CHECKING:
    from autograder.grading.batch import BatchSummary, grade_batch
    from autograder.grading.feedback import read_feedback
    from autograder.grading.otter_zip import load_autograder
