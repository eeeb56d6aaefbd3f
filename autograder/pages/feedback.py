"""One HTML feedback page per student, safe to hand out.

Built only from :func:`autograder.grading.read_feedback`, which never carries hidden
test code, expected values or the student's own exception text for hidden tests: a page shows
per question the score, the grader's status, every test case that failed (public or hidden) by
its name with the points it cost and its one-line hint, and the public tests' output. No emoji:
the page must read the same on a machine without an emoji font.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from autograder.grading.batch.feedback import (
    ManualFeedback,
    QuestionFeedback,
    SubmissionFeedback,
    read_feedback,
    read_manual_feedback,
)
from autograder.html import page
from autograder.lms.roster import Student

STATUS_TEXT = {
    "passed": "all tests passed",
    "failed": "some tests failed",
}


@dataclass(frozen=True)
class Who:
    """How a submission is shown: the student's name and the file they handed in."""

    name: str
    original_name: str = ""
    late: bool = False
    key: str = ""
    """the student's key in collection.json (hand grades are stored under it)"""


def _stem(path: str) -> str:
    return Path(path).stem


def safe_filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "submission"


def _status_class(status: str) -> str:
    return "pass" if status == "passed" else "fail" if status == "failed" else "warn"


GLYPHS = {"✅ ": "", "❌ ": ""}
"""Otter's message glyphs: emoji that the machine reading the page may have no font for (they
render as boxes); the words next to them say the same."""


def plain_text(text: str) -> str:
    """``text`` without the emoji glyphs of Otter's messages."""
    for glyph, replacement in GLYPHS.items():
        text = text.replace(glyph, replacement)
    return text


def _lost_points_html(q: QuestionFeedback) -> str:
    """One row per failed case: its name, public or hidden, the points it cost, its hint."""
    rows = "".join(
        f"<tr><td>{html.escape(c.title or c.name)}</td>"
        f"<td>{'hidden' if c.hidden else 'public'}</td><td>{c.points:g}</td>"
        f"<td>{html.escape(c.hint)}</td></tr>"
        for c in q.failed)
    return ("<table class='lost'><tr><th>test</th><th>visibility</th><th>points</th><th>hint</th></tr>"
            f"{rows}</table>")


def _question_html(q: QuestionFeedback) -> str:
    status = STATUS_TEXT.get(q.status, q.status)
    parts = [f"<section class='question' id='q-{html.escape(q.name)}'>",
             f"<h3>{html.escape(q.name)} · {q.score:g} / {q.possible:g}</h3>",
             f"<p class='{_status_class(q.status)}'>{html.escape(status)}</p>"]
    if q.reason:
        parts.append(f"<p class='muted'>{html.escape(q.reason)}</p>")
    if q.failed:
        parts.append("<p><b>Tests that failed</b> (hidden tests by name and hint; their code is "
                     f"not shown):</p>{_lost_points_html(q)}")
    elif any(c.hidden for c in q.cases):
        passed = sum(c.hidden and c.passed for c in q.cases)
        parts.append(f"<p class='pass'>All {passed} hidden test(s) passed.</p>")
    if q.public_output.strip():
        parts.append("<p><b>Public tests</b> (what <code>grader.check</code> shows):</p>"
                     f"<pre>{html.escape(plain_text(q.public_output.strip()))}</pre>")
    parts.append("</section>")
    return "".join(parts)


def _manual_html(grades: list[ManualFeedback]) -> str:
    """The questions graded by hand: points, the rubric items applied, the tutor's comment."""
    if not grades:
        return ("<p class='muted'>Manually graded questions (plots, written answers) are not "
                "included here; they are added by your tutors.</p>")
    parts = ["<section class='manual'><h2>Graded by hand</h2>"]
    for g in grades:
        items = "".join(f"<li>{html.escape(label)} <b>({points:+g})</b></li>" for label, points in g.items)
        parts.append(f"<section class='question' id='q-{html.escape(g.question)}'>"
                     f"<h3>{html.escape(g.question)} · {g.points:g} / {g.possible:g}</h3>"
                     + (f"<p><b>Rubric</b></p><ul class='rubric'>{items}</ul>" if items else "")
                     + (f"<p><b>Comment</b></p><p class='comment'>{html.escape(g.comment)}</p>"
                        if g.comment.strip() else "")
                     + "</section>")
    parts.append("</section>")
    return "".join(parts)


def _percent(sub: SubmissionFeedback) -> float:
    return 100.0 * sub.total / sub.possible if sub.possible else 0.0


def feedback_html(assignment: str, sub: SubmissionFeedback, who: Who,
                  manual: list[ManualFeedback] | None = None) -> str:
    rows = "".join(
        f"<tr><td><a href='#q-{html.escape(q.name)}'>{html.escape(q.name)}</a></td>"
        f"<td>{q.score:g}</td><td>{q.possible:g}</td>"
        f"<td class='{_status_class(q.status)}'>{html.escape(STATUS_TEXT.get(q.status, q.status))}</td></tr>"
        for q in sub.questions)
    late = ("<p class='warn'>Submitted after the due date (see the course's late policy).</p>"
            if who.late else "")
    file_line = f" · file <code>{html.escape(who.original_name)}</code>" if who.original_name else ""
    if sub.identity is not None and sub.identity.flagged:
        late += f"<p class='warn identity'>{html.escape(sub.identity.student_notice())}</p>"
    body = (
        f"<h1>{html.escape(assignment)}: feedback</h1>"
        f"<p><b>{html.escape(who.name)}</b>{file_line}</p>{late}"
        f"<p>Autograded score: <b>{sub.total:g} / {sub.possible:g}</b> ({_percent(sub):.0f}%) · "
        f"grading status: <span class='{'pass' if sub.grading_status == 'Completed' else 'warn'}'>"
        f"{html.escape(sub.grading_status)}</span></p>"
        f"<table><tr><th>question</th><th>score</th><th>possible</th><th>result</th></tr>{rows}</table>"
        + "".join(_question_html(q) for q in sub.questions)
        + _manual_html(manual or [])
    )
    return page(f"{assignment} feedback: {who.name}", body)


def write_feedback_pages(
    grades_dir: Path, out_dir: Path, assignment: str, people: dict[str, Who] | None = None
) -> dict[str, Path]:
    """Write ``out_dir/<submission>.html`` for every graded submission; returns stem -> page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    people = people or {}
    written: dict[str, Path] = {}
    manual = read_manual_feedback(grades_dir)
    for sub in read_feedback(grades_dir):
        stem = _stem(sub.path)
        who = people.get(stem, Who(name=stem))
        path = out_dir / f"{safe_filename(stem)}.html"
        path.write_text(feedback_html(assignment, sub, who, manual.get(who.key)), encoding="utf-8")
        written[stem] = path
    return written


def people_from_collection(collection: dict) -> dict[str, Who]:
    """Map graded file stems to students using ``collection.json`` from ``mlphys collect``."""
    out = {}
    for entry in collection.get("entries", []):
        name = Student.from_json(entry.get("student", {})).display or Path(entry["file"]).stem
        out[Path(entry["file"]).stem] = Who(name=name, original_name=entry.get("original_name", ""),
                                            late=bool(entry.get("late")),
                                            key=str(entry.get("student", {}).get("key", "")))
    return out
