"""Mirror what a student function did to its arguments onto the test's own objects.

Why: under ``otter run`` the test and the student share one process, so a test can check that
a function leaves its input alone (``arr = np.array(...); f(arr); assert arr.tolist() == ...``)
and a function that modifies its argument in place fails it. Here arguments are copied into
the sandbox, so without this module the mutation would be invisible and the faulty function
would pass. After a forwarded call, the sandbox sends back the new contents of the plain-data
arguments that changed (and only those: an unchanged argument costs one comparison in the
sandbox and nothing on the pipe), and :func:`assign_in_place` writes them into the caller's
objects, keeping their identity (and that of the containers nested in them) where it can.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32


def assign_in_place(target: Any, new: Any, depth: int = 0) -> bool:
    """Make ``target`` hold ``new``'s contents without rebinding it; False if that is not
    possible for this pair of types (the caller's object then keeps its old contents)."""
    if depth > MAX_DEPTH:
        return False
    kind = type(target)
    if kind is list and type(new) is list:
        merged = [_merge(old, value, depth) for old, value in zip(target, new, strict=False)]
        target[:] = merged + new[len(merged):]
        return True
    if kind is dict and type(new) is dict:
        merged = {key: _merge(target[key], value, depth) if key in target else value
                  for key, value in new.items()}
        target.clear()
        target.update(merged)
        return True
    if kind is set and type(new) is set:
        target.clear()
        target.update(new)
        return True
    return _assign_numpy(target, new) or _assign_pandas(target, new)


def _merge(old: Any, value: Any, depth: int) -> Any:
    """``old`` refilled with ``value`` when both are the same kind of container, else ``value``."""
    if old is value:
        return old
    if type(old) is type(value) and assign_in_place(old, value, depth + 1):
        return old
    return value


def _assign_numpy(target: Any, new: Any) -> bool:
    import sys

    np = sys.modules.get("numpy")
    if np is None or type(target) is not np.ndarray or type(new) is not np.ndarray:
        return False
    if target.shape != new.shape or not target.flags.writeable:
        return False
    target[...] = new.astype(target.dtype, copy=False) if target.dtype != new.dtype else new
    return True


def _assign_pandas(target: Any, new: Any) -> bool:
    import sys

    pd = sys.modules.get("pandas")
    if pd is None or type(target) is not type(new) or type(target) not in (pd.Series, pd.DataFrame):
        return False
    update = getattr(target, "_update_inplace", None)  # what pandas' own inplace=True uses
    if update is None:
        return False
    update(new.copy())
    if type(target) is pd.Series:
        target.name = new.name
    return True
