"""Read graded results back from a gradebook, in a form safe to show students.

For the LMS export and feedback pages: per submission and question, the score, the status, the
public tests' output, and for every test case its student-facing name and, when it failed, its
one-line hint (the author's ``failure_message`` or the grader's observation: "wrong result",
"an error was raised: TypeError", "the test ran out of time"). Hidden test code, expected
values and the student's own exception text for hidden tests are never part of these objects
(the gradebook keeps them in instructor-only columns that ``GradebookReader`` never selects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grading.batch.gradebook import GradebookReader
from autograder.grading.model import IdentityCheck
from autograder.grading.otter import case_labels


@dataclass(frozen=True)
class CaseFeedback:
    name: str
    """Otter's name of the case (``q1 - 2``)"""
    hidden: bool
    points: float
    passed: bool
    message: str
    """public cases: Otter's message with student-produced text withheld once hidden tests had
    run; hidden cases: the failure line and the hint, nothing of the test"""
    title: str = ""
    """the student-facing name (docstring first line, readable function name, Otter's name)"""
    hint: str = ""
    """one line for a failed case: the author's hint or the grader's observation"""
    kind: str | None = None
    """why it failed: 'wrong', 'error', 'timeout', 'memory', 'died' (None when passed)"""


@dataclass(frozen=True)
class QuestionFeedback:
    name: str
    score: float
    possible: float
    status: str
    reason: str | None
    public_output: str
    """Otter's public-only summary for this question (what ``grader.check`` shows students)"""
    cases: tuple[CaseFeedback, ...] = ()

    @property
    def failed_hidden(self) -> list[CaseFeedback]:
        return [c for c in self.cases if c.hidden and not c.passed]

    @property
    def failed(self) -> list[CaseFeedback]:
        """Every failed case, public and hidden, in the test file's order."""
        return [c for c in self.cases if not c.passed]


@dataclass(frozen=True)
class SubmissionFeedback:
    path: str
    submission_id: str
    sha256: str
    autograder_sha256: str
    grading_status: str
    total: float
    possible: float
    percent: float
    graded_at: float
    attempts: int
    questions: tuple[QuestionFeedback, ...] = field(default=())
    identity: IdentityCheck | None = None
    """for a quiz graded against the submitter's identity: what the grader found (a flagged
    check: the notebook's ``student_id`` is not the submitter's, or the owner is unknown)"""


def read_feedback(
    where: str | Path,
    submission: str | Path | None = None,
    autograder_sha256: str | None = None,
) -> list[SubmissionFeedback]:
    """Latest committed result of each submission in the gradebook at ``where`` (an output
    directory or the ``gradebook.sqlite`` file), optionally only ``submission`` (a path) and
    only results made with the autograder zip of the given sha256."""
    with GradebookReader(where) as gradebook:
        wanted = None if submission is None else str(Path(submission).resolve())
        out = []
        for a in gradebook.latest_results(wanted, autograder_sha256):
            questions = []
            for q in gradebook.public_questions(a["id"]):
                cases = tuple(_case(c) for c in gradebook.public_cases(a["id"], q["name"]))
                questions.append(QuestionFeedback(
                    q["name"], q["score"], q["possible"], q["status"], q["reason"],
                    q["public_summary"] or "", cases,
                ))
            out.append(SubmissionFeedback(
                path=a["submission_path"], submission_id=a["submission_id"],
                sha256=a["submission_sha256"], autograder_sha256=a["autograder_sha256"],
                grading_status=a["grading_status"], total=a["total"], possible=a["possible"],
                percent=a["percent"], graded_at=a["finished_at"],
                attempts=gradebook.attempt_count(a["submission_path"]),
                questions=tuple(questions), identity=_identity(a),
            ))
        return out


def _case(row: Any) -> CaseFeedback:
    passed = bool(row["passed"])
    kind = None if passed else row["kind"]
    return CaseFeedback(
        row["name"], bool(row["hidden"]), row["points"], passed, row["public_message"] or "",
        title=row["title"] or row["name"],
        # gradebooks written before hints: the grader's observation
        hint="" if passed else (row["hint"] or case_labels.hint(None, kind)),
        kind=kind,
    )


def _identity(attempt: object) -> IdentityCheck | None:
    """The attempt's identity check (gradebooks written before it existed have no column)."""
    keys = attempt.keys()  # type: ignore[attr-defined]
    if "identity" not in keys or not attempt["identity"]:  # type: ignore[index]
        return None
    return IdentityCheck.from_dict(json.loads(attempt["identity"]))  # type: ignore[index]


@dataclass(frozen=True)
class ManualFeedback:
    """A hand-graded question as the student sees it: points, the rubric items applied to
    their answer (description and points) and the TA's comment."""

    question: str
    points: float
    possible: float
    items: tuple[tuple[str, float], ...]
    comment: str


def read_manual_feedback(where: str | Path) -> dict[str, list[ManualFeedback]]:
    """student_key -> the hand grades of a grading directory (empty when there are none)."""
    with GradebookReader(where) as gradebook:
        return {key: [ManualFeedback(q.name, g.points, q.points,
                                     tuple((i.label, i.points) for i in items), g.comment)
                      for q, g, items in grades]
                for key, grades in gradebook.manual_grades().items()}


def numpy_repr_failures(where: str | Path) -> dict[str, tuple[int, int]]:
    """question -> (failing cases, submissions) that fail only by NumPy 2's scalar repr (tests
    whose expected output was recorded under NumPy 1; ``--numpy-legacy-repr`` grades them as
    NumPy 1 would)."""
    with GradebookReader(where) as reader:
        return reader.numpy_repr_failures()
