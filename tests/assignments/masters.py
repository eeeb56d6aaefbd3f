"""Read an Otter assign-v1 master without building it: questions, prompts and test cases.

For the static rules about hidden tests (names, hints, comparisons) and about the catalogues of
alternatives and mutations: parsing the master takes milliseconds, building it seconds.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

CONFIG = re.compile(r'^\s*"""\s*#\s*BEGIN TEST CONFIG\n(.*?)\n\s*"""\s*#\s*END TEST CONFIG\n', re.S)


@dataclass
class TestCell:
    question: str
    config: dict
    source: str
    """the test function's source (without the config header)"""
    function: ast.FunctionDef

    @property
    def hidden(self) -> bool:
        return bool(self.config.get("hidden", False))

    @property
    def name(self) -> str:
        return self.function.name

    @property
    def docstring(self) -> str | None:
        return ast.get_docstring(self.function)


@dataclass
class Question:
    name: str
    config: dict
    prompt: str = ""
    """the markdown of the question (what a student reads)"""
    tests: list[TestCell] = field(default_factory=list)

    @property
    def manual(self) -> bool:
        return bool(self.config.get("manual", False))

    @property
    def autograded(self) -> bool:
        return not self.manual and any(t.hidden and t.config.get("points", 0) for t in self.tests)


def read_master(path: Path) -> list[Question]:
    """Questions of a master in order, each with its prompt text and its test cells."""
    nb = nbformat.read(path, as_version=4)
    questions: list[Question] = []
    current: Question | None = None
    in_tests = in_solution = False
    for cell in nb.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw":
            head = text.split("\n", 1)[0].strip()
            if head == "# BEGIN QUESTION":
                current = Question(**{"name": "", "config": yaml.safe_load(text.split("\n", 1)[1])})
                current.name = current.config["name"]
                questions.append(current)
            elif head == "# END QUESTION":
                current = None
            elif head == "# BEGIN TESTS":
                in_tests = True
            elif head == "# END TESTS":
                in_tests = False
            elif head == "# BEGIN SOLUTION":
                in_solution = True
            elif head == "# END SOLUTION":
                in_solution = False
            continue
        if current is None:
            continue
        if cell.cell_type == "markdown" and not in_solution and not in_tests:
            current.prompt += cell.source + "\n"
        elif cell.cell_type == "code" and in_tests:
            m = CONFIG.match(cell.source)
            config = yaml.safe_load(m.group(1)) if m else {}
            body = cell.source[m.end():] if m else cell.source
            fn = next(n for n in ast.parse(body).body if isinstance(n, ast.FunctionDef))
            current.tests.append(TestCell(current.name, config or {}, body, fn))
    return questions
