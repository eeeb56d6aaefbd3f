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
  ``lms_manual_scores``, and the rubric of the grading page: ``lms_manual_rubric_items``,
  ``lms_manual_rubric_marks``), added to the same file by ``mlphys manual`` (the grader's
  tables are untouched, and a directory graded by ``otter grade`` gets only these tables). Why
  the same file: one file holds everything about a grading run, and SQLite gives an
  all-or-nothing import -- a sheet with one bad row changes nothing -- and lets the sheets and
  the grading page (several TAs at once) write the same scores without losing any.
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

from autograder.grading.model import ManualGrade, ManualQuestion, RubricItem, SubmissionResult

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
    title TEXT,
    hint TEXT,
    PRIMARY KEY (attempt_id, question, idx)
);
"""

IDENTITY_COLUMNS = ("submitter", "identity")
"""``submitter``: JSON of the ``model.Submitter`` the attempt was graded for (the LMS's word:
a result graded for another submitter is not current); ``identity``: JSON of the
``model.IdentityCheck`` (student-safe: the submission's own ids and whose variant counted)."""
ADDED_COLUMNS = {"cases": (("title", "TEXT"), ("hint", "TEXT")),
                 "attempts": tuple((c, "TEXT") for c in IDENTITY_COLUMNS)}
"""Columns added after the first release: a gradebook written before them gets them (empty) on
open, so resuming an old output directory works."""

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
CREATE TABLE IF NOT EXISTS lms_manual_rubric_items (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL REFERENCES lms_manual_questions(name),
    position INTEGER NOT NULL,
    label TEXT NOT NULL,
    points REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lms_manual_rubric_marks (
    student_key TEXT NOT NULL,
    item_id INTEGER NOT NULL REFERENCES lms_manual_rubric_items(id) ON DELETE CASCADE,
    PRIMARY KEY (student_key, item_id)
);
"""

MANUAL_ADDED_COLUMNS = (("lms_manual_scores", "adjustment", "REAL"),)
"""Columns added to the manual tables after their first release; an older gradebook gets them
on open. ``adjustment`` NULL (a score imported before rubrics existed) means: the points."""

GRADING_PAGE = "grading page"
"""the ``sheet`` recorded for a score written by ``mlphys manual serve``"""


def rubric_points(item_points: Iterable[float], adjustment: float, max_points: float) -> float:
    """A hand grade: the applied rubric items plus the adjustment, kept within [0, max]."""
    return round(min(max(sum(item_points) + adjustment, 0.0), max_points), 6)


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
        for table, columns in ADDED_COLUMNS.items():
            have = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in have:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

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
                        " passed, kind, public_message, message, failure_message, title, hint)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (attempt_id, q.name, idx, case.name, int(case.hidden), case.points,
                         int(case.passed), case.kind, case.public_message, case.message,
                         case.failure_message, case.title, case.hint),
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
        """name, hidden, points, passed, public_message, title, hint, kind of each case of a
        question, in order (title and hint are NULL in gradebooks written before them)."""
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(cases)")}
        extra = ", ".join(c if c in have else f"NULL AS {c}" for c in ("title", "hint"))
        return self.conn.execute(
            f"SELECT name, hidden, points, passed, public_message, kind, {extra} FROM cases"
            " WHERE attempt_id=? AND question=? ORDER BY idx", (attempt_id, question)
        ).fetchall()

    def manual_grades(self) -> dict[str, list[tuple[ManualQuestion, ManualGrade, list[RubricItem]]]]:
        """student_key -> (question, grade, applied rubric items) of every hand grade, in
        question order: what a feedback page shows (nothing when nobody graded by hand)."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"lms_manual_questions", "lms_manual_scores"} <= tables:
            return {}
        has_rubric = "lms_manual_rubric_items" in tables
        has_adjustment = "adjustment" in {r[1] for r in self.conn.execute(
            "PRAGMA table_info(lms_manual_scores)")}
        applied: dict[tuple[str, str], list[RubricItem]] = {}
        if has_rubric:
            for r in self.conn.execute(
                    "SELECT m.student_key, i.* FROM lms_manual_rubric_marks m JOIN"
                    " lms_manual_rubric_items i ON i.id = m.item_id ORDER BY i.position, i.id"):
                applied.setdefault((r["student_key"], r["question"]), []).append(
                    RubricItem(int(r["id"]), r["question"], int(r["position"]), r["label"],
                               float(r["points"])))
        out: dict[str, list[tuple[ManualQuestion, ManualGrade, list[RubricItem]]]] = {}
        adjustment = "s.adjustment" if has_adjustment else "NULL AS adjustment"
        for r in self.conn.execute(
                f"SELECT s.student_key, s.points, s.comment, s.sheet, {adjustment}, q.name,"
                " q.max_points, q.prompt, q.position FROM lms_manual_scores s JOIN"
                " lms_manual_questions q ON q.name = s.question ORDER BY q.position"):
            items = applied.get((r["student_key"], r["name"]), [])
            adj = r["points"] if r["adjustment"] is None else r["adjustment"]
            grade = ManualGrade(r["student_key"], r["name"], float(r["points"]), r["comment"] or "",
                                float(adj), frozenset(i.id for i in items), r["sheet"] or "")
            question = ManualQuestion(r["name"], float(r["max_points"]), r["prompt"] or "",
                                      int(r["position"]))
            out.setdefault(r["student_key"], []).append((question, grade, items))
        return out


class ManualStore:
    """Manual questions, scores and rubrics in ``<grades dir>/gradebook.sqlite`` (the directory
    must exist).

    Every write is one ``BEGIN IMMEDIATE`` transaction that reads what it needs and writes the
    result, so two TAs (two pages of one server, or two servers, or a page and a sheet import)
    never overwrite each other's work with stale values: a toggle is applied to the marks as
    they are at that moment, and the stored points always equal
    :func:`rubric_points` of the stored marks and adjustment."""

    def __init__(self, grades_dir: str | Path):
        self.path = Path(grades_dir) / GRADEBOOK_FILE
        self.conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(MANUAL_SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        with self._write() as c:
            for table, column, kind in MANUAL_ADDED_COLUMNS:
                have = {row[1] for row in c.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ManualStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- questions and scores (the sheets' view) -----------------------------------------------

    def set_questions(self, questions: Iterable[ManualQuestion]) -> None:
        qs = list(questions)
        with self._write() as c:
            for q in qs:
                c.execute(
                    "INSERT INTO lms_manual_questions (name, position, max_points, prompt)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET position=excluded.position,"
                    " max_points=excluded.max_points, prompt=excluded.prompt",
                    (q.name, q.position, q.points, q.prompt))
                self._recompute(c, q.name)  # a new maximum re-clamps the scores

    def questions(self) -> list[ManualQuestion]:
        rows = self.conn.execute(
            "SELECT name, max_points, prompt, position FROM lms_manual_questions ORDER BY position"
        ).fetchall()
        return [ManualQuestion(r[0], float(r[1]), r[2] or "", int(r[3])) for r in rows]

    def scores(self, rubric_in_comment: bool = False) -> dict[str, dict[str, tuple[float, str]]]:
        """student_key -> question -> (points, comment); with ``rubric_in_comment`` the comment
        starts with the applied rubric items (what LMS feedback columns and reports show)."""
        out: dict[str, dict[str, tuple[float, str]]] = {}
        for key, q, pts, comment in self.conn.execute(
                "SELECT student_key, question, points, comment FROM lms_manual_scores"):
            out.setdefault(key, {})[q] = (float(pts), comment or "")
        if rubric_in_comment:
            for key, q, labels in self._applied_labels():
                if q in out.get(key, {}):
                    pts, comment = out[key][q]
                    out[key][q] = (pts, " | ".join(filter(None, ["; ".join(labels), comment])))
        return out

    def _applied_labels(self) -> list[tuple[str, str, list[str]]]:
        found: dict[tuple[str, str], list[str]] = {}
        for key, q, label, pts in self.conn.execute(
                "SELECT m.student_key, i.question, i.label, i.points FROM lms_manual_rubric_marks m"
                " JOIN lms_manual_rubric_items i ON i.id = m.item_id ORDER BY i.position, i.id"):
            found.setdefault((key, q), []).append(f"{label} ({float(pts):+g})")
        return [(k, q, labels) for (k, q), labels in found.items()]

    def put_scores(self, rows: list[tuple[str, str, float, str, str, int]]) -> None:
        """(student_key, question, points, comment, sheet, row) rows, all or none. A rubric
        already applied to a student stays; the adjustment becomes what makes the sheet's
        points (so the page and the sheet agree, and a later change of an item's points moves
        this score by the same amount)."""
        now = time.time()
        with self._write() as c:
            for key, q, pts, comment, sheet, row in rows:
                adjustment = pts - self._marked_sum(c, key, q)
                c.execute(
                    "INSERT INTO lms_manual_scores (student_key, question, points, comment, sheet,"
                    " sheet_row, imported_at, adjustment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(student_key, question) DO UPDATE SET points=excluded.points,"
                    " comment=excluded.comment, sheet=excluded.sheet, sheet_row=excluded.sheet_row,"
                    " imported_at=excluded.imported_at, adjustment=excluded.adjustment",
                    (key, q, pts, comment, sheet, row, now, adjustment))

    # -- the rubric (the grading page's view) --------------------------------------------------

    def _question(self, c: sqlite3.Connection, question: str) -> ManualQuestion:
        r = c.execute("SELECT name, max_points, prompt, position FROM lms_manual_questions"
                      " WHERE name=?", (question,)).fetchone()
        if r is None:
            raise KeyError(question)
        return ManualQuestion(r[0], float(r[1]), r[2] or "", int(r[3]))

    def rubric(self, question: str) -> list[RubricItem]:
        return [RubricItem(int(r["id"]), r["question"], int(r["position"]), r["label"],
                           float(r["points"]))
                for r in self.conn.execute(
                    "SELECT * FROM lms_manual_rubric_items WHERE question=? ORDER BY position, id",
                    (question,))]

    def add_rubric_item(self, question: str, label: str, points: float) -> RubricItem:
        with self._write() as c:
            self._question(c, question)
            position = c.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM"
                                 " lms_manual_rubric_items WHERE question=?", (question,)).fetchone()[0]
            cur = c.execute("INSERT INTO lms_manual_rubric_items (question, position, label, points)"
                            " VALUES (?, ?, ?, ?)", (question, position, label, points))
            return RubricItem(int(cur.lastrowid), question, int(position), label, float(points))

    def update_rubric_item(self, item_id: int, label: str | None = None,
                           points: float | None = None) -> list[str]:
        """Change an item; every student who has it is re-scored in the same transaction.
        Returns those students' keys."""
        with self._write() as c:
            item = c.execute("SELECT question FROM lms_manual_rubric_items WHERE id=?",
                             (item_id,)).fetchone()
            if item is None:
                raise KeyError(item_id)
            if label is not None:
                c.execute("UPDATE lms_manual_rubric_items SET label=? WHERE id=?", (label, item_id))
            if points is not None:
                c.execute("UPDATE lms_manual_rubric_items SET points=? WHERE id=?", (points, item_id))
            return self._recompute(c, item["question"], item_id)

    def delete_rubric_item(self, item_id: int) -> list[str]:
        """Remove an item from the rubric and from every student who had it (re-scored)."""
        with self._write() as c:
            item = c.execute("SELECT question FROM lms_manual_rubric_items WHERE id=?",
                             (item_id,)).fetchone()
            if item is None:
                raise KeyError(item_id)
            keys = [r[0] for r in c.execute(
                "SELECT student_key FROM lms_manual_rubric_marks WHERE item_id=?", (item_id,))]
            c.execute("DELETE FROM lms_manual_rubric_items WHERE id=?", (item_id,))
            for key in keys:
                self._rescore(c, key, item["question"])
            return keys

    def grades(self, question: str) -> dict[str, ManualGrade]:
        """Every stored grade of one question, by student key."""
        marks: dict[str, set[int]] = {}
        for key, item_id in self.conn.execute(
                "SELECT m.student_key, m.item_id FROM lms_manual_rubric_marks m JOIN"
                " lms_manual_rubric_items i ON i.id = m.item_id WHERE i.question=?", (question,)):
            marks.setdefault(key, set()).add(int(item_id))
        return {r["student_key"]: self._grade_of(r, marks.get(r["student_key"], set()))
                for r in self.conn.execute(
                    "SELECT * FROM lms_manual_scores WHERE question=?", (question,))}

    def grade(self, student_key: str, question: str) -> ManualGrade | None:
        return self._read_grade(self.conn, student_key, question)

    def change_grade(self, student_key: str, question: str, *, toggle: int | None = None,
                     adjustment: float | None = None, comment: str | None = None
                     ) -> ManualGrade | None:
        """Toggle one rubric item, set the adjustment and/or the comment of one student's grade,
        atomically, from the grade as it is now. A grade left with no item, no adjustment and
        no comment is removed (the answer counts as not graded yet). Returns the new grade."""
        with self._write() as c:
            q = self._question(c, question)
            if toggle is not None:
                item = c.execute("SELECT question FROM lms_manual_rubric_items WHERE id=?",
                                 (toggle,)).fetchone()
                if item is None or item["question"] != question:
                    raise KeyError(toggle)
                removed = c.execute("DELETE FROM lms_manual_rubric_marks WHERE student_key=? AND"
                                    " item_id=?", (student_key, toggle)).rowcount
                if not removed:
                    c.execute("INSERT INTO lms_manual_rubric_marks (student_key, item_id)"
                              " VALUES (?, ?)", (student_key, toggle))
            old = self._read_grade(c, student_key, question)
            adj = adjustment if adjustment is not None else (old.adjustment if old else 0.0)
            text = comment if comment is not None else (old.comment if old else "")
            marked = self._marked_sum(c, student_key, question)
            has_items = c.execute(
                "SELECT COUNT(*) FROM lms_manual_rubric_marks m JOIN lms_manual_rubric_items i"
                " ON i.id = m.item_id WHERE m.student_key=? AND i.question=?",
                (student_key, question)).fetchone()[0]
            if not has_items and not adj and not text.strip():
                c.execute("DELETE FROM lms_manual_scores WHERE student_key=? AND question=?",
                          (student_key, question))
                return None
            c.execute(
                "INSERT INTO lms_manual_scores (student_key, question, points, comment, sheet,"
                " sheet_row, imported_at, adjustment) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)"
                " ON CONFLICT(student_key, question) DO UPDATE SET points=excluded.points,"
                " comment=excluded.comment, sheet=excluded.sheet, sheet_row=NULL,"
                " imported_at=excluded.imported_at, adjustment=excluded.adjustment",
                (student_key, question, rubric_points([marked], adj, q.points), text,
                 GRADING_PAGE, time.time(), adj))
            return self._read_grade(c, student_key, question)

    # -- helpers (inside a transaction) --------------------------------------------------------

    @staticmethod
    def _marked_sum(c: sqlite3.Connection, student_key: str, question: str) -> float:
        return float(c.execute(
            "SELECT COALESCE(SUM(i.points), 0) FROM lms_manual_rubric_marks m JOIN"
            " lms_manual_rubric_items i ON i.id = m.item_id WHERE m.student_key=? AND i.question=?",
            (student_key, question)).fetchone()[0])

    @staticmethod
    def _grade_of(r: sqlite3.Row, items: set[int]) -> ManualGrade:
        adjustment = r["adjustment"]
        return ManualGrade(r["student_key"], r["question"], float(r["points"]), r["comment"] or "",
                           float(r["points"] if adjustment is None else adjustment),
                           frozenset(items), r["sheet"] or "")

    def _read_grade(self, c: sqlite3.Connection, student_key: str, question: str
                    ) -> ManualGrade | None:
        r = c.execute("SELECT * FROM lms_manual_scores WHERE student_key=? AND question=?",
                      (student_key, question)).fetchone()
        if r is None:
            return None
        items = {int(x[0]) for x in c.execute(
            "SELECT m.item_id FROM lms_manual_rubric_marks m JOIN lms_manual_rubric_items i"
            " ON i.id = m.item_id WHERE m.student_key=? AND i.question=?", (student_key, question))}
        return self._grade_of(r, items)

    def _rescore(self, c: sqlite3.Connection, student_key: str, question: str) -> None:
        """Store the points the marks and adjustment give (no score row: nothing to do)."""
        q = self._question(c, question)
        r = c.execute("SELECT points, adjustment FROM lms_manual_scores WHERE student_key=? AND"
                      " question=?", (student_key, question)).fetchone()
        if r is None:
            return
        adj = float(r["points"] if r["adjustment"] is None else r["adjustment"])
        c.execute("UPDATE lms_manual_scores SET points=?, adjustment=? WHERE student_key=? AND"
                  " question=?", (rubric_points([self._marked_sum(c, student_key, question)], adj,
                                                q.points), adj, student_key, question))

    def _recompute(self, c: sqlite3.Connection, question: str, item_id: int | None = None
                   ) -> list[str]:
        """Re-score the students of a question who have ``item_id`` (all with a rubric mark,
        when None)."""
        if item_id is None:
            keys = [r[0] for r in c.execute(
                "SELECT DISTINCT m.student_key FROM lms_manual_rubric_marks m JOIN"
                " lms_manual_rubric_items i ON i.id = m.item_id WHERE i.question=?", (question,))]
        else:
            keys = [r[0] for r in c.execute(
                "SELECT student_key FROM lms_manual_rubric_marks WHERE item_id=?", (item_id,))]
        for key in keys:
            self._rescore(c, key, question)
        return keys
