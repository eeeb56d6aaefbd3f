"""Quiz "python": the range/recursion snippets and the NumPy indexing questions.

The answer to each question is what the snippet does: it is executed in a fresh namespace (with
``np`` imported), its printed output or value is captured, and compared with each option parsed
as a Python literal. An option reading "error" matches when the snippet raises.

The deck has six NumPy questions on ``a = np.array([[11,22],[33,44]])``; two more in the same
style (``a.T[0]`` and ``a[a > 20]``) complete a set of eight.
"""

from __future__ import annotations

import ast
import contextlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference.quiz.base import Question, lettered, rng_for, shuffled, single_match

QUIZ = "quiz02-python-numpy"
ERROR = "error"


@dataclass(frozen=True)
class Outcome:
    """What running a snippet gave: printed text, the value asked for, or an error."""

    printed: str
    value: Any
    error: str | None


def run_snippet(setup: str, expression: str | None = None, result_name: str | None = None) -> Outcome:
    """Run ``setup`` in a fresh namespace; then evaluate ``expression`` or read ``result_name``."""
    namespace: dict[str, Any] = {"np": np}
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(setup, "<snippet>", "exec"), namespace)  # noqa: S102 - our own snippets
            if expression is not None:
                value = eval(compile(expression, "<snippet>", "eval"), namespace)  # noqa: S307
            elif result_name is not None:
                value = namespace[result_name]
            else:
                value = None
    except Exception as exc:  # the snippet's own error is an outcome ("error" option)
        return Outcome(buffer.getvalue(), None, f"{type(exc).__name__}: {exc}")
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()
    return Outcome(buffer.getvalue(), value, None)


def matches(outcome: Outcome, option: str, printed: bool = False) -> bool:
    if option == ERROR:
        return outcome.error is not None
    if outcome.error is not None:
        return False
    if printed:
        return outcome.printed.split() == option.split()
    return outcome.value == ast.literal_eval(option)


@dataclass(frozen=True)
class Snippet:
    qid: str
    title: str
    code: str            # what the student sees
    ask: str             # the question line
    setup: str           # what runs
    expression: str | None
    result_name: str | None
    options: list[str]
    printed: bool = False


def _question(s: Snippet, seed: int | None) -> Question:
    outcome = run_snippet(s.setup, s.expression, s.result_name)
    letters = lettered(s.options)
    answer = single_match(s.qid, {k: matches(outcome, v, s.printed) for k, v in letters.items()})
    if outcome.error:
        reason = f"running it raises {outcome.error}"
    elif s.printed:
        reason = f"running it prints {' '.join(outcome.printed.split())}"
    else:
        reason = f"running it gives {outcome.value!r}"
    return Question(
        qid=s.qid, quiz=QUIZ, title=s.title, seed=seed, code=s.code,
        prompt=f"```python\n{s.code}\n```\n\n{s.ask}", options=letters, answer=answer,
        reason=reason,
        data={"setup": s.setup, "expression": s.expression, "result_name": s.result_name,
              "printed": s.printed},
    )


A_SETUP = "a = np.array([[11, 22], [33, 44]])"


