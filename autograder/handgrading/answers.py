"""What the grading page grades: the class (from ``collection.json``), the manually graded
questions (from the master notebook or as ``manual export`` recorded them), and each student's
answer to a question (the editable cells of its region in the student's notebook).

Problems that make the page useless (no manual question, a master of another assignment, no
notebook holding the question) are collected as sentences for the page to show, never raised
as tracebacks.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grading.model import ManualQuestion
from autograder.lms.errors import LmsError


@dataclass(frozen=True)
class StudentWork:
    """One student of the class, as the page lists them."""

    key: str
    name: str
    notebook: Path | None
    """the collected file (an .ipynb or an Otter zip)"""


@dataclass
class Answer:
    """A student's answer to one question: the cells to render, or why there are none."""

    cells: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    """(cell, its source without Otter's markers)"""
    problem: str = ""


def _notebook(path: Path) -> dict[str, Any]:
    """The notebook of a collected file (an .ipynb, or the one notebook of an Otter zip)."""
    from autograder.lms.manual import notebook_of
    from autograder.lms.questions import read_notebook

    return read_notebook(notebook_of(path))


def assignment_of_master(master: Path) -> str:
    """The ``name`` in the master's ``# ASSIGNMENT CONFIG`` cell ('' when it has none)."""
    import yaml

    from autograder.lms.questions import read_notebook

    for cell in read_notebook(master)["cells"]:
        src = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "raw" and src.lstrip().startswith("# ASSIGNMENT CONFIG"):
            try:
                config = yaml.safe_load(src.split("\n", 1)[1]) if "\n" in src else {}
            except yaml.YAMLError:
                return ""
            return str((config or {}).get("name", ""))
    return ""


class ClassWork:
    """The students, the questions graded by hand, and the answers, for one grading directory."""

    def __init__(self, grades_dir: Path, questions: list[ManualQuestion], wrapped: list[str],
                 students: list[StudentWork], anonymous: bool, assignment: str = "") -> None:
        self.grades_dir = grades_dir
        self.questions = {q.name: q for q in questions}
        self.wrapped = wrapped
        self.anonymous = anonymous
        self.assignment = assignment
        # anonymous: an order that says nothing about names (a hash of the key), else by name
        order = (lambda s: hashlib.sha256(s.key.encode()).hexdigest()) if anonymous else (
            lambda s: (s.name.casefold(), s.key))
        self.students = sorted(students, key=order)
        self.problems: list[str] = []
        self.foreign = ""
        """why these submissions are not the master's assignment ('' when they are)"""
        self._cache: dict[str, dict[str, Any] | str] = {}

    # -- loading -------------------------------------------------------------------------------

    def notebook(self, student: StudentWork) -> dict[str, Any] | str:
        """The student's notebook, or a sentence saying why there is none (cached)."""
        if student.key not in self._cache:
            if student.notebook is None or not student.notebook.exists():
                self._cache[student.key] = f"the collected file {student.notebook.name} is missing"
            else:
                try:
                    self._cache[student.key] = _notebook(student.notebook)
                except LmsError as e:
                    self._cache[student.key] = f"cannot read the notebook: {e}"
        return self._cache[student.key]

    def answer(self, student: StudentWork, question: str) -> Answer:
        from autograder.lms.questions import MasterInfo, answer_cells, cell_text, find_regions

        nb = self.notebook(student)
        if isinstance(nb, str):
            return Answer(problem=nb)
        info = MasterInfo(list(self.questions.values()), self.wrapped)
        region = find_regions(nb, info).get(question)
        if region is None:
            return Answer(problem="the question is not in this notebook (cells deleted or moved?)")
        cells = [(c, cell_text(c)) for c in answer_cells(region)]
        cells = [(c, text) for c, text in cells
                 if (text and text != "...") or c.get("outputs") or c.get("attachments")]
        return Answer(cells, "" if cells else "empty answer (the placeholder was not replaced)")

    def check(self, master_assignment: str) -> None:
        """Record what makes this grading directory and these questions not fit together."""
        if not self.questions:
            return
        names = Counter()
        found = Counter()
        for s in self.students[:40]:
            nb = self.notebook(s)
            if isinstance(nb, str):
                continue
            otter = (nb.get("metadata") or {}).get("otter") or {}
            names[str(otter.get("assignment_name", ""))] += 1
            for q in self.questions:
                found[q] += not self.answer(s, q).problem.startswith("the question is not")
        if master_assignment and names:
            theirs, _ = names.most_common(1)[0]
            if theirs and theirs != master_assignment:
                self.foreign = (
                    f"These submissions are notebooks of {theirs!r}, but the master notebook is "
                    f"{master_assignment!r}: is this the grading directory of another assignment? "
                    f"Start the page with the master of {theirs!r} (or the grades of "
                    f"{master_assignment!r}).")
                return
        readable = sum(names.values())
        for q in self.questions:
            if readable and not found[q]:
                self.problems.append(
                    f"No submitted notebook contains question {q} as recorded in the gradebook: "
                    "is this the gradebook of another assignment? Start the page with --master "
                    "(the assignment's master notebook).")


def load_class(grades_dir: Path, master: Path | None, anonymous: bool,
               collection: Path | None = None) -> ClassWork:
    """Everything the page needs from a grading directory (LmsError for what stops it)."""
    from autograder.lms.collect import COLLECTION_FILE, SUBMISSIONS_DIR, load_collection
    from autograder.lms.manual import open_manual_store
    from autograder.lms.questions import read_master
    from autograder.lms.roster import Student

    path = collection or grades_dir / COLLECTION_FILE
    coll = load_collection(path)
    base = path.parent if path.suffix == ".json" else path
    students = []
    for e in coll.get("entries", []):
        if str(e.get("matched_by", "")).startswith("unmatched") or e.get("matched_by") == "anonymous":
            continue
        s = Student.from_json(e["student"])
        students.append(StudentWork(s.key, s.display or s.key, base / SUBMISSIONS_DIR / e["file"]))
    assignment = ""
    if master is not None:
        info = read_master(master)
        assignment = assignment_of_master(master)
        questions, wrapped = info.manual, info.wrapped
    else:
        with open_manual_store(grades_dir) as store:
            questions, wrapped = store.questions(), []
    if not questions:
        raise LmsError(f"no manually graded questions are recorded in {grades_dir}: start the page "
                       "with --master MASTER.ipynb (the assignment's Otter master notebook), or "
                       "run 'mlphys manual export' first")
    work = ClassWork(grades_dir, questions, wrapped, students, anonymous, assignment)
    work.check(assignment)
    if work.foreign:
        raise LmsError(work.foreign)
    if master is not None:  # recorded only once it is known to fit these submissions
        with open_manual_store(grades_dir) as store:
            recorded = {q.name for q in store.questions()}
            graded = {q for scores in store.scores().values() for q in scores}
            foreign = sorted((graded & recorded) - {q.name for q in questions})
            if foreign:
                raise LmsError(
                    f"the gradebook has hand grades for {', '.join(foreign)}, which "
                    f"{master.name} does not grade by hand: is it the gradebook of another "
                    "assignment?")
            store.set_questions(questions)
    return work
