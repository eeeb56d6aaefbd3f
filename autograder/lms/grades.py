"""Final grades per student: the grader's results, manual scores and the late policy merged.

Input: ``<grades dir>/final_grades.csv`` as ``mlphys grade`` (and ``otter grade``) write it --
columns ``file``, one per question, ``total_points_earned``, ``percent_correct``,
``grading_status``; first data row ``points-per-question`` = points possible -- joined to
students through ``collection.json`` by file name, plus the manual scores of the gradebook's
manual-grading tables (``manual``).
Why the CSV and not the grader's SQLite: the CSV is the grader's documented contract (the same
file Otter writes), so this also works on results from ``otter grade``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from autograder import csvsafe
from autograder.grading.batch.gradebook import GRADEBOOK_FILE, GradebookReader
from autograder.grading.model import IdentityCheck, ManualQuestion
from autograder.lms.collect import COLLECTION_FILE, SUBMISSIONS_DIR, load_collection
from autograder.lms.errors import LmsError
from autograder.lms.late import LateAssessment, LatePolicy
from autograder.lms.manual import open_manual_store
from autograder.lms.matching import fits
from autograder.lms.questions import question_regions, read_master, read_notebook
from autograder.lms.roster import Roster, Student, read_roster

POINTS_ROW_LABELS = {"points-per-question", "points possible", "points_possible"}
FIXED_COLUMNS = {"file", "total_points_earned", "percent_correct", "grading_status"}


@dataclass
class AutoResults:
    questions: list[str]
    possible: dict[str, float]
    rows: dict[str, dict[str, Any]]
    """file name -> {'scores': {q: float}, 'total': float, 'status': str}"""

    @property
    def total_possible(self) -> float:
        return sum(self.possible.values())


def read_final_grades(grades_dir: str | Path) -> AutoResults:
    """Parse ``final_grades.csv`` (LmsError with the reason when missing or malformed)."""
    path = Path(grades_dir) / "final_grades.csv"
    if not path.exists():
        raise LmsError(f"{path} not found: run 'mlphys grade --out {grades_dir} ...' first")
    rows = [csvsafe.restore_row(r) for r in csv.reader(io.StringIO(path.read_text("utf-8-sig")))]
    if not rows or "file" not in rows[0] or "total_points_earned" not in rows[0]:
        raise LmsError(f"{path} is not a final_grades.csv (needs columns file, ..., "
                       "total_points_earned)")
    header = rows[0]
    questions = [h for h in header if h not in FIXED_COLUMNS]
    idx = {h: i for i, h in enumerate(header)}
    possible: dict[str, float] = {}
    out: dict[str, dict[str, Any]] = {}
    for n, r in enumerate(rows[1:], start=2):
        if not r:
            continue
        try:
            values = {q: float(r[idx[q]] or 0) for q in questions}
            total = float(r[idx["total_points_earned"]] or 0)
        except (ValueError, IndexError):
            raise LmsError(f"{path} row {n}: scores are not numbers") from None
        if r[idx["file"]].strip().lower() in POINTS_ROW_LABELS:
            possible = values
            continue
        j = idx.get("grading_status")
        status = r[j] if j is not None and j < len(r) else ""
        out[r[idx["file"]]] = {"scores": values, "total": total, "status": status}
    if not possible:
        raise LmsError(f"{path} has no 'points-per-question' row (points possible)")
    return AutoResults(questions, possible, out)


NO_GRADE = ("no submission", "not graded", "ambiguous")


@dataclass
class GradeRow:
    """One student's grade, with every part that went into it."""

    student: Student
    file: str | None
    status: str
    """'graded', 'no submission', 'not graded' (collected but no result), 'ambiguous' (several
    files and none chosen), or the grader's status"""
    auto: dict[str, float] = field(default_factory=dict)
    manual: dict[str, tuple[float, str]] = field(default_factory=dict)
    possible: float = 0.0
    raw_total: float = 0.0
    late: LateAssessment | None = None
    timestamp: datetime | None = None
    group: str = ""
    """the group whose submission this is ('' for one's own)"""
    submission_id: str = ""
    """the LMS's id of the submission when it has one (Gradescope)"""
    attempts: int = 0
    """submissions the LMS knows of (the graded one and earlier ones)"""
    identity: IdentityCheck | None = None
    """the grader's identity check of a quiz graded as its submitter (None: not checked)"""

    @property
    def identity_flag(self) -> str:
        """The instructor's line for a flagged identity ('' when there is nothing to follow up)."""
        return self.identity.message() if self.identity and self.identity.flagged else ""

    @property
    def penalty(self) -> float:
        return self.late.penalty_points if self.late else 0.0

    @property
    def total(self) -> float | None:
        if self.status in NO_GRADE:
            return None
        return round(max(0.0, self.raw_total - self.penalty), 6)

    @property
    def comment(self) -> str:
        parts = [f"{q}: {c}" for q, (_, c) in self.manual.items() if c]
        if self.late and self.late.penalty_points:
            parts.append(f"late {self.late.days_late} day(s): -{self.late.penalty_points:g}")
        if self.identity and self.identity.flagged:  # the student reads it too: their words
            parts.append(self.identity.student_notice())
        return " | ".join(parts)


