"""Plain records of the grader: what crosses between its processes and what the gradebook stores.

Why one module: a grading worker sends a :class:`SubmissionResult` (with its
:class:`QuestionOutcome` and :class:`CaseOutcome` records) to the batch driver as JSON, and the
driver hands :class:`Limits` to the workers the same way; the driver, the gradebook, the
Otter layer and the sandbox all speak these records, so they live apart from every one of
them. This module imports nothing heavy (no Otter, no NumPy).

Status vocabulary
    ``grading_status`` of a submission: :data:`COMPLETED`, or why grading stopped early
    (``timeout: ...``, ``memory: ...``, ``kernel died: ...``, ``error: ...``).
    ``status`` of a question: ``passed``, ``failed``, ``timeout``, ``memory``, ``kernel died``
    or ``error: ...``. ``kind`` of a failed test case: :data:`CASE_KINDS`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COMPLETED = "Completed"
"""``grading_status`` of a submission whose notebook ran to its end (Otter's word)."""

QUESTION_STATUSES = ("passed", "failed", "timeout", "memory", "disk", "kernel died")
"""Question statuses besides ``error: ...``."""

DEATH_STATUS = {"timeout": "timeout", "memory": "memory", "died": "kernel died"}
"""A sandbox that stopped (cell outcome status) -> the status of the questions it cost."""

INFRA_KINDS = ("timeout", "memory", "died")
"""Failed-case kinds caused by the sandbox rather than by a wrong answer."""

CASE_KINDS = ("wrong", "error", *INFRA_KINDS)
"""Why a test case failed (``CaseOutcome.kind``)."""


@dataclass(frozen=True)
class Limits:
    """Resource and time limits of one sandbox."""

    notebook_timeout: float = 600.0
    cell_timeout: float = 120.0
    call_timeout: float = 60.0
    memory_bytes: int = 2 * 1024**3
    cpu_seconds: int = 900
    file_size_bytes: int = 64 * 1024**2
    open_files: int = 256
    processes: int = 64
    output_bytes: int = 200_000
    interrupt_grace: float = 2.0
    startup_timeout: float = 60.0
    disk_bytes: int = 512 * 1024**2
    """everything the notebook can write (home, /tmp, /dev/shm) together, on one tmpfs; in
    the namespace modes its files count against ``memory_bytes`` too (they are RAM)"""
    disk_inodes: int = 100_000
    """files and directories on that tmpfs"""
    checks_per_question: int = 100
    """``grader.check`` of one question tested at most this often (later ones resume)"""
    checks_per_notebook: int = 1000
    """check requests a notebook may make at all (the runner's own cap; one more breaks it)"""


@dataclass
class CaseOutcome:
    name: str
    hidden: bool
    points: float
    passed: bool
    message: str
    """Otter's message for this case (instructor view: may contain hidden test text)"""
    public_message: str
    """what a student may see: for public cases ``message`` with student-produced text withheld
    once hidden tests had run (``otter.student_view``); for hidden ones the failure line and the
    hint only"""
    kind: str | None = None
    """None when passed; else 'wrong', 'error', 'timeout', 'memory' or 'died'"""
    failure_message: str | None = None
    """the author's ``failure_message`` (Otter's TEST CONFIG), as written"""
    title: str = ""
    """the student-facing name: docstring first line, the author's name, a readable function
    name, or Otter's own name (``otter.case_labels``)"""
    hint: str = ""
    """one line for the student when the case failed: the author's hint, else the grader's
    observation ("wrong result", "an error was raised: TypeError"); never test code or values"""


@dataclass
class QuestionOutcome:
    name: str
    possible: float
    score: float
    status: str
    """'passed', 'failed', 'timeout', 'memory', 'kernel died' or 'error: ...'"""
    reason: str | None
    cases: list[CaseOutcome] = field(default_factory=list)
    ran: bool = True
    summary: str = ""
    """Otter's ``TestFile.summary()`` with hidden cases redacted (what results.json shows)"""
    public_summary: str = ""
    """Otter's ``TestFile.summary(public_only=True)``"""
    instructor_summary: str = ""
    """Otter's unredacted ``TestFile.summary()`` (gradebook only)"""
    passed_all_public: bool = True
    all_public: bool = False
    all_or_nothing: bool = False
    ran_hidden: bool = False
    """hidden cases called student code (later public output must not carry student text)"""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuestionOutcome:
        d = dict(d)
        d["cases"] = [CaseOutcome(**c) for c in d.get("cases", [])]
        return cls(**d)


@dataclass
class SubmissionResult:
    """What grading one submission produced (plain data: it crosses a process boundary)."""

    grading_status: str
    """'Completed', or what stopped grading early ('timeout: ...', 'error: ...', ...)"""
    questions: list[QuestionOutcome]
    """in Otter's results order (first check), then the end-of-notebook questions"""
    notebook_name: str | None = None
    cells_run: int = 0
    cell_errors: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    isolation: str = ""
    final: bool = True
    """False when grading failed for the grader's own reasons (``causes.GRADER_FAULTS``): the
    result is shown, but the next run grades the submission again"""
    identity: dict[str, Any] | None = None
    """``IdentityCheck.to_dict()`` for an autograder that binds the quiz identity to the
    submitter (None: the identity was not checked)"""

    @property
    def total(self) -> float:
        return sum(q.score for q in self.questions)

    @property
    def possible(self) -> float:
        return sum(q.possible for q in self.questions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "grading_status": self.grading_status,
            "questions": [q.to_dict() for q in self.questions],
            "notebook_name": self.notebook_name,
            "cells_run": self.cells_run,
            "cell_errors": self.cell_errors,
            "timings": self.timings,
            "isolation": self.isolation,
            "final": self.final,
            "identity": self.identity,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubmissionResult:
        d = dict(d)
        d["questions"] = [QuestionOutcome.from_dict(q) for q in d["questions"]]
        return cls(**d)


@dataclass(frozen=True)
class Submitter:
    """Who handed a submission in, as the LMS says (never as the notebook says).

    ``identities`` are course identities (the roster column quiz variants come from): the
    submitter first, then the other members of a group submission. Empty: the grader was told
    where identities come from, but this submission's owner is not known there (``why``).
    """

    identities: tuple[str, ...]
    source: str
    """where the identities came from, for people: 'Gradescope submission_metadata.json
    (email)', 'collection.json (login)', 'identity map ids.csv'"""
    why: str = ""
    """for an unknown owner: why there is no identity"""

    def to_dict(self) -> dict[str, Any]:
        return {"identities": list(self.identities), "source": self.source, "why": self.why}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Submitter:
        return cls(tuple(str(i) for i in d.get("identities", [])), str(d.get("source", "")),
                   str(d.get("why", "")))


IDENTITY_STATUSES = ("match", "mismatch", "unset", "unknown", "unread")
"""``IdentityCheck.status``: the notebook's id is the submitter's (or a group member's); it is
someone else's; the notebook sets none (or not a string); the submitter is not known (not
graded); the notebook's id could not be read (its sandbox stopped before any test)."""

FLAGGED_IDENTITY = ("mismatch", "unset", "unknown")
"""Statuses an instructor must look at."""


@dataclass(frozen=True)
class IdentityCheck:
    """What the grader found about a quiz submission's identity, and whose variant it graded."""

    status: str
    source: str
    graded_as: str | None
    """the identity the hidden tests were given (None: not graded, the owner is unknown)"""
    notebook_ids: tuple[str, ...] = ()
    """the distinct ``student_id`` values the notebook had when its questions were tested
    (shortened; a non-string is described, not shown)"""
    group: tuple[str, ...] = ()
    """every identity of the submission (more than one: a group submission)"""
    why: str = ""

    @property
    def flagged(self) -> bool:
        return self.status in FLAGGED_IDENTITY

    def message(self) -> str:
        """One line for feedback pages, reports and exports."""
        seen = ", ".join(repr(i) for i in self.notebook_ids)
        group = f" (group of {len(self.group)})" if len(self.group) > 1 else ""
        if self.status == "match":
            return f"student_id {seen} is the submitter's{group}"
        if self.status == "mismatch":
            return (f"identity mismatch: the notebook's student_id is {seen}, the submitter is "
                    f"{self.graded_as!r}{group} ({self.source}); graded against "
                    f"{self.graded_as!r}'s own variant")
        if self.status == "unset":
            return (f"the notebook sets no student_id; graded against the submitter "
                    f"{self.graded_as!r}'s own variant ({self.source})")
        if self.status == "unknown":
            return f"unknown submitter: {self.why or 'no identity'} ({self.source}); not graded"
        return (f"the notebook's student_id could not be read; graded against the submitter "
                f"{self.graded_as!r}'s own variant ({self.source})")

    def student_notice(self) -> str:
        """What the student reads about the check (feedback pages, Gradescope's output)."""
        if self.status == "unknown":
            return ("This submission could not be matched to your course identity, so the quiz "
                    "was not graded; your instructor has been told.")
        if self.status == "mismatch":
            seen = ", ".join(repr(i) for i in self.notebook_ids)
            return (f"Identity check: the notebook's student_id is {seen}, but this submission "
                    f"is from {self.graded_as!r}: it was graded against {self.graded_as!r}'s own "
                    "variant of the quiz. Your instructor has been told.")
        if self.status == "unset":
            return (f"Identity check: the notebook sets no student_id; it was graded against "
                    f"{self.graded_as!r}'s own variant of the quiz.")
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "source": self.source, "graded_as": self.graded_as,
                "notebook_ids": list(self.notebook_ids), "group": list(self.group),
                "why": self.why}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IdentityCheck:
        return cls(str(d["status"]), str(d.get("source", "")), d.get("graded_as"),
                   tuple(d.get("notebook_ids", [])), tuple(d.get("group", [])),
                   str(d.get("why", "")))


@dataclass(frozen=True)
class ManualQuestion:
    """A manually graded question of an assignment (read from the Otter master notebook and
    kept in the gradebook's manual-grading tables)."""

    name: str
    points: float
    prompt: str = ""
    position: int = 0
    """index among the master's questions that ``otter assign`` wraps (manual or export)"""


@dataclass(frozen=True)
class RubricItem:
    """One rubric item of a manually graded question (Gradescope style: defined once, applied
    to many students; changing its points changes every score that has it)."""

    id: int
    question: str
    position: int
    label: str
    points: float
    """signed: +2 for "correct reasoning", -1 for "axes not labelled"."""


@dataclass(frozen=True)
class ManualGrade:
    """A student's hand grade for one question: the applied rubric items, a point adjustment,
    the comment, and the resulting points ``clamp(sum(items) + adjustment, 0, max)``."""

    student_key: str
    question: str
    points: float
    comment: str = ""
    adjustment: float = 0.0
    items: frozenset[int] = frozenset()
    source: str = ""
    """where the grade was last written: a sheet's file name, or 'grading page'"""


@dataclass(frozen=True)
class GradingOptions:
    """How a batch grades, beyond the limits (the same for every submission of the batch)."""

    numpy_legacy_repr: bool = False
    """run doctests with NumPy's legacy print options (NumPy 1's scalar repr)"""
    site_dirs: tuple[str, ...] = ()
    """site-packages directories the sandboxes use instead of the grader's (the autograder's
    own environment first); empty: the grader's"""


DEFAULT_OPTIONS = GradingOptions()


NUMPY_REPR_NOTE = ("[mlphys: this output differs from the expected one only by NumPy 2's "
                   "scalar repr (np.True_ for True, np.float64(x) for x); "
                   "--numpy-legacy-repr grades it as NumPy 1 would]")
"""Appended to the instructor's message of a failing doctest case that only NumPy 2's scalar
spelling fails (never to what students see)."""
