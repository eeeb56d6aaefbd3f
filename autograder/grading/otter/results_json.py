"""Gradescope ``results.json`` for one graded submission, laid out as Otter writes it.

:func:`results_json` is the one place where that dict is built, for every result: graded
normally, refused (malformed notebook, wrong assignment), or lost (the worker died twice).

Mirrors ``otter.test_files.GradingResults.to_gradescope_dict`` line by line (the "Public Tests"
summary first, one entry per question with ``score``/``max_score`` rounded to 5 places, the
visibility rules of ``show_hidden``/``show_all_public``/``force_public_test_summary``,
``stdout_visibility``, ``points_possible`` and ``score_threshold``). Deliberate differences:

* a question's output lists its hidden cases by their student-facing name with a one-line
  hint, never their code, expected values or the student's exception text (Otter leaves the
  test code of hidden cases in the per-question outputs, which students see once
  ``show_hidden`` publishes them);
* a question that could not be tested says why (timeout, memory, kernel died, error);
* a zip built by ``mlphys build`` may set the per-question visibility for its course
  (``mlphys.json``: ``gradescope.question_visibility``, e.g. ``after_published``, so students
  see per-question scores and hints once grades are published); other zips keep Otter's rules.
"""

from __future__ import annotations

from typing import Any

from autograder.grading.model import COMPLETED, QuestionOutcome, SubmissionResult


def results_json(result: SubmissionResult, config: dict[str, Any],
                 question_visibility: str | None = None) -> dict[str, Any]:
    """The ``results.json`` of ``result`` under the autograder's ``otter_config.json``;
    ``question_visibility`` (the zip's ``mlphys.json``) overrides Otter's per-question rule."""
    return gradescope_dict(result.questions, config, result.grading_status, question_visibility)


def gradescope_dict(
    questions: list[QuestionOutcome], config: dict[str, Any], grading_status: str,
    question_visibility: str | None = None,
) -> dict[str, Any]:
    show_hidden = bool(config.get("show_hidden", False))
    show_all_public = bool(config.get("show_all_public", False))
    force_public = bool(config.get("force_public_test_summary", True))
    show_stdout = bool(config.get("show_stdout", False))
    points_possible = config.get("points_possible")
    score_threshold = config.get("score_threshold")

    output: dict[str, Any] = {"tests": []}
    if grading_status != COMPLETED:
        output["output"] = f"Grading did not complete normally: {grading_status}"

    hidden_visibility = ("hidden", "after_published")[show_hidden]
    if show_all_public and all(q.all_public for q in questions):
        hidden_visibility = "visible"
    if question_visibility is not None:  # the course's choice (mlphys build)
        hidden_visibility = question_visibility

    if not show_hidden or force_public:
        output["tests"].append(
            {
                "name": "Public Tests",
                "visibility": "visible",
                "output": "\n\n".join(q.public_summary for q in questions),
                "status": "passed" if all(q.passed_all_public for q in questions) else "failed",
            }
        )

    for q in questions:
        text = q.summary
        if q.status not in ("passed", "failed"):
            text += f"\n\nGrading status: {q.status}" + (f" ({q.reason})" if q.reason else "")
        output["tests"].append(
            {
                "name": q.name,
                "score": round(q.score, 5),
                "max_score": round(q.possible, 5),
                "visibility": hidden_visibility,
                "output": text,
            }
        )

    if show_stdout:
        output["stdout_visibility"] = "after_published"

    total = sum(q.score for q in questions)
    possible = sum(q.possible for q in questions)
    if points_possible is not None:
        try:
            output["score"] = total / possible * points_possible
        except ZeroDivisionError:
            output["score"] = 0
    if score_threshold is not None:
        try:
            passed = total / possible >= score_threshold
        except ZeroDivisionError:
            passed = score_threshold <= 0
        output["score"] = (points_possible or possible) if passed else 0
    return output
