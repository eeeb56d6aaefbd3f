"""The fork server ("zygote"): a warm interpreter that forks one keeper per sandbox.

A cold sandbox starts a keeper interpreter, then a runner interpreter that imports NumPy,
IPython and matplotlib: about a second of CPU per submission, most of a homework's grading
time. This process pays that once. It is started by the trusted grading process
(``zygote.ForkServer``) as ``python -I -S -B zygote_server.py`` with the runner's environment,
and is, like the keeper, standard library only plus the runner's own files::

    grading process ──Popen──> zygote (root, host namespaces; NumPy, IPython, pyplot imported)
                                 └─fork─> keeper ──> init (new namespaces) ──> runner (slot uid)

Per sandbox the grading process sends one request on a SOCK_SEQPACKET socket: the keeper's
``JailConfig`` and the runner's config as JSON, with five file descriptors attached (the two
protocol pipes, the lifeline, the keeper's log and an exit-status pipe). The zygote forks; the
child *is* the keeper (``jail.keeper_main``, exactly as in a cold start), except that init's
child becomes the runner with ``jail.drop_privileges`` and ``runner.main`` instead of
``execve``. The zygote answers with the keeper's pid and a pidfd for it, and keeps nothing:
it closes the descriptors it received, and forgets the request.

What isolation keeps, and why it holds without ``execve``:

* the keeper joins the sandbox's control group before it forks init, builds the namespaces,
  mounts and the capped tmpfs itself: the same code as a cold start;
* the runner goes from root to the slot uid (which clears every capability), sets
  ``no_new_privs``, the rlimits and a new session, then closes every descriptor it was not
  given: it can never reach the zygote's socket, and it shares nothing writable with the
  zygote or with another student (fork copies memory; writes are private to the child);
* the runner re-seeds NumPy's global generator (``random`` re-seeds itself at fork): forked
  children would otherwise draw the same "random" numbers for every student;
* it receives only configurations from the trusted side; it never runs student code and
  never imports the project, so a runner's inherited memory holds nothing a student may not
  read (the module list of the imports above, paths, its own config).

Shared with a cold start's limits, with one difference that is stated in docs/security.md:
pages the runner inherits and never writes stay charged to the zygote's memory group (the
grading process's), not the sandbox's. String hashing uses the zygote's hash seed in every
runner (a cold start draws one per runner).

The zygote exits when the grading process closes its end of the socket (or dies): its
``recv`` returns nothing. Keepers already forked live on: their lifeline is the grading
process's, not the zygote's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any

REQUEST_BYTES = 1 << 20
"""Largest request (a config is a few KiB)."""


def _load(name: str, path: str) -> Any:
    """Import a file by path without putting its directory on ``sys.path``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # NamedTuple and dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _reap() -> None:
    """Collect the exit status of keepers that ended (their parent is this process)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _close_all_but(keep: set[int]) -> None:
    """Close every descriptor of this process except ``keep`` (the child inherits all of the
    zygote's: its socket, its log, whatever an import opened)."""
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _reseed() -> None:
    """New entropy for the generators a runner inherits (``random`` reseeds itself at fork)."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def _keeper(request: dict[str, Any], fds: list[int], server: socket.socket, jail: Any,
            runner: Any, mpl_dir: str) -> None:
    """The forked child: become the keeper of one sandbox. Never returns."""
    code = 126
    try:
        to_runner, from_grader, lifeline, log, status = fds
        server.close()
        os.dup2(log, 1)
        os.dup2(log, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        _close_all_but({0, 1, 2, to_runner, from_grader, lifeline, status})
        cfg = jail.JailConfig(**{**request["jail"], "keep_fds": [to_runner, from_grader],
                                 "lifeline_fd": lifeline})
        runner_cfg = {**request["runner"], "fds": [to_runner, from_grader]}

        def become_runner(config: Any) -> None:
            """init's child: drop to the slot uid etc., then serve the notebook."""
            jail.drop_privileges(config)
            os.environ.clear()
            os.environ.update(config.env)
            # what a fresh interpreter does at start-up (init reset every disposition)
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            _reseed()
            with contextlib.suppress(OSError):  # matplotlib remembers the zygote's dir
                os.makedirs(mpl_dir, exist_ok=True)
            # the argv a cold runner has (its config, protocol fds included, is no secret)
            sys.argv = [os.path.join(jail.JAIL_CODE, "runner.py"), json.dumps(runner_cfg)]
            status_code = 0
            try:
                runner.main(runner_cfg, prepared=True)
            except SystemExit as exc:
                status_code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
                status_code = 1
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(status_code)

        code = jail.keeper_main(cfg, become_runner, keeper_only_fds=(status,))
        os.write(status, code.to_bytes(4, "big", signed=True))
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
    os._exit(code & 0xFF)


def serve(server: socket.socket, jail: Any, runner: Any, mpl_dir: str) -> None:
    """Answer fork requests until the grading process closes its end."""
    while True:
        ready, _, _ = select.select([server], [], [], 2.0)
        _reap()
        if not ready:
            continue
        message, fds, _, _ = socket.recv_fds(server, REQUEST_BYTES, 8)
        if not message:
            return
        try:
            request = json.loads(message)
            if len(fds) != 5:
                raise ValueError(f"expected 5 descriptors, got {len(fds)}")
            if _threads() != 1:  # forking a threaded process copies only this thread
                raise RuntimeError(f"the fork server has {_threads()} threads")
            pid = os.fork()
            if pid == 0:
                _keeper(request, fds, server, jail, runner, mpl_dir)
            pidfd = os.pidfd_open(pid)
            try:
                socket.send_fds(server, [json.dumps({"pid": pid}).encode()], [pidfd])
            finally:
                os.close(pidfd)
        except Exception as exc:  # noqa: BLE001 (a bad request is answered, not fatal)
            server.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


def main() -> None:
    """Read the set-up message, load the jail and the runner, prepare, say ready, serve."""
    server = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    setup = json.loads(server.recv(REQUEST_BYTES))
    sys.path.insert(0, setup["code_dir"])  # the runner's copies of channel/values/richvalues
    jail = _load("mlphys_jail", setup["jail_py"])
    runner = _load("mlphys_runner", os.path.join(setup["code_dir"], "runner.py"))
    runner.prepare(setup["runner"])
    for name in setup.get("warm", ()):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    server.send(json.dumps({"op": "ready", "pid": os.getpid(),
                            "threads": _threads()}).encode())
    serve(server, jail, runner, os.environ.get("MPLCONFIGDIR", "/tmp/.matplotlib"))


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
