"""The attack of issue 8: a network with a 250 000-unit hidden layer (18 MB of weights) made the
trusted grading process peak at 2 GB while the hidden test ran the reference forward pass on it.
Here every hidden test that evaluates a student's network runs, as written in its master, on
such a network: it must fail at once with the size bound in its message and allocate next to
nothing (tracemalloc peak), while an honest network of the same kind passes the size check."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from tests.assignments.conftest import source_dir
from tests.assignments.masters import read_master

WIDE = 250_000


def _network(n_in: int, n_out: int, width: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return ([np.zeros((n_in, width), np.float32), np.zeros((width, n_out), np.float32)],
            [np.zeros(width, np.float32), np.zeros(n_out, np.float32)])


def _args(name: str, question: str, width: int) -> dict:
    """The student's globals the hidden test asks for, holding a network of this width."""
    if name == "hw04-feedforward":
        w, b = _network(9, 1, width)
        return {"weights_rect": w, "biases_rect": b, "activations_rect": ["tanh", "sigmoid"]}
    if name == "hw02-backprop":
        w, b = _network(2, 1, width)
        return {"trained_weights": w, "trained_biases": b, "trained_activations": ["reLU", "linear"]}
    if name == "hw01-network-basics":
        w, b = _network(2, 1, width)
        return {"xor1_weights": w, "xor1_biases": b, "xor1_activations": ["sigmoid", "sigmoid"]}
    w, b = _network(256, 2, width)
    return {"weights_phase": w, "biases_phase": b, "Tc_estimate": 2.3}


CASES = [("hw01-network-basics", "q6"), ("hw02-backprop", "q5"), ("hw04-feedforward", "q5"),
         ("hw05-ising-phases", "q5"), ("hw05-ising-phases", "q6")]


def _hidden_tests(name: str, question: str):
    q = next(q for q in read_master(source_dir(name) / f"{name}.ipynb") if q.name == question)
    cases = [t for t in q.tests if t.hidden and "checked_network" in t.source]
    assert cases, f"{name} {question}: no hidden test checks the network's size"
    for case in cases:
        namespace: dict = {}
        exec(compile(case.source, f"<{name} {case.name}>", "exec"), namespace)
        yield case, namespace[case.name]


@pytest.mark.parametrize(("name", "question"), CASES)
def test_an_oversized_network_fails_fast_with_the_bound_in_the_message(name, question):
    for case, test in _hidden_tests(name, question):
        args = {p: v for p, v in _args(name, question, WIDE).items()
                if p in test.__code__.co_varnames[:test.__code__.co_argcount]}
        tracemalloc.start()
        start = time.perf_counter()
        with pytest.raises(AssertionError, match="bound"):
            test(**args)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 2_000_000, f"{case.name}: {peak} bytes allocated before refusing"
        assert seconds < 2.0, f"{case.name}: {seconds:.2f} s before refusing"


@pytest.mark.parametrize(("name", "question"), CASES)
def test_a_network_within_the_bound_passes_the_size_check(name, question):
    for case, test in _hidden_tests(name, question):
        args = {p: v for p, v in _args(name, question, 50).items()
                if p in test.__code__.co_varnames[:test.__code__.co_argcount]}
        try:
            test(**args)           # an untrained network: it may fail on accuracy, not on size
        except AssertionError as e:
            assert "bound" not in str(e), f"{case.name}: {e}"
