"""``mlphys new``: start an assignment or a question in the house style, in the course folder.

Why: a new question should start right (prompt, solution markers, a 0-point public format test,
a hidden test with a name and a hint, the right answer taken from ``reference``) instead of by
copying cells of another master. The templates are package data
(``autograder/scaffold_templates/*.yml``); every text a person still has to write is marked
``TODO(mlphys new)``, and ``mlphys build`` refuses a master that still holds one
(:func:`unfinished_cells`), so a scaffold is never shipped by accident.

* ``mlphys new assignment NAME [--kind homework|quiz]``: ``assignments/NAME/NAME.ipynb`` (config
  cell, introduction, a first question) and ``mutations.yml``; a quiz also gets its question
  module ``reference/quiz/<module>.py``, registered in ``reference.quiz.QUIZZES``.
* ``mlphys new question --kind homework|quiz ASSIGNMENT``: the next question's cells after the
  master's last question; for a quiz also a ``make_<key>(seed)`` in the quiz's module, listed in
  its ``questions()``: a working example whose answer is computed.

The course folder is found as for ``mlphys build`` (:mod:`autograder.course`); outside a course
folder, or for a quiz in a course without its own ``reference/``, the command stops with one line.
"""

from __future__ import annotations

import ast
import hashlib
import keyword
import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click
import nbformat
import yaml

from autograder.course import CONFIG_NAME, Course, discover_course, load_course

TODO = "TODO(mlphys new)"
KINDS = ("homework", "quiz")
ASSIGNMENT_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
QUESTION_NAME = re.compile(r"^q(\d+)$")
KEY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
QUIZ_LOADER = "import mlphys_quiz"


class ScaffoldError(click.ClickException):
    """A scaffold that cannot be written (bad name, name taken, no course folder): one line."""


@dataclass(frozen=True)
class Written:
    """What a scaffold command wrote or changed, for the user."""

    created: list[Path]
    changed: list[Path]


def templates(kind: str) -> dict:
    """The cell templates of ``kind`` (homework or quiz)."""
    text = resources.files("autograder.scaffold_templates").joinpath(f"{kind}.yml").read_text("utf-8")
    return yaml.safe_load(text)


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"<<{key}>>", value)
    leftover = re.search(r"<<\w+>>", text)
    if leftover:  # a template and this module disagree: a bug, not a user mistake
        raise RuntimeError(f"scaffold template placeholder {leftover.group(0)} not filled")
    return text


def _cells(specs: list[dict], values: dict[str, str]) -> list[nbformat.NotebookNode]:
    makers = {"raw": nbformat.v4.new_raw_cell, "markdown": nbformat.v4.new_markdown_cell,
              "code": nbformat.v4.new_code_cell}
    cells = []
    for spec in specs:
        cell = makers[spec["type"]](_fill(spec["source"], values))
        cell.id = _fill(spec["id"], values)
        cells.append(cell)
    return cells