def _canonical() -> list[Snippet]:
    loop = "for j in range(2):\n    print(j)"
    recursion = (
        "def f(n):\n    if n <= 2:\n        return n + f(n + 1)\n    else:\n        return 42"
    )
    return [
        Snippet("python.range", "Python: range", loop, "What does it print?", loop, None, None,
                ["0 1", "1 2", "0 1 2"], printed=True),
        Snippet("python.recursion", "Python: recursion", recursion, "f(1) = ?", recursion, "f(1)",
                None, ["85", "45", "44", "42", "3"]),
        Snippet("numpy.element", "NumPy: a[0,1]", A_SETUP, "a[0,1] = ?", A_SETUP, "a[0, 1]", None,
                ["11", "22", "33", "44"]),
        Snippet("numpy.row", "NumPy: a[1]", A_SETUP, "a[1] = ?", A_SETUP, "a[1]", None,
                ["22", "[11, 22]", "[33, 44]", "[22, 44]"]),
        Snippet("numpy.column", "NumPy: a[:,1]", A_SETUP, "a[:,1] = ?", A_SETUP, "a[:, 1]", None,
                ["[22, 44]", "[11, 33]", "[33, 44]", "[11, 22]"]),
        Snippet("numpy.flatten", "NumPy: flatten", A_SETUP, "a.flatten() = ?", A_SETUP,
                "a.flatten()", None,
                ["[11, 33, 22, 44]", "[11, 22, 33, 44]", "[[11], [33], [22], [44]]"]),
        Snippet("numpy.fancy_index", "NumPy: index arrays",
                f"{A_SETUP}\nj0 = np.array([1, 0, 1])\nj1 = np.array([0, 0, 1])", "a[j0, j1] = ?",
                f"{A_SETUP}\nj0 = np.array([1, 0, 1])\nj1 = np.array([0, 0, 1])", "a[j0, j1]", None,
                ["[11, 33, 44]", ERROR, "[22, 11, 44]", "[33, 11, 44]"]),
        Snippet("numpy.assign_column", "NumPy: assigning a column",
                f"{A_SETUP}\nb = np.array([19, 50])\na[:, 0] = b[:]", "a = ?",
                f"{A_SETUP}\nb = np.array([19, 50])\na[:, 0] = b[:]", None, "a",
                ["[[11, 22], [19, 50]]", "[[19, 50], [33, 44]]", "[[19, 22], [50, 44]]",
                 "[[11, 19], [33, 50]]"]),
        Snippet("numpy.transpose_row", "NumPy: a.T[0]", A_SETUP, "a.T[0] = ?", A_SETUP, "a.T[0]",
                None, ["[11, 22]", "[11, 33]", "[22, 44]", "[33, 44]"]),
        Snippet("numpy.mask", "NumPy: boolean mask", A_SETUP, "a[a > 20] = ?", A_SETUP,
                "a[a > 20]", None, ["[22, 33, 44]", "[[False, True], [True, True]]", "[33, 44]",
                                    ERROR]),
    ]


def _literal(value: Any) -> str:
    return repr(value)


