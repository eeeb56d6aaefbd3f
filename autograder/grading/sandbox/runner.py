"""The program that runs INSIDE the sandbox: executes notebook cells and serves remote calls.

It is launched by path (``python -E -s /opt/mlphys/runner.py '<json config>'``) from a
read-only copy of this file; ``mlphys_channel.py`` and ``mlphys_values.py`` (copies of
``channel.py``, the framing, and ``values.py``, the value codec) sit next to it. It depends only
on the standard library, IPython and (optionally) NumPy, because the jail hides the project.

Everything here runs in the student's process, so nothing here is trusted by the grader: the
student can patch this module, write to the protocol pipe, or fork. The runner's job is only
to be *correct for honest notebooks*; the trusted side validates everything it receives.

What it does, in order:

1. keeps the two protocol fds (non-inheritable, so ``!cmd`` children never get them) and
   points fds 0/1/2 away from them: stdin is /dev/null, stdout/stderr go to a pipe drained by
   a thread into a bounded buffer (the student's output can never reach the protocol pipe);
2. preloads the configured modules (NumPy), installs a stand-in ``otter`` module whose
   ``Notebook(...).check(q)`` is a checkpoint, and creates an IPython ``InteractiveShell``;
3. sends ``hello`` and serves requests: ``cell`` runs one cell; between cells and while a
   cell is paused in a checkpoint it answers namespace/remote-object requests.

Messages (trusted -> runner): ``cell{source}``, ``resume``, ``get{name}``, ``has{name}``,
``keys``, ``call{h,args,kwargs}``, ``getattr{h,name}``, ``getitem{h,key}``, ``len{h}``,
``iter{h}``, ``next{h}``, ``numpy_legacy``, ``ping``; every request and cell carries ``seq``, echoed in its
reply; any request may carry ``rel``: ``[handle id, deliveries]`` pairs the trusted side
dropped (a handle is sent once per delivery and forgotten only when every delivery has been
released, so a release that crosses a new delivery of the same object cannot drop it). A
``call`` reply may carry ``mut``: ``[[position or keyword, new value], ...]`` for the
plain-data arguments the call modified.
Runner -> trusted: ``hello``, ``check{q}``, ``cell_done{status,error,output}``,
``ok{value,out}``, ``raise{type,module,message,base,out}``, ``stop{out}``, ``missing``.

The built-ins the runner itself relies on are swapped back in whenever runner code runs
(``BuiltinsGuard``), so a student who rebinds ``builtins.len`` breaks only their own code.
"""

from __future__ import annotations

import builtins
import codecs
import contextlib
import fcntl
import importlib
import json
import os
import signal
import sys
import termios
import threading
import time
import traceback
import types
from typing import Any

# Student code shares this process and may rebind ``builtins.len`` & co. Module-level copies
# of the built-ins used here keep this code working whatever the student does to them.
globals().update({_name: getattr(builtins, _name) for _name in (
    "type", "len", "frozenset", "isinstance", "max", "min", "int", "id", "str", "set",
    "bytes", "bytearray", "any", "all", "tuple", "slice", "complex", "list", "getattr",
    "callable", "memoryview", "iter", "next", "dict", "float", "bool", "range", "repr",
    "object", "sorted", "hasattr", "issubclass", "open", "print", "enumerate", "zip",
    "BaseException", "Exception", "MemoryError", "StopIteration", "KeyboardInterrupt",
    "AttributeError", "KeyError", "TypeError", "ValueError", "OSError", "ImportError",
    "BlockingIOError", "BrokenPipeError", "ConnectionResetError", "UnicodeDecodeError",
    "RecursionError", "ProcessLookupError",
)})

if __package__:  # imported from the repository (tests, linters)
    from autograder.grading.sandbox import channel, values
else:  # run as a script in the sandbox: the copies sit next to this file
    import mlphys_channel as channel  # type: ignore[no-redef]
    import mlphys_values as values  # type: ignore[no-redef]

MAX_CHECKS = 1000
"""Checkpoints forwarded per notebook; later ``grader.check`` calls are ignored."""


