"""``mlphys answer-key``: the instructor's answer key, computed, as one HTML page.

Every question of every quiz with its figure (PNG beside the page, the very bytes students get),
options, the computed answer and the one-line reason the computation gives; plus
``answer_key.json`` for scripts. With ``--student`` the page shows the variant that student sees
and is graded on (through ``reference.quiz.variant_of`` with the course's pool: the same function
the hidden tests use); with ``--variant`` one variant of the course's pool; with ``--seed`` a raw
generator seed (for debugging the question generators).

The course (its pool from ``course.toml`` and its ``reference``) is found as for ``mlphys
build``. When this process cannot import the course's own ``reference`` (it is not the installed
one), the page is computed by ``python -m autograder.answer_key`` with a staged copy of it.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from autograder.html import markdown_lite, page

if TYPE_CHECKING:
    from autograder.course import Course
    from reference.quiz import Pool, Question


def _question_html(q: Question, figure_path: str | None, variant: str) -> str:
    options = "\n".join(
        f"<li class='{'key' if letter == q.answer else ''}'><b>{letter}</b>&nbsp; "
        f"{markdown_lite(text).removeprefix('<p>').removesuffix('</p>')}</li>"
        for letter, text in q.options.items()
    )
    figure = f"<img class='figure' src='{figure_path}' alt='figure for {q.qid}'>" if figure_path else ""
    return (
        f"<section class='question' id='{html.escape(q.qid)}'>"
        f"<h3>{html.escape(q.title)}</h3><p class='muted'>{html.escape(q.qid)} · {variant}</p>"
        f"{markdown_lite(q.prompt)}{figure}<ol class='options'>{options}</ol>"
        f"<p><b>Answer: {q.answer}</b></p>"
        f"<p class='reason'>Why: {html.escape(q.reason)}</p></section>"
    )


def write_answer_key(out_dir: Path, seed: int | None = None, student: str | None = None,
                     variant: int | None = None, pool: Pool | None = None) -> Path:
    """Write ``index.html``, ``answer_key.json`` and ``figures/*.png``; return the page's path.

    ``pool`` defaults to the pool of the ``reference`` this process imports (its ``pool.json``
    in a built copy, else the defaults)."""
    # Imported here: the quiz engine loads matplotlib, which every other `mlphys` command
    # would otherwise pay for at start-up.
    from autograder.quizpack import figure_png
    from reference.quiz import QUIZZES, active_pool, questions, variant_of

    if sum(x is not None for x in (seed, student, variant)) > 1:
        raise ValueError("give at most one of seed, student, variant")
    pool = pool or active_pool()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(exist_ok=True)
    sections, records = [], []
    for quiz in QUIZZES:
        k = variant_of(student, quiz, pool) if student is not None else variant
        quiz_seed = pool.seed(quiz, k) if k is not None else seed
        label = ("lecture version" if quiz_seed is None else f"variant seed {quiz_seed}" if k is None
                 else f"variant {k} of {pool.variants} (seed {quiz_seed})")
        blocks = []
        for q in questions(quiz, quiz_seed):
            figure_path = None
            if q.figure is not None:
                figure_path = f"figures/{q.qid}.png"
                (out_dir / figure_path).write_bytes(figure_png(q))
            blocks.append(_question_html(q, figure_path, label))
            records.append({"quiz": quiz, "qid": q.qid, "variant": k, "seed": q.seed,
                            "title": q.title, "prompt": q.prompt, "code": q.code,
                            "options": dict(q.options), "answer": q.answer, "reason": q.reason,
                            "figure": figure_path})
        sections.append(f"<h2>{html.escape(quiz)}</h2>\n" + "\n".join(blocks))
    who = (f"the variants student {html.escape(student)} sees and is graded on" if student is not None
           else f"variant {variant} of the pool" if variant is not None
           else "lecture versions" if seed is None else f"variant seed {seed}")
    course = (f"pool of {pool.variants} variants per quiz, "
              + ("the DEFAULT salt" if pool.is_default else f"fingerprint {pool.mapping_key[:12]}"))
    body = (f"<h1>Answer key</h1><p class='muted'>{len(records)} questions · {who} · {course} · "
            "every answer below was computed from the reference implementation, none was typed "
            "in.</p>" + "\n".join(sections))
    index = out_dir / "index.html"
    index.write_text(page("mlphys answer key", body), encoding="utf-8")
    (out_dir / "answer_key.json").write_text(json.dumps(records, indent=2), encoding="utf-8")
    return index


def _in_subprocess(course: Course, out_dir: Path, args: list[str]) -> Path:
    """Compute the page with the course's own ``reference`` (staged with its pool.json)."""
    with tempfile.TemporaryDirectory(prefix="mlphys-answer-key-") as tmp:
        course.stage_reference(Path(tmp))
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(
            [tmp, *filter(None, [os.environ.get("PYTHONPATH")])]))
        proc = subprocess.run([sys.executable, "-m", "autograder.answer_key", str(out_dir.resolve()),
                               *args], cwd=tmp, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise click.ClickException(f"computing the answer key with {course.reference} failed: {last}")
    return Path(proc.stdout.strip())


@click.command("answer-key")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("mlphys-out/answer-key"), show_default=True,
              help="Directory for index.html, answer_key.json and figures/.")
@click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Course folder whose pool and reference to use (default: found as for build).")
@click.option("--student", default=None,
              help="The variants this student id sees and is graded on (per-student quizzes).")
@click.option("--variant", type=click.IntRange(min=0), default=None,
              help="Variant K of the course's pool (of every quiz).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="A raw generator seed instead of the lecture version (debugging).")
def answer_key_command(out_dir: Path, course_dir: Path | None, student: str | None,
                       variant: int | None, seed: int | None) -> None:
    """Write the computed quiz answer key as one HTML page."""
    from autograder.course import discover_course, importable_reference_is

    if sum(x is not None for x in (seed, student, variant)) > 1:
        raise click.UsageError("use only one of --seed, --student and --variant")
    if student is not None and not student.strip():
        raise click.UsageError("--student needs a non-empty student id")
    course = discover_course(course_dir)
    if variant is not None and variant >= course.variants:
        raise click.UsageError(f"--variant {variant}: the course's pool has variants 0 .. "
                               f"{course.variants - 1}")
    for line in course.describe():
        click.echo(line)
    if importable_reference_is(course.reference):
        from reference.quiz import Pool

        index = write_answer_key(out_dir, seed, student, variant, Pool(course.salt, course.variants))
    else:
        args = ([f"--seed={seed}"] if seed is not None else []) + (
            [f"--student={student}"] if student is not None else []) + (
            [f"--variant={variant}"] if variant is not None else [])
        index = _in_subprocess(course, out_dir, args)
    n = len(json.loads((out_dir / "answer_key.json").read_text()))
    click.echo(f"answer key: {n} questions -> {index}")


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.answer_key")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--student", default=None)
    parser.add_argument("--variant", type=int, default=None)
    args = parser.parse_args(argv)
    print(write_answer_key(args.out, args.seed, args.student, args.variant))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