def _seed(*parts: str) -> str:
    """A fixed seed per (assignment, question) for the generated tests: stable, never shared."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return str(10_000 + int.from_bytes(digest[:4], "little") % 90_000)


def course_for_scaffold(course_dir: Path | None) -> Course:
    """The course folder to write into; never the course shipped with mlphys by accident."""
    course = discover_course(course_dir)
    if course.is_fallback:
        raise ScaffoldError(f"not in a course folder (no {CONFIG_NAME} or assignments/ here or above): "
                            "run this in your course folder or pass --course DIR")
    return course


def _check_assignment_name(name: str) -> None:
    if not ASSIGNMENT_NAME.fullmatch(name) or len(name) > 60:
        raise ScaffoldError(f"bad assignment name {name!r}: use lowercase letters, digits and single "
                            "hyphens, starting with a letter (e.g. hw06-ising-training)")


def _title(name: str) -> str:
    m = re.match(r"^(hw|homework|quiz)[-_]?(\d+)[-_]?(.*)$", name)
    if not m:
        return name.replace("-", " ").replace("_", " ").capitalize()
    word = "Quiz" if m[1] == "quiz" else "Homework"
    rest = m[3].replace("-", " ").replace("_", " ")
    return f"{word} {int(m[2])}: {rest}" if rest else f"{word} {int(m[2])}"


def _config(nb: nbformat.NotebookNode) -> dict:
    for cell in nb.cells:
        if cell.cell_type == "raw" and cell.source.lstrip().startswith("# ASSIGNMENT CONFIG"):
            try:
                config = yaml.safe_load(cell.source.lstrip().partition("\n")[2]) or {}
            except yaml.YAMLError as e:
                raise ScaffoldError(f"the ASSIGNMENT CONFIG cell is not valid YAML: "
                                    f"{str(e).splitlines()[0]}") from None
            return config if isinstance(config, dict) else {}
    return {}


def assignment_kind(nb: nbformat.NotebookNode) -> str:
    """``quiz`` for a master that loads ``mlphys_quiz`` (it ships ``mlphys_quiz.py``), else homework."""
    return "quiz" if "mlphys_quiz.py" in (_config(nb).get("files") or []) else "homework"


def _question_name(cell: nbformat.NotebookNode) -> str | None:
    """The ``name`` of a ``# BEGIN QUESTION`` raw cell ("?" when its YAML is unreadable: Otter
    says why when it builds); None for any other cell."""
    if cell.cell_type != "raw" or not cell.source.lstrip().startswith("# BEGIN QUESTION"):
        return None
    try:
        spec = yaml.safe_load(cell.source.lstrip().partition("\n")[2]) or {}
    except yaml.YAMLError:
        return "?"
    return str(spec.get("name", "?")) if isinstance(spec, dict) else "?"


def question_names(nb: nbformat.NotebookNode) -> list[str]:
    return [name for cell in nb.cells if (name := _question_name(cell)) is not None]


def _next_question(nb: nbformat.NotebookNode) -> str:
    numbers = [int(m[1]) for n in question_names(nb) if (m := QUESTION_NAME.fullmatch(n))]
    return f"q{max(numbers, default=0) + 1}"


def _insert_at(nb: nbformat.NotebookNode) -> int:
    """After the master's last ``# END QUESTION``; in a master without questions, before the
    scaffold's closing note (or at the end)."""
    ends = [i for i, c in enumerate(nb.cells)
            if c.cell_type == "raw" and c.source.strip() == "# END QUESTION"]
    if ends:
        return ends[-1] + 1
    return next((i for i, c in enumerate(nb.cells) if c.get("id") == "the-end"), len(nb.cells))


def unfinished_cells(master: Path) -> list[str]:
    """Where a master still holds a ``TODO(mlphys new)`` (question name or cell number)."""
    nb = nbformat.read(master, as_version=4)
    where, question = [], None
    for i, cell in enumerate(nb.cells):
        question = _question_name(cell) or question
        if TODO in cell.source:
            label = question or f"cell {i + 1}"
            if label not in where:
                where.append(label)
        if cell.cell_type == "raw" and cell.source.strip() == "# END QUESTION":
            question = None
    return where


# ---------------------------------------------------------------- reference/quiz wiring


def _quiz_package(course: Course) -> Path:
    if not course.own_reference:
        raise ScaffoldError(f"the course folder {course.root} has no reference/ of its own, and quiz "
                            f"questions live in reference/quiz: run `mlphys new assignment NAME --kind "
                            f"quiz` (it copies {course.reference} there) or copy it yourself")
    return course.reference / "quiz"


def own_reference(course: Course) -> tuple[Course, list[Path]]:
    """The course with a ``reference/`` of its own: copied from the installed one if it has none
    (quiz questions are written into ``reference/quiz``; the build then ships the copy)."""
    if course.own_reference:
        return course, []
    target = course.root / "reference"
    if target.exists():
        raise ScaffoldError(f"{target} exists but is not a Python package (no __init__.py)")
    shutil.copytree(course.reference, target, ignore=shutil.ignore_patterns("__pycache__", "pool.json"))
    return load_course(course.root, course.found).with_assignments(course.assignments), [target]


