"""What a student is told about a test case: its name and a one-line hint, never its code.

Why a module of its own, standard library only: every grader path labels cases the same way
(``testrun`` for ``mlphys grade``, which is also what a built zip runs on Gradescope), and the
gradebook reader composes a hint for cases graded before hints existed.

The rules work for any Otter zip, not only the course's:

* **name**: the first line of an exception-format test function's docstring; else the name the
  author gave ``@test_case(name=...)``; else a readable form of the function's name
  (``test_q1_relu_at_zero`` in question ``q1`` -> ``relu at zero``); OK-format cases keep Otter's
  own name (a ``name`` in the case dict, else ``q1 - 2``).
* **hint**: the first line of the case's ``failure_message`` (written with the test); without
  one, a hint composed from what the grader observed (``wrong result``, ``an error was raised:
  TypeError``, ``the test ran out of time``), never from the test's code or values. When the
  author's hint is about a wrong value but the case failed otherwise, the observation is added
  in parentheses.
* **exception type names**: built-in exception names are shown as they are; a name the
  student's code chose (a class it defined) is student text and is never shown: its nearest
  built-in base is shown instead.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from dataclasses import dataclass

MAX_LINE_CHARS = 200
"""Names and hints are cut to this many characters (one line in every view)."""

BUILTIN_EXCEPTIONS = frozenset(
    name for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)

KIND_HINTS = {
    "wrong": "wrong result",
    "error": "an error was raised",
    "timeout": "the test ran out of time",
    "memory": "your code ran out of memory",
    "died": "your code's process stopped",
}
"""The grader's own words for why a case failed (``CaseOutcome.kind``)."""


def one_line(text: str | None, limit: int = MAX_LINE_CHARS) -> str:
    """The first non-blank line of ``text`` with runs of whitespace collapsed, cut to ``limit``."""
    for line in (text or "").splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."
    return ""


def readable_name(function: str, question: str = "") -> str:
    """``test_q1_relu_at_zero`` (question ``q1``) -> ``relu at zero``."""
    name = re.sub(r"^test_?", "", function)
    prefix = re.sub(r"\W", "_", question).lower()
    if prefix and name.lower().startswith(prefix + "_"):
        name = name[len(prefix) + 1:]
    name = " ".join(name.replace("_", " ").split())
    return name or function


@dataclass(frozen=True)
class TestFunction:
    """One ``@test_case``-decorated function of an exception-format test file."""

    function: str
    doc: str | None
    """first line of the docstring"""
    given_name: str | None
    """``name=`` of the decorator, if the author wrote one"""


def test_functions(source: str) -> list[TestFunction]:
    """The ``@test_case`` functions of an exception-format test file, in the order Otter
    collects them (definition order), read with ``ast``: nothing in the file is executed."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call is not None else deco
            if (isinstance(target, ast.Name) and target.id == "test_case") or (
                    isinstance(target, ast.Attribute) and target.attr == "test_case"):
                given = None
                for kw in call.keywords if call is not None else []:
                    if (kw.arg == "name" and isinstance(kw.value, ast.Constant)
                            and isinstance(kw.value.value, str)):
                        given = kw.value.value
                doc = ast.get_docstring(node)
                found.append(TestFunction(node.name, one_line(doc) or None, given))
                break
    return found


def function_title(function: str, doc: str | None, given_name: str | None, question: str) -> str:
    """The student-facing name of an exception-format case (see the module docstring)."""
    return (one_line(doc) or one_line(given_name) or readable_name(function, question)
            or function)


def exception_title(func: object, otter_name: str, question: str) -> str:
    """Name of a live exception-format case (its ``test_case.test_func`` is at hand)."""
    function = getattr(func, "__name__", "") or ""
    if not function or function == "<lambda>":
        return one_line(otter_name) or question
    doc = inspect.getdoc(func)
    auto = re.fullmatch(rf"{re.escape(question)} - \d+", otter_name or "")
    return function_title(function, doc, None if auto else otter_name, question)


def exception_name(type_name: str, module: str = "builtins", base: str = "") -> str:
    """An exception's type name as a student may see it.

    ``module``/``base``: where the class was defined and its nearest built-in base (what the
    sandbox reports for an exception raised by student code). A built-in keeps its name; a class
    defined elsewhere (by the student: its name is student text) is shown by its built-in base.
    """
    if module == "builtins" and type_name in BUILTIN_EXCEPTIONS:
        return type_name
    if base in BUILTIN_EXCEPTIONS and base not in ("Exception", "BaseException"):
        return f"{base} (a subclass defined in your code)"
    return "an exception class defined in your code"


def observed(kind: str | None, error: str | None = None) -> str:
    """What the grader saw, in its own words: ``wrong result``, ``an error was raised: TypeError``."""
    text = KIND_HINTS.get(kind or "wrong", KIND_HINTS["wrong"])
    if kind == "error" and error:
        text += f": {error}"
    return text


def hint(failure_message: str | None, kind: str | None, error: str | None = None) -> str:
    """The one-line hint of a failed case (see the module docstring)."""
    written = one_line(failure_message)
    seen = observed(kind, error)
    if not written:
        return seen
    if (kind or "wrong") == "wrong":
        return written
    return one_line(f"{written} ({seen})", MAX_LINE_CHARS + 60)