def _variant(s: Snippet, seed: int) -> Snippet:
    """Same question, other numbers: options are the outcomes of plausible wrong readings."""
    rng = rng_for(seed, s.qid)
    if s.qid == "python.range":
        n = int(rng.integers(2, 6))
        code = f"for j in range({n}):\n    print(j)"
        opts = [" ".join(map(str, r)) for r in (range(n), range(1, n + 1), range(n + 1))]
        return Snippet(s.qid, s.title, code, s.ask, code, None, None, shuffled(opts, rng), True)
    if s.qid == "python.recursion":
        stop, const, start = int(rng.integers(2, 5)), int(rng.integers(10, 60)), 1
        code = (f"def f(n):\n    if n <= {stop}:\n        return n + f(n + 1)\n"
                f"    else:\n        return {const}")
        total = sum(range(start, stop + 1))
        cands = {total + const, total + 2 * const, total + const - stop, const, total}
        cands |= {total + const + stop + 1}
        opts = [str(v) for v in sorted(cands)]
        return Snippet(s.qid, s.title, code, f"f({start}) = ?", code, f"f({start})", None,
                       shuffled(opts, rng))
    values = rng.choice(np.arange(10, 100), size=4, replace=False).reshape(2, 2)
    setup_a = f"a = np.array({values.tolist()})"
    a = values
    setup = s.setup.replace(A_SETUP, setup_a)
    code = s.code.replace(A_SETUP, setup_a)
    if s.qid == "numpy.element":
        i, j = (int(v) for v in rng.integers(0, 2, size=2))
        expr = f"a[{i}, {j}]"
        opts = [str(v) for v in a.ravel().tolist()]
        return Snippet(s.qid, s.title, code, f"{expr} = ?", setup, expr, None, shuffled(opts, rng))
    if s.qid == "numpy.row":
        i = int(rng.integers(0, 2))
        opts = [a[i].tolist(), a[1 - i].tolist(), a[:, i].tolist(), int(a[i, i])]
        return Snippet(s.qid, s.title, code, f"a[{i}] = ?", setup, f"a[{i}]", None,
                       shuffled([_literal(o) for o in opts], rng))
    if s.qid == "numpy.column":
        j = int(rng.integers(0, 2))
        opts = [a[:, j].tolist(), a[j].tolist(), a[:, 1 - j].tolist(), a[1 - j].tolist()]
        return Snippet(s.qid, s.title, code, f"a[:,{j}] = ?", setup, f"a[:, {j}]", None,
                       shuffled([_literal(o) for o in opts], rng))
    if s.qid == "numpy.flatten":
        opts = [a.ravel().tolist(), a.T.ravel().tolist(), a.T.reshape(4, 1).tolist()]
        return Snippet(s.qid, s.title, code, s.ask, setup, s.expression, None,
                       shuffled([_literal(o) for o in opts], rng))
    if s.qid == "numpy.fancy_index":
        j0 = rng.integers(0, 2, size=3).tolist()
        j1 = rng.integers(0, 2, size=3).tolist()
        code = f"{setup_a}\nj0 = np.array({j0})\nj1 = np.array({j1})"
        right = [int(a[p, q]) for p, q in zip(j0, j1, strict=True)]
        swapped = [int(a[q, p]) for p, q in zip(j0, j1, strict=True)]
        rows = [int(a[p, 0]) for p in j0]
        opts = [_literal(o) for o in (right, swapped, rows)] + [ERROR]
        opts = list(dict.fromkeys(opts))
        return Snippet(s.qid, s.title, code, s.ask, code, s.expression, None, shuffled(opts, rng))
    if s.qid == "numpy.assign_column":
        b = rng.choice(np.arange(10, 100), size=2, replace=False).tolist()
        j = int(rng.integers(0, 2))
        line = f"a[:, {j}] = b[:]"
        code = f"{setup_a}\nb = np.array({b})\n{line}"
        outs = []
        for axis_col, k in ((True, j), (False, j), (False, 1 - j), (True, 1 - j)):
            m = a.copy()
            if axis_col:
                m[:, k] = b
            else:
                m[k] = b
            outs.append(m.tolist())
        opts = list(dict.fromkeys(_literal(o) for o in outs))
        return Snippet(s.qid, s.title, code, s.ask, code, None, "a", shuffled(opts, rng))
    if s.qid == "numpy.transpose_row":
        i = int(rng.integers(0, 2))
        opts = [a.T[i].tolist(), a[i].tolist(), a.T[1 - i].tolist(), a[1 - i].tolist()]
        return Snippet(s.qid, s.title, code, f"a.T[{i}] = ?", setup, f"a.T[{i}]", None,
                       shuffled([_literal(o) for o in opts], rng))
    if s.qid == "numpy.mask":
        t = int(rng.choice(np.sort(a.ravel())[:3])) + 1
        expr = f"a[a > {t}]"
        opts = [a[a > t].tolist(), (a > t).tolist(), a[a >= t + 10].tolist(), ERROR]
        opts = list(dict.fromkeys(_literal(o) if o != ERROR else o for o in opts))
        return Snippet(s.qid, s.title, code, f"{expr} = ?", setup, expr, None, shuffled(opts, rng))
    raise KeyError(s.qid)


def questions(seed: int | None = None) -> list[Question]:
    snippets = _canonical()
    if seed is not None:
        snippets = [_variant(s, seed) for s in snippets]
    return [_question(s, seed) for s in snippets]
