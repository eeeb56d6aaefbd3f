"""Names, hints and the student's view of failed test cases (issue 9), on one question's tests
run in the trusted process against plain namespaces: student code's exceptions are the remote
errors the sandbox raises (``remote_error``), built here as the sandbox builds them."""

from __future__ import annotations

import numpy as np
from mlgrade_support import ag_zip

from autograder.grading.otter import case_labels
from autograder.grading.otter.autograder_zip import load_autograder
from autograder.grading.otter.student_view import WITHHELD
from autograder.grading.otter.testrun import run_question
from autograder.grading.sandbox.remote import remote_error

HINTS = load_autograder(ag_zip("demo_hints"))
OK = load_autograder(ag_zip("demo_ok"))


def relu(z):
    return np.maximum(np.asarray(z, dtype=float), 0.0)


def d_relu(z):
    return (np.asarray(z, dtype=float) > 0).astype(float)


def layer(a, W, b):
    return np.asarray(a, dtype=float) @ W + b


def namespace(**over):
    ns = dict(np=np, relu=relu, d_relu=d_relu, layer=layer)
    ns.update(over)
    return ns


def student_raises(type_name, module="builtins", base=""):
    """A function whose calls fail the way student code fails in the sandbox."""
    def fn(*args, **kwargs):
        raise remote_error(type_name, f"student text {args!r}", module, base)
    return fn


def hidden_test_lines(question) -> list[str]:
    """Every line of the question's hidden test functions, as the zip holds them."""
    tf = question.make_test_file()
    lines, keep = [], False
    for line in question.source.splitlines():
        if line.startswith("@test_case("):
            keep = "hidden=True" in line
        if keep and line.strip():
            lines.append(line.strip())
    assert tf.test_cases and lines
    return lines


def test_names_come_from_docstrings_then_function_names():
    out = run_question(HINTS.question("h1"), namespace())
    assert out.status == "passed"
    assert [c.title for c in out.cases] == [
        "format", "d_relu at z = 0", "relu on random arrays", "relu negative inputs"]
    assert [c.name for c in out.cases] == [f"h1 - {i}" for i in range(1, 5)]  # Otter's names kept
    ok = run_question(OK.question("q1"), dict(square=lambda x: x * x))
    assert [c.title for c in ok.cases] == ["q1 - 1", "q1 - 2"]  # OK format: Otter's own name


def test_every_failed_case_has_a_name_and_a_hint_and_no_test_code():
    out = run_question(HINTS.question("h1"), namespace(
        relu=lambda z: np.abs(np.asarray(z, dtype=float)),
        d_relu=student_raises("TypeError")))
    failed = [c for c in out.cases if not c.passed]
    assert len(failed) == 4 and out.score == 0
    hints = {c.title: c.hint for c in failed}
    assert hints == {
        "format": "an error was raised: TypeError",
        # the author's hint, with what happened when it was not a wrong value
        "d_relu at z = 0": "d_relu at z = 0 should be 0 (an error was raised: TypeError)",
        # no failure_message: the grader's observation, nothing from the test
        "relu on random arrays": "wrong result",
        "relu negative inputs": "wrong result",
    }
    student_text = out.summary + out.public_summary + "".join(c.public_message for c in out.cases)
    for line in hidden_test_lines(HINTS.question("h1")):
        assert line not in student_text
    for value in ("3.25", "2.5", "2024"):  # expected values and seeds of hidden cases
        assert value not in student_text
    assert "student text (0.0,)" not in student_text  # the hidden call's argument
    for c in failed:
        assert c.hint and c.title and c.hint in out.summary and c.title in out.summary
    # instructors keep Otter's text, with the original type name
    assert "assert float(d_relu(0.0)) == 0.0" in out.instructor_summary
    assert "TypeError: student text (0.0,)" in out.instructor_summary


