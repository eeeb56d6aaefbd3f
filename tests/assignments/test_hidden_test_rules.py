"""Static rules for every master's tests (no build needed):

* hint contract with the grader: every hidden case has a student-facing name (the first line of
  its docstring) and a one-line ``failure_message`` (the hint), and neither quotes the test's
  code or a value the student was not given in the prompt;
* strict comparisons: hidden tests compare arrays only through ``reference.checks`` (shape,
  dtype kind, finiteness, values), never with ``np.allclose`` & co., which broadcast an empty
  array against anything;
* catalogues: every autograded question has at least two correct alternative implementations
  (``alternatives.yml``) and at least one wrong answer per stated requirement (``mutations.yml``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from autograder.democlass import load_mutations
from tests.assignments.conftest import NAMES, source_dir
from tests.assignments.masters import TestCell, read_master

# numeric literals standing alone ("0", "-1.5", "1e-3"), not digits inside words ("float32", "3x3")
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")
COMPARISONS = {"allclose", "isclose", "array_equal", "array_equiv", "assert_allclose",
               "assert_array_equal", "assert_array_almost_equal", "assert_almost_equal",
               "assert_equal", "testing"}
REDUCTIONS = {"all", "any", "mean", "sum", "count_nonzero", "average", "prod"}


def _hidden_cases(name: str) -> list[tuple[object, TestCell]]:
    qs = read_master(source_dir(name) / f"{name}.ipynb")
    return [(q, t) for q in qs for t in q.tests if t.hidden]


def hint_problems(case: TestCell, prompt: str) -> list[str]:
    """What is wrong with a hidden case's name and hint (empty list: nothing)."""
    problems = []
    doc = case.docstring
    title = doc.strip().split("\n", 1)[0].strip() if doc else ""
    hint = case.config.get("failure_message")
    if not title:
        problems.append("no docstring: its first line is the case's name for students")
    if not isinstance(hint, str) or not hint.strip():
        problems.append("no failure_message: the one-line hint students see")
        hint = ""
    if '"' in hint or "\\" in hint or "\n" in hint.strip():
        problems.append("failure_message must be one line without double quotes or backslashes")
    code_lines = {ln.strip() for ln in ast.unparse(case.function).splitlines()[1:]
                  if len(ln.strip()) >= 12 and not ln.strip().startswith(('"""', "'''"))}
    given = set(NUMBER.findall(prompt))
    for label, text in (("name", title), ("hint", hint)):
        leaked = [n for n in NUMBER.findall(text) if n not in given]
        if leaked:
            problems.append(f"{label} quotes {leaked}, which the prompt does not give")
        if any(line in text for line in code_lines):
            problems.append(f"{label} quotes the test's code")
    return problems


