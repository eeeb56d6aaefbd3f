"""What the build does to quiz notebooks beyond ``otter assign``: how the quiz module is loaded,
one notebook per student, and a letters version of the solutions.

* Generic notebook: the master's ``import mlphys_quiz`` becomes an import that, when the two
  companion files are missing (a notebook uploaded alone to a hosted service), stops at once
  with the exact files to upload and where.
* Per-student notebook: ``student_id`` is filled in from the roster, and the loader carries
  ``mlphys_quiz.py`` and that student's variant (only theirs: prompts, options, pictures, data,
  never an answer) inside the notebook, so it runs alone, top to bottom. It refuses to show
  the questions if ``student_id`` is changed, because the grader would grade another variant.
* Letters solutions: the solutions with every ``key_for(...)`` call replaced by the letter it
  returns, as a student would submit them (``reference`` is not available to submissions).
"""

from __future__ import annotations

import base64
import copy
import re
import zlib
from pathlib import Path

import nbformat

MODULE_FILE = Path(__file__).resolve().parent / "assignment_support" / "mlphys_quiz.py"
IMPORT_LINE = re.compile(r"^import mlphys_quiz[ \t]*$", re.M)
ID_CELL = re.compile(r"^student_id = \.\.\.[ \t]*$")
SOLUTION_ID = re.compile(r'^student_id = "(?P<id>[^"\n]*)"', re.M)
KEY_CALL = re.compile(
    r'^(?P<indent>[ \t]*)(?P<var>q\d+_answer) = key_for\("(?P<quiz>[^"]+)", "(?P<qid>[^"]+)", '
    r'student_id\)[ \t]*(?:#.*)?$', re.M)
REFERENCE_IMPORT = re.compile(r"^[ \t]*(from reference[\w.]* import .*|import reference.*)\n?", re.M)
MARKERS = re.compile(r"^[ \t]*# (BEGIN SOLUTION NO PROMPT|BEGIN SOLUTION|END SOLUTION)[ \t]*\n?", re.M)


class QuizNotebookError(ValueError):
    """A quiz master whose identity or loader cell is not in the form the build expects."""


def guarded_import(quiz: str) -> str:
    """The generic notebook's import: the same message as ``mlphys_quiz.missing_files_message``."""
    return (
        "try:  # mlphys_quiz.py and " + quiz + ".quiz.npz must be next to this notebook\n"
        "    import mlphys_quiz\n"
        "except ModuleNotFoundError:\n"
        "    import os\n"
        "    raise FileNotFoundError(\n"
        f'        "This quiz needs 2 files next to this notebook: mlphys_quiz.py and {quiz}.quiz.npz "\n'
        '        f"(they came with it). Upload both to {os.getcwd()} (the folder this notebook runs "\n'
        '        "in), then run all cells again.") from None'
    )


def _loader_index(nb: nbformat.NotebookNode, quiz: str, marker: str) -> int:
    hits = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and marker in c.source
            and f'mlphys_quiz.Quiz("{quiz}", student_id)' in c.source]
    if len(hits) != 1:
        raise QuizNotebookError(f"{quiz}: expected one code cell with `{marker}` and "
                                f'`mlphys_quiz.Quiz("{quiz}", student_id)`, found {len(hits)}')
    return hits[0]


def guard_quiz_import(master: Path, quiz: str) -> None:
    """Rewrite the staged master's ``import mlphys_quiz`` into :func:`guarded_import` (in place)."""
    nb = nbformat.read(master, as_version=4)
    i = _loader_index(nb, quiz, "import mlphys_quiz")
    nb.cells[i].source = IMPORT_LINE.sub(lambda _: guarded_import(quiz), nb.cells[i].source, count=1)
    nbformat.write(nb, master)


def solution_identity(master: Path) -> str:
    """The ``student_id`` the master's solution uses (the one the solutions are the key of)."""
    for cell in nbformat.read(master, as_version=4).cells:
        m = SOLUTION_ID.search(cell.source) if cell.cell_type == "code" else None
        if m:
            return m["id"]
    raise QuizNotebookError(f"{master.name}: no solution cell `student_id = \"...\"`")


