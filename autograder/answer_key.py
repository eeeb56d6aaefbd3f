"""``mlphys answer-key``: the instructor's answer key, computed, as one HTML page.

Every question of every quiz with its figure (PNG beside the page), options, the computed
answer and the one-line reason the computation gives; plus ``answer_key.json`` for scripts.
With ``--seed`` the page shows that variant; with ``--student`` the variants one student gets.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from autograder.html import markdown_lite, page

if TYPE_CHECKING:
    from reference.quiz import Question


def _question_html(q: Question, figure_path: str | None) -> str:
    options = "\n".join(
        f"<li class='{'key' if letter == q.answer else ''}'><b>{letter}</b>&nbsp; "
        f"{markdown_lite(text).removeprefix('<p>').removesuffix('</p>')}</li>"
        for letter, text in q.options.items()
    )
    figure = f"<img class='figure' src='{figure_path}' alt='figure for {q.qid}'>" if figure_path else ""
    variant = "lecture version" if q.seed is None else f"variant seed {q.seed}"
    return (
        f"<section class='question' id='{html.escape(q.qid)}'>"
        f"<h3>{html.escape(q.title)}</h3><p class='muted'>{html.escape(q.qid)} · {variant}</p>"
        f"{markdown_lite(q.prompt)}{figure}<ol class='options'>{options}</ol>"
        f"<p><b>Answer: {q.answer}</b></p>"
        f"<p class='reason'>Why: {html.escape(q.reason)}</p></section>"
    )


def write_answer_key(out_dir: Path, seed: int | None = None, student: str | None = None) -> Path:
    """Write ``index.html``, ``answer_key.json`` and ``figures/*.png``; return the page's path."""
    # Imported here: the quiz engine loads matplotlib, which every other `mlphys` command
    # would otherwise pay for at start-up.
    from reference.quiz import QUIZZES, questions, seed_for_student

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(exist_ok=True)
    sections, records = [], []
    for quiz in QUIZZES:
        quiz_seed = seed_for_student(student, quiz) if student else seed
        blocks = []
        for q in questions(quiz, quiz_seed):
            figure_path = None
            if q.figure is not None:
                figure_path = f"figures/{q.qid}.png"
                q.figure().savefig(out_dir / figure_path, dpi=90)
            blocks.append(_question_html(q, figure_path))
            records.append({"quiz": quiz, "qid": q.qid, "seed": q.seed, "answer": q.answer,
                            "reason": q.reason, "options": dict(q.options)})
        sections.append(f"<h2>{html.escape(quiz)}</h2>\n" + "\n".join(blocks))
    who = (f"variants of student {html.escape(student)}" if student
           else "lecture versions" if seed is None else f"variant seed {seed}")
    body = (f"<h1>Answer key</h1><p class='muted'>{len(records)} questions · {who} · every answer "
            "below was computed from the reference implementation, none was typed in.</p>"
            + "\n".join(sections))
    index = out_dir / "index.html"
    index.write_text(page("mlphys answer key", body), encoding="utf-8")
    (out_dir / "answer_key.json").write_text(json.dumps(records, indent=2), encoding="utf-8")
    return index


@click.command("answer-key")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("mlphys-out/answer-key"), show_default=True,
              help="Directory for index.html, answer_key.json and figures/.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Write the key of this randomized variant instead of the lecture version.")
@click.option("--student", default=None,
              help="Write the key of the variants this student id gets (per-student quizzes).")
def answer_key_command(out_dir: Path, seed: int | None, student: str | None) -> None:
    """Write the computed quiz answer key as one HTML page."""
    if seed is not None and student:
        raise click.UsageError("use either --seed or --student, not both")
    index = write_answer_key(out_dir, seed, student)
    n = len(json.loads((out_dir / "answer_key.json").read_text()))
    click.echo(f"answer key: {n} questions -> {index}")