def comparison_problems(source: str) -> list[str]:
    """Array comparisons that bypass ``reference.checks`` in a hidden test's source."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        base = func.value if isinstance(func, ast.Attribute) else None
        if name in COMPARISONS or (isinstance(base, ast.Attribute) and base.attr == "testing"):
            problems.append(f"line {node.lineno}: {name}() compares without checking the shape")
        if name in REDUCTIONS:
            compared = [a for a in node.args if isinstance(a, ast.Compare)]
            if isinstance(base, ast.Compare):
                compared.append(base)
            if compared:
                problems.append(f"line {node.lineno}: {name}() of an elementwise comparison "
                                "(use reference.checks.assert_close / fraction_equal)")
    return problems


def test_the_scan_finds_each_way_of_comparing_without_the_helper():
    bad = [
        "def t(f):\n    import numpy\n    assert numpy.allclose(f(1), [1.0])",
        "def t(f):\n    import numpy as np\n    assert np.testing.assert_allclose(f(1), 2)",
        "def t(f):\n    import numpy\n    assert numpy.all(f(1) == numpy.ones(3))",
        "def t(f):\n    assert (f(1) == 2).all()",
        "def t(f):\n    import numpy\n    assert numpy.array_equal(f(1), [1, 2])",
        "def t(f):\n    import numpy\n    assert numpy.mean(f(1) != 0) < 0.1",
    ]
    good = ("def t(f):\n    from reference.checks import assert_close\n"
            "    assert_close(f(1), [1.0], 'f')\n    assert abs(float(f(2)) - 2) < 1e-9")
    assert all(comparison_problems(src) for src in bad)
    assert comparison_problems(good) == []


def test_the_hint_rules_catch_missing_names_hints_and_leaked_values():
    def case(src: str, config: dict) -> TestCell:
        fn = ast.parse(src).body[0]
        return TestCell("q1", {"hidden": True, **config}, src, fn)

    ok = case('def test(f):\n    """f at z = 0"""\n    assert f(0) == 0\n',
              {"failure_message": "f at z = 0 should be 0"})
    assert hint_problems(ok, "take f(z) at $z = 0$ to be 0") == []
    assert hint_problems(case("def test(f):\n    assert f(0) == 0\n", {}), "z = 0")
    leaky = case('def test(f):\n    """f(3) is 0.8125"""\n    assert f(3) == 0.8125\n',
                 {"failure_message": "expected 0.8125"})
    assert len(hint_problems(leaky, "f(z) for any z")) == 2
    quoting = case('def test(f):\n    """f"""\n    assert f(3) == f(2) + f(1)\n',
                   {"failure_message": "failed: assert f(3) == f(2) + f(1)"})
    assert hint_problems(quoting, "f")
    assert hint_problems(case('def test(f):\n    """f"""\n', {"failure_message": 'say "hi"'}), "")


@pytest.mark.parametrize("name", NAMES)
def test_every_hidden_case_has_a_name_and_a_hint_without_expected_values(name):
    problems = {}
    for question, case in _hidden_cases(name):
        found = hint_problems(case, question.prompt)
        if found:
            problems[f"{question.name} {case.name}"] = found
    assert problems == {}


@pytest.mark.parametrize("name", NAMES)
def test_hidden_tests_compare_arrays_only_through_the_strict_helper(name):
    problems = {}
    for question, case in _hidden_cases(name):
        found = comparison_problems(case.source)
        if name.startswith("hw") and "reference.checks" not in case.source:
            found.append("does not use reference.checks")
        if found:
            problems[f"{question.name} {case.name}"] = found
    assert problems == {}


def _catalogue(name: str, file: str) -> list[dict]:
    path = source_dir(name) / file
    return (yaml.safe_load(path.read_text()) or []) if path.exists() else []


def _autograded(name: str) -> list[str]:
    return [q.name for q in read_master(source_dir(name) / f"{name}.ipynb") if q.autograded]


def _is_multiple_choice(name: str, question: str) -> bool:
    text = (source_dir(name) / f"{name}.ipynb").read_text()
    return f"{question}_answer = key_for(" in text


@pytest.mark.parametrize("name", NAMES)
def test_every_autograded_question_has_two_alternatives_and_a_wrong_answer_per_requirement(name):
    alternatives = _catalogue(name, "alternatives.yml")
    mutations = load_mutations(source_dir(name))
    missing = {}
    for q in _autograded(name):
        alts = [a for a in alternatives if q in _questions_of(a)]
        muts = [m for m in mutations if m["question"] == q]
        if len(alts) < 2:
            missing[q] = f"{len(alts)} alternatives"
        if not muts and not _is_multiple_choice(name, q):
            missing[q] = "no mutation"
    assert missing == {}
    for entry in alternatives + mutations:
        assert entry.get("description"), entry
        assert ("cell" in entry and "source" in entry) or ("find" in entry and "replace" in entry)
    for m in mutations:
        assert m.get("requirement"), f"{m['question']}: {m['description']}: which requirement?"


def _questions_of(entry: dict) -> list[str]:
    q = entry["question"]
    return list(q) if isinstance(q, list) else [q]


def test_source_dir_layout():
    for name in NAMES:
        assert Path(source_dir(name) / f"{name}.ipynb").exists()
