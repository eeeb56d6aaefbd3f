"""Trusted-side stand-ins for objects that live in the sandbox.

A ``RemoteHandle`` forwards only a few operations (call, iteration, ``next``, indexing,
``len``, public attribute reads) to the sandbox, and answers everything that could decide a
test locally: ``==``/``!=``/``<``/``hash`` are identity-based and ``repr``/``str`` are a fixed
local text. A student object therefore can never make a comparison true or print the text a
doctest expects. Results of forwarded operations come back as plain data or new handles.

``RemoteNamespace`` is the lazy ``Mapping`` view of the student's globals returned by
``Sandbox.namespace``: every lookup asks the sandbox for the value as it is now.

``RemoteObjects`` is one sandbox's table of handles and the glue between them and the value
codec (``values``): it encodes a test's arguments, decodes replies into data, handles and
``RemoteError``, and sends each operation through the sandbox's public :meth:`Sandbox.request`
(which owns the pipe, the deadlines and the lock). This module holds the errors of the
sandbox API too.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import sys
import types
import weakref
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from autograder.grading.sandbox import argsync, values
from autograder.grading.sandbox.channel import ProtocolError

if TYPE_CHECKING:
    from autograder.grading.sandbox.sandbox import Sandbox


class RemoteError(Exception):
    """Student code raised while a test called into the sandbox.

    ``type_name`` and ``message`` are the student's exception type name and text (untrusted
    text; never show it as grader output without care). When the remote exception is a
    built-in ``Exception`` subclass (``ValueError``, ``TypeError``...), the raised object is
    also an instance of that built-in, so ``except ValueError`` in a test works.
    """

    def __init__(self, type_name: str, message: str, module: str = "") -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message
        self.module = module


class SandboxTimeout(Exception):  # noqa: N818  (name fixed by the API contract)
    """A cell or a remote call exceeded its time limit."""


class SandboxDied(Exception):  # noqa: N818  (name fixed by the API contract)
    """The sandbox process is gone (crash, ``os._exit``, kill, OOM, protocol violation)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SandboxProtocolError(SandboxDied):
    """The sandbox sent something that is not valid protocol; it has been killed."""


_ERROR_CLASSES: dict[str, type[RemoteError]] = {}


def remote_error(type_name: str, message: str, module: str, base: str = "") -> RemoteError:
    """Build a ``RemoteError``, mixing in the matching built-in exception class if any.

    ``base`` is the first built-in class in the remote exception's MRO (as reported by the
    sandbox), used when the exception's own class is not a built-in. Only ``Exception``
    subclasses are mixed in: a student's ``SystemExit`` or ``KeyboardInterrupt`` must never
    behave as one in the grading process.
    """
    builtin_name = type_name if module == "builtins" else base
    builtin = getattr(builtins, builtin_name, None) if builtin_name else None
    if (isinstance(builtin, type) and issubclass(builtin, Exception)
            and not issubclass(builtin, StopIteration)):
        klass = _ERROR_CLASSES.get(builtin.__name__)
        if klass is None:
            try:
                klass = type(f"Remote{builtin.__name__}", (RemoteError, builtin), {})
            except TypeError:  # incompatible layout: plain RemoteError
                klass = RemoteError
            _ERROR_CLASSES[builtin.__name__] = klass
        try:
            return klass(type_name, message, module)
        except Exception:  # a built-in whose constructor wants other arguments
            return RemoteError(type_name, message, module)
    return RemoteError(type_name, message, module)


