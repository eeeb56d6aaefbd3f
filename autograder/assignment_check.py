"""``mlphys check NAME``: is this assignment fair and strict, before students see it?

Why: an instructor who changes a prompt, a tolerance or a test, or adds a question, needs the
checks the shipped course runs in its test suite, for *their* course folder and in one command.
It builds the assignment (``otter assign`` runs the solutions against every test) and grades,
with ``mlphys grade`` in one batch:

* the solutions as a student hands them in (a quiz: ``solutions/<name>-letters.ipynb``): every
  autograded question full marks;
* the untouched student notebook: zero on every autograded question;
* each wrong answer of ``mutations.yml`` applied to the solutions: its question loses points;
  every autograded question must have at least one;
* each correct answer of ``alternatives.yml`` (when there is one): full marks.

Anything else ends in a one-line error with the list of what failed.
"""

from __future__ import annotations

import copy
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click
import nbformat
import yaml

from autograder.build import BuildError, build_assignment, master_path
from autograder.course import Course, discover_course
from autograder.democlass import apply_mutation


@dataclass(frozen=True)
class Verdict:
    what: str
    ok: bool
    detail: str


def _entries(folder: Path, file_name: str) -> list[dict]:
    path = folder / file_name
    if not path.exists():
        return []
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as e:
        raise BuildError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "question" in e for e in entries):
        raise BuildError(f"{path}: expected a list of entries with `question:` (see docs/authoring.md)")
    return entries


