"""Running one question's Otter tests in the trusted process against a namespace, scored as
Otter scores them. A plain dict is a legitimate namespace here (the sandbox's lazy view is a
Mapping too); parity with `otter run` end to end is in test_grade_parity.py."""

from __future__ import annotations

import numpy as np
from mlgrade_support import ag_zip

from autograder.grading.otter.autograder_zip import load_autograder
from autograder.grading.otter.results_json import gradescope_dict
from autograder.grading.otter.testrun import StudentGlobals, not_run, run_question

OK = load_autograder(ag_zip("demo_ok"))
EXC = load_autograder(ag_zip("demo_exc"))


def square(x):
    return x * x


def evens():
    n = 0
    while True:
        yield n
        n += 2


def greet(name):
    print(f"Hello, {name}!")


def energy(m):
    return m * 299792458**2


def normalise(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def countdown(n):
    while n > 0:
        yield n
        n -= 1


def ok_namespace(**over):
    ns = dict(np=np, square=square, evens=evens, greet=greet, arr=np.linspace(0, 1, 5),
              mass=2.0, velocity=3.0, kinetic=9.0, c_light=299792458,
              sample=np.random.RandomState(42).normal(size=3))
    ns.update(over)
    return ns


def exc_namespace(**over):
    ns = dict(np=np, energy=energy, rng_seed=7, draws=np.random.default_rng(7).normal(size=4),
              normalise=normalise, countdown=countdown)
    ns.update(over)
    return ns


def scores(spec, ns):
    return {q.name: run_question(q, ns).score for q in spec.questions}


def test_correct_namespaces_get_full_marks_in_both_formats():
    assert scores(OK, ok_namespace()) == OK.points_possible
    assert scores(EXC, exc_namespace()) == EXC.points_possible


def test_partial_credit_per_case_and_all_or_nothing():
    # q4: 4 points over 4 cases (1 public); a wrong array fails the 2 value checks only
    out = run_question(OK.question("q4"), ok_namespace(arr=np.linspace(0, 2, 5)))
    assert (out.score, out.status) == (2.0, "failed")
    assert [c.passed for c in out.cases] == [True, True, False, False]
    # q5 is all-or-nothing: one failing case (the public value) costs all 3 points
    out = run_question(OK.question("q5"), ok_namespace(kinetic=9.5))
    assert out.score == 0 and out.all_or_nothing
    # e1 has per-case points [1, 2]: the hidden case alone is worth 2
    out = run_question(EXC.question("e1"), exc_namespace(energy=lambda m: 299792458**2))
    assert out.score == 1.0
    out = run_question(EXC.question("e1"), exc_namespace(energy=lambda m: 0))
    assert out.score == 2.0


def test_generators_printed_output_and_env_parameter():
    assert run_question(OK.question("q2"), ok_namespace()).status == "passed"
    assert run_question(OK.question("q3"), ok_namespace()).status == "passed"
    out = run_question(OK.question("q3"), ok_namespace(greet=lambda n: print("Hi", n)))
    assert out.score == 0 and "Hi Ada" in out.cases[0].message
    # exception-format parameters are filled by name; 'env' gets the whole namespace
    assert run_question(EXC.question("e4"), exc_namespace()).score == 1
    assert run_question(EXC.question("e4"), exc_namespace(countdown=None)).score == 0


def test_missing_names_fail_like_otter():
    ns = ok_namespace()
    del ns["square"]
    out = run_question(OK.question("q1"), ns)
    assert out.score == 0 and "NameError" in out.cases[0].message
    ns = exc_namespace()
    del ns["energy"]  # Otter passes None for a missing parameter
    out = run_question(EXC.question("e1"), ns)
    assert out.score == 0 and "TypeError" in out.instructor_summary


def test_hidden_cases_are_redacted_everywhere_a_student_looks():
    secret = "square(-2)"

    def leaky(x):
        raise ValueError(f"student text {x}")

    out = run_question(OK.question("q1"), ok_namespace(square=leaky))
    hidden = out.cases[1]
    assert hidden.hidden and not hidden.passed
    assert secret in hidden.message  # the instructor view keeps Otter's text
    for text in (hidden.public_message, out.summary, out.public_summary):
        assert secret not in text and "student text -2" not in text
        assert "Expecting:\n            4" not in text
    gs = gradescope_dict([out], OK.config, "Completed")
    assert secret not in str(gs) and "student text -2" not in str(gs)
    # the exception format's hidden assertion source is not shown either
    out = run_question(EXC.question("e1"), exc_namespace(energy=lambda m: 5))
    assert "energy(0) == 0" in out.instructor_summary
    assert "energy(0) == 0" not in out.summary + out.public_summary + str(out.cases[1].public_message)


def test_public_output_is_scrubbed_of_hidden_test_lines():
    # a student who stashes a hidden test's argument cannot show it through a public failure
    out = run_question(OK.question("q4"), ok_namespace(arr=[0, 0.25, 0.5, 0.75, 1]))
    assert "np.allclose(arr, [0, 0.25, 0.5, 0.75, 1])" not in out.summary


def test_students_cannot_shadow_builtins_or_numpy_with_objects():
    class AlwaysClose:
        def allclose(self, *a, **k):
            return True

        def isclose(self, *a, **k):
            return True

        def __getattr__(self, name):
            return getattr(np, name)

    out = run_question(OK.question("q4"), ok_namespace(np=AlwaysClose(), arr=np.zeros(5)))
    assert out.cases[2].passed is False  # np.allclose is the real one
    g = StudentGlobals({"len": lambda x: 3, "max": 7, "isinstance": lambda *a: True})
    assert g["max"] == 7  # plain data may shadow (as in Otter)
    assert "len" not in g and "isinstance" not in g  # functions may not


def test_infinite_generator_in_a_test_times_out_instead_of_hanging():
    def forever(n):
        while True:
            yield 1

    out = run_question(EXC.question("e4"), exc_namespace(countdown=forever), case_timeout=0.5)
    assert out.score == 0 and out.status == "timeout"


def test_scores_never_exceed_the_maximum_and_not_run_scores_zero():
    for q in OK.questions:
        out = run_question(q, ok_namespace())
        assert 0 <= out.score <= out.possible
        nr = not_run(q, "kernel died", "the student's process died")
        assert (nr.score, nr.status, nr.ran) == (0.0, "kernel died", False)
        assert all(not c.passed for c in nr.cases)


def test_gradescope_dict_matches_otters_for_public_results():
    """Our results.json equals Otter's GradingResults.to_gradescope_dict where no hidden case
    failed (hidden failures are redacted on purpose)."""
    from otter.test_files import GradingResults
    from otter.test_files.abstract_test import TestCaseResult

    ns = ok_namespace(kinetic=1.0, velocity=1.0)  # q5 fails its public case only
    outs = [run_question(q, ns) for q in OK.questions]
    tfs = []
    for q, o in zip(OK.questions, outs, strict=True):
        tf = q.make_test_file()
        tf.test_case_results = [
            TestCaseResult(test_case=tc, message=c.message, passed=c.passed)
            for tc, c in zip(tf.test_cases, o.cases, strict=True)
        ]
        tfs.append(tf)
    for config in ({}, {"show_hidden": True}, {"show_all_public": True, "show_stdout": True},
                   {"points_possible": 50}, {"score_threshold": 0.5}):
        spec_config = {**OK.config, **config}
        from otter.run.run_autograder.autograder_config import AutograderConfig

        otters = GradingResults(tfs).to_gradescope_dict(AutograderConfig(spec_config))
        assert gradescope_dict(outs, spec_config, "Completed") == otters


def test_student_text_in_public_output_is_withheld_once_hidden_tests_have_run():
    seen = []

    def square_spy(x):
        seen.append(x)
        return x * x

    def greet_leak(name):
        print("leak", seen)

    ns = ok_namespace(square=square_spy, greet=greet_leak)
    q1 = run_question(OK.question("q1"), ns)
    assert q1.ran_hidden and seen == [3, -2]
    q3 = run_question(OK.question("q3"), ns, tainted=q1.ran_hidden)
    assert q3.score == 0
    assert "-2" in q3.cases[0].message  # instructors see everything
    assert "-2" not in q3.public_summary and "-2" not in q3.summary
    assert "greet('Ada')" in q3.public_summary  # the test's own code and expectation remain
    # exception format: the exception text after the type name is withheld
    e1 = run_question(EXC.question("e1"), exc_namespace(energy=lambda m: 5), tainted=True)
    assert "AssertionError:" in e1.public_summary
    untainted = run_question(OK.question("q3"), ns)
    assert "-2" in untainted.public_summary  # before any hidden test ran, Otter's text is kept
