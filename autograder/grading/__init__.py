"""The hardened, Docker-free batch grader for Otter-Grader 7 autograder zips (``mlphys grade``).

The layout follows the trust boundaries (docs/architecture.md has the map):

* ``batch/`` (trusted): the driver that grades many submissions, the gradebook (the only owner
  of ``gradebook.sqlite``), the output files;
* ``executors/`` (trusted): where submissions are graded in parallel (local worker processes);
* ``otter/`` (trusted): Otter's semantics: the autograder zip, the notebook's plan, grading ONE
  submission, running a question's tests against a lazy view of the student's globals,
  ``results.json``;
* ``sandbox/``: the trusted side of the isolation (sandbox lifecycle, channel, value codec,
  remote handles, host helpers), the keeper that builds the jail (``jail.py``) and the program
  that runs student code inside it (``runner.py``);
* ``model.py``: the plain records all of them exchange; ``command.py``: ``mlphys grade``.

The public entry points for other tools are :func:`grade_batch` and :func:`read_feedback`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["BatchSummary", "grade_batch", "read_feedback", "load_autograder"]


def __getattr__(name: str) -> Any:
    # Lazy: ``import autograder.grading`` must stay cheap for the CLI's --help.
    if name in {"BatchSummary", "grade_batch"}:
        from autograder.grading.batch import driver

        return getattr(driver, name)
    if name == "read_feedback":
        from autograder.grading.batch.feedback import read_feedback

        return read_feedback
    if name == "load_autograder":
        from autograder.grading.otter.autograder_zip import load_autograder

        return load_autograder
    raise AttributeError(name)


if TYPE_CHECKING:
    from autograder.grading.batch.driver import BatchSummary, grade_batch
    from autograder.grading.batch.feedback import read_feedback
    from autograder.grading.otter.autograder_zip import load_autograder
