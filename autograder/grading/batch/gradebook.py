"""The gradebook: an SQLite file that is the single source of truth of a grading directory.

Why SQLite: every result is committed in ONE transaction (attempt row, its questions and test
cases together), so a grader killed with ``kill -9`` at any instant leaves either a whole result
or none; the CSV and JSON files are regenerated from here. Every attempt is kept (including the
ones a kill interrupted), keyed by the submission's path, its sha256 and the autograder zip's
sha256: a submission is graded again only when one of those changes, and a partial unique index
makes "graded exactly once" a database invariant rather than a hope.

This module is the ONLY one that knows the file's schema; everything else reads and writes it
through the classes here:

* :class:`Gradebook`: the batch driver's writes (runs, attempts, questions, cases) and the
  reads the output files need;
* :class:`GradebookReader`: a read-only connection for feedback pages and exports, exposing
  only the student-safe columns;
* :class:`ManualStore`: the manual-grading tables (``lms_manual_questions``,
  ``lms_manual_scores``), added to the same file by ``mlphys manual`` (the grader's tables are
  untouched, and a directory graded by ``otter grade`` gets only these two tables). Why the
  same file: one file holds everything about a grading run, and SQLite gives an all-or-nothing
  import -- a sheet with one bad row changes nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autograder.grading.model import ManualQuestion, SubmissionResult

GRADEBOOK_FILE = "gradebook.sqlite"

GRADER_SCHEMA = """
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
    results_json TEXT,
    submitter TEXT,
    identity TEXT
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

IDENTITY_COLUMNS = ("submitter", "identity")
"""``submitter``: JSON of the ``model.Submitter`` the attempt was graded for (the LMS's word:
a result graded for another submitter is not current); ``identity``: JSON of the
``model.IdentityCheck`` (student-safe: the submission's own ids and whose variant counted)."""

MANUAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS lms_manual_questions (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    max_points REAL NOT NULL,
    prompt TEXT
);
CREATE TABLE IF NOT EXISTS lms_manual_scores (
    student_key TEXT NOT NULL,
    question TEXT NOT NULL REFERENCES lms_manual_questions(name),
    points REAL NOT NULL,
    comment TEXT,
    sheet TEXT,
    sheet_row INTEGER,
    imported_at REAL NOT NULL,
    PRIMARY KEY (student_key, question)
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
        self.conn.executescript(GRADER_SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        """Columns added after the first release (a gradebook written before gets them empty)."""
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(attempts)")}
        for column in IDENTITY_COLUMNS:
            if column not in have:
                self.conn.execute(f"ALTER TABLE attempts ADD COLUMN {column} TEXT")

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
                      worker_pid: int | None, submitter: dict[str, Any] | None = None) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO attempts (run_id, submission_path, submission_id, submission_sha256,"
                " autograder_sha256, state, started_at, worker_pid, submitter)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                (run_id, path, sub_id, sha, ag_sha, time.time(), worker_pid,
                 None if submitter is None else json.dumps(submitter, sort_keys=True)),
            )
            return int(cur.lastrowid)

    def interrupt_attempt(self, attempt_id: int) -> None:
        """A running attempt whose worker was lost (the submission is being tried again)."""
        with self.transaction() as c:
            c.execute("UPDATE attempts SET state='interrupted' WHERE id=? AND state='running'",
                      (attempt_id,))

    @staticmethod
    def same_submitter(attempt: sqlite3.Row, submitter: dict[str, Any] | None) -> bool:
        """Was ``attempt`` graded for this submitter (None: graded without one)?"""
        stored = attempt["submitter"]
        current = None if submitter is None else json.dumps(submitter, sort_keys=True)
        return stored == current

    def retire_attempt(self, attempt_id: int) -> None:
        """A committed result that no longer holds (it was graded for another submitter): kept,
        but no longer 'done', so the submission is graded again and that result replaces it."""
        with self.transaction() as c:
            c.execute("UPDATE attempts SET state='interrupted' WHERE id=? AND state='done'",
                      (attempt_id,))

    def finish_attempt(self, attempt_id: int, result: SubmissionResult,
                       results_json: dict[str, Any]) -> None:
        """Commit a result atomically: the attempt, its questions and cases, or nothing."""
        self._store_attempt(attempt_id, result, results_json, final=True)

    def fail_attempt(self, attempt_id: int, result: SubmissionResult,
                     results_json: dict[str, Any]) -> None:
        """Store a result the grader failed to produce (``SubmissionResult.final`` False): it
        is shown (``result_attempt``, ``latest_results``) but the attempt stays
        'interrupted', so ``done_attempt`` does not see it and the next run grades again."""
        self._store_attempt(attempt_id, result, results_json, final=False)

    def result_attempt(self, path: str, sha: str, ag_sha: str) -> sqlite3.Row | None:
        """The committed attempt, else the latest failed one that has a result to show."""
        done = self.done_attempt(path, sha, ag_sha)
        if done is not None:
            return done
        return self.conn.execute(
            "SELECT * FROM attempts WHERE submission_path=? AND submission_sha256=? AND"
            " autograder_sha256=? AND state='interrupted' AND grading_status IS NOT NULL"
            " ORDER BY id DESC LIMIT 1",
            (path, sha, ag_sha),
        ).fetchone()

    def _store_attempt(self, attempt_id: int, result: SubmissionResult,
                       results_json: dict[str, Any], final: bool) -> None:
        total, possible = result.total, result.possible
        percent = round(total / possible, 4) if possible else 0
        now = time.time()
        with self.transaction() as c:
            started = c.execute("SELECT started_at FROM attempts WHERE id=?",
                                (attempt_id,)).fetchone()[0]
            c.execute(
                "UPDATE attempts SET state=?, finished_at=?, duration_s=?, grading_status=?,"
                " total=?, possible=?, percent=?, notebook_name=?, cells_run=?, cell_errors=?,"
                " isolation=?, timings=?, results_json=?, identity=? WHERE id=?",
                ("done" if final else "interrupted", now, now - started, result.grading_status,
                 total, possible, percent,
                 result.notebook_name, result.cells_run, result.cell_errors, result.isolation,
                 json.dumps(result.timings), json.dumps(results_json),
                 None if result.identity is None else json.dumps(result.identity), attempt_id),
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
        """Every test case of one question of an attempt (instructor columns too), in order."""
        return self.conn.execute(
            "SELECT * FROM cases WHERE attempt_id=? AND question=? ORDER BY idx",
            (attempt_id, question)).fetchall()


def gradebook_path(where: str | Path) -> Path:
    """The gradebook of a grading directory, or ``where`` itself when it is the file."""
    p = Path(where)
    return p / GRADEBOOK_FILE if p.is_dir() else p


class GradebookReader:
    """A read-only connection (``mode=ro``) that returns only student-safe columns: no hidden
    test code, expected values or student exception text (those columns are never selected)."""

    def __init__(self, where: str | Path):
        self.path = gradebook_path(where)
        if not self.path.exists():
            raise FileNotFoundError(f"no gradebook at {self.path}")
        self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        self.conn.row_factory = sqlite3.Row

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> GradebookReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has_grader_results(self) -> bool:
        """Whether ``mlphys grade`` wrote here (a gradebook of 'manual export' alone, next to
        ``otter grade``'s CSV, has only the manual tables)."""
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                 "name='attempts'").fetchone() is not None

    def latest_results(self, submission_path: str | None = None,
                       autograder_sha256: str | None = None) -> list[sqlite3.Row]:
        """The latest attempt with a result of each submission (sorted by path): committed
        ones, and failed ones of the grader (not final, shown until regraded); optionally of
        one submission path and one autograder zip only."""
        sql = ("SELECT * FROM attempts WHERE (state='done' OR (state='interrupted' AND"
               " grading_status IS NOT NULL))")
        args: list[str] = []
        if submission_path is not None:
            sql += " AND submission_path=?"
            args.append(submission_path)
        if autograder_sha256 is not None:
            sql += " AND autograder_sha256=?"
            args.append(autograder_sha256)
        latest: dict[str, sqlite3.Row] = {}
        for row in self.conn.execute(sql + " ORDER BY id", args):
            latest[row["submission_path"]] = row
        return [latest[path] for path in sorted(latest)]

    def numpy_repr_failures(self) -> dict[str, tuple[int, int]]:
        """question -> (failing cases, submissions) of the latest attempts whose failure only
        NumPy 2's scalar repr explains (counts only: the messages are not selected)."""
        from autograder.grading.model import NUMPY_REPR_NOTE

        ids = [row["id"] for row in self.latest_results()]
        out: dict[str, tuple[int, int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for question, cases, attempts in self.conn.execute(
                    "SELECT question, COUNT(*), COUNT(DISTINCT attempt_id) FROM cases WHERE "
                    f"passed=0 AND instr(message, ?) > 0 AND attempt_id IN ({marks}) "
                    "GROUP BY question", (NUMPY_REPR_NOTE, *chunk)):
                before = out.get(question, (0, 0))
                out[question] = (before[0] + cases, before[1] + attempts)
        return dict(sorted(out.items()))

    def attempt_count(self, submission_path: str) -> int:
        """Every attempt at a submission path (interrupted ones included)."""
        return int(self.conn.execute(
            "SELECT COUNT(*) FROM attempts WHERE submission_path=?", (submission_path,)
        ).fetchone()[0])

    def public_questions(self, attempt_id: int) -> list[sqlite3.Row]:
        """name, score, possible, status, reason, public_summary of each question, in order."""
        return self.conn.execute(
            "SELECT name, score, possible, status, reason, public_summary FROM questions"
            " WHERE attempt_id=? ORDER BY position", (attempt_id,)
        ).fetchall()

    def public_cases(self, attempt_id: int, question: str) -> list[sqlite3.Row]:
        """name, hidden, points, passed, public_message of each case of a question, in order."""
        return self.conn.execute(
            "SELECT name, hidden, points, passed, public_message FROM cases"
            " WHERE attempt_id=? AND question=? ORDER BY idx", (attempt_id, question)
        ).fetchall()


class ManualStore:
    """Manual questions and scores in ``<grades dir>/gradebook.sqlite`` (the directory must
    exist)."""

    def __init__(self, grades_dir: str | Path):
        self.path = Path(grades_dir) / GRADEBOOK_FILE
        self.conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(MANUAL_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ManualStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_questions(self, questions: Iterable[ManualQuestion]) -> None:
        qs = list(questions)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for q in qs:
                self.conn.execute(
                    "INSERT INTO lms_manual_questions (name, position, max_points, prompt)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET position=excluded.position,"
                    " max_points=excluded.max_points, prompt=excluded.prompt",
                    (q.name, q.position, q.points, q.prompt))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def questions(self) -> list[ManualQuestion]:
        rows = self.conn.execute(
            "SELECT name, max_points, prompt, position FROM lms_manual_questions ORDER BY position"
        ).fetchall()
        return [ManualQuestion(r[0], float(r[1]), r[2] or "", int(r[3])) for r in rows]

    def scores(self) -> dict[str, dict[str, tuple[float, str]]]:
        """student_key -> question -> (points, comment)"""
        out: dict[str, dict[str, tuple[float, str]]] = {}
        for key, q, pts, comment in self.conn.execute(
                "SELECT student_key, question, points, comment FROM lms_manual_scores"):
            out.setdefault(key, {})[q] = (float(pts), comment or "")
        return out

    def put_scores(self, rows: list[tuple[str, str, float, str, str, int]]) -> None:
        """(student_key, question, points, comment, sheet, row) rows, all or none."""
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for key, q, pts, comment, sheet, row in rows:
                self.conn.execute(
                    "INSERT INTO lms_manual_scores (student_key, question, points, comment, sheet,"
                    " sheet_row, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(student_key, question) DO UPDATE SET points=excluded.points,"
                    " comment=excluded.comment, sheet=excluded.sheet, sheet_row=excluded.sheet_row,"
                    " imported_at=excluded.imported_at",
                    (key, q, pts, comment, sheet, row, now))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
