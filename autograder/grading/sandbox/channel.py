"""The one wire framing of mlphys and the trusted side's request/reply conversation over it.

Why a hand-made format: everything the sandbox sends is written by code the student controls
(the runner lives in the student's process, so the student can patch it or write to its pipe).
The trusted side must therefore parse with code that can only ever produce plain JSON: no
pickle, no dill, no eval, no object hooks that import or call anything. What the values inside
a message may be is the business of ``values`` (the codec); this module moves whole messages.

Framing
    Each message is one frame: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
    A frame longer than ``MAX_FRAME_BYTES`` is refused from its header alone (nothing is
    allocated for it). The top level of every frame is a JSON object ``{"op": str, ...}``.

Conversation (trusted side, :class:`Channel`)
    Every request and cell carries a sequence number ``seq`` that its reply echoes, so a stray
    or replayed frame is a protocol error rather than an answer to the wrong question. Every
    read and write has a deadline. A request whose reply is still owed (the waiting caller was
    interrupted by a test's alarm) is remembered, and :meth:`Channel.drain` reads that reply
    before anything else is exchanged. Bookkeeping runs with Python signal handlers held back
    (:func:`signals_deferred`), so an asynchronous exception can land only while waiting.

Users: the sandbox (trusted side), the runner inside the sandbox (a copy of this file named
``mlphys_channel.py`` sits next to it in the jail) and the grading worker pool (driver <->
worker processes). It therefore depends only on the standard library.
"""

from __future__ import annotations

import _signal
import builtins
import contextlib
import json
import os
import select
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

# Student code shares the runner's process and may rebind ``builtins.len`` & co. Module-level
# copies of the built-ins used here keep this code working whatever the student does to them.
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

MAX_FRAME_BYTES = 128 * 1024 * 1024
"""Largest frame either side accepts; a bigger value is sent as a remote handle instead."""

MAX_ITEMS = 4_000_000
"""Upper bound on JSON items per frame (checked by counting separators before parsing)."""

HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame or value that does not follow the wire format (treat the peer as broken)."""


class PeerClosedError(ProtocolError):
    """The other end closed its side of the pipe (normally: the process died)."""


class FrameTimeoutError(Exception):
    """No complete frame arrived (or could be written) before the deadline."""


# --------------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------------


def pack_frame(message: dict[str, Any]) -> bytes:
    """Serialize one message to a length-prefixed frame (raises ``ProtocolError`` if too big).

    ``ensure_ascii`` keeps lone surrogates from making the UTF-8 encoding fail.
    """
    payload = json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    if len(payload) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME_BYTES}")
    return HEADER.pack(len(payload)) + payload


def parse_payload(payload: bytes) -> dict[str, Any]:
    """Parse one frame body into a message dict, refusing anything that is not plain JSON.

    Why the separator count: ``json.loads`` builds the whole structure before we can look at
    it, so an item cap must be enforced on the raw bytes to bound the memory it could use.
    """
    if payload.count(b",") + payload.count(b"[") + payload.count(b"{") > MAX_ITEMS:
        raise ProtocolError("frame holds too many items")
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"malformed frame: {type(exc).__name__}") from None
    if type(message) is not dict or type(message.get("op")) is not str:
        raise ProtocolError("a frame must be a JSON object with a string 'op'")
    return message


def write_frame(fd: int, message: dict[str, Any], deadline: float | None = None) -> None:
    """Write one frame to a (possibly non-blocking) fd, giving up at ``deadline``.

    Why the deadline: a peer that stops reading must not be able to block the writer forever.
    ``BrokenPipeError`` (peer gone) is reported as ``PeerClosedError``.
    """
    data = memoryview(pack_frame(message))
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            _wait_fd(fd, deadline, for_write=True)
            continue
        except (BrokenPipeError, ConnectionResetError):
            raise PeerClosedError("peer closed the pipe") from None
        data = data[n:]


def _wait_fd(fd: int, deadline: float | None, for_write: bool = False) -> None:
    """Block until ``fd`` is ready or raise ``FrameTimeoutError`` once ``deadline`` passes."""
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    rlist, wlist = ([], [fd]) if for_write else ([fd], [])
    ready = select.select(rlist, wlist, [], timeout)
    if not (ready[0] or ready[1]):
        raise FrameTimeoutError("timed out waiting for the peer")


class FrameReader:
    """Incremental reader of frames from one fd (blocking or non-blocking).

    The reader keeps at most one partial frame in memory and refuses oversized frames from
    their header, so a hostile writer cannot make the reader allocate more than
    ``MAX_FRAME_BYTES`` plus one read chunk.
    """

    def __init__(self, fd: int, max_frame: int = MAX_FRAME_BYTES,
                 critical: Callable[[], Any] = contextlib.nullcontext) -> None:
        """``critical()``: a context manager wrapped around each buffer update (the trusted
        side defers signal handlers there, so an asynchronous exception such as a test's
        alarm can only land while waiting, never half-way through consuming bytes)."""
        self.fd = fd
        self.max_frame = max_frame
        self.critical = critical
        self._buf = bytearray()

    def has_buffered_frame(self) -> bool:
        """True if a complete frame is already buffered (no read needed)."""
        if len(self._buf) < HEADER.size:
            return False
        (length,) = HEADER.unpack_from(self._buf)
        return len(self._buf) >= HEADER.size + length

    def read(self, deadline: float | None = None,
             extra_fd: int | None = None,
             on_extra: Callable[[], None] | None = None,
             on_frame: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Return the next message; ``FrameTimeoutError`` at ``deadline``; ``PeerClosedError`` on EOF.

        ``extra_fd``/``on_extra``: a second fd to watch while waiting (e.g. a pidfd telling
        that the peer process exited); ``on_extra`` is called when it becomes readable and is
        expected to raise. ``on_frame(message)`` runs inside the same ``critical()`` section
        that consumed the frame (bookkeeping that must not be separated from it).
        """
        while True:
            with self.critical():
                frame = self._take_frame()
                if frame is not None:
                    message = parse_payload(frame)
                    if on_frame is not None:
                        on_frame(message)
                    return message
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            fds = [self.fd] if extra_fd is None else [self.fd, extra_fd]
            ready, _, _ = select.select(fds, [], [], timeout)
            if not ready:
                raise FrameTimeoutError("timed out waiting for a frame")
            if self.fd in ready:
                with self.critical():
                    self._fill()
            elif extra_fd in ready and on_extra is not None:
                on_extra()

    def _fill(self) -> None:
        """Read what is available into the buffer; EOF becomes ``PeerClosedError``."""
        try:
            chunk = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return
        except OSError as exc:
            raise PeerClosedError(f"read failed: {exc}") from None
        if not chunk:
            raise PeerClosedError("peer closed the pipe")
        self._buf += chunk

    def _take_frame(self) -> bytes | None:
        """Pop one complete frame body from the buffer, checking the length header first."""
        if len(self._buf) < HEADER.size:
            return None
        (length,) = HEADER.unpack_from(self._buf)
        if length > self.max_frame:
            raise ProtocolError(f"frame header announces {length} bytes (max {self.max_frame})")
        end = HEADER.size + length
        if len(self._buf) < end:
            return None
        body = bytes(self._buf[HEADER.size:end])
        del self._buf[:end]
        return body