def _registry(quiz_package: Path) -> tuple[str, ast.Module, ast.Dict]:
    init = quiz_package / "__init__.py"
    source = init.read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id == "QUIZZES" and isinstance(node.value, ast.Dict):
            return source, tree, node.value
    raise ScaffoldError(f"{init}: no `QUIZZES = {{...}}` dict to register the quiz in")


def quiz_module(quiz_package: Path, quiz: str) -> Path | None:
    """The module of ``reference/quiz`` whose ``QUIZ`` is ``quiz`` and that ``QUIZZES`` lists."""
    _, _, registry = _registry(quiz_package)
    for value in registry.values:
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
            path = quiz_package / f"{value.value.id}.py"
            if path.is_file() and re.search(rf'^QUIZ\s*=\s*["\']{re.escape(quiz)}["\']', path.read_text(
                    encoding="utf-8"), re.M):
                return path
    return None


def _module_name(quiz_package: Path, quiz: str) -> str:
    short = re.sub(r"^quiz\d*[-_]", "", quiz).replace("-", "_")
    for candidate in (short, quiz.replace("-", "_")):
        if (candidate.isidentifier() and not keyword.iskeyword(candidate)
                and not (quiz_package / f"{candidate}.py").exists()
                and not (quiz_package / candidate).exists()):
            return candidate
    raise ScaffoldError(f"no free module name for quiz {quiz!r} in {quiz_package}")


def _register(quiz_package: Path, module: str) -> Path:
    """Import ``module`` in ``reference/quiz/__init__.py`` and add it to ``QUIZZES``."""
    init = quiz_package / "__init__.py"
    source, tree, registry = _registry(quiz_package)
    lines = source.splitlines(keepends=True)
    closing = registry.end_lineno - 1  # the line holding the dict's closing brace
    indent = " " * 4
    entry = f"{indent}{module}.QUIZ: {module}.questions,\n"
    if lines[closing].strip() == "}":
        lines.insert(closing, entry)
    else:  # a one-line dict: rewrite it over lines
        raise ScaffoldError(f"{init}: write QUIZZES one entry per line to let mlphys register quizzes")
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "reference.quiz"
               and n.level == 0 and n.end_lineno == n.lineno]
    if imports:
        node = imports[0]
        names = sorted({a.name for a in node.names} | {module})
        lines[node.lineno - 1] = f"from reference.quiz import {', '.join(names)}\n"
    else:
        first = next(n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
                     and not (isinstance(n, ast.ImportFrom) and n.module == "__future__"))
        lines.insert(first.lineno - 1, f"from reference.quiz import {module}\n")
    init.write_text("".join(lines), encoding="utf-8")
    return init


def _import_order(name: str) -> tuple[int, str]:
    """isort's order by type: CONSTANTS, Classes, functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def _import_line(module: str, names: list[str]) -> str:
    line = f"from {module} import {', '.join(names)}\n"
    if len(line) <= 100:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")\n"


BASE_NAMES = ("Question", "lettered", "rng_for", "shuffled", "single_match")


def _add_make(module_path: Path, key: str, qid: str, quiz: str) -> None:
    """Append ``make_<key>`` to the quiz's module, import what it needs, list it in questions()."""
    source = module_path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    bound = {alias.asname or alias.name.split(".")[0] for n in tree.body
             if isinstance(n, ast.Import | ast.ImportFrom) for alias in n.names}
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    if f"make_{key}" in defined:
        raise ScaffoldError(f"{module_path} already has make_{key}: choose another --key")
    questions = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "questions"), None)
    returned = questions and [n for n in ast.walk(questions) if isinstance(n, ast.Return)]
    if not returned or len(returned) != 1 or not isinstance(returned[0].value, ast.List):
        raise ScaffoldError(f"{module_path}: questions() does not end in `return [...]`, so a new "
                            "question cannot be listed in it automatically: add it by hand "
                            "(docs/authoring.md, section 4)")
    lines = source.splitlines(keepends=True)
    listed = returned[0].value
    row, col = listed.end_lineno - 1, listed.end_col_offset - 1  # the closing bracket
    call = f"make_{key}(seed)" if not listed.elts else f", make_{key}(seed)"
    lines[row] = lines[row][:col] + call + lines[row][col:]
    missing = [name for name in BASE_NAMES if name not in bound]
    base = next((n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 0
                 and n.module == "reference.quiz.base"), None)
    if missing and base is not None:  # merged into the module's import, sorted as ruff sorts
        names = sorted({a.name for a in base.names} | set(missing), key=_import_order)
        lines[base.lineno - 1: base.end_lineno] = [_import_line("reference.quiz.base", names)]
        missing = []
    header = ([] if "np" in bound else ["import numpy as np\n"]) + (
        [_import_line("reference.quiz.base", missing)] if missing else [])
    if header:
        last_import = max(n.end_lineno for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom))
        lines[last_import:last_import] = header
    make = _fill(templates("quiz")["make"], {"key": key, "qid": qid, "lecture_seed": _seed(quiz, qid)})
    text = "".join(lines).rstrip("\n") + "\n" + make
    module_path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- notebooks