def test_exception_type_names_are_the_original_ones_never_the_graders():
    out = run_question(HINTS.question("h1"), namespace(d_relu=student_raises("TypeError")))
    public = out.cases[0]
    assert "TypeError: student text" in public.public_message  # before hidden tests: Otter's text
    everything = out.summary + out.public_summary + out.instructor_summary
    assert "RemoteTypeError" not in everything and "Remote" not in public.public_message
    # a class the student defined: its name is student text, its built-in base is shown
    out = run_question(HINTS.question("h1"), namespace(
        d_relu=student_raises("Args_were_0_0", "__main__", "ValueError")))
    shown = out.summary + out.public_summary
    assert "Args_were_0_0" not in shown
    assert "ValueError (a subclass defined in your code)" in out.cases[1].hint
    assert "Args_were_0_0" in out.instructor_summary  # instructors see what was raised
    # an AssertionError raised by student code is an error, not a wrong answer
    out = run_question(HINTS.question("h1"), namespace(d_relu=student_raises("AssertionError")))
    assert out.cases[1].kind == "error"
    assert out.cases[1].hint == "d_relu at z = 0 should be 0 (an error was raised: AssertionError)"


def test_public_tests_own_message_survives_after_hidden_tests_ran():
    """Provenance, not timing: the test's literal message is shown once hidden tests have
    called student code; what student code produced is withheld."""
    stash = []

    def spy_relu(z):
        stash.append(np.asarray(z).tolist())
        return relu(z)

    h1 = run_question(HINTS.question("h1"), namespace(relu=spy_relu))
    assert h1.ran_hidden and [-2.5, 3.25] in stash
    # layer returns None: the test's own hint survives
    none = run_question(HINTS.question("h2"), namespace(layer=lambda a, W, b: None), tainted=True)
    assert "AssertionError: layer returned None: did you forget `return`?" in none.public_summary
    assert none.cases[0].hint == "layer returned None: did you forget `return`?"
    assert WITHHELD.strip() not in none.public_summary
    # the message the test composed from the student's value: withheld after hidden tests
    leak = run_question(HINTS.question("h2"), namespace(layer=lambda a, W, b: np.zeros(len(stash[-1]) * 7)),
                        tainted=True)
    assert "(14,)" in leak.cases[0].message  # instructors see it
    assert "(14,)" not in leak.public_summary and WITHHELD.strip() in leak.public_summary
    assert "AssertionError:" in leak.public_summary
    # a student exception that prints the stash: its text withheld, its type shown
    raised = run_question(HINTS.question("h2"), namespace(
        layer=student_raises("ValueError")), tainted=True)
    assert "ValueError: " + WITHHELD.strip() in raised.public_summary
    assert "student text" not in raised.public_summary
    # before any hidden test ran, Otter's text is kept
    untainted = run_question(HINTS.question("h2"), namespace(layer=lambda a, W, b: np.zeros(14)))
    assert "layer returned shape (14,), expected (4, 2)" in untainted.public_summary


def test_doctest_got_blocks_are_student_text_expectations_are_the_tests():
    def greet(name):
        print("Hello", name)

    out = run_question(OK.question("q3"), dict(greet=greet), tainted=True)
    text = out.public_summary
    assert "Expected:\n            Hello, Ada!" in text  # the public expectation
    assert "Hello Ada" not in text and WITHHELD.strip() in text
    out = run_question(OK.question("q1"), dict(square=student_raises("ZeroDivisionError")))
    assert "ZeroDivisionError: student text (3,)" in out.public_summary
    assert "Traceback" not in out.public_summary and "remote.py" not in out.public_summary
    assert "Remote" not in out.instructor_summary
    assert out.cases[1].hint == "an error was raised: ZeroDivisionError"


def test_case_labels_rules():
    assert case_labels.readable_name("test_q1_relu_at_zero", "q1") == "relu at zero"
    assert case_labels.readable_name("test_energy", "e1") == "energy"
    assert case_labels.readable_name("check", "q") == "check"
    assert case_labels.one_line("\n\n  first   line \nsecond") == "first line"
    assert len(case_labels.one_line("x" * 500)) == case_labels.MAX_LINE_CHARS
    assert case_labels.exception_name("KeyError") == "KeyError"
    assert case_labels.exception_name("Sneaky", "__main__", "Exception") == (
        "an exception class defined in your code")
    assert case_labels.hint(None, "timeout") == "the test ran out of time"
    assert case_labels.hint("x should be 1\nmore", "wrong") == "x should be 1"
    src = HINTS.question("h1").source
    found = case_labels.test_functions(src)
    assert [(f.function, f.doc) for f in found] == [
        ("test_h1_format", None), ("test_h1_d_relu_zero", "d_relu at z = 0"),
        ("test_h1_relu_random", "relu on random arrays"), ("test_h1_relu_negative_inputs", None)]
    assert case_labels.test_functions("def broken(:") == []