# --------------------------------------------------------------------------------------------
# The trusted side's conversation
# --------------------------------------------------------------------------------------------


class Channel:
    """One request/reply conversation with a peer process over a pipe pair (trusted side).

    ``exit_fd``/``on_exit``: an fd that becomes readable when the peer process exits (a pidfd)
    and a callback that is then called and expected to raise. Errors are this module's:
    ``FrameTimeoutError`` (deadline passed), ``PeerClosedError`` (the pipe closed),
    ``ProtocolError`` (anything malformed or out of sequence); the owner turns them into its
    own (the sandbox: ``SandboxDied``).
    """

    def __init__(self, read_fd: int, write_fd: int, *, exit_fd: int | None = None,
                 on_exit: Callable[[], None] | None = None) -> None:
        self.write_fd = write_fd
        self.reader = FrameReader(read_fd, critical=signals_deferred)
        self.exit_fd = exit_fd
        self.on_exit = on_exit
        self._seq = 0
        self.awaiting: int | None = None
        """seq of a request whose reply is still unread (see :meth:`drain`)"""

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def send(self, message: dict[str, Any], deadline: float, expect_reply: bool = False) -> None:
        """Write a whole frame with signal handlers held back (a half frame is fatal).

        ``expect_reply``: remember, in the same uninterruptible step, that a reply with this
        frame's ``seq`` is now owed to us (see :meth:`drain`).
        """
        with signals_deferred():
            write_frame(self.write_fd, message, deadline)
            if expect_reply:
                self.awaiting = message["seq"]

    def receive(self, deadline: float | None, seq: int | None = None) -> dict[str, Any]:
        """The next message. ``seq``: the sequence number it must carry."""
        message = self.reader.read(deadline, extra_fd=self.exit_fd, on_extra=self.on_exit,
                                   on_frame=self._consumed)
        if seq is not None and message.get("seq") != seq:
            raise ProtocolError("frame out of sequence")
        return message

    def drain(self, deadline: float) -> None:
        """Read the reply an abandoned exchange still owes (``FrameTimeoutError`` at ``deadline``)."""
        while self.awaiting is not None:
            self.receive(deadline, self.awaiting)

    def _consumed(self, message: dict[str, Any]) -> None:
        """A frame was taken off the pipe (runs with signal handlers held back)."""
        if self.awaiting is not None and message.get("seq") == self.awaiting:
            self.awaiting = None


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold back Python signal handlers (a test's SIGALRM timeout, Ctrl-C) for a moment.

    Why: a Python signal handler that raises can interrupt any bytecode. Half-way through
    writing a frame or consuming bytes from the pipe, that would corrupt the conversation
    with the runner; waiting, by contrast, is safe to interrupt (see ``Channel.drain``).

    How: the handlers of ``_DEFERRED_SIGNALS`` are swapped for a recorder, and whatever
    arrived is replayed through the real handlers afterwards. (Masking with
    pthread_sigmask is not enough: NumPy's BLAS threads would still receive the signal and
    the interpreter would run the handler in the main thread anyway.) Python runs signal
    handlers only in the main thread, so other threads need no protection. The swap uses
    ``_signal`` (what ``signal.signal`` wraps) directly: the wrapper's enum conversions cost
    more than the swap itself, and this runs several times per forwarded call.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[tuple[int, Any]] = []

    def record(signum: int, frame: Any) -> None:
        arrived.append((signum, frame))

    saved: dict[int, Any] = {}
    try:
        for signum in _DEFERRED_SIGNALS:
            handler = _signal.getsignal(signum)
            if callable(handler):
                saved[signum] = handler
                _signal.signal(signum, record)
        yield
    finally:
        _restore_handlers(saved)
    for signum, frame in arrived:
        saved[signum](signum, frame)


def _restore_handlers(saved: dict[int, Any]) -> None:
    """Put every handler back, even if a signal's real handler raises meanwhile."""
    pending = list(saved.items())

    def restore_from(index: int) -> None:
        if index < len(pending):
            try:
                restore_from(index + 1)
            finally:
                _signal.signal(*pending[index])

    restore_from(0)


_DEFERRED_SIGNALS = (int(signal.SIGALRM), int(signal.SIGINT), int(signal.SIGTERM))
