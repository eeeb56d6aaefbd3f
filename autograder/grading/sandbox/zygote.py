"""Trusted side of the fork server: start a zygote per grading process, ask it for keepers.

Why: a cold sandbox starts two interpreters and imports NumPy, IPython and matplotlib in the
second, which is most of a homework submission's CPU. ``zygote_server`` does that once and
forks a keeper per sandbox (its docstring says what isolation keeps). This module is what
``Sandbox`` talks to:

* ``fork_server_for(...)`` returns the grading process's zygote for a runner configuration
  (interpreter, site dirs, preloads), starting it on first use, or ``None`` when the fork
  server is off (``MLPHYS_FORK_SERVER=0``, ``mlphys grade --no-fork-server``), the sandbox
  mode is not ``jail`` (only there does the runner lose every capability by going from root
  to its slot uid; the other modes rely on ``execve``), or the zygote failed: grading then
  falls back to a cold start, never to weaker isolation.
* ``ForkedKeeper`` stands where ``subprocess.Popen`` stands in a cold start: a pid, a pidfd,
  and the keeper's exit code, which the keeper writes on a pipe only it holds (the zygote,
  not this process, is its parent and reaps it).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

from autograder.grading.sandbox import host, jail

ENV_SWITCH = "MLPHYS_FORK_SERVER"
"""``0`` turns the fork server off (every sandbox starts cold)."""

SHELL_MODULES = ("IPython.core.interactiveshell", "traitlets.config")
"""Imported by every zygote: what the runner's IPython shell needs."""

PLOT_MODULES = ("numpy.random", "matplotlib", "matplotlib.pyplot")
"""Imported by a zygote whose sandboxes preload NumPy (the default): what a homework's first
cells import anyway (``np.random.default_rng``, ``import matplotlib.pyplot as plt``). A sandbox
asked to preload nothing gets nothing more than the shell. (``numpy.random`` holds the legacy
global generator: every forked runner re-seeds it.)"""

READY_TIMEOUT = 60.0
REPLY_TIMEOUT = 20.0


def enabled() -> bool:
    """Is the fork server on for this process (the default)?"""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


class ForkServerError(RuntimeError):
    """The zygote could not be started or did not answer (callers start cold instead)."""


class ForkedKeeper:
    """A keeper forked by the zygote: what ``Sandbox`` needs of its keeper process."""

    def __init__(self, pid: int, pidfd: int, status_fd: int) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.returncode: int | None = None
        self._status_fd = status_fd

    def reap(self, timeout: float | None) -> int | None:
        """The keeper's exit code once it has exited (waiting up to ``timeout``), else None.

        The keeper writes its code (the runner's, 128+N for a signal) before it exits; a
        keeper killed before it could write counts as killed by SIGKILL.
        """
        if self.returncode is not None:
            return self.returncode
        ready, _, _ = select.select([self.pidfd], [], [], timeout)
        if not ready:
            return None
        data = b""
        with contextlib.suppress(OSError):
            data = os.read(self._status_fd, 4)
        code = int.from_bytes(data, "big", signed=True) if len(data) == 4 else -signal.SIGKILL
        self.returncode = code if -64 < code < 256 else 255
        self._close_status()
        return self.returncode

    def kill(self) -> None:
        """SIGKILL through the pidfd (no race with pid reuse)."""
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def close(self) -> None:
        """Release the pidfd and the status pipe (after the keeper is gone)."""
        self._close_status()
        if self.pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = -1

    def _close_status(self) -> None:
        if self._status_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._status_fd)
            self._status_fd = -1


