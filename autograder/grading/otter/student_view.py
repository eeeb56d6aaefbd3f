"""The student's view of a test case's message: provenance decides what is shown.

A failing case's message mixes text of two origins. Text the TEST composed (a doctest's example
and its expected output, the source line of an exception-format assertion, the literal message
the author wrote after ``assert ..., "..."``) is the test's: for a public case the student has
the test anyway, so it is always shown. Text produced by STUDENT code (a doctest's ``Got:``
output, a student exception's message, a message the test formatted from student values) is
shown only until hidden tests of this submission have called student code; after that it is
withheld, because student code may have stashed a hidden test's arguments and could print them
through a public test. Hidden cases never show either: they show a name and a hint
(:mod:`case_labels`).

:class:`TwoViews` builds both texts side by side, so the instructor's text stays exactly
Otter's while the student's is assembled from labelled pieces (nothing is parsed back out of
free text that a student could have shaped).
"""

from __future__ import annotations

import ast
import textwrap
import traceback

from autograder.grading.otter.case_labels import exception_name

WITHHELD = "    [withheld: produced by student code after hidden tests had run]"
"""Stands in for student-produced text of a public case once hidden tests have run."""


class TwoViews:
    """A message built twice: for the instructor (everything) and for the student."""

    def __init__(self, tainted: bool, secrets: list[str]):
        self.tainted = tainted
        self.secrets = secrets
        self._instructor: list[str] = []
        self._student: list[str] = []

    def test(self, text: str) -> None:
        """Text the test composed: the same in both views."""
        self.both(text, text)

    def student(self, text: str, indent: str = "") -> None:
        """Text produced by student code: see :meth:`produced`."""
        self.both(text, self.produced(text, indent))

    def both(self, instructor: str, student: str) -> None:
        self._instructor.append(instructor)
        self._student.append(student)

    def produced(self, text: str, indent: str = "") -> str:
        """The student's form of text produced by student code: scrubbed of hidden test lines
        before hidden tests ran, :data:`WITHHELD` (at ``indent``) after."""
        if not text or not self.tainted:
            return scrub(text, self.secrets)
        return indent + WITHHELD.lstrip() + ("\n" if text.endswith("\n") else "")

    @property
    def instructor_text(self) -> str:
        return "".join(self._instructor)

    @property
    def student_text(self) -> str:
        return "".join(self._student)


def scrub(text: str, secrets: list[str]) -> str:
    """Replace hidden test lines in student-produced text (defence in depth: such text cannot
    know them before hidden tests ran, unless the student guessed)."""
    for s in secrets:
        if s in text:
            text = text.replace(s, "[hidden]")
    return text


# --------------------------------------------------------------------------------------------
# exceptions


def remote_error_class() -> type | None:
    try:
        from autograder.grading.sandbox.remote import RemoteError
    except Exception:  # the sandbox layer is optional for unit tests
        return None
    return RemoteError


def is_student_exception(exc: BaseException) -> bool:
    """Raised by student code in the sandbox (a remote error), not by the test itself."""
    remote = remote_error_class()
    return remote is not None and isinstance(exc, remote)


def _builtin_base(exc: BaseException) -> str:
    for klass in type(exc).__mro__:
        if klass.__module__ == "builtins" and issubclass(klass, BaseException):
            return klass.__name__
    return ""


def original_type_name(exc: BaseException) -> str:
    """The type name as raised: a remote ``TypeError`` is ``TypeError`` (not the grader's
    ``RemoteTypeError``); for instructors, so a student's own class keeps its name."""
    if is_student_exception(exc):
        return str(getattr(exc, "type_name", "") or type(exc).__name__)
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """The exception's own text (a remote error's is the student's message)."""
    if is_student_exception(exc):
        return str(getattr(exc, "message", ""))
    return str(exc)


def names_only_test_text(exc: BaseException) -> bool:
    """A ``NameError`` the test's own code raised ("name 'square' is not defined"): its text
    is a name the test wrote, so it is shown even after hidden tests ran."""
    return type(exc) is NameError


def student_type_name(exc: BaseException) -> str:
    """The type name a student may see: built-ins by name; a class the student defined (its
    name is student text) by its built-in base; a class of the test or a library by name."""
    if is_student_exception(exc):
        return exception_name(str(getattr(exc, "type_name", "")), str(getattr(exc, "module", "")),
                              _builtin_base(exc))
    return type(exc).__name__


def traceback_text(exc: BaseException) -> str:
    """``traceback.format_exception`` with the last line naming the original type."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    only = traceback.format_exception_only(type(exc), exc)
    body = lines[: len(lines) - len(only)] if lines[-len(only):] == only else lines
    return "".join(body) + exception_line(original_type_name(exc), error_message(exc)) + "\n"


def exception_line(type_name: str, message: str) -> str:
    return f"{type_name}: {message}" if message else type_name


# --------------------------------------------------------------------------------------------
# what the test wrote


def literal_strings(function_source: str) -> frozenset[str]:
    """Every string literal in a test function's source: text that is the test's by
    construction (an ``assert ..., "message"``), whatever the student's code did."""
    try:
        tree = ast.parse(textwrap.dedent(function_source))
    except SyntaxError:
        return frozenset()
    return frozenset(
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip()
    )


def exception_case_views(otter_text: str, exc: BaseException, literals: frozenset[str],
                         tainted: bool, secrets: list[str]) -> tuple[str, str]:
    """(instructor, student) messages of a failed exception-format case, from Otter's
    ``_generate_error_message`` text ("Error at line N in test q:", the source lines, then
    ``Type: message``).

    The head (the test's own lines) is kept in both; the last line names the original type
    (the student's view: a name safe to show), and its message is the test's when it is one of
    the test function's string literals, else student-produced.
    """
    otter_tail = f"{type(exc).__name__}: {str(exc).strip(chr(39))}"
    head = otter_text[: -len(otter_tail)] if otter_text.endswith(otter_tail) else ""
    raw = error_message(exc)
    message = raw.strip("'")  # as Otter prints it (KeyError's quotes)
    view = TwoViews(tainted, secrets)
    view.test(head)
    view.both(original_type_name(exc) + ":", student_type_name(exc) + ":")
    if raw and not is_student_exception(exc) and raw in literals:
        view.test(" " + raw)  # the author's words, quotes and all
    elif message:
        view.student(" " + message, indent=" ")
    else:
        view.test(" ")  # Otter's "AssertionError: " for an assertion without a message
    return view.instructor_text, view.student_text