def _variant(base: nbformat.NotebookNode, entry: dict, where: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(base)
    if not apply_mutation(nb, entry):
        raise BuildError(f"{where} for {entry['question']} ({entry.get('description', '')}) "
                         "changes nothing in the solutions: its `find` text is not there")
    return nb


LETTER_ANSWER = re.compile(r'^(?P<var>(?P<q>q\d+)_answer) = "(?P<letter>[a-h])"', re.M)


def _wrong_letters(letters_solutions: nbformat.NotebookNode) -> list[dict]:
    """For a quiz: each question answered with another letter (its key is never typed in, so
    this is the wrong answer every quiz question has)."""
    out = []
    for cell in letters_solutions.cells:
        for m in LETTER_ANSWER.finditer(cell.source) if cell.cell_type == "code" else ():
            wrong = "b" if m["letter"] == "a" else "a"
            out.append({"question": m["q"], "description": "another option's letter", "wrong_letter": True,
                        "find": m.group(0), "replace": f'{m["var"]} = "{wrong}"'})
    return out


def check_assignment(course: Course, name: str, out: Path, jobs: int = 2) -> list[Verdict]:
    """Build ``name`` into ``out`` and grade its solutions, blank handout, mutants and alternatives."""
    from autograder.grading import grade_batch, read_feedback

    folder = master_path(name, course.assignments).parent
    mutations = _entries(folder, "mutations.yml")
    alternatives = _entries(folder, "alternatives.yml")
    built = build_assignment(name, out, course.assignments, course=course)
    solutions = nbformat.read(built.letters or built.solutions, as_version=4)
    notebooks: dict[str, tuple[str, nbformat.NotebookNode, dict]] = {
        "solutions": ("solutions", solutions, {}),
        "blank": ("untouched student notebook",
                  nbformat.read(built.student_dir / f"{name}.ipynb", as_version=4), {})}
    for k, m in enumerate(mutations):
        notebooks[f"mutant{k:03d}"] = (f"mutation {m['question']}: {m.get('description', '')}",
                                       _variant(solutions, m, "mutations.yml"), m)
    if built.letters is not None:  # a quiz: a wrong letter for every question
        mutations = mutations + _wrong_letters(solutions)
        for k, m in enumerate(mutations):
            if m.get("wrong_letter"):
                notebooks[f"mutant{k:03d}"] = (f"mutation {m['question']}: {m['description']}",
                                               _variant(solutions, m, "a wrong letter"), m)
    for k, a in enumerate(alternatives):
        notebooks[f"alternative{k:03d}"] = (f"alternative {a['question']}: {a.get('description', '')}",
                                            _variant(solutions, a, "alternatives.yml"), a)
    with tempfile.TemporaryDirectory(prefix=f"mlphys-check-{name}-") as tmp:
        submissions = Path(tmp) / "submissions"
        submissions.mkdir()
        for stem, (_, nb, _) in notebooks.items():
            nbformat.write(nb, submissions / f"{stem}.ipynb")
        grade_batch(built.autograder_zip, [submissions], Path(tmp) / "graded", jobs=jobs, progress=False)
        scores = {Path(f.path).stem: {q.name: (q.score, q.possible) for q in f.questions if q.possible > 0}
                  for f in read_feedback(Path(tmp) / "graded")}
    verdicts = []
    full = scores.get("solutions", {})
    lost = {q: s for q, s in full.items() if s[0] < s[1]}
    verdicts.append(Verdict("solutions", bool(full) and not lost,
                            f"{_total(full)}" + (f"; points lost in {', '.join(lost)}" if lost else "")))
    blank = scores.get("blank", {})
    earned = [q for q, s in blank.items() if s[0] > 0]
    verdicts.append(Verdict("untouched student notebook", bool(blank) and not earned, _total(blank)
                            + (f"; points earned in {', '.join(earned)}" if earned else "")))
    for stem, (what, _, entry) in notebooks.items():
        q = entry.get("question")
        if stem.startswith("mutant"):
            verdicts.append(mutation_verdict(what, q, scores.get(stem, {}), full,
                                             entry.get("also_costs", [])))
        elif stem.startswith("alternative"):
            got = scores.get(stem, {})
            short = [p for p, s in got.items() if s[0] < s[1]]
            verdicts.append(Verdict(what, bool(got) and not short,
                                    _total(got) + (f"; points lost in {', '.join(short)}" if short else "")))
    uncovered = sorted(set(full) - {m["question"] for m in mutations}, key=_question_order)
    if uncovered:
        verdicts.append(Verdict("mutations.yml", False, "no wrong answer listed for "
                                + ", ".join(uncovered)))
    return verdicts


def mutation_verdict(what: str, question: str, scores: dict[str, tuple[float, float]],
                     full: dict[str, tuple[float, float]], also_costs: list[str]) -> Verdict:
    """A mutation must cost its own question, and no other question except those its
    ``also_costs`` declares (one mistake, one penalty: a later question built on this one's
    code is the exception the author states; the house style avoids it, docs/authoring.md)."""
    score = scores.get(question)
    caught = score is not None and score[0] < score[1]
    others = [o for o, s in scores.items() if o != question and s[0] < full.get(o, s)[0]]
    undeclared = [o for o in others if o not in also_costs]
    detail = f"{question}: {_pair(score)}" + ("" if caught else " (still full marks)")
    if undeclared:
        detail += (f"; also costs {', '.join(undeclared)}, not declared in also_costs "
                   "(declare it, or make those questions independent of this one)")
    declared = [o for o in others if o in also_costs]
    if declared:
        detail += f"; also costs {', '.join(declared)} (declared)"
    return Verdict(what, caught and not undeclared, detail)


def _question_order(q: str) -> tuple[int, str]:
    digits = "".join(ch for ch in q if ch.isdigit())
    return (int(digits) if digits else 0, q)


def _pair(score: tuple[float, float] | None) -> str:
    return "not graded" if score is None else f"{score[0]:g}/{score[1]:g}"


def _total(scores: dict[str, tuple[float, float]]) -> str:
    if not scores:
        return "no autograded question graded"
    return f"{sum(s for s, _ in scores.values()):g}/{sum(p for _, p in scores.values()):g}"


@click.command("check")
@click.argument("names", nargs=-1, required=True)
@click.option("--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Course folder (default: the nearest of the current folder and its parents with "
                   "course.toml or assignments/, else the course shipped with mlphys).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the build goes  [default: <course>/dist]")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Notebooks graded in parallel.")
def check_command(names: tuple[str, ...], course_dir: Path | None, out: Path | None, jobs: int) -> None:
    """Build NAME and grade its solutions (full marks), its blank notebook (zero), every wrong
    answer in mutations.yml (loses points) and every answer in alternatives.yml (full marks)."""
    course = discover_course(course_dir)
    for line in course.describe():
        click.echo(line)
    for warning in course.warnings():
        click.secho(warning, fg="yellow", err=True)
    out = out or (Path("dist").resolve() if course.is_fallback else course.root / "dist")
    failed = []
    for name in names:
        click.echo(f"{name}: building and grading ...")
        for v in check_assignment(course, name, out, jobs):
            click.echo(f"  {'ok  ' if v.ok else 'FAIL'}  {v.what}: {v.detail}")
            if not v.ok:
                failed.append(f"{name}: {v.what}")
    if failed:
        raise click.ClickException(f"{len(failed)} check(s) failed: " + "; ".join(failed))
    click.echo("all checks passed")
