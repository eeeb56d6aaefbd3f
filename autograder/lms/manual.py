"""The manual grading round trip: sheets out (one CSV per manual question), scores back in.

Storage: our own tables in the grading directory's ``gradebook.sqlite`` (the grader's file;
its tables are untouched): ``lms_manual_questions`` (name, position, max_points, prompt) and
``lms_manual_scores`` (student_key, question, points, comment, sheet, sheet_row, imported_at).
Why there: one file holds everything about a grading run, and SQLite gives an all-or-nothing
import -- a sheet with one bad row changes nothing.

Sheets are UTF-8 with a BOM (so Excel shows accents) and read back with either ',' or ';'
(Excel writes ';' in locales with decimal commas; '2,5' is read as 2.5).
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.lms.errors import LmsError
from autograder.lms.questions import ManualQuestion, MasterInfo, find_answers, read_notebook

SCHEMA = """
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
SHEET_COLUMNS = ["student_key", "student", "question", "answer", "images", "points", "max_points",
                 "comment"]
EXCEL_CELL_LIMIT = 32000
GRADEBOOK_FILE = "gradebook.sqlite"


class ManualStore:
    """Manual questions and scores in ``<grades dir>/gradebook.sqlite``."""

    def __init__(self, grades_dir: str | Path):
        d = Path(grades_dir)
        if not d.is_dir():
            raise LmsError(f"grading directory not found: {d}")
        self.path = d / GRADEBOOK_FILE
        self.conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(SCHEMA)

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


@dataclass
class SheetStudent:
    key: str
    display: str
    notebook: Path | None
    """the collected submission (None: no submission)"""


def _notebook_bytes(path: Path) -> bytes:
    """The notebook of a collected file (an .ipynb, or the one notebook of an Otter zip)."""
    from autograder.grading.otter.submissions import Submission, SubmissionError, read_notebook_bytes

    try:
        data, _ = read_notebook_bytes(Submission(path))
    except SubmissionError as e:
        raise LmsError(f"{path.name}: {e.status}") from None
    return data


def export_sheets(master: MasterInfo, students: list[SheetStudent], out_dir: str | Path
                  ) -> list[Path]:
    """Write ``manual_<question>.csv`` per manual question (answers, empty points) and the
    answers' images as PNGs under ``images/<question>/``; return the sheet paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    answers: dict[str, dict[str, Any]] = {}
    for s in students:
        if s.notebook is None:
            answers[s.key] = {}
            continue
        try:
            nb = read_notebook(_notebook_bytes(s.notebook))
            answers[s.key] = find_answers(nb, master)
        except LmsError as e:
            answers[s.key] = {"__error__": str(e)}
    paths = []
    for q in master.manual:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(SHEET_COLUMNS)
        for s in students:
            a = answers[s.key]
            images: list[str] = []
            if s.notebook is None:
                text = "(no submission)"
            elif "__error__" in a:
                text = f"(cannot read the notebook: {a['__error__']})"
            elif not a[q.name].found:
                text = "(question not found in the notebook: cells deleted or moved?)"
            else:
                ans = a[q.name]
                text = ans.text or "(empty answer)"
                for n, png in enumerate(ans.images, start=1):
                    rel = Path("images") / q.name / f"{s.key}-{n}.png"
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    (out / rel).write_bytes(png)
                    images.append(rel.as_posix())
            if len(text) > EXCEL_CELL_LIMIT:
                text = text[:EXCEL_CELL_LIMIT] + " [... cut: longer than an Excel cell]"
            w.writerow([s.key, s.display, q.name, text, "; ".join(images), "", _fmt(q.points), ""])
        path = out / f"manual_{q.name}.csv"
        path.write_text("\ufeff" + buf.getvalue(), encoding="utf-8", newline="")
        paths.append(path)
    return paths


def _fmt(x: float) -> str:
    return f"{x:g}"


def _parse_points(text: str) -> float:
    t = text.strip().replace(",", ".")
    return float(t)


def read_sheets(paths: Iterable[str | Path], questions: dict[str, ManualQuestion],
                student_keys: set[str]) -> tuple[list[tuple[str, str, float, str, str, int]],
                                                 list[str]]:
    """Validated score rows from filled-in sheets, and notes about rows left ungraded.

    Raises LmsError listing every bad row (file and row number) so nothing is half-imported."""
    errors: list[str] = []
    notes: list[str] = []
    rows: list[tuple[str, str, float, str, str, int]] = []
    seen: dict[tuple[str, str], str] = {}
    for p in map(Path, paths):
        if not p.exists():
            errors.append(f"{p}: file not found")
            continue
        text = p.read_bytes().decode("utf-8-sig", errors="replace")
        first = text.split("\n", 1)[0]
        delim = ";" if first.count(";") > first.count(",") else ","
        reader = csv.reader(io.StringIO(text), delimiter=delim)
        header = [h.strip().lower() for h in next(reader, [])]
        need = {"student_key", "question", "points"}
        if not need <= set(header):
            errors.append(f"{p.name}: header must have columns {', '.join(sorted(need))}"
                          f" (found {', '.join(header) or 'nothing'})")
            continue
        col = {h: i for i, h in enumerate(header)}
        for n, r in enumerate(reader, start=2):
            if not any(c.strip() for c in r):
                continue

            def get(name: str, r: list[str] = r, col: dict[str, int] = col) -> str:
                i = col.get(name)
                return r[i].strip() if i is not None and i < len(r) else ""

            key, q, pts_text = get("student_key"), get("question"), get("points")
            where = f"{p.name} row {n}"
            if q not in questions:
                errors.append(f"{where}: unknown question {q!r} (known: {', '.join(questions)})")
                continue
            if key not in student_keys:
                errors.append(f"{where}: unknown student {key!r} (not in collection.json)")
                continue
            if not pts_text:
                notes.append(f"{where}: {key} {q} has no points yet (left ungraded)")
                continue
            try:
                pts = _parse_points(pts_text)
            except ValueError:
                errors.append(f"{where}: points {pts_text!r} is not a number")
                continue
            mx = questions[q].points
            if not (0 <= pts <= mx):
                errors.append(f"{where}: points {pts_text} outside [0, {_fmt(mx)}] for {q}")
                continue
            if (key, q) in seen:
                errors.append(f"{where}: {key} {q} already graded in {seen[(key, q)]}")
                continue
            seen[(key, q)] = where
            rows.append((key, q, pts, get("comment"), p.name, n))
    if errors:
        shown = errors[:20]
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise LmsError("manual sheets not imported (nothing changed):\n  " + "\n  ".join(shown) + more)
    return rows, notes
