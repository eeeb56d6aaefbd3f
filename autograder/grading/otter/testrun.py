"""Run one question's Otter tests in the trusted process, scored exactly as Otter scores them.

Why not ``TestFile.run``: Otter runs tests inside the student's kernel, against the student's
live globals, so a student who rebinds ``np.allclose`` or patches ``doctest`` wins. Here the test
code runs in our own process against :class:`StudentGlobals`, a lazy view of the student's
namespace in which only plain data crosses and student objects stay remote handles. We keep
Otter's own ``TestFile`` objects for everything that decides the score and the text (points
resolution, all-or-nothing, ``summary()``), and replace only the part that executes test code:

* OK-format cases go through the same ``doctest`` parser/runner/flags as
  ``otter.test_files.ok_test.run_doctest`` (each case gets a fresh view, as Otter's ``DocTest``
  gets a fresh copy of the globals);
* exception-format cases call ``test_case.call_func`` with the view, so parameters are filled by
  name exactly as Otter fills them, and errors are formatted by Otter's own formatter.

On top of that: a per-case time budget (a test iterating a student's infinite generator must not
hang the grader), a display hook that never lets a student object print its own ``repr``, builtin
names and standard module aliases that a student cannot shadow with an object of their own, and
the redaction of hidden cases (no hidden test source, expected value or student exception text
in anything a student sees).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import doctest
import importlib
import io
import os
import signal
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from typing import Any

from autograder.grading.model import INFRA_KINDS, NUMPY_REPR_NOTE, CaseOutcome, QuestionOutcome
from autograder.grading.otter import case_labels
from autograder.grading.otter.autograder_zip import QuestionTests
from autograder.grading.otter.numpy_compat import legacy_scalar_repr, numpy_repr_only
from autograder.grading.otter.student_view import (
    WITHHELD,  # noqa: F401 - re-exported: the text tests look for
    TwoViews,
    error_message,
    exception_case_views,
    is_student_exception,
    literal_strings,
    names_only_test_text,
    student_type_name,
    traceback_text,
)

PASSED_MESSAGE = "✅ Test case passed"
FAILED_PREFIX = "❌ Test case failed"
MAX_MESSAGE_CHARS = 4000

#: Test code that names these gets the trusted module even if the student rebound the name to an
#: object of their own (``np = FakeNumpy()``): no honest submission binds them to anything else.
MODULE_ALIASES = {
    "np": "numpy",
    "numpy": "numpy",
    "math": "math",
    "cmath": "cmath",
    "random": "random",
    "statistics": "statistics",
    "itertools": "itertools",
    "functools": "functools",
    "collections": "collections",
    "inspect": "inspect",
    "types": "types",
    "sys": "sys",
    "os": "os",
    "doctest": "doctest",
}


class TestTimeout(KeyboardInterrupt):
    """A test case used up its time budget. A ``KeyboardInterrupt`` so that doctest and Otter's
    exception runner (which catch ``Exception``) let it through to us."""


def _plain(value: Any) -> bool:
    """Plain data: what is safe to evaluate, compare and print in the trusted process."""
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    if isinstance(value, set | frozenset):
        return all(_plain(v) for v in value)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return False
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biufcSU?"
    return isinstance(value, np.generic)


def _remote_type() -> tuple[type, ...]:
    try:
        from autograder.grading.sandbox.remote import RemoteHandle
    except Exception:  # the sandbox layer is optional for unit tests
        return ()
    return (RemoteHandle,)


def is_student_object(value: Any) -> bool:
    """True for anything that is neither plain data nor a module (functions, instances, handles)."""
    if isinstance(value, types.ModuleType):
        return False
    return isinstance(value, _remote_type()) or not _plain(value)


class StudentGlobals(dict):
    """The globals test code runs in: names the test binds first, then the student's namespace,
    fetched lazily on first use (so a 1 GB array the test never reads never crosses).

    A ``dict`` subclass because ``exec`` needs one; ``LOAD_NAME``/``LOAD_GLOBAL`` on a non-exact
    dict go through ``__getitem__`` and so reach ``__missing__``.
    """

    def __init__(self, namespace: Mapping[str, Any]):
        super().__init__()
        self._namespace = namespace
        self._misses: set[str] = set()

    def _fetch(self, key: Any) -> Any:
        if not isinstance(key, str) or key in self._misses or key.startswith("__"):
            raise KeyError(key)
        try:
            value = self._namespace[key]
        except KeyError:
            value = _MISSING
        value = _resolve(key, value)
        if value is _MISSING:
            self._misses.add(key)
            raise KeyError(key)
        dict.__setitem__(self, key, value)
        return value

    def __missing__(self, key: Any) -> Any:
        return self._fetch(key)

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        try:
            self._fetch(key)
        except KeyError:
            return False
        return True

    def copy(self) -> StudentGlobals:
        new = StudentGlobals(self._namespace)
        dict.update(new, self)
        return new


_MISSING = object()


def _resolve(name: str, value: Any) -> Any:
    """Apply the shadowing policy to one student binding."""
    if name in MODULE_ALIASES and not isinstance(value, types.ModuleType):
        if value is _MISSING:
            return _MISSING  # an honest submission that never imported it: NameError, as in Otter
        try:
            return importlib.import_module(MODULE_ALIASES[name])
        except ImportError:
            return _MISSING
    if value is _MISSING:
        return _MISSING
    if name in builtins.__dict__ and is_student_object(value):
        return _MISSING  # ``len = lambda x: 3``: the test keeps the real builtin
    return value


# --------------------------------------------------------------------------------------------
# time budget


@contextlib.contextmanager
def _time_budget(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TestTimeout` in this thread after ``seconds`` (main thread only: signals)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _alarm(signum: int, frame: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0.05)  # keep firing until the case unwinds
        raise TestTimeout(f"test case took longer than {seconds:g} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------------------------
# safe display


def safe_repr(value: Any, _depth: int = 0) -> str:
    """``repr`` for doctest output that never runs a student's ``__repr__`` (student objects are
    remote handles; containers are walked so a handle inside a list is caught too)."""
    if _depth > 50:
        return "..."
    if isinstance(value, _remote_type()):
        return repr(value)  # RemoteHandle.__repr__ is local text, never the student's
    if isinstance(value, list):
        return "[" + ", ".join(safe_repr(v, _depth + 1) for v in value) + "]"
    if isinstance(value, tuple) and type(value) is tuple:
        inner = ", ".join(safe_repr(v, _depth + 1) for v in value)
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict) and type(value) is dict:
        return "{" + ", ".join(
            f"{safe_repr(k, _depth + 1)}: {safe_repr(v, _depth + 1)}" for k, v in value.items()
        ) + "}"
    return repr(value)


def _displayhook(value: Any) -> None:
    if value is None:
        return
    builtins._ = None  # type: ignore[attr-defined]
    sys.stdout.write(safe_repr(value) + "\n")
    builtins._ = value  # type: ignore[attr-defined]


@contextlib.contextmanager
def _guarded_display() -> Iterator[None]:
    # doctest installs ``sys.__displayhook__`` for each run; point that at our safe hook.
    saved = sys.__displayhook__
    sys.__displayhook__ = _displayhook  # type: ignore[misc]
    try:
        yield
    finally:
        sys.__displayhook__ = saved  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# results


KIND_TEXT = {
    "timeout": "the test ran out of time",
    "memory": "the student's process ran out of memory",
    "died": "the student's process died",
    "error": "an error was raised",
    "wrong": "wrong result",
}


def _classify(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, TestTimeout) or name == "SandboxTimeout":
        return "timeout"
    if name == "SandboxDied":
        reason = str(getattr(exc, "reason", exc)).lower()
        return "memory" if "memory" in reason else "died"
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, AssertionError) and not is_student_exception(exc):
        return "wrong"  # the test's own assertion (an assert in student code is an error)
    return "error"


class _Runner(doctest.DocTestRunner):
    """Otter's doctest runner, remembering the worst exception an example raised and writing
    every report twice (:class:`TwoViews`): doctest's own text for the instructor, and for the
    student the test's text with what student code produced marked as such."""

    kind: str | None = None
    error: str | None = None
    """the student-safe type name of the first exception an example raised"""
    numpy_repr_only: bool = False
    """a failure that NumPy 1's scalar repr would have passed"""

    def __init__(self, view: TwoViews, **kw: Any) -> None:
        super().__init__(**kw)
        self.view = view

    def report_start(self, out: Any, test: Any, example: Any) -> None:
        super().report_start(lambda text: (out(text), self.view.test(text)), test, example)

    def report_success(self, out: Any, test: Any, example: Any, got: str) -> None:
        super().report_success(lambda text: (out(text), self.view.test(text)), test, example, got)

    def report_unexpected_exception(self, out: Any, test: Any, example: Any, exc_info: Any) -> None:
        exc = exc_info[1]
        kind = _classify(exc)
        if kind in INFRA_KINDS or self.kind is None:
            self.kind = kind
        shown = student_type_name(exc)
        self.error = self.error or shown
        head = self._failure_header(test, example) + "Exception raised:\n"
        text = head + doctest._indent(traceback_text(exc))
        out(text)
        message = error_message(exc)
        line = doctest._indent(f"{shown}: " if message else shown)
        if message and names_only_test_text(exc):
            shown_message = message
        else:
            shown_message = self.view.produced(message).replace("\n", "\n    ") if message else ""
        self.view.both(text, head + line.rstrip("\n") + shown_message + "\n")

    def report_failure(self, out: Any, test: Any, example: Any, got: str) -> None:
        if self.kind is None:
            self.kind = "wrong"
        flags = self.optionflags
        for flag, on in example.options.items():
            flags = flags | flag if on else flags & ~flag
        if numpy_repr_only(example.want, got, flags):
            self.numpy_repr_only = True
        head = self._failure_header(test, example)
        diff = self._checker.output_difference(example, got, self.optionflags)
        out(head + diff)
        self.view.test(head)
        want = ("Expected:\n" + doctest._indent(example.want)) if example.want else "Expected nothing\n"
        if diff.startswith(want + "Got:\n"):  # the plain layout: expectation, then student output
            self.view.test(want + "Got:\n")
            self.view.student(diff[len(want) + len("Got:\n"):], indent="    ")
        else:  # a diff or "Got nothing": student output interleaved, or none
            self.view.student(diff, indent="    ")


