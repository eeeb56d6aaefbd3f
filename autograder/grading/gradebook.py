"""The gradebook: an SQLite file that is the single source of truth of a grading directory.

Why SQLite: every result is committed in ONE transaction (attempt row, its questions and test
cases together), so a grader killed with ``kill -9`` at any instant leaves either a whole result
or none; the CSV and JSON files are regenerated from here. Every attempt is kept (including the
ones a kill interrupted), keyed by the submission's path, its sha256 and the autograder zip's
sha256: a submission is graded again only when one of those changes, and a partial unique index
makes "graded exactly once" a database invariant rather than a hope.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autograder.grading.flow import SubmissionResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    autograder_path TEXT NOT NULL,
    autograder_sha256 TEXT NOT NULL,
    pid INTEGER NOT NULL,
    jobs INTEGER,
    submissions INTEGER
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    submission_path TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    submission_sha256 TEXT NOT NULL,
    autograder_sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'interrupted')),
    started_at REAL NOT NULL,
    finished_at REAL,
    duration_s REAL,
    worker_pid INTEGER,
    grading_status TEXT,
    total REAL,
    possible REAL,
    percent REAL,
    notebook_name TEXT,
    cells_run INTEGER,
    cell_errors INTEGER,
    isolation TEXT,
    timings TEXT,
    results_json TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_done_attempt
    ON attempts (submission_path, submission_sha256, autograder_sha256) WHERE state = 'done';
CREATE INDEX IF NOT EXISTS attempts_by_path ON attempts (submission_path);
CREATE TABLE IF NOT EXISTS questions (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    score REAL NOT NULL,
    possible REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    ran INTEGER NOT NULL,
    summary TEXT,
    public_summary TEXT,
    instructor_summary TEXT,
    PRIMARY KEY (attempt_id, name)
);
CREATE TABLE IF NOT EXISTS cases (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    question TEXT NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    hidden INTEGER NOT NULL,
    points REAL NOT NULL,
    passed INTEGER NOT NULL,
    kind TEXT,
    public_message TEXT,
    message TEXT,
    failure_message TEXT,
    PRIMARY KEY (attempt_id, question, idx)
);
"""


class Gradebook:
    """A connection to ``gradebook.sqlite`` (one per process; the batch driver owns writes)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- runs and attempts ---------------------------------------------------------------------

    def start_run(self, autograder_path: str, autograder_sha256: str, jobs: int,
                  submissions: int) -> int:
        """Record a run; attempts a killed run left 'running' become 'interrupted'."""
        with self.transaction() as c:
            c.execute(
                "UPDATE attempts SET state='interrupted' WHERE state='running'"
            )
            cur = c.execute(
                "INSERT INTO runs (started_at, autograder_path, autograder_sha256, pid, jobs,"
                " submissions) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), autograder_path, autograder_sha256, os.getpid(), jobs, submissions),
            )
            return int(cur.lastrowid)

    def finish_run(self, run_id: int) -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET finished_at=? WHERE id=?", (time.time(), run_id))

    def done_attempt(self, path: str, sha: str, ag_sha: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM attempts WHERE submission_path=? AND submission_sha256=? AND"
            " autograder_sha256=? AND state='done'",
            (path, sha, ag_sha),
        ).fetchone()

    def begin_attempt(self, run_id: int, path: str, sub_id: str, sha: str, ag_sha: str,
                      worker_pid: int | None) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO attempts (run_id, submission_path, submission_id, submission_sha256,"
                " autograder_sha256, state, started_at, worker_pid)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (run_id, path, sub_id, sha, ag_sha, time.time(), worker_pid),
            )
            return int(cur.lastrowid)

    def finish_attempt(self, attempt_id: int, result: SubmissionResult,
                       results_json: dict[str, Any]) -> None:
        """Commit a result atomically: the attempt, its questions and cases, or nothing."""
        total, possible = result.total, result.possible
        percent = round(total / possible, 4) if possible else 0
        now = time.time()
        with self.transaction() as c:
            started = c.execute("SELECT started_at FROM attempts WHERE id=?",
                                (attempt_id,)).fetchone()[0]
            c.execute(
                "UPDATE attempts SET state='done', finished_at=?, duration_s=?, grading_status=?,"
                " total=?, possible=?, percent=?, notebook_name=?, cells_run=?, cell_errors=?,"
                " isolation=?, timings=?, results_json=? WHERE id=?",
                (now, now - started, result.grading_status, total, possible, percent,
                 result.notebook_name, result.cells_run, result.cell_errors, result.isolation,
                 json.dumps(result.timings), json.dumps(results_json), attempt_id),
            )
            for pos, q in enumerate(result.questions):
                c.execute(
                    "INSERT INTO questions (attempt_id, position, name, score, possible, status,"
                    " reason, ran, summary, public_summary, instructor_summary)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (attempt_id, pos, q.name, q.score, q.possible, q.status, q.reason,
                     int(q.ran), q.summary, q.public_summary, q.instructor_summary),
                )
                for idx, case in enumerate(q.cases):
                    c.execute(
                        "INSERT INTO cases (attempt_id, question, idx, name, hidden, points,"
                        " passed, kind, public_message, message, failure_message)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (attempt_id, q.name, idx, case.name, int(case.hidden), case.points,
                         int(case.passed), case.kind, case.public_message, case.message,
                         case.failure_message),
                    )

    # -- reading -------------------------------------------------------------------------------

    def questions_of(self, attempt_id: int) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM questions WHERE attempt_id=? ORDER BY position", (attempt_id,)
        ).fetchall()

    def cases_of(self, attempt_id: int, question: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM cases WHERE attempt_id=? AND question=? ORDER BY idx",
            (attempt_id, question),
        ).fetchall()

    def attempts_of(self, path: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM attempts WHERE submission_path=? ORDER BY id", (path,)
        ).fetchall()