class RemoteHandle:
    """An object living in the sandbox (see the module docstring for what is forwarded)."""

    __slots__ = ("_objects", "_id", "_type_name", "_flags", "_deliveries", "__weakref__")

    def __init__(self, objects: RemoteObjects, handle_id: int, type_name: str,
                 flags: frozenset[str]) -> None:
        object.__setattr__(self, "_objects", objects)
        object.__setattr__(self, "_id", handle_id)
        object.__setattr__(self, "_type_name", type_name)
        object.__setattr__(self, "_flags", flags)
        object.__setattr__(self, "_deliveries", 1)

    # -- local, never forwarded -------------------------------------------------------------
    @property
    def remote_type(self) -> str:
        """The remote object's type name (as reported by the sandbox: untrusted text)."""
        return self._type_name

    @property
    def remote_flags(self) -> frozenset[str]:
        """Capabilities the sandbox advertised (``callable``, ``iterator``, ``len``...)."""
        return self._flags

    def __repr__(self) -> str:
        return f"<remote {self._type_name} object>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    __hash__ = object.__hash__

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("remote objects are read-only")

    def __reduce__(self) -> Any:
        raise TypeError("a remote handle cannot be pickled or copied")

    def __del__(self) -> None:
        objects = getattr(self, "_objects", None)
        if objects is not None:
            objects.release(self._id, self._deliveries)

    # -- forwarded to the sandbox -----------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._objects.request({"op": "call", "h": self._id, "args": list(args),
                                      "kwargs": kwargs}, encode=("args", "kwargs"),
                                     arguments=(args, kwargs))

    def _mlphys_call_each(self, calls: Any) -> list[Any]:
        """``[self(*args, **kwargs) for args, kwargs in calls]`` in few exchanges.

        Found by ``reference.checks.call_each`` on the type (never forwarded: the name is
        private). The result and the exceptions are those of the calls one by one, except
        that every argument is encoded before the first call runs."""
        return self._objects.call_each(self._id, calls)

    def __iter__(self) -> RemoteHandle:
        result = self._objects.request({"op": "iter", "h": self._id})
        if not isinstance(result, RemoteHandle):
            raise TypeError("remote iter() did not return an iterator")
        return result

    def __next__(self) -> Any:
        return self._objects.request({"op": "next", "h": self._id})

    def __getitem__(self, key: Any) -> Any:
        return self._objects.request({"op": "getitem", "h": self._id, "key": key},
                                     encode=("key",))

    def __len__(self) -> int:
        if "len" not in self._flags:
            raise TypeError(f"object of type '{self._type_name}' has no len()")
        result = self._objects.request({"op": "len", "h": self._id})
        if type(result) is not int or result < 0:
            raise TypeError("remote len() did not return a non-negative int")
        return result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._objects.request({"op": "getattr", "h": self._id, "name": name})


KNOWN_NUMPY_LEGACY = frozenset({"1.13", "1.21", "1.25", "2.1", "2.2"})
"""Values of NumPy's ``legacy`` print option a notebook's setting is mirrored for."""


class RemoteNamespace(Mapping[str, Any]):
    """Lazy view of the student's globals; each lookup reflects the sandbox right now."""

    def __init__(self, objects: RemoteObjects) -> None:
        self._objects = objects

    def __getitem__(self, name: str) -> Any:
        if type(name) is not str:
            raise KeyError(name)
        return self._objects.request({"op": "get", "name": name}, missing_key=name)

    def __contains__(self, name: object) -> bool:
        if type(name) is not str:
            return False
        return self._objects.request({"op": "has", "name": name}) is True

    def numpy_print_legacy(self) -> str | None:
        """The notebook's NumPy ``legacy`` print option right now (None if not set).

        Why: Otter runs doctests in the student's kernel, so they print NumPy values with the
        kernel's print options; a notebook that imports ``datascience`` (Data 8) switches to
        ``legacy='1.13'``, and its tests' expected outputs were recorded that way. Only this
        option is mirrored: it selects between NumPy's historical spellings and cannot make
        different values print alike (precision or ``nanstr`` could, and stay ours)."""
        value = self._objects.request({"op": "numpy_legacy"})
        return value if type(value) is str and value in KNOWN_NUMPY_LEGACY else None

    def keys(self) -> list[str]:  # type: ignore[override]
        names = self._objects.request({"op": "keys"})
        if type(names) is not list or not all(type(n) is str for n in names):
            raise SandboxDied("sandbox returned a malformed list of names")
        return names

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return "<student namespace (remote)>"


EACH_BATCH = 256
"""Most calls of ``call_each`` sent in one exchange."""

EACH_SLICE = 0.5
"""Seconds after which the sandbox stops starting the calls of a batch."""

EACH_BYTES = 8 * 1024 * 1024
"""About the most argument text sent in one exchange (a frame holds at most 128 MB)."""


