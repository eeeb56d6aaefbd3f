"""Otter plugin that ``mlphys build`` puts into every autograder zip: on Gradescope, students
see per-question scores and, for each failed hidden case, its name and a one-line hint.

Why a plugin: on Gradescope the zip runs Otter's own grading (``run_otter.py``). Otter either hides
every question entry of ``results.json`` (``show_hidden: false``: students see nothing but the
public tests) or publishes them with Otter's full message of every hidden case, which is the
hidden test's source line (``show_hidden: true``). This plugin, which the zip's
``run_otter.py`` (written by ``mlphys build``) adds to Otter's plugins, does what neither does:

* ``before_grading``: turns ``show_hidden`` on for this run only when the course asked for
  ``after_published`` (``gradescope.question_visibility`` in the zip's ``mlphys.json``). The
  zip itself keeps ``show_hidden: false``, so if the plugin never runs (``otter run`` does not
  use ``run_otter.py``), nothing of a hidden test is published.
* ``after_grading``: names every case by its docstring (``mlphys_case_labels``, the same rules
  as ``mlphys grade``) and replaces the message of every hidden case by ``Test case failed``
  and the case's hint; a hidden case it cannot label is reduced to the bare pass/fail line.

It runs in Otter's grading process next to ``run_otter.py`` (so it is importable from there)
with the copy of ``case_labels.py`` named ``mlphys_case_labels.py``; it needs only Otter and the
standard library.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any

from otter.plugins import AbstractOtterPlugin

try:  # in the autograder zip
    import mlphys_case_labels as labels
except ImportError:  # in the mlphys package (tests)
    from autograder.grading.otter import case_labels as labels

PASSED = "✅ Test case passed"
FAILED = "❌ Test case failed"


class FeedbackPlugin(AbstractOtterPlugin):
    """Names and hints for hidden cases on Gradescope (see the module docstring)."""

    def before_grading(self, config: Any) -> None:
        if question_visibility(str(getattr(config, "autograder_dir", "/autograder"))) \
                == "after_published":
            config.show_hidden = True

    def after_grading(self, results: Any) -> None:
        for test_file in getattr(results, "results", {}).values():
            try:
                relabel(test_file)
            except Exception:  # never publish what could not be labelled
                redact(test_file)


def question_visibility(autograder_dir: str) -> str:
    """``gradescope.question_visibility`` of the zip's ``mlphys.json`` (``hidden`` without)."""
    try:
        with open(os.path.join(autograder_dir, "source", "mlphys.json"), encoding="utf-8") as f:
            value = json.load(f)["gradescope"]["question_visibility"]
    except (OSError, ValueError, KeyError, TypeError):
        return "hidden"
    return value if value in ("hidden", "after_published") else "hidden"


def relabel(test_file: Any) -> None:
    """Name every hidden case and turn each failed one's message into its hint."""
    from otter.test_files.abstract_test import TestCaseResult

    titles = _titles(test_file)
    new = []
    for i, tcr in enumerate(test_file.test_case_results):
        tc = tcr.test_case
        title = titles.get(i) or labels.one_line(str(tc.name)) or str(test_file.name)
        if not tc.hidden:  # Otter's message: the student has the public test anyway
            new.append(TestCaseResult(test_case=dataclasses.replace(tc, name=title),
                                      message=tcr.message, passed=tcr.passed))
            continue
        if tcr.passed:
            message = PASSED
        else:
            kind, error = _observed(tcr.message or "")
            message = f"{FAILED}\n{labels.hint(tc.failure_message, kind, error)}"
        new.append(TestCaseResult(
            test_case=dataclasses.replace(tc, name=title, failure_message=None),
            message=message, passed=tcr.passed))
    test_file.test_case_results = new


def redact(test_file: Any) -> None:
    """The fallback: hidden cases keep only the pass/fail line."""
    from otter.test_files.abstract_test import TestCaseResult

    test_file.test_case_results = [
        tcr if not tcr.test_case.hidden else TestCaseResult(
            test_case=dataclasses.replace(tcr.test_case, failure_message=None),
            message=PASSED if tcr.passed else FAILED, passed=tcr.passed)
        for tcr in test_file.test_case_results
    ]


def _titles(test_file: Any) -> dict[int, str]:
    """case index -> name, for exception-format files whose functions can be matched."""
    source = getattr(test_file, "source", "") or ""
    if not source:
        return {}
    functions = labels.test_functions(source)
    if len(functions) != len(test_file.test_cases):
        return {}
    question = str(test_file.name)
    titles = {}
    for i, (tc, fn) in enumerate(zip(test_file.test_cases, functions, strict=True)):
        auto = re.fullmatch(rf"{re.escape(question)} - \d+", str(tc.name))
        given = None if auto else str(tc.name)
        titles[i] = labels.function_title(fn.function, fn.doc, given or fn.given_name, question)
    return titles


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*)(?::|$)")


def _observed(message: str) -> tuple[str, str | None]:
    """(kind, exception name) from Otter's message of a failed case, never its text: the
    exception-format "Error at line ..." block ends in ``Type: message``; a doctest reports
    "Exception raised:" and a traceback, else a wrong output. Only built-in names are kept."""
    lines = message.splitlines()
    type_name = None
    for k, line in enumerate(lines):
        if line.startswith("Error at line ") and " in test " in line:
            rest = [ln for ln in lines[k + 1:] if not ln.startswith("  ")]
            match = _ERROR_LINE.match(rest[0]) if rest else None
            type_name = match.group(1) if match else ""
            break
        if line.strip() == "Exception raised:":
            block = []
            for later in lines[k + 1:]:
                if not later.startswith("    "):
                    break
                block.append(later)
            # at the block's own indentation: "Traceback ...:", then "Type: message" (frames
            # and their code are indented further)
            own = [ln for ln in block if not ln.startswith("     ")
                   and not ln.strip().startswith("Traceback (most recent call last)")]
            match = _ERROR_LINE.match(own[0]) if own else None
            type_name = match.group(1).rsplit(".", 1)[-1] if match else ""
            break
    if type_name is None or type_name == "AssertionError":
        return "wrong", None
    return "error", type_name if type_name in labels.BUILTIN_EXCEPTIONS else None
