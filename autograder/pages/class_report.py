"""The instructor's class report: how the class did, where it struggled, what went wrong.

One HTML page (plots as PNG files beside it, so it opens offline): score distribution overall
and per question, the questions most often failed, grading statuses (timeouts, errors, kernel
deaths), outliers, and students listed by the LMS collection as missing or unmatched.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from autograder.grading.batch.feedback import (
    SubmissionFeedback,
    numpy_repr_failures,
    read_feedback,
)
from autograder.html import page
from autograder.pages.feedback import Who


def _hist_overall(totals: np.ndarray, possible: float) -> Figure:
    fig = Figure(figsize=(6.5, 3.0), layout="constrained")
    ax = fig.subplots()
    bins = np.linspace(0, max(possible, 1), 21)
    ax.hist(totals, bins=bins, color="tab:blue", edgecolor="white")
    ax.axvline(float(np.mean(totals)), color="tab:red", linestyle="--",
               label=f"mean {np.mean(totals):.1f}")
    ax.axvline(float(np.median(totals)), color="black", linestyle=":",
               label=f"median {np.median(totals):.1f}")
    ax.set_xlabel(f"autograded points (of {possible:g})")
    ax.set_ylabel("submissions")
    ax.legend(frameon=False)
    return fig


def _per_question(names: list[str], fractions: np.ndarray) -> Figure:
    """Small multiples: for each question, the distribution of score / possible."""
    cols = min(len(names), 5)
    rows = int(np.ceil(len(names) / cols))
    fig = Figure(figsize=(2.2 * cols, 1.9 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    bins = np.linspace(0, 1, 6)
    for ax, name, column in zip(axes, names, fractions.T, strict=False):
        ax.hist(column, bins=bins, color="tab:green", edgecolor="white")
        ax.set_title(f"{name} (mean {100 * np.nanmean(column):.0f}%)", fontsize=9)
        ax.set_xticks([0, 0.5, 1], ["0", "½", "full"])
        ax.tick_params(labelsize=8)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    return fig


def _status_bars(counts: Counter) -> Figure:
    fig = Figure(figsize=(6.5, 0.5 + 0.35 * max(len(counts), 1)), layout="constrained")
    ax = fig.subplots()
    labels = list(counts)
    ax.barh(labels, [counts[k] for k in labels], color="tab:orange")
    ax.invert_yaxis()
    ax.set_xlabel("questions")
    return fig


def outliers(totals: dict[str, float]) -> list[tuple[str, float, str]]:
    """Submissions far below the class (Tukey's rule: below Q1 - 1.5 IQR), lowest first."""
    if len(totals) < 4:
        return []
    values = np.array(list(totals.values()))
    q1, q3 = np.percentile(values, [25, 75])
    low = q1 - 1.5 * (q3 - q1)
    return sorted(((k, v, f"below {low:.1f} (Q1 - 1.5 IQR)") for k, v in totals.items() if v < low),
                  key=lambda t: t[1])


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def failed_cases(subs: list[SubmissionFeedback]) -> list[tuple[str, str, bool, int, str]]:
    """(question, case name, hidden, submissions failing it, most common hint) of every case
    that failed somewhere, most often failed first."""
    counts: Counter = Counter()
    hints: dict[tuple[str, str, bool], Counter] = {}
    for sub in subs:
        for q in sub.questions:
            for c in q.failed:
                key = (q.name, c.title or c.name, c.hidden)
                counts[key] += 1
                hints.setdefault(key, Counter())[c.hint] += 1
    return [(q, title, hidden, n, hints[(q, title, hidden)].most_common(1)[0][0])
            for (q, title, hidden), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _failed_cases_table(subs: list[SubmissionFeedback]) -> str:
    rows = failed_cases(subs)
    if not rows:
        return "<p>No test case failed.</p>"
    return _table(["question", "test", "visibility", "failed in", "hint"],
                  [[html.escape(q), html.escape(title), "hidden" if hidden else "public",
                    f"{n} of {len(subs)}", html.escape(hint)]
                   for q, title, hidden, n, hint in rows])


def write_class_report(
    grades_dir: Path,
    out_dir: Path,
    assignment: str,
    people: dict[str, Who] | None = None,
    feedback_links: dict[str, Path] | None = None,
    collection: dict | None = None,
) -> Path:
    """Write ``out_dir/index.html`` and its figures; returns the page's path."""
    subs: list[SubmissionFeedback] = read_feedback(grades_dir)
    if not subs:
        raise ValueError(f"no graded submissions in {grades_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    people = people or {}
    names = [q.name for q in subs[0].questions if q.possible > 0]
    possible = subs[0].possible
    stems = [Path(s.path).stem for s in subs]
    totals = np.array([s.total for s in subs])
    fractions = np.array([[next((q.score / q.possible for q in s.questions if q.name == n), 0.0)
                           for n in names] for s in subs])

    figures = {
        "overall.png": _hist_overall(totals, possible),
        "questions.png": _per_question(names, fractions),
    }
    status_counts = Counter(q.status for s in subs for q in s.questions if q.possible > 0)
    figures["statuses.png"] = _status_bars(status_counts)
    for filename, fig in figures.items():
        fig.savefig(out_dir / filename, dpi=90)

    def label(stem: str) -> str:
        who = people.get(stem, Who(stem)).name
        link = (feedback_links or {}).get(stem)
        if link is None:
            return html.escape(who)
        return f"<a href='{html.escape(os.path.relpath(link, out_dir))}'>{html.escape(who)}</a>"

    failed_rows = sorted(
        ([html.escape(n), f"{100 * np.mean(fractions[:, j] < 1):.0f}%",
          f"{100 * np.mean(fractions[:, j]):.0f}%"] for j, n in enumerate(names)),
        key=lambda r: -float(r[1].rstrip("%")))
    incomplete = [s for s in subs if s.grading_status != "Completed"]
    odd = outliers({stem: float(t) for stem, t in zip(stems, totals, strict=True)})
    missing = (collection or {}).get("missing", [])
    unmatched = (collection or {}).get("unmatched", [])

    body = [
        f"<h1>{html.escape(assignment)}: class report</h1>",
        f"<p>{len(subs)} graded submissions · mean {totals.mean():.1f} / {possible:g} · median "
        f"{np.median(totals):.1f} · full marks {int(np.sum(totals >= possible))} · zero "
        f"{int(np.sum(totals == 0))}</p>",
        "<h2>Score distribution</h2><img class='figure' src='overall.png' alt='histogram of total scores'>",
        "<h2>Per question</h2><img class='figure' src='questions.png' alt='score distribution per question'>",
        "<h2>Questions most often failed</h2>",
        _table(["question", "not full marks", "mean score"], failed_rows),
        "<h2>Test cases most often failed</h2>",
        "<p>Each failed test case by the name and hint students see (for hidden tests the hint "
        "written with the test, or the grader's observation).</p>",
        _failed_cases_table(subs),
        "<h2>Grading statuses</h2><img class='figure' src='statuses.png' alt='question statuses'>",
        _table(["status", "questions"], [[html.escape(k), str(v)] for k, v in status_counts.most_common()]),
    ]
    repr_only = numpy_repr_failures(grades_dir)
    if repr_only:
        body.append("<h3>Tests that fail only by NumPy 2's scalar repr</h3>")
        body.append("<p>These doctest cases failed because NumPy 2 prints scalars differently "
                    "(<code>np.True_</code> for <code>True</code>, <code>np.float64(0.5)</code> "
                    "for <code>0.5</code>): their expected outputs were recorded under NumPy 1. "
                    "Grade again with <code>mlphys grade --numpy-legacy-repr</code> to grade them "
                    "as NumPy 1 would.</p>")
        body.append(_table(["question", "failing cases", "submissions"],
                           [[html.escape(q), str(c), str(n)] for q, (c, n) in repr_only.items()]))
    if incomplete:
        body.append("<h3>Submissions that did not complete normally</h3>")
        body.append(_table(["student", "status", "score"],
                           [[label(Path(s.path).stem), html.escape(s.grading_status), f"{s.total:g}"]
                            for s in incomplete]))
    checked = [(Path(s.path).stem, s.identity) for s in subs if s.identity is not None]
    odd_ids = [(stem, c) for stem, c in checked if c.flagged or c.status == "unread"]
    if checked:
        body.append("<h2>Identity mismatches</h2>")
        body.append(
            f"<p>{len(checked)} submissions graded against their submitter's own quiz variant "
            f"(the LMS's identity, not the notebook's <code>student_id</code>); "
            f"{len(odd_ids)} to follow up.</p>")
        if odd_ids:
            body.append(_table(
                ["student", "check", "notebook's student_id", "graded as", "source"],
                [[label(stem), html.escape(c.status), html.escape(", ".join(c.notebook_ids)),
                  html.escape(c.graded_as or "(not graded)"), html.escape(c.why or c.source)]
                 for stem, c in odd_ids]))
    body.append("<h2>Outliers</h2>")
    body.append(_table(["student", "score", "why"], [[label(k), f"{v:g}", html.escape(w)] for k, v, w in odd])
                if odd else "<p>None: no score is far below the rest of the class.</p>")
    if missing or unmatched:
        body.append("<h2>Missing and unmatched</h2>")
        absent = ", ".join(m.get("name") or m.get("key", "?") for m in missing) or "nobody"
        body.append(f"<p>No submission from: {html.escape(absent)}.</p>")
        if unmatched:
            body.append(_table(["file", "why"], [[html.escape(u["file"]), html.escape(u["why"])]
                                                 for u in unmatched]))
    body.append("<h2>All submissions</h2>")
    body.append(_table(["student", "score", "status"],
                       [[label(stem), f"{s.total:g}", html.escape(s.grading_status)]
                        for stem, s in sorted(zip(stems, subs, strict=True),
                                              key=lambda p: people.get(p[0], Who(p[0])).name)]))
    index = out_dir / "index.html"
    index.write_text(page(f"{assignment} class report", "\n".join(body)), encoding="utf-8")
    return index