class ForkServer:
    """One zygote process (see ``zygote_server``) and the socket to it."""

    def __init__(self, runner_setup: dict[str, Any]) -> None:
        self.runner_setup = runner_setup
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._runtime = host.make_runtime_dir()

    def start(self) -> None:
        """Start the zygote and wait until it has imported everything."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code_dir = os.path.join(self._runtime, "code")
        env = host.runner_env(self._runtime)
        env["MPLCONFIGDIR"] = os.path.join(self._runtime, "mpl")
        env["IPYTHONDIR"] = os.path.join(self._runtime, "ipython")
        setup = {"code_dir": code_dir, "jail_py": jail.__file__,
                 "runner": {**self.runner_setup, "mplcache": os.path.join(code_dir, "mplcache")},
                 "warm": [*SHELL_MODULES,
                          *(PLOT_MODULES if "numpy" in self.runner_setup["preload"] else ())]}
        server_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zygote_server.py")
        log = open(os.path.join(self._runtime, "zygote.log"), "wb")  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", server_py], stdin=theirs.fileno(),
                stdout=log, stderr=log, env=env, cwd=self._runtime, close_fds=True)
        finally:
            log.close()
            theirs.close()
        self._socket = ours
        ours.sendall(json.dumps(setup).encode())
        reply = self._receive(READY_TIMEOUT)[0]
        if reply.get("op") != "ready" or reply.get("threads") != 1:
            raise ForkServerError(f"fork server not ready: {reply}")

    def _receive(self, timeout: float) -> tuple[dict[str, Any], list[int]]:
        assert self._socket is not None
        ready, _, _ = select.select([self._socket], [], [], timeout)
        if not ready:
            raise ForkServerError(f"fork server did not answer within {timeout:g} s: "
                                  f"{self.log_tail()}")
        message, fds, _, _ = socket.recv_fds(self._socket, 1 << 20, 2)
        if not message:
            raise ForkServerError(f"fork server exited: {self.log_tail()}")
        return json.loads(message), fds

    def spawn(self, cfg: jail.JailConfig, runner_cfg: dict[str, Any],
              fds: Sequence[int]) -> ForkedKeeper:
        """Fork a keeper for ``cfg`` with ``fds`` = (to runner, from runner, lifeline, log)."""
        status_r, status_w = os.pipe()
        request = {"jail": cfg._asdict(), "runner": runner_cfg}
        with self._lock:
            if self._socket is None:
                raise ForkServerError("fork server is closed")
            try:
                socket.send_fds(self._socket, [json.dumps(request).encode()],
                                [*fds, status_w])
                reply, received = self._receive(REPLY_TIMEOUT)
            except OSError as exc:
                os.close(status_r)
                raise ForkServerError(f"fork server gone: {exc}") from None
            finally:
                os.close(status_w)
        if "pid" not in reply or len(received) != 1:
            for fd in received:
                os.close(fd)
            os.close(status_r)
            raise ForkServerError(f"fork server refused: {reply.get('error', reply)}")
        return ForkedKeeper(int(reply["pid"]), received[0], status_r)

    @property
    def pid(self) -> int | None:
        """The zygote's host pid (None once closed)."""
        return None if self._process is None else self._process.pid

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self) -> str:
        with contextlib.suppress(OSError), open(
                os.path.join(self._runtime, "zygote.log"), "rb") as handle:
            return handle.read()[-2000:].decode("utf-8", "replace").strip()
        return ""

    def close(self) -> None:
        """Close the socket (the zygote exits), wait for it, remove its files."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        shutil.rmtree(self._runtime, ignore_errors=True)


_SERVERS: dict[tuple[Any, ...], ForkServer] = {}
_BROKEN: set[tuple[Any, ...]] = set()
_REGISTRY_LOCK = threading.Lock()


def fork_server_for(mode: str, runner_setup: dict[str, Any]) -> ForkServer | None:
    """This process's zygote for ``runner_setup`` (site dirs, hidden paths, preloads),
    started on first use; None when the fork server is off or does not work here."""
    if mode != "jail" or not enabled() or os.geteuid() != 0:
        return None
    key = (sys.executable, json.dumps(runner_setup, sort_keys=True))
    with _REGISTRY_LOCK:
        if key in _BROKEN:
            return None
        server = _SERVERS.get(key)
        if server is not None and server.alive():
            return server
        if server is not None:
            server.close()
        server = ForkServer(runner_setup)
        try:
            server.start()
        except (ForkServerError, OSError) as exc:
            server.close()
            _BROKEN.add(key)
            print(f"mlphys: fork server unavailable, starting sandboxes cold: {exc}",
                  file=sys.stderr)
            return None
        _SERVERS[key] = server
        return server


def running() -> list[ForkServer]:
    """This process's zygotes (for tests and diagnostics)."""
    with _REGISTRY_LOCK:
        return list(_SERVERS.values())


def discard(server: ForkServer) -> None:
    """Forget a zygote that failed a request (the next sandbox starts a new one)."""
    with _REGISTRY_LOCK:
        for key, known in list(_SERVERS.items()):
            if known is server:
                del _SERVERS[key]
    server.close()


def close_all() -> None:
    """Stop every zygote of this process and remove its folder (also run at exit).

    Why at exit: a grading worker keeps its temporary folders inside the batch's scratch root,
    which the driver removes; a test, a script or a notebook that opens sandboxes directly has
    no such root, and each of its zygotes left a folder of its own in /tmp (about 200 kB)."""
    with _REGISTRY_LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
        _BROKEN.clear()
    for server in servers:
        server.close()


atexit.register(close_all)
