"""Read graded results back from a gradebook, in a form safe to show students.

For the LMS export and feedback pages: per submission and question, the score, the status, the
public tests' output, and for hidden tests only their names and whether/why they failed
("wrong result", "the test ran out of time", ...). Hidden test code, expected values and the
student's own exception text for hidden tests are never part of these objects (the gradebook
keeps them in instructor-only columns that this module does not read).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CaseFeedback:
    name: str
    hidden: bool
    points: float
    passed: bool
    message: str
    """Otter's message for public cases; a one-line redacted message for hidden ones"""


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


def _gradebook_path(where: str | Path) -> Path:
    p = Path(where)
    return p / "gradebook.sqlite" if p.is_dir() else p


def read_feedback(
    where: str | Path,
    submission: str | Path | None = None,
    autograder_sha256: str | None = None,
) -> list[SubmissionFeedback]:
    """Latest committed result of each submission in the gradebook at ``where`` (an output
    directory or the ``gradebook.sqlite`` file), optionally only ``submission`` (a path) and
    only results made with the autograder zip of the given sha256."""
    path = _gradebook_path(where)
    if not path.exists():
        raise FileNotFoundError(f"no gradebook at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        sql = "SELECT * FROM attempts WHERE state='done'"
        args: list[str] = []
        if submission is not None:
            sql += " AND submission_path=?"
            args.append(str(Path(submission).resolve()))
        if autograder_sha256 is not None:
            sql += " AND autograder_sha256=?"
            args.append(autograder_sha256)
        latest: dict[str, sqlite3.Row] = {}
        for row in conn.execute(sql + " ORDER BY id", args):
            latest[row["submission_path"]] = row
        out = []
        for sub_path, a in sorted(latest.items()):
            n_attempts = conn.execute(
                "SELECT COUNT(*) FROM attempts WHERE submission_path=?", (sub_path,)
            ).fetchone()[0]
            questions = []
            for q in conn.execute(
                "SELECT name, score, possible, status, reason, public_summary FROM questions"
                " WHERE attempt_id=? ORDER BY position", (a["id"],)
            ):
                cases = tuple(
                    CaseFeedback(c["name"], bool(c["hidden"]), c["points"], bool(c["passed"]),
                                 c["public_message"])
                    for c in conn.execute(
                        "SELECT name, hidden, points, passed, public_message FROM cases"
                        " WHERE attempt_id=? AND question=? ORDER BY idx", (a["id"], q["name"])
                    )
                )
                questions.append(QuestionFeedback(
                    q["name"], q["score"], q["possible"], q["status"], q["reason"],
                    q["public_summary"] or "", cases,
                ))
            out.append(SubmissionFeedback(
                path=sub_path, submission_id=a["submission_id"], sha256=a["submission_sha256"],
                autograder_sha256=a["autograder_sha256"], grading_status=a["grading_status"],
                total=a["total"], possible=a["possible"], percent=a["percent"],
                graded_at=a["finished_at"], attempts=n_attempts, questions=tuple(questions),
            ))
        return out
    finally:
        conn.close()