@dataclass
class AssignmentGrades:
    """One assignment's final grade per student, ready for an LMS's grade file."""

    rows: list[GradeRow]
    questions: list[str]
    """autograded then manual question names"""
    possible: dict[str, float]
    problems: list[str]
    """missing inputs that make the export incomplete (not graded, manual scores missing,
    ambiguous or anonymous submissions, files that fit nobody)"""
    warnings: list[str] = field(default_factory=list)
    """things to show but not to stop for (files that 'collect' already reported unmatched)"""
    lms_points: dict[str, float] = field(default_factory=dict)
    """the LMS's maximum per assignment id, from the roster ('': the roster's one assignment)"""
    unsure_groups: list[str] = field(default_factory=list)
    """submissions named after someone else (a group?) whose other members are unknown"""
    source_lms: str = ""
    """the LMS the submissions were collected from ('' when graded without 'collect')"""

    @property
    def total_possible(self) -> float:
        return sum(self.possible.values())


def _same_person(a: Student, b: Student) -> bool:
    pairs = [(a.key, b.key), (a.lms_id, b.lms_id), (a.participant_id, b.participant_id),
             (a.email.casefold(), b.email.casefold()), (a.sis_user_id, b.sis_user_id),
             (a.student_id, b.student_id)]
    return any(x and x == y for x, y in pairs)


def _roster_record(roster_students: list[Student], s: Student) -> Student | None:
    """The roster's record of a person from collection.json: the same key, else the one
    student who shares an id or email with it (None when none or several do)."""
    same_key = [r for r in roster_students if r.key == s.key]
    if len(same_key) == 1:
        return same_key[0]
    hits = [r for r in roster_students if _same_person(r, s)]
    return hits[0] if len(hits) == 1 else None


def _file_owner(file: str, roster: Roster) -> tuple[list[Student], str]:
    """Who a graded file is, from its name alone (no collection.json): a student key or an id
    of the roster equal to the file's stem, else a name that fits exactly one student."""
    stem = Path(file).stem.strip()
    low = stem.casefold()
    for how, ids in (("student key", lambda s: {s.key}),
                     ("id", lambda s: {s.lms_id, s.sis_user_id, s.student_id, s.id_number,
                                       s.participant_id, s.login, s.username, s.email,
                                       s.email.split("@")[0] if s.email else ""})):
        hits = [s for s in roster.students if low in {i.casefold() for i in ids(s) if i}]
        if len(hits) == 1:
            return hits, how
        if len(hits) > 1:
            return hits, f"several students have the id {stem!r}"
    hits = [s for s in roster.students if fits(stem.replace("_", " "), s)]
    if len(hits) == 1:
        return hits, "name"
    return hits, (f"the name {stem!r} fits several students" if hits
                  else "no roster student has this key, id or name")


def collection_from_files(auto: AutoResults, roster: Roster | None, grades_dir: Path
                          ) -> dict[str, Any]:
    """A collection.json equivalent for a folder graded without ``mlphys collect``: every
    result row joined to the roster by its file name (see :func:`_file_owner`)."""
    if roster is None:
        raise LmsError(f"{grades_dir / COLLECTION_FILE} not found: run 'mlphys collect' first, or "
                       "pass --roster to join the graded files to students by their names (a "
                       "student key, an id such as the SIS id or email, or the student's name)")
    entries: list[dict[str, Any]] = []
    for file in sorted(auto.rows):
        hits, how = _file_owner(file, roster)
        if len(hits) == 1:
            entries.append({"student": hits[0].to_json(), "members": [hits[0].to_json()],
                            "matched_by": f"file name ({how})", "file": file})
        else:
            entries.append({"student": {"key": Path(file).stem, "name": Path(file).stem},
                            "members": [], "matched_by": f"unmatched: {how}", "file": file,
                            "report_unmatched": True})
    return {"lms": "", "entries": entries, "missing": [], "ambiguous": [], "notes": []}