def _question_values(assignment: str, q: str, points: int, function: str | None, qid: str = "") -> dict:
    number = QUESTION_NAME.fullmatch(q)
    return {"q": q, "number": number[1] if number else q, "points": str(points),
            "points_text": f"{points} point" + ("" if points == 1 else "s"), "name": assignment,
            "function": function or f"{q}_function", "seed": _seed(assignment, q), "qid": qid}


def _check_question_args(nb: nbformat.NotebookNode, q: str, function: str | None) -> None:
    if not QUESTION_NAME.fullmatch(q):
        raise ScaffoldError(f"bad question name {q!r}: questions are named q1, q2, ...")
    if q in question_names(nb):
        raise ScaffoldError(f"the assignment already has a question {q}")
    if function is not None and (not function.isidentifier() or keyword.iskeyword(function)):
        raise ScaffoldError(f"bad function name {function!r}: it must be a Python name")


def new_assignment(course: Course, name: str, kind: str = "homework", function: str | None = None,
                   points: int = 1) -> Written:
    """Write ``assignments/NAME/`` (master + ``mutations.yml``); a quiz also its reference module."""
    _check_assignment_name(name)
    folder = course.assignments / name
    if folder.exists():
        raise ScaffoldError(f"{folder} already exists: choose another name")
    if function is not None and (kind == "quiz" or not function.isidentifier()
                                 or keyword.iskeyword(function)):
        raise ScaffoldError(f"bad --function {function!r}: a Python name, for homework only "
                            "(a quiz answer is a letter)")
    if points < 1:
        raise ScaffoldError("--points must be at least 1")
    spec = templates(kind)
    created: list[Path] = []
    if kind == "quiz":
        course, created = own_reference(course)
    quiz_package = _quiz_package(course) if kind == "quiz" else None
    if quiz_package is not None and quiz_module(quiz_package, name) is not None:
        raise ScaffoldError(f"reference/quiz already has a module for {name}")
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                  "name": "python3"}, "language_info": {"name": "python"}}
    nb.cells = _cells(spec["master"], {"name": name, "title": _title(name)}) + _cells(spec["end"], {})
    changed: list[Path] = []
    folder.mkdir(parents=True)
    master = folder / f"{name}.ipynb"
    nbformat.write(nb, master)
    created.append(master)
    if kind == "homework":
        (folder / "mutations.yml").write_text(_fill(spec["mutations"], {"name": name}), encoding="utf-8")
        created.append(folder / "mutations.yml")
    else:
        module = _module_name(quiz_package, name)
        module_path = quiz_package / f"{module}.py"
        module_path.write_text(_fill(spec["module"], {"name": name}), encoding="utf-8")
        created.append(module_path)
        changed.append(_register(quiz_package, module))
    more = new_question(course, name, kind, "q1", function, points)
    return Written(created, changed + [p for p in more.changed if p not in created])