def _json_size(value: Any) -> int:
    """Rough length of an encoded value as JSON: its strings (arrays are base64 text) plus a
    few bytes per item. Cheap next to ``json.dumps`` of a big array."""
    stack, total = [value], 0
    while stack:
        item = stack.pop()
        if type(item) is str:
            total += len(item) + 2
        elif type(item) is list:
            stack.extend(item)
            total += 2
        elif type(item) is dict:
            stack.extend(item)
            stack.extend(item.values())
            total += 2
        else:
            total += 24
    return total


class RemoteObjects:
    """One sandbox's remote objects: the handle table and the value glue around its requests."""

    def __init__(self, sandbox: Sandbox, output_bytes: int) -> None:
        self._sandbox = sandbox
        self._output_bytes = output_bytes
        self._handles: weakref.WeakValueDictionary[int, RemoteHandle] = (
            weakref.WeakValueDictionary())
        self._released: list[list[int]] = []

    def request(self, message: dict[str, Any], encode: tuple[str, ...] = (),
                missing_key: str | None = None,
                arguments: tuple[tuple[Any, ...], dict[str, Any]] | None = None) -> Any:
        """One forwarded operation: the ``encode`` fields of ``message`` are a test's values;
        ``arguments``: the test's own argument objects of a call, which receive what the call
        did to them (see ``argsync``)."""

        def prepare(outgoing: dict[str, Any]) -> None:
            for key in encode:
                outgoing[key] = self._encode_arg(outgoing[key])

        def interpret(reply: dict[str, Any]) -> Any:
            if "mut" in reply:
                self._apply_mutations(reply["mut"], arguments)
            return self._reply_value(reply, missing_key)

        return self._sandbox.request(message, prepare, interpret)

    def call_each(self, handle_id: int, calls: Any) -> list[Any]:
        """Call one remote function on each ``(args, kwargs)`` of ``calls``, in order, in
        batches of at most ``EACH_BATCH`` calls and about ``EACH_BYTES`` of arguments per
        exchange (see ``runner.serve_calls``).

        The sandbox answers a prefix of each batch (at least one call); the rest goes again.
        Each answer is read exactly as a single call's (output, argument changes, value or
        the student's exception, which stops everything, as it would in a loop)."""
        pending = [(tuple(args), dict(kwargs)) for args, kwargs in calls]
        ready: list[tuple[list[Any], int]] = []  # the next calls, encoded, with their sizes
        sent = 0  # calls answered so far
        results: list[Any] = []
        while sent < len(pending):
            size = sum(n for _, n in ready)
            while (sent + len(ready) < len(pending) and len(ready) < EACH_BATCH
                   and size <= EACH_BYTES):
                args, kwargs = pending[sent + len(ready)]
                item = [self._encode_arg(list(args)), self._encode_arg(kwargs)]
                ready.append((item, _json_size(item)))
                size += ready[-1][1]
            count, size = 0, 0  # the longest run of calls within EACH_BYTES (at least one)
            for _, n in ready:
                if count and size + n > EACH_BYTES:
                    break
                count, size = count + 1, size + n
            batch = pending[sent:sent + count]

            def interpret(reply: dict[str, Any], batch: list[Any] = batch) -> list[Any]:
                if reply.get("op") == "raise":  # the runner refused the batch as a whole
                    self._reply_value(reply, None)
                answers = reply.get("replies")
                if (reply.get("op") != "each" or type(answers) is not list
                        or not 1 <= len(answers) <= len(batch)
                        or not all(type(a) is dict for a in answers)):
                    raise ProtocolError("malformed batch reply")
                values_out = []
                for index, answer in enumerate(answers):
                    if answer.get("op") != "ok" and index != len(answers) - 1:
                        raise ProtocolError("a batch went on after a call that raised")
                    if "mut" in answer:
                        self._apply_mutations(answer["mut"], batch[index])
                    values_out.append(self._reply_value(answer, None))
                return values_out

            message = {"op": "call_each", "h": handle_id,
                       "calls": [item for item, _ in ready[:count]], "slice": EACH_SLICE}
            answered = self._sandbox.request(message, lambda outgoing: None, interpret,
                                             extra_time=EACH_SLICE)
            results.extend(answered)
            sent += len(answered)
            ready = ready[len(answered):]
        return results

    def release(self, handle_id: int, deliveries: int) -> None:
        """A RemoteHandle was garbage-collected: tell the runner with the next request how
        many deliveries of that id it accounted for.

        Why counts: the garbage collector may destroy a handle while a reply that delivers the
        same object again is being decoded; the runner has counted both deliveries and keeps the
        object until both are released, so the new handle stays valid (before, the late release
        of the old one made the runner forget the object under the new one: ``len(handle)``
        then failed at random, depending on when the collector ran)."""
        self._released.append([handle_id, deliveries])

    def take_released(self) -> list[list[int]]:
        """Handle ids to piggy-back on the next request (and forget here)."""
        released, self._released = self._released, []
        return released

    def _make_handle(self, handle_id: int, type_name: str, flags: frozenset[str]) -> Any:
        handle = self._handles.get(handle_id)
        if handle is None:
            handle = RemoteHandle(self, handle_id, type_name, flags)
            self._handles[handle_id] = handle
        else:  # one more delivery of a live handle: it releases them all when it goes
            object.__setattr__(handle, "_deliveries", handle._deliveries + 1)
        return handle

    def _apply_mutations(self, changes: Any,
                         arguments: tuple[tuple[Any, ...], dict[str, Any]] | None) -> None:
        """Write a call's changes to its arguments into the test's objects, in place."""
        if arguments is None or type(changes) is not list:
            raise ProtocolError("unexpected argument changes")
        args, kwargs = arguments
        for change in changes:
            if type(change) is not list or len(change) != 2:
                raise ProtocolError("malformed argument change")
            where, encoded = change
            if type(where) is int and 0 <= where < len(args):
                target = args[where]
            elif type(where) is str and where in kwargs:
                target = kwargs[where]
            else:
                raise ProtocolError("argument change for an argument that was not passed")
            new = values.decode_value(encoded, self._make_handle, _import_allowed)
            with contextlib.suppress(Exception):  # else the test's object keeps its contents
                argsync.assign_in_place(target, new)

    def _encode_arg(self, value: Any) -> Any:
        """Arguments of forwarded calls: plain data or handles of THIS sandbox."""
        def handle_for(obj: Any) -> dict[str, Any]:
            if isinstance(obj, RemoteHandle) and obj._objects is self:
                return {"$": "handle", "id": obj._id, "type": "", "flags": []}
            raise TypeError(f"cannot pass a {type(obj).__name__} into the sandbox "
                            "(only plain data and its own remote objects)")

        def module_name(obj: Any) -> str | None:
            name = obj.__name__ if isinstance(obj, types.ModuleType) else None
            return name if name in values.MODULE_ALLOWLIST else None

        try:
            return values.encode_value(value, handle_for, module_name)
        except values.TooBigError:
            raise ValueError("argument too large to send to the sandbox") from None

    def _reply_value(self, reply: dict[str, Any], missing_key: str | None) -> Any:
        """Turn a reply into a value, RemoteError, StopIteration or KeyError."""
        op = reply.get("op")
        out = reply.get("out", "")
        if type(out) is not str:
            raise ProtocolError("output must be a string")
        if out:
            sys.stdout.write(values.clean_text(out, self._output_bytes))
        if op == "ok" and "value" in reply:
            return values.decode_value(reply["value"], self._make_handle, _import_allowed)
        if op == "stop":
            raise StopIteration
        if op == "missing" and missing_key is not None:
            raise KeyError(missing_key)
        if op == "raise":
            type_name = reply.get("type")
            message = reply.get("message")
            module = reply.get("module", "")
            base = reply.get("base", "")
            if not all(type(v) is str for v in (type_name, message, module, base)):
                raise ProtocolError("malformed error reply")
            clean = values.clean_text
            raise remote_error(clean(type_name, 200), clean(message, values.MAX_TEXT),
                               clean(module, 200), clean(base, 200))
        raise ProtocolError(f"unexpected reply {op!r}")


def _import_allowed(name: str) -> Any:
    """The trusted process's own import of an allow-listed module."""
    if name not in values.MODULE_ALLOWLIST:
        raise ProtocolError(f"module {name!r} is not allow-listed")
    return importlib.import_module(name)