def _graded_notebooks(collection: dict[str, Any], base: Path, grades_dir: Path) -> list[Path]:
    """The graded files, to look into (collected files, else the grader's record of paths)."""
    files = [base / SUBMISSIONS_DIR / e["file"] for e in collection["entries"]]
    found = [f for f in files if f.exists()]
    if found or not (grades_dir / GRADEBOOK_FILE).exists():
        return found
    try:
        with GradebookReader(grades_dir) as reader:
            return [Path(r["submission_path"]) for r in reader.latest_results()
                    if Path(r["submission_path"]).exists()]
    except Exception:  # noqa: BLE001 - only a hint for a check; an unreadable gradebook is no answer
        return []


def _has_grader_results(path: Path) -> bool:
    """Whether ``path`` is a gradebook ``mlphys grade`` wrote (not only 'manual export''s)."""
    if not path.exists():
        return False
    try:
        with GradebookReader(path) as reader:
            return reader.has_grader_results()
    except Exception as e:  # noqa: BLE001 - a damaged gradebook: one line, never a traceback
        raise LmsError(f"cannot read {path}: {e}") from None


def _identity_checks(grades_dir: Path) -> dict[str, IdentityCheck]:
    """File name -> the grader's identity check of its latest result (quizzes graded as their
    submitter; other results, and results from ``otter grade``, have none)."""
    if not _has_grader_results(grades_dir / GRADEBOOK_FILE):
        return {}  # graded by `otter grade`: the gradebook, if any, holds only manual scores
    from autograder.grading.batch.feedback import read_feedback

    try:
        return {Path(f.path).name: f.identity for f in read_feedback(grades_dir)
                if f.identity is not None}
    except Exception as e:  # noqa: BLE001 - the grades stand; the flag must not vanish silently
        raise LmsError(f"cannot read the identity checks in {grades_dir / GRADEBOOK_FILE}: "
                       f"{e}") from None


def _wrapped_question_count(paths: list[Path]) -> int:
    """How many questions Otter wrapped for manual grading (or export) in the notebooks: the
    most any readable notebook has (a student may delete a cell, not add a region)."""
    from autograder.lms.manual import notebook_of

    most = 0
    for path in paths[:25]:
        try:
            most = max(most, len(question_regions(read_notebook(notebook_of(path)))))
        except LmsError:
            continue
    return most


def _manual_questions(grades_dir: Path, master: str | Path | None, notebooks: list[Path]
                      ) -> tuple[list[ManualQuestion], dict[str, dict[str, tuple[float, str]]],
                                 list[str]]:
    """The manual questions (from ``master``, else as recorded by 'manual export'), their
    scores, and a problem when the notebooks show questions graded by hand that nobody named."""
    questions: list[ManualQuestion] = []
    scores: dict[str, dict[str, tuple[float, str]]] = {}
    if master is not None:
        questions = read_master(master, require_manual=False).manual
    if master is not None or (grades_dir / GRADEBOOK_FILE).exists():
        with open_manual_store(grades_dir) as store:
            if master is not None:
                store.set_questions(questions)
            else:
                questions = store.questions()
            scores = store.scores(rubric_in_comment=True)
    problems = []
    if master is None and not questions:
        wrapped = _wrapped_question_count(notebooks)
        if wrapped:
            problems.append(
                f"the graded notebooks have {wrapped} question(s) that Otter marks for grading by "
                "hand (or for export), but no manual questions are known, so their points are "
                "neither counted nor possible: pass --master MASTER.ipynb (the assignment's Otter "
                "master notebook)")
    return questions, scores, problems


