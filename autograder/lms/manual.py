"""The manual grading round trip: sheets out (one CSV per manual question), scores back in.

Storage: the manual-grading tables of the grading directory's ``gradebook.sqlite``
(``grading.batch.gradebook.ManualStore`` owns them): questions with their maximum points, and
scores with comments, all-or-nothing per import -- a sheet with one bad row changes nothing.

Sheets are UTF-8 with a BOM (so Excel shows accents) and read back with either ',' or ';'
(Excel writes ';' in locales with decimal commas; '2,5' is read as 2.5).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder import csvsafe
from autograder.grading.batch.gradebook import ManualStore
from autograder.grading.model import ManualQuestion
from autograder.lms.errors import LmsError
from autograder.lms.questions import MasterInfo, find_answers, read_notebook

SHEET_COLUMNS = ["student_key", "student", "question", "answer", "images", "points", "max_points",
                 "comment"]
EXCEL_CELL_LIMIT = 32000


def open_manual_store(grades_dir: str | Path) -> ManualStore:
    """The manual-grading tables of a grading directory (LmsError if there is no directory)."""
    d = Path(grades_dir)
    if not d.is_dir():
        raise LmsError(f"grading directory not found: {d}")
    return ManualStore(d)


@dataclass
class SheetStudent:
    key: str
    display: str
    notebook: Path | None
    """the collected submission (None: no submission)"""


def notebook_of(path: Path) -> bytes:
    """The notebook of a collected file (an .ipynb, or the one notebook of an Otter zip)."""
    from autograder.grading.otter.submissions import (
        Submission,
        SubmissionError,
        read_notebook_bytes,
    )

    try:
        data, _ = read_notebook_bytes(Submission(path))
    except SubmissionError as e:
        raise LmsError(f"{path.name}: {e.status}") from None
    return data


def export_sheets(master: MasterInfo, students: list[SheetStudent], out_dir: str | Path,
                  existing: dict[str, dict[str, tuple[float, str]]] | None = None) -> list[Path]:
    """Write ``manual_<question>.csv`` per manual question (answers, the points and comments
    already in the gradebook in ``existing``, else empty) and the answers' images as PNGs under
    ``images/<question>/``; return the sheet paths."""
    existing = existing or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    answers: dict[str, dict[str, Any]] = {}
    for s in students:
        if s.notebook is None:
            answers[s.key] = {}
            continue
        try:
            nb = read_notebook(notebook_of(s.notebook))
            answers[s.key] = find_answers(nb, master)
        except LmsError as e:
            answers[s.key] = {"__error__": str(e)}
    paths = []
    for q in master.manual:
        buf = io.StringIO()
        w = csvsafe.writer(buf, lineterminator="\r\n")
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
            points, comment = existing.get(s.key, {}).get(q.name, (None, ""))
            w.writerow([s.key, s.display, q.name, text, "; ".join(images),
                        "" if points is None else _fmt(points), _fmt(q.points), comment])
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
        reader = (csvsafe.restore_row(r) for r in csv.reader(io.StringIO(text), delimiter=delim))
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


def _collection_entries(grades_dir: str | Path, collection: str | Path | None
                        ) -> tuple[dict[str, Any], Path]:
    """collection.json (default: the grading directory's) and the folder it lives in."""
    from autograder.lms.collect import COLLECTION_FILE, load_collection

    path = Path(collection) if collection else Path(grades_dir) / COLLECTION_FILE
    coll = load_collection(path)
    base = path.parent if path.suffix == ".json" else path
    return coll, base


def export_manual_sheets(master: str | Path, grades_dir: str | Path, out_dir: str | Path,
                         collection: str | Path | None = None) -> list[Path]:
    """``mlphys manual export``: record the master's manual questions in the gradebook and
    write one sheet per question for the collected students; returns the sheet paths."""
    from autograder.lms.collect import SUBMISSIONS_DIR
    from autograder.lms.questions import read_master
    from autograder.lms.roster import Student

    info = read_master(master)
    coll, base = _collection_entries(grades_dir, collection)
    students = []
    for e in coll["entries"]:
        s = Student.from_json(e["student"])
        nb = base / SUBMISSIONS_DIR / e["file"]
        students.append(SheetStudent(s.key, s.display, nb if nb.exists() else None))
    with open_manual_store(grades_dir) as store:
        store.set_questions(info.manual)
        existing = store.scores()  # graded in the page (or imported before): the sheet agrees
    return export_sheets(info, students, out_dir, existing)


def import_manual_scores(grades_dir: str | Path, sheets: Iterable[str | Path],
                         collection: str | Path | None = None
                         ) -> tuple[list[tuple[str, str, float, str, str, int]], list[str]]:
    """``mlphys manual import``: merge filled-in sheets into the gradebook, all rows or none;
    returns the imported rows and notes about rows left ungraded."""
    coll, _ = _collection_entries(grades_dir, collection)
    keys = {e["student"]["key"] for e in coll["entries"]}
    with open_manual_store(grades_dir) as store:
        questions = {q.name: q for q in store.questions()}
        if not questions:
            raise LmsError(f"no manual questions recorded in {store.path}: "
                           "run 'mlphys manual export' first")
        rows, notes = read_sheets(sheets, questions, keys)
        store.put_scores(rows)
    return rows, notes