def _run_doctest(name: str, body: str, namespace: Mapping[str, Any], view: TwoViews
                 ) -> tuple[bool, str, str | None, str | None, bool]:
    """``otter.test_files.ok_test.run_doctest`` against a fresh :class:`StudentGlobals`; the
    student's view of the report goes to ``view``. Returns (passed, Otter's text, kind, the
    student-safe type name of an exception raised, whether the failure is NumPy 2's scalar
    repr only)."""
    examples = doctest.DocTestParser().parse(body, name)
    test = doctest.DocTest(
        [e for e in examples if isinstance(e, doctest.Example)], {}, name, None, None, body
    )
    test.globs = StudentGlobals(namespace)  # DocTest copies its globs; keep the lazy view
    runner = _Runner(view, verbose=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), _guarded_display():
        runner.run(test, clear_globs=False)
    with open(os.devnull, "w") as f, contextlib.redirect_stderr(f), contextlib.redirect_stdout(f):
        result = runner.summarize(verbose=True)
    if result.failed == 0:
        return True, "", None, None, False
    return False, out.getvalue(), runner.kind or "wrong", runner.error, runner.numpy_repr_only


def _truncate(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[:MAX_MESSAGE_CHARS] + f"\n... [{len(text) - MAX_MESSAGE_CHARS} more characters cut]"


def redacted_message(kind: str | None, failure_message: str | None,
                     error: str | None = None) -> str:
    """What a student sees of a failed hidden case besides its name: the one-line hint."""
    return f"{FAILED_PREFIX}\n{case_labels.hint(failure_message, kind, error)}"


def case_title(question: QuestionTests, tc: Any) -> str:
    """The student-facing name of a case (:mod:`case_labels`)."""
    if question.ok_format:
        return case_labels.one_line(str(tc.name)) or question.name
    return case_labels.exception_title(getattr(tc.body, "test_func", None), str(tc.name),
                                       question.name)


def _secret_lines(tf: Any) -> list[str]:
    """Lines of hidden test code/expectations that must never show up in public output."""
    lines = []
    for tc in tf.test_cases:
        if not tc.hidden:
            continue
        body = tc.body if isinstance(tc.body, str) else _function_source(tf, tc.body)
        for line in body.splitlines():
            line = line.strip().removeprefix(">>>").removeprefix("...").strip()
            if len(line) >= 6:
                lines.append(line)
    return sorted(set(lines), key=len, reverse=True)


def _function_source(tf: Any, case: Any) -> str:
    """The lines of an exception-format test function (its decorator line to its last line)."""
    lines = getattr(tf, "source", "").split("\n")
    first = getattr(getattr(case.test_func, "__code__", None), "co_firstlineno", None)
    if first is None:
        return ""
    out: list[str] = []
    seen_def = False
    for line in lines[first - 1:]:
        if seen_def and line and not line[0].isspace():
            break
        seen_def = seen_def or line.lstrip().startswith(("def ", "async def "))
        out.append(line)
    return "\n".join(out)


@dataclasses.dataclass
class _CaseRun:
    """One case's run: Otter's message, the student's view of it, and why it failed."""

    passed: bool
    message: str
    """instructor view (Otter's text)"""
    student: str
    """student view of a public case's message (see ``student_view``)"""
    kind: str | None = None
    error: str | None = None
    """student-safe type name of the exception that failed the case"""
    test_words: str | None = None
    """the assertion message of a failed exception-format case when the test wrote it literally"""
    numpy_repr_only: bool = False
    """a doctest failure that NumPy 1's scalar repr would have passed"""


def run_question(
    question: QuestionTests,
    namespace: Mapping[str, Any],
    case_timeout: float | None = 60.0,
    tainted: bool = False,
    numpy_legacy_repr: bool = False,
) -> QuestionOutcome:
    """Run every case of ``question`` against ``namespace`` and score it as Otter would.

    ``tainted``: hidden cases of this submission have already called student code, which may
    have stashed their arguments; student-produced text in failing public cases is then
    withheld from the student view (see ``student_view``). Every case gets a student-facing
    name and every failed case a one-line hint (``case_labels``).
    ``numpy_legacy_repr``: NumPy prints scalars as NumPy 1 did while the cases run (tests whose
    expected outputs were recorded under NumPy 1); without it, a case that fails only by NumPy
    2's scalar repr gets :data:`NUMPY_REPR_NOTE` in its instructor message."""
    from otter.test_files.abstract_test import TestCaseResult

    tf = question.make_test_file()
    secrets = _secret_lines(tf)
    notebook_legacy = _notebook_print_legacy(namespace) if question.ok_format else None
    cases: list[CaseOutcome] = []
    results = []
    for i, tc in enumerate(tf.test_cases):
        view = TwoViews(tainted and not tc.hidden, secrets)
        try:
            with _time_budget(case_timeout), legacy_scalar_repr(numpy_legacy_repr,
                                                                 notebook_legacy):
                if question.ok_format:
                    passed, text, kind, error, repr_only = _run_doctest(
                        f"{tf.name} {i}", tc.body, namespace, view)
                    run = _CaseRun(passed, PASSED_MESSAGE if passed else FAILED_PREFIX + "\n" + text,
                                   FAILED_PREFIX + "\n" + view.student_text, kind, error,
                                   numpy_repr_only=repr_only)
                else:
                    run = _run_exception_case(tf, tc, namespace, view)
        except TestTimeout as e:
            run = _CaseRun(False, f"{FAILED_PREFIX}\n{e}", f"{FAILED_PREFIX}\n{e}", "timeout")
        message = _truncate(run.message)
        hint = "" if run.passed else case_labels.hint(
            tc.failure_message or (None if tc.hidden else run.test_words), run.kind, run.error)
        if run.passed:
            public = PASSED_MESSAGE
        elif tc.hidden:
            public = redacted_message(run.kind, tc.failure_message, run.error)
        else:
            public = _truncate(run.student)
        if run.numpy_repr_only:  # for the instructor only (public messages are computed above)
            message += "\n" + NUMPY_REPR_NOTE
        tainted = tainted or bool(tc.hidden)
        results.append(TestCaseResult(test_case=tc, message=message, passed=run.passed))
        cases.append(CaseOutcome(
            name=str(tc.name), hidden=bool(tc.hidden), points=float(tc.points or 0),
            passed=run.passed, message=message, public_message=public,
            kind=None if run.passed else run.kind, failure_message=tc.failure_message,
            title=case_title(question, tc), hint=hint,
        ))
        if run.kind in ("memory", "died"):
            # the student's process is gone: later cases cannot run either
            for tc2 in tf.test_cases[i + 1:]:
                msg = f"{FAILED_PREFIX}\nnot run: {KIND_TEXT[run.kind]}"
                results.append(TestCaseResult(test_case=tc2, message=msg, passed=False))
                cases.append(CaseOutcome(
                    name=str(tc2.name), hidden=bool(tc2.hidden), points=float(tc2.points or 0),
                    passed=False, message=msg, public_message=redacted_message(run.kind, None),
                    kind=run.kind, failure_message=tc2.failure_message,
                    title=case_title(question, tc2), hint=case_labels.hint(None, run.kind),
                ))
            break
    return _outcome(question, tf, results, cases, secrets)


def _notebook_print_legacy(namespace: Mapping[str, Any]) -> str | None:
    """The notebook's NumPy ``legacy`` print option (Otter's doctests print with the kernel's
    options; see ``RemoteNamespace.numpy_print_legacy``); None for a plain mapping."""
    ask = getattr(namespace, "numpy_print_legacy", None)
    if ask is None:
        return None
    try:
        return ask()
    except Exception:  # a dead sandbox: the cases will say so
        return None


def _run_exception_case(tf: Any, tc: Any, namespace: Mapping[str, Any], view: TwoViews
                        ) -> _CaseRun:
    env = StudentGlobals(namespace)
    try:
        tc.body.call_func(env)
    except TestTimeout:
        raise
    except Exception as e:  # Otter catches Exception (not BaseException) here too
        try:
            text = tf._generate_error_message(e)
        except Exception:
            text = f"{type(e).__name__}: {e}"
        literals = literal_strings(_function_source(tf, tc.body))
        instructor, student = exception_case_views(text, e, literals, view.tainted, view.secrets)
        words = None
        if not is_student_exception(e) and isinstance(e, AssertionError) and str(e) in literals:
            words = str(e)
        return _CaseRun(False, FAILED_PREFIX + "\n" + instructor, FAILED_PREFIX + "\n" + student,
                        _classify(e), student_type_name(e), words)
    return _CaseRun(True, PASSED_MESSAGE, PASSED_MESSAGE)


def _outcome(question: QuestionTests, tf: Any, results: list, cases: list[CaseOutcome],
             secrets: list[str]) -> QuestionOutcome:
    tf.test_case_results = results
    possible = float(tf.possible)
    score = max(0.0, min(float(tf.score), possible))
    instructor_summary = tf.summary()
    # the student's views: same structure, student messages. The question's own output names
    # every case as the student sees it (a hidden case's hint is in its message; Otter would
    # print it on a line of its own); the public tests' summary stays what grader.check shows.
    from otter.test_files.abstract_test import TestCaseResult

    def student_results(renamed: bool) -> list:
        out = []
        for r, c in zip(results, cases, strict=True):
            tc = r.test_case
            if renamed:
                tc = dataclasses.replace(tc, name=c.title or tc.name,
                                         failure_message=None if c.hidden else tc.failure_message)
            out.append(TestCaseResult(test_case=tc, message=c.public_message, passed=r.passed))
        return out

    tf.test_case_results = student_results(renamed=True)
    summary = tf.summary()
    tf.test_case_results = student_results(renamed=False)
    public_summary = tf.summary(public_only=True)
    passed_all_public = bool(tf.passed_all_public)
    tf.test_case_results = results
    kinds = {c.kind for c in cases if not c.passed}
    if not kinds:
        status, reason = "passed", None
    elif kinds & {"died", "memory", "timeout"}:
        k = "memory" if "memory" in kinds else "died" if "died" in kinds else "timeout"
        status = {"memory": "memory", "died": "kernel died", "timeout": "timeout"}[k]
        reason = KIND_TEXT[k]
    else:
        status, reason = "failed", None
    return QuestionOutcome(
        name=question.name, possible=possible, score=score, status=status, reason=reason,
        cases=cases, ran=True, summary=summary, public_summary=public_summary,
        instructor_summary=instructor_summary, passed_all_public=passed_all_public,
        all_public=bool(tf.all_public), all_or_nothing=bool(tf.all_or_nothing),
        ran_hidden=any(c.hidden for c in cases),
    )


def not_run(question: QuestionTests, status: str, reason: str) -> QuestionOutcome:
    """A question whose tests never ran: 0 points, every case failed with ``reason``."""
    from otter.test_files.abstract_test import TestCaseResult

    tf = question.make_test_file()
    results, cases = [], []
    for tc in tf.test_cases:
        msg = f"{FAILED_PREFIX}\nnot run: {reason}"
        results.append(TestCaseResult(test_case=tc, message=msg, passed=False))
        cases.append(CaseOutcome(
            name=str(tc.name), hidden=bool(tc.hidden), points=float(tc.points or 0),
            passed=False, message=msg, public_message=msg, kind="error",
            failure_message=tc.failure_message, title=case_title(question, tc),
            hint=case_labels.one_line(f"not run: {reason}"),
        ))
    out = _outcome(question, tf, results, cases, [])
    out.score, out.status, out.reason, out.ran = 0.0, status, reason, False
    out.ran_hidden = False
    return out
