"""``reference.checks.call_each`` against a real sandbox: the batched calls of a hidden test.

A hidden test that calls a student function on all 512 images of a 3x3 grid paid two process
wake-ups per call; ``call_each`` sends the calls in batches. These tests hold the batch to the
semantics of the plain loop (values, output, the first exception stops, argument changes, the
per-call time limit) and run what a student can do to the runner that answers the batch.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from sandbox_fixtures.helpers import FAST, open_sandbox

from autograder.grading.causes import Cause
from autograder.grading.sandbox import (
    Limits,
    RemoteError,
    RemoteHandle,
    Sandbox,
    SandboxDied,
    SandboxTimeout,
)
from autograder.grading.sandbox.remote import EACH_BATCH
from reference.checks import call_each

STUDENT = '''
import time
import numpy as np
calls_made = 0

def verdict(image):
    global calls_made
    calls_made += 1
    image = np.asarray(image)
    return int(image.sum() % 3 == 0)

def shout(k):
    print(f"call {k}")
    return k * k

def fails_at_seven(k):
    global calls_made
    calls_made += 1
    if k == 7:
        raise ValueError(f"bad input {k}")
    return k

def grow(items, extra):
    items.append(extra)
    return len(items)

def slow(k):
    time.sleep(0.2)
    return k

def total(values):
    return float(np.sum(values))

def hangs_at_three(k):
    if k == 3:
        while True:
            pass
    return k
'''

RUNNER = """
import gc as _gc, types as _types
runner = next(o for o in _gc.get_objects() if type(o) is dict and "STATE" in o and "serve" in o)
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with open_sandbox(tmp_path_factory.mktemp("call_each")) as box:
        outcome = box.run_cell(STUDENT)
        assert outcome.status == "ok", outcome
        yield box


