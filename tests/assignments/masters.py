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


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a code cell defines at top level, names it reads anywhere)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                defined |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return defined, _free_reads(tree)


def _free_reads(node: ast.AST, bound: frozenset[str] = frozenset()) -> set[str]:
    """Names read in ``node`` that are not bound locally (parameters, locals, comprehension
    variables): the names a cell takes from the notebook's global namespace."""
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp,
              ast.DictComp, ast.GeneratorExp)
    if isinstance(node, scopes) and not isinstance(node, ast.Module):
        local = set(bound)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            a = node.args
            local |= {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
            local |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
            body = node.body if isinstance(node.body, list) else [node.body]
            for stmt in body:
                local |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
                          and isinstance(n.ctx, ast.Store)}
            reads: set[str] = set()
            if not isinstance(node, ast.Lambda):
                for d in node.args.defaults + node.args.kw_defaults:
                    if d is not None:
                        reads |= _free_reads(d, bound)
            for stmt in body:
                reads |= _free_reads(stmt, frozenset(local))
            return reads
        for gen in node.generators:
            local |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
        return {r for child in ast.iter_child_nodes(node) for r in _free_reads(child, frozenset(local))}
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) and node.id not in bound else set()
    return {r for child in ast.iter_child_nodes(node) for r in _free_reads(child, bound)}


def question_uses(path: Path) -> dict[str, set[str]]:
    """For each question, the other questions whose code its solution or its tests can reach.

    A dataflow pass over the cells in order: a name read by a cell refers to its latest
    definition above; a name a cell defines carries the questions of everything that cell read
    (and the cell's own question). Coarse where it matters (a whole cell counts as one step), so
    it may see a dependency that is not there but does not miss one between cells in notebook
    order. Used to keep mistakes that could interact out of the same grading round.
    """
    nb = nbformat.read(path, as_version=4)
    carries: dict[str, set[str]] = {}       # name -> questions its current value depends on
    uses: dict[str, set[str]] = {}
    current = None
    in_tests = False
    for cell in nb.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw":
            head = text.split("\n", 1)[0].strip()
            if head == "# BEGIN QUESTION":
                current = yaml.safe_load(text.split("\n", 1)[1])["name"]
                uses.setdefault(current, set())
            elif head == "# END QUESTION":
                current = None
            in_tests = {"# BEGIN TESTS": True, "# END TESTS": False}.get(head, in_tests)
            continue
        if cell.cell_type != "code":
            continue
        if in_tests and current:
            m = CONFIG.match(cell.source)
            fn = next((n for n in ast.parse(cell.source[m.end():] if m else cell.source).body
                       if isinstance(n, ast.FunctionDef)), None)
            if fn is not None:
                for a in fn.args.args:
                    uses[current] |= carries.get(a.arg, set())
            continue
        defined, read = _names(cell.source)
        reach = set().union(*(carries.get(n, set()) for n in read))
        if current:
            uses[current] |= reach
        for name in defined:
            carries[name] = reach | ({current} if current else set())
    return {q: qs - {q} for q, qs in uses.items()}


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
