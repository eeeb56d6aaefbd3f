"""assign_in_place: a student function's changes to its arguments reach the test's objects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from autograder.grading.sandbox.argsync import assign_in_place


def test_arrays_lists_dicts_sets_keep_their_identity() -> None:
    arr = np.array([1.0, 2.0, 6.0])
    view = arr[1:]
    assert assign_in_place(arr, np.array([-2.0, -1.0, 3.0]))
    assert arr.tolist() == [-2.0, -1.0, 3.0] and view.tolist() == [-1.0, 3.0]
    inner = [1, 2]
    nested = {"a": inner, "b": np.zeros(2)}
    b_array = nested["b"]
    assert assign_in_place(nested, {"a": [1, 2, 3], "b": np.ones(2), "c": "new"})
    assert nested["a"] is inner and inner == [1, 2, 3]  # nested containers refilled, not replaced
    assert nested["b"] is b_array and b_array.tolist() == [1.0, 1.0] and nested["c"] == "new"
    items = [[0], 5]
    first = items[0]
    assert assign_in_place(items, [[0, 1]])
    assert items == [[0, 1]] and items[0] is first
    seen = {1, 2}
    assert assign_in_place(seen, {3}) and seen == {3}


def test_pandas_objects_are_updated_in_place() -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    alias = frame
    new = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    assert assign_in_place(frame, new) and alias.equals(new)
    series = pd.Series([1, 2], name="x")
    assert assign_in_place(series, pd.Series([3.0, 4.0], name="y"))
    assert series.tolist() == [3.0, 4.0] and series.name == "y"


def test_what_cannot_be_mirrored_is_left_alone() -> None:
    arr = np.arange(3)
    assert not assign_in_place(arr, np.arange(4)) and arr.tolist() == [0, 1, 2]  # resized
    frozen = np.arange(3)
    frozen.flags.writeable = False
    assert not assign_in_place(frozen, np.zeros(3))
    assert not assign_in_place([1], {"a": 1}) and not assign_in_place(pd.Series([1]), [1])