def test_build_adds_only_mlphys_json_and_otter_keeps_its_defaults(tmp_path):
    """``mlphys.json`` carries the test-only folders and the question visibility; everything
    Otter reads stays as ``otter assign`` wrote it (``show_hidden`` stays off for Otter)."""
    import json
    import zipfile
    from pathlib import Path

    from autograder.zip_additions import add_to_zip
    from tests.test_architecture import STDLIB, imports

    zip_path = tmp_path / "a.zip"
    zip_path.write_bytes(ag_zip("demo_hints").read_bytes())
    add_to_zip(zip_path, {"autograder_files": ["reference"]})
    with zipfile.ZipFile(ag_zip("demo_hints")) as old, zipfile.ZipFile(zip_path) as new:
        before = {n: old.read(n) for n in old.namelist()}
        after = {n: new.read(n) for n in new.namelist()}
    assert set(after) == set(before) | {"mlphys.json"}
    assert all(after[n] == before[n] for n in before if n != "mlphys.json")
    assert "show_hidden" not in after["otter_config.json"].decode()
    assert json.loads(after["mlphys.json"]) == {
        "autograder_only": ["reference"], "gradescope": {"question_visibility": "after_published"}}
    # the gradebook reader composes hints with it: standard library only
    source = Path(case_labels.__file__).read_text()
    assert [m for m, _ in imports(source, "") if m.split(".")[0] not in STDLIB] == []


def test_the_course_chooses_the_question_visibility_and_mistakes_are_one_line(tmp_path):
    import click
    import pytest

    from autograder.grading.otter.autograder_zip import AutograderZipError
    from autograder.zip_additions import add_to_zip, manifest

    assert manifest({})["gradescope"] == {"question_visibility": "after_published"}
    hidden = {"mlphys": {"gradescope": {"question_visibility": "hidden"}}}
    assert manifest(hidden)["gradescope"] == {"question_visibility": "hidden"}
    visible = {"mlphys": {"gradescope": {"question_visibility": "visible"}}}
    assert manifest(visible)["gradescope"] == {"question_visibility": "visible"}
    with pytest.raises(click.ClickException,
                       match="must be one of hidden, after_due_date, after_published, visible"):
        manifest({"mlphys": {"gradescope": {"question_visibility": "always"}}})
    zip_path = tmp_path / "a.zip"
    zip_path.write_bytes(ag_zip("demo_hints").read_bytes())
    add_to_zip(zip_path, hidden)
    assert load_autograder(zip_path).question_visibility == "hidden"
    assert HINTS.question_visibility is None  # a plain Otter zip: Otter's rules
    import zipfile

    with zipfile.ZipFile(zip_path, "a") as zf:
        zf.writestr("mlphys.json", '{"gradescope": {"question_visibility": "sometimes"}}')
    with pytest.raises(AutograderZipError, match="question_visibility must be one of"):
        load_autograder(zip_path)


def test_course_toml_sets_the_visibility_for_every_assignment(tmp_path):
    import pytest

    from autograder.course import CourseError, load_course
    from autograder.zip_additions import manifest

    (tmp_path / "assignments").mkdir()
    assert load_course(tmp_path).question_visibility == "after_published"
    (tmp_path / "course.toml").write_text('[gradescope]\nquestion_visibility = "hidden"\n')
    course = load_course(tmp_path)
    assert course.question_visibility == "hidden"
    assert course.with_roster(tmp_path / "r.csv").question_visibility == "hidden"
    assert manifest({}, None, course.question_visibility)["gradescope"] == {
        "question_visibility": "hidden"}
    override = {"mlphys": {"gradescope": {"question_visibility": "after_published"}}}
    assert manifest(override, None, "hidden")["gradescope"]["question_visibility"] == "after_published"
    (tmp_path / "course.toml").write_text('[gradescope]\nquestion_visibility = "later"\n')
    with pytest.raises(CourseError, match="gradescope.question_visibility must be one of"):
        load_course(tmp_path)


def test_a_missing_name_is_reported_by_the_tests_words_even_after_hidden_tests():
    out = run_question(OK.question("q1"), {}, tainted=True)
    assert "NameError: name 'square' is not defined" in out.public_summary
    assert out.cases[0].hint == "an error was raised: NameError"