class Capture:
    """Bounded text buffer: keeps the first ``limit`` bytes, counts and drops the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0
        self.lock = threading.Lock()

    def write(self, text: str) -> None:
        with self.lock:
            room = self.limit - self.size
            if room <= 0:
                self.dropped += len(text)
                return
            if len(text) > room:
                self.dropped += len(text) - room
                text = text[:room]
            self.parts.append(text)
            self.size += len(text)

    def getvalue(self) -> str:
        with self.lock:
            text = "".join(self.parts)
            raw = text.encode("utf-8", "replace")
            note = ""
            if self.dropped or len(raw) > self.limit:
                note = f"\n[output truncated: {self.dropped} more characters dropped]\n"
            # the whole text, note included, stays within ``limit`` bytes
            raw = raw[: max(0, self.limit - len(note))]
            return raw.decode("utf-8", "ignore") + note


class CaptureStream:
    """What ``sys.stdout``/``sys.stderr`` are while student code runs."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, state: State, fd: int) -> None:
        self._state = state
        self._fd = fd

    def write(self, text: Any) -> int:
        text = str(text)
        self._state.capture.write(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def buffer(self) -> BinaryCaptureStream:
        """``sys.stdout.buffer`` for code that writes bytes."""
        return BinaryCaptureStream(self)


class BinaryCaptureStream:
    """Bytes view of a CaptureStream (decoded as UTF-8 with replacement)."""

    def __init__(self, text_stream: CaptureStream) -> None:
        self._text = text_stream

    def write(self, data: Any) -> int:
        raw = bytes(data)
        self._text.write(raw.decode("utf-8", "replace"))
        return len(raw)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._text.fileno()


class State:
    """Runner-wide state (one instance)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.pid = os.getpid()
        self.rfd, self.wfd = cfg["fds"]
        self.reader = channel.FrameReader(self.rfd)
        self.output_limit = int(cfg["output_bytes"])
        self.capture = Capture(self.output_limit)
        self.in_user_code = False
        self.serving_call = False
        self.in_cell = False
        self.checks = 0
        self.cell_seq: Any = None
        self.handles: dict[int, Any] = {}
        self.handle_ids: dict[int, tuple[int, Any]] = {}
        self.deliveries: dict[int, int] = {}
        self.next_handle = 1
        self.drain_fd = -1
        self.log_fd = -1
        self.drain_busy = False
        self.shell: Any = None
        self.stdout = CaptureStream(self, 1)
        self.stderr = CaptureStream(self, 2)


STATE: State


class BuiltinsGuard:
    """Swap the ``builtins`` module's contents between the runner's and the student's.

    Student code may rebind ``builtins.len``/``isinstance``/``print``. The standard library
    modules the runner relies on (json, select...) look built-ins up at call time, so while
    the runner's own code runs, the original built-ins are put back; the student's versions
    are restored whenever student code runs again. (A few microseconds per switch.)
    """

    def __init__(self) -> None:
        self.runner = dict(builtins.__dict__)
        self.student: dict[str, Any] | None = None

    @staticmethod
    def _install(contents: dict[str, Any]) -> None:
        namespace = builtins.__dict__
        for name in [name for name in namespace if name not in contents]:
            del namespace[name]
        namespace.update(contents)

    def to_student(self) -> None:
        if self.student is not None:
            self._install(self.student)

    def to_runner(self) -> None:
        self.student = dict(builtins.__dict__)
        self._install(self.runner)


GUARD: BuiltinsGuard


# --------------------------------------------------------------------------------------------
# Process setup
# --------------------------------------------------------------------------------------------


def setup_stdio(state: State) -> None:
    """stdin=/dev/null; fds 1 and 2 -> a pipe drained into the current Capture by a thread.

    Why a pipe and a thread: output written at the fd level (C extensions, ``!cmd``
    subprocesses) must be captured and bounded too, and a pipe nobody reads would block the
    writer once 64 KiB are pending.
    """
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    state.drain_fd = read_end
    threading.Thread(target=_drain, args=(state,), daemon=True, name="output-drain").start()
    sys.stdout = state.stdout
    sys.stderr = state.stderr


def _drain(state: State) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while True:
        chunk = os.read(state.drain_fd, 65536)
        if not chunk:
            return
        state.drain_busy = True
        state.capture.write(decoder.decode(chunk))
        state.drain_busy = False


def sync_output(state: State) -> None:
    """Wait (briefly) until the fd-level output written so far has reached the Capture."""
    pending = bytearray(4)
    deadline = time.monotonic() + 0.25
    while time.monotonic() < deadline:
        fcntl.ioctl(state.drain_fd, termios.FIONREAD, pending)
        if int.from_bytes(pending, sys.byteorder) == 0 and not state.drain_busy:
            return
        time.sleep(0.0005)


def on_sigint(signum: int, frame: Any) -> None:
    """The grader's interrupt: a KeyboardInterrupt, but only inside student code."""
    if STATE.in_user_code:
        raise KeyboardInterrupt


def add_site_dirs(site_dirs: list[str], hidden: list[str]) -> None:
    """What ``site`` would do (the runner starts with ``-S``), minus the project itself.

    Why: ``site`` runs every ``.pth`` file, including the editable install's finder that
    maps ``reference`` (the answers) and ``autograder`` onto the repository. Here those
    files are skipped and no path inside ``hidden`` is ever added to ``sys.path``.
    """
    def allowed(path: str) -> bool:  # not inside a hidden package, not its parent dir
        real = os.path.realpath(path)
        return not any(real == h or real.startswith(h.rstrip("/") + "/")
                       or real == os.path.dirname(h) for h in hidden)

    for directory in site_dirs:
        if not os.path.isdir(directory) or not allowed(directory):
            continue
        sys.path.append(directory)
        for name in sorted(os.listdir(directory)):
            if (not name.endswith(".pth") or name.startswith("__editable__")
                    or "mlphys" in name):
                continue
            with contextlib.suppress(OSError, UnicodeDecodeError):
                with open(os.path.join(directory, name), encoding="utf-8") as handle:
                    lines = handle.read().splitlines()
                for line in lines:
                    if not line.strip() or line.startswith("#"):
                        continue
                    if line.startswith(("import ", "import\t")):
                        with contextlib.suppress(Exception):
                            exec(line)  # noqa: S102  (inside the sandbox, as site does)
                        continue
                    path = os.path.join(directory, line.rstrip())
                    if os.path.isdir(path) and allowed(path) and path not in sys.path:
                        sys.path.append(path)


def warm_matplotlib(cache: str | None) -> None:
    """Copy the grader's prebuilt font list into our (empty, private) MPLCONFIGDIR."""
    target = os.environ.get("MPLCONFIGDIR")
    if not cache or not target or not os.path.isdir(cache):
        return
    with contextlib.suppress(OSError):
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(cache):
            if name.endswith(".json"):
                with open(os.path.join(cache, name), "rb") as src, \
                        open(os.path.join(target, name), "wb") as dst:
                    dst.write(src.read())


def make_otter_module(state: State) -> types.ModuleType:
    """Stand-in for ``otter``: ``Notebook(...).check(q)`` is a checkpoint, the rest no-ops."""
    module = types.ModuleType("otter")
    module.__path__ = []  # a package, so ``import otter.x`` fails cleanly

    def noop(*args: Any, **kwargs: Any) -> None:
        return None

    class Notebook:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def check(self, question: Any = None, *args: Any, **kwargs: Any) -> None:
            checkpoint(state, question)

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return noop

    def module_getattr(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return noop

    module.Notebook = Notebook
    module.__version__ = "7.0.0"  # the Otter version the project pins
    module.__getattr__ = module_getattr
    return module


def make_shell() -> Any:
    """An IPython InteractiveShell with no history file, no colors and a plain ``!cmd``."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class SandboxShell(InteractiveShell):
        system = InteractiveShell.system_raw  # fd-level output -> our capture pipe

        def enable_gui(self, gui: Any = None) -> None:  # needed by %matplotlib
            return None

        def ask_exit(self) -> None:  # exit()/quit() in a cell: ignore
            return None

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    return SandboxShell(config=config)


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


def send(state: State, message: dict[str, Any]) -> None:
    """Write one frame; a forked copy of the runner exits instead of speaking.

    Why: a student ``os.fork()`` child that returns into runner code would otherwise send a
    second reply and desynchronize the conversation.
    """
    if os.getpid() != state.pid:
        os._exit(0)
    try:
        channel.write_frame(state.wfd, message)
    except channel.ProtocolError:
        channel.write_frame(state.wfd, {"op": "raise", "type": "ValueError",
                                         "module": "builtins",
                                         "message": "reply too large", "out": ""})


def handle_tag(state: State, obj: Any) -> dict[str, Any]:
    """Register ``obj`` in the handle table (one id per live object), count this delivery
    and describe it."""
    entry = state.handle_ids.get(id(obj))
    if entry is not None and entry[1] is obj:
        handle_id = entry[0]
    else:
        handle_id = state.next_handle
        state.next_handle += 1
        state.handles[handle_id] = obj
        state.handle_ids[id(obj)] = (handle_id, obj)
    state.deliveries[handle_id] = state.deliveries.get(handle_id, 0) + 1
    return {"$": "handle", "id": handle_id, "type": _type_name(obj), "flags": _flags(obj)}


def _type_name(obj: Any) -> str:
    try:
        name = type.__dict__["__qualname__"].__get__(type(obj))
        return name[:200] if type(name) is str else "object"
    except Exception:
        return "object"


def _flags(obj: Any) -> list[str]:
    """Capabilities of ``obj``, looked up on its type without running its code."""
    flags = []
    try:
        mro = type.__dict__["__mro__"].__get__(type(obj))
        names: set[str] = set()
        for klass in mro:
            names.update(type.__dict__["__dict__"].__get__(klass).keys())
    except Exception:
        return flags
    if callable(obj):
        flags.append("callable")
    if "__next__" in names:
        flags.append("iterator")
    if "__iter__" in names or "__getitem__" in names:
        flags.append("iterable")
    if "__len__" in names:
        flags.append("len")
    if "__getitem__" in names or "__class_getitem__" in names:
        flags.append("getitem")
    if isinstance(obj, type):
        flags.append("class")
    return flags


def _module_name(obj: Any) -> str | None:
    if type(obj) is types.ModuleType:
        name = obj.__dict__.get("__name__")
        if type(name) is str and name in values.MODULE_ALLOWLIST:
            return name
    return None


def encode(state: State, value: Any) -> Any:
    """Plain data where possible; a handle for anything else or anything too big."""
    try:
        return values.encode_value(value, lambda o: handle_tag(state, o), _module_name)
    except values.TooBigError:
        return handle_tag(state, value)


def decode(state: State, value: Any) -> Any:
    """Arguments from the grader: plain data, our own handles, or allow-listed modules."""
    def lookup(handle_id: int, type_name: str, flags: frozenset[str]) -> Any:
        if handle_id not in state.handles:
            raise channel.ProtocolError(f"unknown handle {handle_id}")
        return state.handles[handle_id]
    return values.decode_value(value, lookup, importlib.import_module)


def _exception_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable exception>"
    if type(text) is not str:
        text = "<unprintable exception>"
    return text[: values.MAX_TEXT]


# --------------------------------------------------------------------------------------------
# Running student code
# --------------------------------------------------------------------------------------------


def run_cell(state: State, source: str, seq: Any) -> None:
    """Run one cell with IPython semantics; errors are reported, never fatal."""
    state.cell_seq = seq
    state.capture = Capture(state.output_limit)
    sys.stdout, sys.stderr = state.stdout, state.stderr
    error: BaseException | None = None
    state.in_user_code = state.in_cell = True
    GUARD.to_student()
    try:
        result = state.shell.run_cell(source, store_history=True)
        error = result.error_before_exec or result.error_in_exec
    except BaseException as exc:  # an interrupt that landed in IPython's own code
        error = exc
    finally:
        state.in_user_code = state.in_cell = False
        GUARD.to_runner()
    sys.stdout, sys.stderr = state.stdout, state.stderr
    sync_output(state)
    if error is None:
        status = "ok"
    elif isinstance(error, MemoryError):
        status = "memory"
    else:
        status = "error"
    text = None
    if error is not None:
        message = _exception_text(error)
        text = f"{_type_name(error)}: {message}" if message else _type_name(error)
    send(state, {"op": "cell_done", "status": status, "error": text,
                 "output": state.capture.getvalue(), "seq": seq})


def checkpoint(state: State, question: Any) -> None:
    """``grader.check(q)`` inside a cell: pause and let the grader inspect the globals."""
    if (type(question) is not str or state.serving_call or os.getpid() != state.pid
            or state.checks >= MAX_CHECKS or not state.in_cell
            or threading.current_thread() is not threading.main_thread()):
        return  # only the cell's own thread, while a cell runs, can pause for the grader
    state.checks += 1
    saved = state.in_user_code
    state.in_user_code = False
    GUARD.to_runner()
    try:
        send(state, {"op": "check", "q": question[:200], "seq": state.cell_seq})
        serve(state, stop_op="resume")
    finally:
        state.in_user_code = saved
        sys.stdout, sys.stderr = state.stdout, state.stderr
        GUARD.to_student()


def call_user(state: State, function: Any, *args: Any) -> dict[str, Any]:
    """Run student code for a remote request, capturing its output and any exception."""
    outer_capture = state.capture
    capture = Capture(state.output_limit)
    state.capture = capture
    sys.stdout, sys.stderr = state.stdout, state.stderr
    state.serving_call = True
    state.in_user_code = True
    failure: BaseException | None = None
    reply: Any = None
    GUARD.to_student()
    try:
        reply = function(*args)  # encoded below, outside the interruptible region
    except BaseException as exc:
        failure = exc
    finally:
        state.in_user_code = False
        state.serving_call = False
        GUARD.to_runner()
    sync_output(state)
    state.capture = outer_capture
    out = capture.getvalue()
    if failure is None:
        return {"op": "ok", "value": encode(state, reply), "out": out}
    if isinstance(failure, StopIteration) and function is next:
        return {"op": "stop", "out": out}
    try:
        module = type.__dict__["__module__"].__get__(type(failure))
    except Exception:
        module = ""
    return {"op": "raise", "type": _type_name(failure),
            "module": module if type(module) is str else "", "message":
            _exception_text(failure), "base": _builtin_base(failure), "out": out}


def _builtin_base(exc: BaseException) -> str:
    """Name of the first built-in class in the exception's MRO (e.g. numpy's AxisError ->
    ValueError), so that ``except ValueError`` in a test still matches."""
    try:
        for klass in type.__dict__["__mro__"].__get__(type(exc)):
            if getattr(builtins, klass.__name__, None) is klass:
                return klass.__name__
    except Exception:
        pass
    return "BaseException"


def _getattr_public(obj: Any, name: Any) -> Any:
    if type(name) is not str or name.startswith("_"):
        raise AttributeError("only public attributes can be read remotely")
    return getattr(obj, name)


def _call(obj: Any, args: Any, kwargs: Any) -> Any:
    return obj(*args, **kwargs)


def handle_request(state: State, message: dict[str, Any]) -> dict[str, Any]:
    """Answer one namespace/remote-object request."""
    op = message["op"]
    for entry in message.get("rel") or ():
        if type(entry) is list and len(entry) == 2 and all(type(n) is int for n in entry):
            release(state, entry[0], entry[1])
    if op == "ping":
        return {"op": "ok", "value": None, "out": ""}
    if op == "numpy_legacy":
        return {"op": "ok", "value": numpy_print_legacy(), "out": ""}
    namespace = state.shell.user_ns
    if op == "keys":
        hidden = state.shell.user_ns_hidden
        names = [k for k, v in list(namespace.items())
                 if type(k) is str and not (k in hidden and hidden[k] is v)]
        return {"op": "ok", "value": names, "out": ""}
    if op == "has":
        name = message.get("name")
        return {"op": "ok", "value": type(name) is str and name in namespace, "out": ""}
    if op == "get":
        name = message.get("name")
        if type(name) is not str or name not in namespace:
            return {"op": "missing"}
        return {"op": "ok", "value": encode(state, namespace[name]), "out": ""}
    target = state.handles.get(message.get("h"))  # type: ignore[arg-type]
    if target is None and message.get("h") not in state.handles:
        return {"op": "raise", "type": "ReferenceError", "module": "builtins",
                "message": "unknown or released remote handle", "out": ""}
    if op == "call":
        return serve_call(state, target, message.get("args", []),
                          message.get("kwargs", {"$": "dict", "v": {}}))
    if op == "call_each":
        return serve_calls(state, target, message.get("calls"), message.get("slice"))
    if op == "getattr":
        return call_user(state, _getattr_public, target, message.get("name"))
    if op == "getitem":
        return call_user(state, _getitem, target, decode(state, message.get("key")))
    if op == "len":
        return call_user(state, len, target)
    if op == "iter":
        return call_user(state, iter, target)
    if op == "next":
        return call_user(state, next, target)
    return {"op": "raise", "type": "ValueError", "module": "builtins",
            "message": f"unknown request {op!r}", "out": ""}


def serve_call(state: State, target: Any, raw_args: Any, raw_kwargs: Any) -> dict[str, Any]:
    """One forwarded call: decode the test's arguments, call, report what it did to them."""
    args = decode(state, raw_args)
    kwargs = decode(state, raw_kwargs)
    reply = call_user(state, _call, target, args, kwargs)
    changed = changed_arguments(state, raw_args, args, raw_kwargs, kwargs)
    if changed:
        reply["mut"] = changed
    return reply


MAX_EACH_REPLY_BYTES = 8 * 1024 * 1024
"""A batch of calls stops once its replies reach this size (one frame carries them all)."""


def serve_calls(state: State, target: Any, calls: Any, time_slice: Any) -> dict[str, Any]:
    """Several calls of one function in one exchange (``reference.checks.call_each``).

    Why: a test that calls a student function hundreds of times (every 3x3 image) otherwise
    pays two process wake-ups per call, which on a loaded machine cost more than the calls.
    The calls run in order, each exactly as ``serve_call`` runs it; the batch stops after the
    first call that does not return, once ``time_slice`` seconds have passed (so a slow function
    still gets its full per-call time limit from the grader, which waits for one slice plus one
    call), or once the replies are big. The grader sends the calls not answered again.
    """
    if type(calls) is not list or not calls or not all(
            type(c) is list and len(c) == 2 for c in calls):
        return {"op": "raise", "type": "ValueError", "module": "builtins",
                "message": "malformed batch of calls", "out": ""}
    if type(time_slice) not in (int, float) or not 0 < time_slice <= 10:
        time_slice = 0.5
    began = time.monotonic()
    replies: list[dict[str, Any]] = []
    size = 0
    for raw_args, raw_kwargs in calls:
        reply = serve_call(state, target, raw_args, raw_kwargs)
        replies.append(reply)
        size += len(json.dumps(reply, ensure_ascii=True, separators=(",", ":")))
        if (reply["op"] != "ok" or size > MAX_EACH_REPLY_BYTES
                or time.monotonic() - began > time_slice):
            break
    return {"op": "each", "replies": replies}


def numpy_print_legacy() -> Any:
    """NumPy's ``legacy`` print option in this kernel (``'1.13'`` once the notebook imported
    ``datascience``, for instance), or False."""
    np = sys.modules.get("numpy")
    try:
        legacy = np.get_printoptions().get("legacy", False) if np is not None else False
    except Exception:
        return False
    return legacy if type(legacy) is str else False


def release(state: State, handle_id: int, count: int) -> None:
    """The trusted side dropped ``count`` deliveries of a handle; forget it after the last."""
    left = state.deliveries.get(handle_id, 0) - count
    if left > 0:
        state.deliveries[handle_id] = left
        return
    state.deliveries.pop(handle_id, None)
    obj = state.handles.pop(handle_id, None)
    if obj is not None:
        state.handle_ids.pop(id(obj), None)


_UNCHANGEABLE_TAGS = frozenset({"complex", "bytes", "slice", "module", "handle", "frozenset",
                                "nps"})


def changed_arguments(state: State, raw_args: Any, args: Any, raw_kwargs: Any,
                      kwargs: Any) -> list[list[Any]]:
    """``[[position or keyword, new encoding], ...]`` for the arguments that arrived as data and
    no longer encode as they arrived (the student function modified them in place). Scalars and
    other immutable values are not even compared; an unchanged argument costs one encoding here
    and nothing on the pipe."""
    pairs: list[tuple[Any, Any, Any]] = []
    if type(raw_args) is list and type(args) is list and len(raw_args) == len(args):
        pairs += [(i, raw, value) for i, (raw, value) in enumerate(zip(raw_args, args, strict=True))]
    raw_map = raw_kwargs.get("v") if type(raw_kwargs) is dict else None
    if type(raw_map) is dict and type(kwargs) is dict:
        pairs += [(key, raw_map[key], kwargs[key]) for key in raw_map if key in kwargs]
    changed = []
    for where, raw, value in pairs:
        if type(raw) is not list and (type(raw) is not dict
                                      or raw.get("$") in _UNCHANGEABLE_TAGS):
            continue  # a JSON scalar or an immutable value
        try:
            now = values.encode_value(value, lambda o: handle_tag(state, o), _module_name)
        except Exception:  # too big now, or unreadable: the test keeps what it passed
            continue
        if now != raw:
            changed.append([where, now])
    return changed


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def serve(state: State, stop_op: str | None) -> None:
    """Answer requests until ``stop_op`` arrives (None: forever, running cells too)."""
    while True:
        message = state.reader.read()
        op = message["op"]
        if op == stop_op:
            return
        if op == "cell" and stop_op is None and type(message.get("source")) is str:
            run_cell(state, message["source"], message.get("seq"))
            continue
        if op == "exit":
            os._exit(0)
        try:
            reply = handle_request(state, message)
        except BaseException as exc:  # our own failure (e.g. MemoryError): report, go on
            state.in_user_code = False
            reply = {"op": "raise", "type": type(exc).__name__, "module": "builtins",
                     "message": _exception_text(exc), "out": ""}
        reply["seq"] = message.get("seq")
        send(state, reply)


def main(cfg: dict[str, Any] | None = None, prepared: bool = False) -> None:
    """Set up the process, preload modules, say hello, serve forever.

    ``cfg`` is ``sys.argv[1]`` (JSON) when run as a script; the fork server passes it
    directly, with ``prepared=True`` because it already ran ``prepare`` once for every
    runner it forks.
    """
    global STATE, GUARD
    GUARD = BuiltinsGuard()
    if cfg is None:
        cfg = json.loads(sys.argv[1])
    state = STATE = State(cfg)
    for fd in (state.rfd, state.wfd):
        os.set_inheritable(fd, False)
    signal.signal(signal.SIGINT, on_sigint)
    state.log_fd = os.dup(2)  # the keeper's log: for the runner's own fatal errors only
    os.set_inheritable(state.log_fd, False)
    try:
        start(state, cfg, prepared)
        serve(state, stop_op=None)
    except BaseException:  # the runner itself broke (e.g. the student patched builtins)
        if os.getpid() == state.pid:
            with contextlib.suppress(BaseException):
                os.write(state.log_fd, traceback.format_exc()[-4000:].encode())
        raise


def prepare(cfg: dict[str, Any]) -> None:
    """What does not depend on the student: ``sys.path`` (the site dirs minus the project)
    and the preloaded modules. A fork server runs it once and forks runners from there."""
    code_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p != code_dir]
    sys.modules.pop("mlphys_channel", None)
    sys.modules.pop("mlphys_values", None)
    sys.modules.pop("mlphys_richvalues", None)
    add_site_dirs(cfg.get("site_dirs", []), cfg.get("hidden", []))
    warm_matplotlib(cfg.get("mplcache"))
    for name in cfg.get("preload", ()):
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def start(state: State, cfg: dict[str, Any], prepared: bool = False) -> None:
    """Everything before the first request: stdio, sys.path, preloads, shell, hello."""
    setup_stdio(state)
    if not prepared:
        prepare(cfg)
    sys.modules["otter"] = make_otter_module(state)
    state.shell = make_shell()
    sys.path.insert(0, "")  # like a Jupyter kernel: the notebook's directory is importable
    sys.stdout, sys.stderr = state.stdout, state.stderr
    send(state, {"op": "hello", "pid": os.getpid()})


if __name__ == "__main__":
    main()