def letters_solutions(solutions: nbformat.NotebookNode, student_nb: nbformat.NotebookNode,
                      keys: dict[str, str]) -> nbformat.NotebookNode:
    """The solutions with letters instead of ``key_for`` calls, with the student notebook's
    metadata (public tests only): a submission that should get full marks."""
    nb = copy.deepcopy(solutions)
    nb.metadata = copy.deepcopy(student_nb.metadata)

    def letter(m: re.Match[str]) -> str:
        if m["qid"] not in keys:
            raise QuizNotebookError(f"no key for question {m['qid']!r}")
        return f'{m["indent"]}{m["var"]} = "{keys[m["qid"]]}"'

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        source = KEY_CALL.sub(letter, cell.source)
        source = MARKERS.sub("", REFERENCE_IMPORT.sub("", source))
        cell.source = re.sub(r"[ \t]*# SOLUTION[ \t]*$", "", source, flags=re.M)
        if "key_for" in cell.source or re.search(r"\breference\b", cell.source):
            raise QuizNotebookError(f"cannot make a letters version of this cell:\n{cell.source}")
    return nb


def _compressed(text: bytes) -> str:
    return base64.b64encode(zlib.compress(text, 9)).decode()


def embedded_loader(payload: str) -> str:
    """The per-student loader: the quiz module and one student's variant, inside the cell."""
    return (
        "# This notebook is your own: it carries the quiz module (mlphys_quiz.py) and YOUR variant\n"
        "# (the one student_id above gets), compressed, and needs no other file. Do not edit this cell.\n"
        "import base64 as _b64, types as _types, zlib as _zlib\n"
        "mlphys_quiz = _types.ModuleType(\"mlphys_quiz\")\n"
        f"exec(compile(_zlib.decompress(_b64.b64decode(\"{_compressed(MODULE_FILE.read_bytes())}\")), "
        "\"mlphys_quiz.py\", \"exec\"), mlphys_quiz.__dict__)\n"
        f"_MY_VARIANT = \"{payload}\""
    )


def per_student_notebook(student_nb: nbformat.NotebookNode, quiz: str, identity: str, name: str,
                         payload: str) -> nbformat.NotebookNode:
    """The generic student notebook made into one student's own (see the module doc)."""
    nb = copy.deepcopy(student_nb)
    ids = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and ID_CELL.match(c.source.strip())]
    if len(ids) != 1:
        raise QuizNotebookError(f"{quiz}: expected one `student_id = ...` cell, found {len(ids)}")
    if '"' in identity or "\\" in identity or "\n" in identity:
        raise QuizNotebookError(f"identity {identity!r} contains a quote, backslash or line break")
    nb.cells[ids[0]].source = f'student_id = "{identity}"  # yours ({name}): do not change it'
    nb.cells[ids[0]].metadata["editable"] = False
    intro = [i for i in range(ids[0]) if nb.cells[i].cell_type == "markdown"]
    if intro and "student_id" in nb.cells[intro[-1]].source:
        nb.cells[intro[-1]].source = (
            f"This notebook was made for **{name}**: `student_id` below is already set to your "
            f"identity (`{identity}`) and picks your own variant of every question. Do not change it.")
    i = _loader_index(nb, quiz, "import mlphys_quiz")
    source = nb.cells[i].source
    guarded = guarded_import(quiz)
    if guarded not in source:
        raise QuizNotebookError(f"{quiz}: the loader cell is not the one the build wrote")
    source = source.replace(guarded, embedded_loader(payload))
    source = source.replace(f'mlphys_quiz.Quiz("{quiz}", student_id)',
                            "mlphys_quiz.Quiz.from_embedded(_MY_VARIANT, student_id)")
    nb.cells[i].source = source
    nb.cells[i].metadata.update({"editable": False, "deletable": False})
    return nb