class ExchangeCounter:
    """Counts the sandbox's request/reply exchanges (wraps ``Sandbox.request``)."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.count = 0
        self.original = box.request

    def __enter__(self) -> ExchangeCounter:
        def counted(*args: object, **kwargs: object) -> object:
            self.count += 1
            return self.original(*args, **kwargs)  # type: ignore[arg-type]
        self.box.request = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.box.request


def test_same_values_as_the_loop_in_a_few_exchanges(sandbox: Sandbox) -> None:
    images = np.random.default_rng(3).integers(0, 2, size=(600, 9))
    verdict = sandbox.namespace["verdict"]
    assert isinstance(verdict, RemoteHandle)
    before = sandbox.namespace["calls_made"]
    with ExchangeCounter(sandbox) as exchanges:
        batched = call_each(verdict, [(image.copy(),) for image in images])
    assert exchanges.count <= -(-600 // EACH_BATCH) + 2  # not one exchange per call
    assert sandbox.namespace["calls_made"] == before + 600
    looped = [verdict(image.copy()) for image in images[:50]]
    expected = [int(image.sum() % 3 == 0) for image in images]
    assert batched == expected and looped == expected[:50]
    assert all(type(v) is int for v in batched)
    assert call_each(verdict, [([1, 1, 1, 0, 0, 0, 0, 0, 0],)]) == [1]  # lists as well


def test_big_arguments_are_split_across_frames(sandbox: Sandbox) -> None:
    """110 arrays of 1 MB: about 150 MB of base64, more than one frame may carry (128 MB);
    the loop sends them one by one, the batches must split them by size."""
    arrays = [np.full(131_072, float(k)) for k in range(110)]
    with ExchangeCounter(sandbox) as exchanges:
        sums = call_each(sandbox.namespace["total"], [(a,) for a in arrays])
    assert sums == [131_072.0 * k for k in range(110)]
    assert 110 / 8 <= exchanges.count < 110  # about 8 MB per exchange, still not one per call
    assert sandbox.alive()


def test_output_comes_in_call_order(sandbox: Sandbox) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        squares = call_each(sandbox.namespace["shout"], [(k,) for k in range(300)])
    assert squares == [k * k for k in range(300)]
    assert out.getvalue() == "".join(f"call {k}\n" for k in range(300))


def test_the_first_exception_stops_the_calls_as_in_a_loop(sandbox: Sandbox) -> None:
    fails = sandbox.namespace["fails_at_seven"]
    before = sandbox.namespace["calls_made"]
    with pytest.raises(ValueError, match="bad input 7") as raised:
        call_each(fails, [(k,) for k in range(20)])
    assert isinstance(raised.value, RemoteError)
    assert sandbox.namespace["calls_made"] == before + 8  # 0..7: nothing after the failure
    assert call_each(fails, [(k,) for k in range(7)]) == list(range(7))


def test_argument_changes_reach_each_calls_own_objects(sandbox: Sandbox) -> None:
    lists = [[k] for k in range(5)]
    lengths = call_each(sandbox.namespace["grow"], [(items, 10 + k) for k, items in enumerate(lists)])
    assert lengths == [2] * 5
    assert lists == [[k, 10 + k] for k in range(5)]


def test_a_slow_function_keeps_its_per_call_time_limit(sandbox: Sandbox) -> None:
    """0.2 s per call with a 0.5 s call limit: each call is within its limit, the whole
    batch (1.6 s) is not, and it must pass as the loop does."""
    quick = Limits(call_timeout=0.5, interrupt_grace=2.0)
    object.__setattr__(sandbox, "limits", quick)
    try:
        assert call_each(sandbox.namespace["slow"], [(k,) for k in range(8)]) == list(range(8))
    finally:
        object.__setattr__(sandbox, "limits", FAST)


def test_a_hanging_call_times_out_and_the_sandbox_survives(sandbox: Sandbox) -> None:
    quick = Limits(call_timeout=0.5, interrupt_grace=2.0)
    object.__setattr__(sandbox, "limits", quick)
    try:
        started = time.monotonic()
        with pytest.raises(SandboxTimeout):
            call_each(sandbox.namespace["hangs_at_three"], [(k,) for k in range(10)])
        assert time.monotonic() - started < 4
        assert sandbox.alive() and call_each(sandbox.namespace["shout"], [(2,)]) == [4]
    finally:
        object.__setattr__(sandbox, "limits", FAST)


def test_a_plain_function_is_called_in_a_loop_and_its_attributes_are_not_trusted() -> None:
    """In Otter or the student's kernel ``fn`` is the student's own function: an attribute of
    that name on it must not replace the calls (only the grader's type is asked)."""
    seen: list[int] = []

    def student(k: int) -> int:
        seen.append(k)
        return -k

    student._mlphys_call_each = lambda fn, calls: [1] * len(calls)  # type: ignore[attr-defined]
    assert call_each(student, [(k,) for k in range(4)]) == [0, -1, -2, -3]
    assert seen == [0, 1, 2, 3]


@pytest.mark.parametrize("forged", [
    "lambda state, target, calls, time_slice: {'op': 'each', 'replies': "
    "[{'op': 'ok', 'value': 1, 'out': ''}] * (len(calls) + 1)}",
    "lambda state, target, calls, time_slice: {'op': 'each', 'replies': []}",
    "lambda state, target, calls, time_slice: {'op': 'each', 'replies': "
    "[{'op': 'raise', 'type': 'ValueError', 'module': 'builtins', 'message': 'x', 'out': ''},"
    " {'op': 'ok', 'value': 1, 'out': ''}]}",
], ids=["more answers than calls", "no answer", "answers after an exception"])
def test_a_forged_batch_reply_is_a_protocol_violation(tmp_path: Path, forged: str) -> None:
    """The runner lives in the student's process: a student can replace its batch handler
    (found through the heap) and answer what they like. Answers that do not match the calls
    must kill the sandbox, not grade."""
    with open_sandbox(tmp_path, FAST) as box:
        assert box.run_cell(STUDENT + RUNNER + f"runner['serve_calls'] = {forged}\n").status == "ok"
        with pytest.raises(SandboxDied):
            call_each(box.namespace["verdict"], [((1, 1, 1),), ((0, 0, 0),)])
        assert not box.alive()
        assert box.stop is not None and box.stop.cause is Cause.PROTOCOL