def build_assignment_grades(collection: dict[str, Any] | None, grades_dir: str | Path,
                            policy: LatePolicy, roster: Roster | None = None,
                            master: str | Path | None = None,
                            collection_base: str | Path | None = None) -> AssignmentGrades:
    """Merge everything into one row per student: every member of a group's submission gets
    its grade; students without a submission get a 'no submission' row. Without ``collection``
    the graded files are joined to ``roster`` by their names. ``master``: the Otter master
    notebook, whose manual questions then count (without it: the ones 'manual export'
    recorded)."""
    grades_dir = Path(grades_dir)
    auto = read_final_grades(grades_dir)
    if collection is None:
        collection = collection_from_files(auto, roster, grades_dir)
    base = Path(collection_base) if collection_base else grades_dir
    manual_q, manual_scores, problems = _manual_questions(
        grades_dir, master, _graded_notebooks(collection, base, grades_dir))
    overlap = {q.name for q in manual_q} & set(auto.questions)
    if overlap:
        raise LmsError(f"questions both autograded and manual: {', '.join(sorted(overlap))}")
    possible = dict(auto.possible)
    possible.update({q.name: q.points for q in manual_q})
    total_possible = sum(possible.values())
    warnings: list[str] = []
    unsure: list[str] = []
    rows: list[GradeRow] = []
    roster_students = roster.students if roster else []
    checks = _identity_checks(grades_dir)

    def person(d: dict[str, Any]) -> Student:
        s = Student.from_json(d)
        return _roster_record(roster_students, s) or s

    def members_of(e: dict[str, Any]) -> list[Student]:
        return [person(m) for m in e["members"]] if "members" in e else [person(e["student"])]

    for e in collection["entries"]:
        owner = Student.from_json(e["student"])
        if e["matched_by"].startswith("unmatched"):
            msg = f"{e['file']}: matches no roster student ({e['matched_by']}); not exported"
            (problems if e.get("report_unmatched") else warnings).append(msg)
            continue
        if e["matched_by"] == "anonymous":
            problems.append(f"{e['file']}: downloaded under anonymous grading, so no LMS can take "
                            "its grade (download again once the names are shown); not exported")
            continue
        members = members_of(e)
        if e.get("name_mismatch"):
            unsure.append(f"{owner.display}: the file is named {e['name_mismatch']!r}")
        ts = datetime.fromisoformat(e["timestamp"]) if e.get("timestamp") else None
        chosen = e.get("chosen") or {}
        group = (e.get("group") or {}).get("name", "")
        common = {"possible": total_possible, "timestamp": ts, "group": group,
                  "submission_id": chosen.get("submission_id") or "",
                  "attempts": 1 + len(e.get("superseded", [])) + len(chosen.get("previous", []))}
        res = auto.rows.get(e["file"])
        if res is None:
            problems.append(f"{owner.display} ({e['file']}): no result in final_grades.csv")
            rows += [GradeRow(m, e["file"], "not graded", **common) for m in members]
            continue
        mine = manual_scores.get(owner.key, {})
        missing_manual = [q.name for q in manual_q if q.name not in mine]
        if missing_manual:
            problems.append(f"{owner.display}: no manual score for {', '.join(missing_manual)}")
        raw = res["total"] + sum(p for p, _ in mine.values())
        status = "graded" if res["status"] in ("", "Completed") else res["status"]
        late = policy.assess(ts, e.get("late"), total_possible)
        check = checks.get(Path(e["file"]).name)
        if check is not None and check.flagged:
            warnings.append(f"{owner.display} ({e['file']}): {check.message()}: follow up")
        for m in members:
            rows.append(GradeRow(m, e["file"], status, auto=res["scores"], manual=mine,
                                 raw_total=raw, late=late, identity=check, **common))
    for a in collection.get("ambiguous", []):
        owner = Student.from_json(a["student"])
        problems.append(f"{owner.display}: several files and none chosen ({a['why']}): run "
                        "'mlphys collect' again with --pick")
        rows += [GradeRow(m, None, "ambiguous", possible=total_possible) for m in members_of(a)]
    have = {r.student.key for r in rows}
    if roster is not None:
        for s in roster.students:
            if s.key not in have:
                rows.append(GradeRow(s, None, "no submission", possible=total_possible))
    else:
        for m in collection.get("missing", []):
            rows.append(GradeRow(Student.from_json(m), None, "no submission",
                                 possible=total_possible))
    rows.sort(key=lambda r: (r.student.name.casefold(), r.student.key))
    questions = list(auto.questions) + [q.name for q in manual_q]
    return AssignmentGrades(rows, questions, possible, problems, warnings,
                            lms_points=dict(roster.points_possible) if roster else {},
                            unsure_groups=unsure, source_lms=collection.get("lms", ""))


def load_assignment_grades(grades_dir: str | Path, policy: LatePolicy,
                           collection: str | Path | None = None,
                           roster: str | Path | None = None,
                           master: str | Path | None = None) -> AssignmentGrades:
    """:func:`build_assignment_grades` from files: the grading directory, ``collection.json``
    (default: the one in ``grades_dir``, if any), an optional roster CSV and master notebook
    (what ``mlphys export`` reads)."""
    path = Path(collection) if collection else Path(grades_dir) / COLLECTION_FILE
    coll = load_collection(path) if (collection or path.exists()) else None
    base = (path.parent if path.suffix == ".json" else path) if coll is not None else None
    r = read_roster(roster) if roster else None
    return build_assignment_grades(coll, grades_dir, policy, r, master, base)