def new_question(course: Course, assignment: str, kind: str, q: str | None = None,
                 function: str | None = None, points: int = 1, key: str | None = None) -> Written:
    """Add question ``q`` (default: the next qN) to ``assignment``'s master, after its last question."""
    master = course.assignments / assignment / f"{assignment}.ipynb"
    if not master.is_file():
        raise ScaffoldError(f"no assignment {assignment!r} in {course.assignments} (expected {master}); "
                            f"`mlphys new assignment {assignment}` starts one")
    nb = nbformat.read(master, as_version=4)
    actual = assignment_kind(nb)
    if actual != kind:
        raise ScaffoldError(f"{assignment} is a {actual} master: use --kind {actual}")
    q = q or _next_question(nb)
    _check_question_args(nb, q, function)
    if points < 1:
        raise ScaffoldError("--points must be at least 1")
    changed = [master]
    qid = ""
    if kind == "quiz":
        if function is not None:
            raise ScaffoldError("--function is for homework questions (a quiz answer is a letter)")
        key = key or q
        if not KEY_NAME.fullmatch(key):
            raise ScaffoldError(f"bad --key {key!r}: lowercase letters, digits and underscores")
        quiz_package = _quiz_package(course)
        module_path = quiz_module(quiz_package, assignment)
        if module_path is None:
            raise ScaffoldError(f"no module of reference/quiz has QUIZ = {assignment!r} and is listed in "
                                "QUIZZES (reference/quiz/__init__.py)")
        qid = f"{module_path.stem}.{key}"
        _add_make(module_path, key, qid, assignment)
        changed.append(module_path)
    elif key is not None:
        raise ScaffoldError("--key is for quiz questions")
    at = _insert_at(nb)
    nb.cells[at:at] = _cells(templates(kind)["question"],
                             _question_values(assignment, q, points, function, qid))
    nbformat.write(nb, master)
    return Written([], changed)


# ---------------------------------------------------------------- the commands

_course_option = click.option(
    "--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Course folder (default: the nearest of the current folder and its parents with course.toml "
         "or assignments/).")


def _report(course: Course, written: Written, what: str) -> None:
    click.echo(f"course folder: {course.root}")
    for path in written.created:
        note = ("  (a copy of the installed reference: from now on the course's own, which the build "
                "ships)" if path.name == "reference" and path.is_dir() else "")
        click.echo(f"  created  {path}{note}")
    for path in written.changed:
        click.echo(f"  changed  {path}")
    click.echo(f"next: write every {TODO} of {what} (docs/authoring.md), then `mlphys check "
               f"{what.split()[-1]}`")


@click.group("new")
def new_group() -> None:
    """Start an assignment or a question in the house style (docs/authoring.md)."""


@new_group.command("assignment")
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), default="homework", show_default=True)
@click.option("--function", default=None, help="Homework: the name of the function q1 asks for.")
@click.option("--points", type=int, default=1, show_default=True, help="Points of q1.")
@_course_option
def new_assignment_command(name: str, kind: str, function: str | None, points: int,
                           course_dir: Path | None) -> None:
    """A new master notebook assignments/NAME/NAME.ipynb with a first question."""
    course = course_for_scaffold(course_dir)
    written = new_assignment(course, name, kind, function, points)
    _report(course, written, f"assignment {name}")


@new_group.command("question")
@click.argument("assignment")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--name", "q", default=None, help="Question name (default: the next qN).")
@click.option("--function", default=None, help="Homework: the name of the function it asks for.")
@click.option("--points", type=int, default=1, show_default=True)
@click.option("--key", default=None, help="Quiz: the question's key in its reference/quiz module "
                                          "(make_<key>; default: the question name).")
@_course_option
def new_question_command(assignment: str, kind: str, q: str | None, function: str | None, points: int,
                         key: str | None, course_dir: Path | None) -> None:
    """Add the next question to ASSIGNMENT's master (and, for a quiz, to its reference/quiz module)."""
    course = course_for_scaffold(course_dir)
    written = new_question(course, assignment, kind, q, function, points, key)
    _report(course, written, f"assignment {assignment}")
