"""Values between a test and a real sandbox: pandas objects both ways, a call's changes to its
arguments, and remote handles that stay valid whenever the garbage collector runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sandbox_fixtures.helpers import open_sandbox

from autograder.grading.sandbox import RemoteHandle, Sandbox
from autograder.grading.sandbox.remote import RemoteObjects

STUDENT = '''
import numpy as np
import pandas as pd

data = pd.DataFrame({"flavor": ["chocolate", "vanilla", "chocolate", "mint"],
                     "scoops": [1, 1, 2, 1], "price": [2.0, 1.5, 3.0, 4.0]})
price_by_flavor = data.groupby("flavor")["price"].mean()
when = pd.Timestamp("2024-03-30", tz="Europe/Zurich")

def column_means(frame):
    return frame.mean(numeric_only=True)

def centre(values):
    values -= values.mean()
    return values

def centred_copy(values):
    return values - values.mean()

def add(items, x, registry=None):
    items.append(x)
    if registry is not None:
        registry[x] = len(items)
    return len(items)

def add_column(frame):
    frame["double"] = frame["a"] * 2

def fail_after_append(items):
    items.append("late")
    raise ValueError("after modifying")

class Box:
    def __len__(self):
        return 4

box = Box()
'''


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with open_sandbox(tmp_path_factory.mktemp("values")) as box:
        outcome = box.run_cell(STUDENT)
        assert outcome.status == "ok", outcome
        yield box


def test_pandas_values_from_the_notebook_are_real_objects(sandbox: Sandbox) -> None:
    ns = sandbox.namespace
    series = ns["price_by_flavor"]
    assert type(series) is pd.Series and len(series) == 3
    assert series.equals(ns["data"].groupby("flavor")["price"].mean())
    assert type(ns["data"]) is pd.DataFrame and type(ns["when"]) is pd.Timestamp


def test_a_function_receiving_and_returning_pandas_objects(sandbox: Sandbox) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [3.0, 5.0], "c": ["x", "y"]})
    result = sandbox.namespace["column_means"](frame)
    assert type(result) is pd.Series and result.equals(frame.mean(numeric_only=True))


def test_a_call_modifying_its_arguments_modifies_the_tests_objects(sandbox: Sandbox) -> None:
    ns = sandbox.namespace
    arr = np.array([1.0, 2.0, 6.0])
    view = arr[:2]
    returned = ns["centre"](arr)
    assert arr.tolist() == [-2.0, -1.0, 3.0] and view.tolist() == [-2.0, -1.0]  # in place
    assert returned.tolist() == arr.tolist()
    items, registry = [1], {}
    assert ns["add"](items, 2, registry=registry) == 2
    assert items == [1, 2] and registry == {2: 2}
    frame = pd.DataFrame({"a": [1, 2]})
    assert ns["add_column"](frame) is None
    assert frame.columns.tolist() == ["a", "double"] and frame["double"].tolist() == [2, 4]
    late: list[str] = []
    with pytest.raises(ValueError, match="after modifying"):
        ns["fail_after_append"](late)
    assert late == ["late"]  # the change made before the exception is visible too


def test_unchanged_arguments_are_not_sent_back(sandbox: Sandbox,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    sent_back: list[object] = []
    original = RemoteObjects._apply_mutations

    def spy(self: RemoteObjects, changes: object, arguments: object) -> None:
        sent_back.append(changes)
        original(self, changes, arguments)

    monkeypatch.setattr(RemoteObjects, "_apply_mutations", spy)
    arr = np.arange(5.0)
    result = sandbox.namespace["centred_copy"](arr)
    assert arr.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and result.tolist() == [-2, -1, 0, 1, 2]
    assert sent_back == []
    sandbox.namespace["centre"](arr)
    assert len(sent_back) == 1 and [where for where, _ in sent_back[0]] == [0]


def test_a_handle_released_while_its_object_is_delivered_again_stays_valid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The garbage collector may run while a reply is decoded. If it destroys an older handle
    of the very object the reply delivers again, the old handle's release must not make the
    sandbox forget the object under the new handle (this made ``len(handle)`` fail at random in
    a batch: identical notebooks got different scores)."""
    with open_sandbox(tmp_path) as box:
        assert box.run_cell("class Box:\n    def __len__(self):\n        return 4\n"
                            "box = Box()").status == "ok"
        ns = box.namespace
        gc.disable()
        try:
            first = ns["box"]
            cycle: list[object] = [first]
            cycle.append(cycle)  # the old handle is now reachable only from cyclic garbage
            del first, cycle
            objects = box._remote
            decode_handle = objects._make_handle

            def collect_then_decode(*args: object) -> object:
                gc.collect()  # the collector runs exactly while the reply is being decoded
                return decode_handle(*args)

            monkeypatch.setattr(objects, "_make_handle", collect_then_decode)
            second = ns["box"]
            monkeypatch.setattr(objects, "_make_handle", decode_handle)
        finally:
            gc.enable()
        assert isinstance(second, RemoteHandle)
        assert len(second) == 4
        assert len(ns["box"]) == 4


def test_doctests_print_numpy_values_with_the_notebooks_legacy_option(tmp_path: Path) -> None:
    """Otter's doctests run in the student's kernel: a Data 8 notebook imports ``datascience``,
    which sets NumPy's ``legacy='1.13'``, and the tests' expected outputs were recorded that way.
    The notebook's ``legacy`` option (only that one) is mirrored while its tests run."""
    from autograder.grading.otter.autograder_zip import QuestionTests
    from autograder.grading.otter.testrun import run_question

    source = ("OK_FORMAT = True\ntest = {'name': 'q', 'points': 1, 'suites': [{'cases': [{'code': "
              "'>>> np.float64(half)\\n0.5', 'hidden': False, 'locked': False}], 'scored': True, "
              "'setup': '', 'teardown': '', 'type': 'doctest'}]}\n")
    question = QuestionTests(name="q", stem="q", path="tests/q.py", source=source, ok_format=True,
                             possible=1.0, all_or_nothing=False)
    with open_sandbox(tmp_path) as box:
        assert box.run_cell("import numpy as np\nhalf = 0.5").status == "ok"
        assert box.namespace.numpy_print_legacy() is None
        assert run_question(question, box.namespace).score == 0  # np.float64(0.5) under NumPy 2
        assert box.run_cell("np.set_printoptions(legacy='1.13')").status == "ok"
        assert box.namespace.numpy_print_legacy() == "1.13"
        assert run_question(question, box.namespace).score == 1
        assert np.get_printoptions()["legacy"] is False  # the grader's own options are untouched
        assert box.run_cell("np.set_printoptions(legacy=False)").status == "ok"
        assert run_question(question, box.namespace).score == 0
