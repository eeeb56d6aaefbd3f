"""The ``Sandbox`` lifecycle (trusted side): start the keeper/jail/runner, run cells, serve
checkpoints, forward requests for remote objects, kill and clean up.

The package docstring (``autograder.grading.sandbox``) describes the public API; this module
holds the state machine (new -> idle <-> running/checkpoint -> dead -> closed) and the time
limits. Timing rules: ``cell_timeout`` counts the student's running time of one cell (time
spent in ``on_check`` is excluded); ``notebook_timeout`` counts the wall clock of all
``run_cell`` calls, checkpoints included, and of every forwarded request made between cells
(the end-of-notebook tests too); ``call_timeout`` bounds each forwarded operation, which also
never outlives the notebook's budget.

Every deadline is enforced here, in the trusted process, whatever the sandbox sends: the
clock is looked at before *each* frame is served (a frame already buffered included), and
check requests are capped per question (``Limits.checks_per_question``: later ones resume the
cell without testing) and per notebook (``Limits.checks_per_notebook``: one more is a protocol
violation). Why: a notebook that writes forged check frames in a loop kept a batch grading far
past its limits (issue 8).

Why the sandbox stopped is recorded as a ``causes.Stop`` (``Sandbox.stop``, ``CellOutcome.stop``)
decided from what the grader observed itself: its clocks, the exit status the kernel reported
and the control group's OOM counter. The texts that come from the runner (``error``,
``exit_reason``) are for instructor logs only.

Asynchronous exceptions: a test's SIGALRM timeout (or Ctrl-C) may interrupt a remote call
while it waits; the reply is then drained before the next exchange (the student code is
interrupted) and the sandbox stays usable (``channel.Channel`` keeps the bookkeeping, with
signal handlers held back). An asynchronous exception while a *cell* runs kills the sandbox
(the cell's state is unknown). Exceptions raised by ``on_check`` propagate out of
``run_cell`` after the cell has finished.

Threading: one Sandbox is meant to be driven by one thread; a lock serializes the pipe.
"""


from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from autograder.grading.causes import Cause, Stop, describe_exit
from autograder.grading.model import Limits
from autograder.grading.sandbox import cgroups, host, jail, zygote
from autograder.grading.sandbox.channel import (
    Channel,
    FrameTimeoutError,
    PeerClosedError,
    ProtocolError,
)
from autograder.grading.sandbox.remote import (
    RemoteNamespace,
    RemoteObjects,
    SandboxDied,
    SandboxProtocolError,
    SandboxTimeout,
)
from autograder.grading.sandbox.values import MAX_TEXT, clean_text

DEFAULT_LIMITS = Limits()


@dataclass
class CellOutcome:
    """Result of one cell (``error``/``output`` are for instructor logs only)."""

    status: Literal["ok", "error", "timeout", "memory", "died"]
    error: str | None
    output: str
    stop: Stop | None = None
    """why the sandbox stopped during this cell, in the grader's terms (None: it did not)"""


def _describe_exit(code: int | None) -> str:
    """Keeper exit code (= runner's, 128+N for signals) -> human text."""
    if code is None:
        return "sandbox process vanished"
    if code == 126 or code == 127:
        return f"sandbox failed to start (status {code})"
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return f"runner killed by {name}"
    if code < 0:
        return f"keeper killed by {signal.Signals(-code).name}"
    return f"runner exited with status {code}"


class Sandbox:
    """One isolated runner process holding one student's notebook state."""

    def __init__(self, scratch_dir: Path, limits: Limits = DEFAULT_LIMITS, slot: int = 0,
                 preload: Sequence[str] = ("numpy",), mode: str = "auto",
                 site_dirs: Sequence[str] | None = None) -> None:
        self.scratch_dir = Path(scratch_dir).resolve()
        self.site_dirs = list(site_dirs) if site_dirs else None
        """the runner's site-packages dirs (default: the grader's); an autograder's environment
        built by ``--install-requirements`` comes first"""
        self.limits = limits
        self.slot = int(slot)
        self.preload = tuple(preload)
        self.requested_mode = mode
        self.mode = ""
        self.uid: int | None = None
        self._lease: host.SlotLease | None = None
        self.runner_pid: int | None = None
        self.startup_seconds: float | None = None
        self.exit_reason: str | None = None
        self._keeper: ExecKeeper | zygote.ForkedKeeper | None = None
        self.start_method = ""
        """``fork server`` (a warm zygote forked the keeper) or ``exec`` (a cold start)"""
        self._runtime: str | None = None
        self._to_runner = self._from_runner = self._lifeline = -1
        self._channel: Channel | None = None
        self._lock = threading.RLock()
        self._state = "new"  # new | idle | running | checkpoint | dead | closed
        self._remote = RemoteObjects(self, limits.output_bytes)
        self._notebook_used = 0.0
        self._scratch_owner = (os.getuid(), os.getgid())
        self._finalizer: weakref.finalize | None = None
        self._cgroup: cgroups.SandboxCgroup | None = None
        self.stop: Stop | None = None
        """why the sandbox stopped (first cause the grader observed), None while it runs"""
        self._checks: dict[str, int] = {}
        self._checks_total = 0
        self._cell_budget_end: float | None = None  # notebook deadline of the running cell

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the keeper/jail/runner and wait for the runner's hello."""
        if self._state != "new":
            raise RuntimeError("a Sandbox can only be started once")
        began = time.monotonic()
        self.mode = host.available_mode() if self.requested_mode == "auto" else self.requested_mode
        if os.geteuid() == 0 and self.mode in ("jail", "basic"):
            if self.mode == "basic" and not host.usable_by_others(sys.executable):
                raise SandboxDied(
                    "cannot isolate: no namespaces, and the interpreter is not readable by "
                    "an unprivileged uid (student code will not run as root)")
            self._lease = host.SlotLease.acquire(self.slot)
            self.uid = self._lease.uid
            if self.mode == "basic":  # jail: the home is a tmpfs copy, the scratch stays ours
                info = self.scratch_dir.stat()
                self._scratch_owner = (info.st_uid, info.st_gid)
                host.chown_tree(self.scratch_dir, self.uid, self.uid)
            # the keeper, init and runner count as one: memory, tasks (keeper + init: +2)
            self._cgroup = cgroups.SandboxCgroup.create(
                self._lease.index, self.limits.memory_bytes, self.limits.processes + 2)
        self._runtime = host.make_runtime_dir()
        self._spawn()
        try:
            hello = self._read(time.monotonic() + self.limits.startup_timeout)
        except (FrameTimeoutError, ProtocolError, SandboxDied) as exc:
            reason = self._startup_failure(exc)
            self.close()
            raise SandboxDied(reason) from None
        if hello.get("op") != "hello":
            self.close()
            raise SandboxProtocolError("runner did not say hello")
        self.runner_pid = self._find_runner_pid()
        self._state = "idle"
        self.startup_seconds = time.monotonic() - began

    def _rlimits(self) -> dict[str, int]:
        limits = self.limits
        nproc = limits.processes
        if self.uid is None:  # shared uid: NPROC counts the grader's own processes too
            nproc += len(jail.processes_of_uid(os.getuid()))
        return {
            "RLIMIT_AS": limits.memory_bytes, "RLIMIT_CPU": limits.cpu_seconds,
            "RLIMIT_FSIZE": limits.file_size_bytes, "RLIMIT_NOFILE": limits.open_files,
            "RLIMIT_NPROC": nproc, "RLIMIT_CORE": 0,
        }

    def _spawn(self) -> None:
        """Create the pipes and start the keeper process (see ``jail`` for the tree)."""
        assert self._runtime is not None
        jailed = self.mode in ("jail", "userns")
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        life_r, life_w = os.pipe()
        code_dir = os.path.join(self._runtime, "code")
        runner_code = jail.JAIL_CODE if jailed else code_dir
        home = jail.JAIL_HOME if jailed else str(self.scratch_dir)
        runner_cfg = {"fds": [to_r, from_w], "output_bytes": self.limits.output_bytes,
                      "preload": list(self.preload), "mplcache": f"{runner_code}/mplcache",
                      "site_dirs": self.site_dirs or host.runner_site_dirs(),
                      "hidden": [os.path.join(host.PROJECT_ROOT, n)
                                 for n in host.HIDDEN_PACKAGES]}
        cfg = jail.JailConfig(
            mode=self.mode, python=sys.executable,
            runner_args=["-S", "-E", "-s", "-B", f"{runner_code}/runner.py",
                         json.dumps(runner_cfg)],
            env=host.runner_env(home), scratch=str(self.scratch_dir), code_dir=code_dir,
            root_dir=os.path.join(self._runtime, "root"), workdir=home,
            lifeline_fd=life_r, keep_fds=[to_r, from_w], rlimits=self._rlimits(),
            uid=self.uid, gid=self.uid, ro_paths=self._ro_paths(), hide_paths=host.hide_paths(),
            disk_bytes=self.limits.disk_bytes, disk_inodes=self.limits.disk_inodes,
            cgroup_procs=[] if self._cgroup is None else self._cgroup.procs_files,
            outer_uid=os.getuid(), outer_gid=os.getgid())
        log = os.open(os.path.join(self._runtime, "keeper.log"),
                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            self._keeper = self._fork_keeper(cfg, runner_cfg, (to_r, from_w, life_r, log))
            if self._keeper is None:
                self._keeper = self._exec_keeper(cfg, (to_r, from_w, life_r), log)
        finally:
            for fd in (to_r, from_w, life_r, log):
                os.close(fd)
        self._to_runner, self._from_runner, self._lifeline = to_w, from_r, life_w
        os.set_blocking(to_w, False)
        os.set_blocking(from_r, False)
        self._channel = Channel(from_r, to_w, exit_fd=self._keeper.pidfd, on_exit=self._died)
        self._finalizer = weakref.finalize(self, _emergency_cleanup, self._keeper,
                                           life_w, self._runtime)

    def _fork_keeper(self, cfg: jail.JailConfig, runner_cfg: dict[str, Any],
                     fds: tuple[int, int, int, int]) -> zygote.ForkedKeeper | None:
        """A keeper forked by this process's warm zygote, or None (start cold instead)."""
        setup = {name: runner_cfg[name] for name in ("site_dirs", "hidden", "preload")}
        server = zygote.fork_server_for(self.mode, setup)
        if server is None:
            return None
        try:
            keeper = server.spawn(cfg, runner_cfg, fds)
        except zygote.ForkServerError:
            zygote.discard(server)  # the next sandbox starts a new zygote
            return None
        self.start_method = "fork server"
        return keeper

    def _exec_keeper(self, cfg: jail.JailConfig, fds: tuple[int, int, int],
                     log: int) -> ExecKeeper:
        """A cold start: ``python -I -S jail.py`` with the config on stdin."""
        # the config goes through stdin, not argv: /proc/1/cmdline is readable in the jail
        config_r, config_w = os.pipe()
        os.write(config_w, cfg.to_json().encode())  # a few KiB: fits in the pipe buffer
        os.close(config_w)
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", jail.__file__],
                stdin=config_r, stdout=log, stderr=log,
                pass_fds=fds, close_fds=True, cwd=self._runtime)
        finally:
            os.close(config_r)
        self.start_method = "exec"
        return ExecKeeper(process)

    def _ro_paths(self) -> list[str]:
        """The system trees, plus the extra site dirs that are not inside one of them."""
        paths = host.ro_paths()
        for directory in self.site_dirs or ():
            real = os.path.realpath(directory)
            if not any(real == p or real.startswith(p.rstrip("/") + "/") for p in paths):
                paths = [*paths, real]
        return paths

    def _startup_failure(self, exc: BaseException) -> str:
        """Why the runner never said hello (tail of the keeper's log)."""
        log = ""
        if self._runtime:
            with contextlib.suppress(OSError), open(
                    os.path.join(self._runtime, "keeper.log"), "rb") as handle:
                log = handle.read()[-4000:].decode("utf-8", "replace")
        return f"sandbox failed to start ({type(exc).__name__}: {exc}): {log.strip()}"

    def _find_runner_pid(self) -> int:
        """Host pid of the runner: keeper -> (init ->) runner."""
        assert self._keeper is not None
        pid = self._keeper.pid
        for _ in range(2 if self.mode in ("jail", "userns") else 1):
            kids = jail.children(pid)
            if len(kids) != 1:
                raise SandboxDied(f"unexpected process tree under {pid}: {kids}")
            pid = kids[0]
        return pid

    def alive(self) -> bool:
        """True while the runner can take cells and requests."""
        if self._state in ("new", "dead", "closed"):
            return False
        code = self._reap(0)
        if code is not None:
            self._record_stop(self._exit_stop(code))
            self._mark_dead(_describe_exit(code))
            return False
        return True

    def _exit_stop(self, code: int | None) -> Stop:
        """The runner's exit as a cause: the kernel's exit status, refined by the control
        group's OOM counter (a SIGKILL while the group ran out of memory is ``memory``)."""
        stop = describe_exit(code)
        limits = self.limits
        if (code == 128 + signal.SIGKILL or code == -signal.SIGKILL) and (
                self._cgroup is not None and self._cgroup.oom_kills() > 0):
            return Stop(Cause.MEMORY, limit_bytes=limits.memory_bytes)
        if stop.cause is Cause.CPU_TIME:
            return Stop(Cause.CPU_TIME, seconds=limits.cpu_seconds)
        if stop.cause is Cause.DISK:
            return Stop(Cause.DISK, limit_bytes=limits.file_size_bytes)
        return stop

    def _record_stop(self, stop: Stop) -> None:
        """Keep the first cause (a kill after a timeout is still the timeout)."""
        if self.stop is None:
            self.stop = stop

    def _reap(self, timeout: float | None) -> int | None:
        """The keeper's exit code once it has exited (waiting up to ``timeout``), else None."""
        return None if self._keeper is None else self._keeper.reap(timeout)

    @property
    def isolation(self) -> str:
        """Which protections are active, how the runner was started (``fork server`` or
        ``exec``), then which limits hold for the sandbox as a whole, e.g.
        ``uid+pidns+...+no_new_privs; start: fork server; limits: memory=sandbox(cgroup v1) ...``."""
        if self.mode == "jail":
            base = "uid+pidns+netns+mountns+ipcns+utsns+rlimits+no_new_privs"
        elif self.mode == "userns":
            base = "userns+pidns+netns+mountns+ipcns+utsns+rlimits+no_new_privs (no slot uid)"
        elif self.mode == "basic":
            extra = "uid+" if self.uid is not None else ""
            base = (f"{extra}rlimits+session+subreaper+scrubbed-env (WEAK: no namespaces, the "
                    "file system and network are visible to student code)")
        else:
            return "not started"
        return f"{base}; start: {self.start_method}; limits: {self.limit_scopes}"

    @property
    def limit_scopes(self) -> str:
        """Which limits bound the sandbox as a whole and which only each process."""
        group = self._cgroup
        memory = f"sandbox(cgroup {group.version})" if group is not None else "process"
        if group is not None:
            tasks = f"sandbox(cgroup {group.version})"
        else:
            tasks = "sandbox(slot uid)" if self.uid is not None else "shared(grader uid)"
        disk = "sandbox(tmpfs)" if self.mode in ("jail", "userns") else "file"
        return f"memory={memory} tasks={tasks} disk={disk} cpu=process"

    def close(self) -> None:
        """Kill the whole process tree and remove the runtime dir (idempotent)."""
        if self._state == "closed":
            return
        if self._state != "dead":
            self._mark_dead("sandbox closed")
        self._state = "closed"
        self._terminate()
        if self._cgroup is not None:
            self._cgroup.kill_all()
        if self.uid is not None:
            # the lease is exclusive machine-wide: any process of this uid is ours to kill
            host.kill_uid(self.uid, host_only=False)
            if self.mode == "basic":
                with contextlib.suppress(OSError):
                    host.chown_tree(self.scratch_dir, *self._scratch_owner)
        if self._cgroup is not None:
            self._cgroup.remove()
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        for fd in (self._to_runner, self._from_runner):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_runner = self._from_runner = -1
        if self._keeper is not None:
            self._keeper.close()  # with its pidfd, which the channel watched
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._runtime:
            shutil.rmtree(self._runtime, ignore_errors=True)
            self._runtime = None

    def _terminate(self) -> None:
        """Close the lifeline (the keeper kills init: the kernel kills the namespace)."""
        if self._lifeline >= 0:
            with contextlib.suppress(OSError):
                os.close(self._lifeline)
            self._lifeline = -1
        keeper = self._keeper
        if keeper is None or self._reap(5) is not None:
            return
        keeper.kill()
        self._reap(None)

    def _mark_dead(self, reason: str) -> None:
        if self._state not in ("dead", "closed"):
            self._state = "dead"
            self.exit_reason = reason

    def _kill(self, reason: str) -> None:
        """Kill the sandbox now (timeouts, protocol errors); keep the reason."""
        self._mark_dead(reason)
        self._terminate()

    def __enter__(self) -> Sandbox:
        if self._state == "new":
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- pipe I/O ---------------------------------------------------------------------------
    def _died(self) -> None:
        """Called when the keeper exited while we waited for a frame."""
        code = self._reap(None)
        self._record_stop(self._exit_stop(code))
        raise SandboxDied(_describe_exit(code))

    def _read(self, deadline: float, seq: int | None = None) -> dict[str, Any]:
        """Next frame (carrying ``seq`` if given); ``FrameTimeoutError``; ``SandboxDied`` if
        the sandbox is gone."""
        assert self._channel is not None
        try:
            return self._channel.receive(deadline, seq)
        except PeerClosedError:
            code = self._reap(2)
            self._record_stop(self._exit_stop(code))
            raise SandboxDied(_describe_exit(code)) from None

    def _write(self, message: dict[str, Any], deadline: float,
               expect_reply: bool = False) -> None:
        """Write a whole frame (see ``Channel.send``); ``SandboxDied`` if the runner is gone."""
        assert self._channel is not None
        try:
            self._channel.send(message, deadline, expect_reply)
        except PeerClosedError:
            self._died()
        except FrameTimeoutError:
            self._record_stop(Stop(Cause.PROTOCOL))
            raise SandboxDied("the runner stopped reading its requests") from None

    def _interrupt(self) -> None:
        """SIGINT the runner: KeyboardInterrupt in the student code it is running."""
        if self.runner_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.runner_pid, signal.SIGINT)

    def _fail(self, exc: BaseException) -> SandboxDied:
        """Turn a pipe failure into the right ``SandboxDied`` and make sure it is dead."""
        if (isinstance(exc, ProtocolError)
                and not isinstance(exc, PeerClosedError)):
            reason = f"protocol error: {exc}"
            self._record_stop(Stop(Cause.PROTOCOL))
            self._kill(reason)
            return SandboxProtocolError(reason)
        reason = exc.reason if isinstance(exc, SandboxDied) else str(exc)
        self._kill(reason)
        return SandboxDied(reason)

    # -- cells ------------------------------------------------------------------------------
    def run_cell(self, source: str, on_check: Callable[[str], None] | None = None
                 ) -> CellOutcome:
        """Run one code cell; ``grader.check(q)`` inside it calls ``on_check(q)`` mid-cell."""
        with self._lock:
            if not self.alive():
                return CellOutcome("died", self.exit_reason, "", self.stop)
            if self._state != "idle":
                raise RuntimeError(f"run_cell while the sandbox is {self._state}")
            started = time.monotonic()
            budget = self.limits.notebook_timeout - self._notebook_used
            if budget <= 0:
                return CellOutcome("timeout", "notebook time limit exceeded", "",
                                   Stop(Cause.NOTEBOOK_TIMEOUT,
                                        seconds=self.limits.notebook_timeout))
            try:
                self._recover()
                return self._run_cell(source, on_check, started, budget)
            except SandboxDied as exc:
                return CellOutcome("died", exc.reason, "", self.stop)
            except Exception:
                raise
            except BaseException:  # interrupted while the cell ran: the exchange is lost
                if self._state in ("running", "checkpoint"):
                    self._kill("interrupted by the grader while a cell was running")
                raise
            finally:
                self._cell_budget_end = None
                self._notebook_used += time.monotonic() - started

    def _run_cell(self, source: str, on_check: Callable[[str], None] | None,
                  started: float, budget: float) -> CellOutcome:
        notebook_deadline = self._cell_budget_end = started + budget
        cell_deadline = started + self.limits.cell_timeout
        pending: BaseException | None = None
        try:
            assert self._channel is not None
            seq = self._channel.next_seq()
            self._state = "running"
            self._write({"op": "cell", "source": source, "seq": seq},
                        started + self.limits.call_timeout)
            while True:
                deadline = min(cell_deadline, notebook_deadline)
                which = "cell" if cell_deadline <= notebook_deadline else "notebook"
                if time.monotonic() >= deadline:  # also when frames are already buffered
                    return self._interrupt_cell(which, seq)
                try:
                    message = self._read(deadline, seq)
                except FrameTimeoutError:
                    return self._interrupt_cell(which, seq)
                op = message.get("op")
                if op == "check":
                    paused = time.monotonic()
                    error = self._serve_check(message, on_check, notebook_deadline)
                    pending = pending or error
                    cell_deadline += time.monotonic() - paused
                elif op == "cell_done":
                    outcome = self._cell_outcome(message)
                    self._state = "idle"
                    break
                else:
                    raise ProtocolError(f"unexpected {op!r} during a cell")
        except (ProtocolError, SandboxDied) as exc:
            died = self._fail(exc)
            if isinstance(died, SandboxProtocolError):
                return CellOutcome("error", f"ProtocolError: {died.reason}", "", self.stop)
            if self.stop is not None and self.stop.cause is Cause.CPU_TIME:  # RLIMIT_CPU
                return CellOutcome("timeout", f"CPU time limit exceeded ({died.reason})", "",
                                   self.stop)
            return CellOutcome("died", died.reason, "", self.stop)
        if pending is not None:
            raise pending
        return outcome

    def _serve_check(self, message: dict[str, Any], on_check: Callable[[str], None] | None,
                     notebook_deadline: float) -> BaseException | None:
        """A mid-cell checkpoint: run ``on_check`` with the namespace live, then resume.

        The caps are the grader's, not the runner's (which the student controls): past
        ``checks_per_question`` a check of that question resumes without testing (its last
        result stands), past ``checks_per_notebook`` the sandbox is broken; no tests start
        once the notebook's time is up.
        """
        question = message.get("q")
        if type(question) is not str or len(question) > 200:
            raise ProtocolError("malformed check message")
        self._checks_total += 1
        if self._checks_total > self.limits.checks_per_notebook:
            raise ProtocolError("more check requests than a notebook may make")
        count = self._checks[question] = self._checks.get(question, 0) + 1
        error = None
        if (on_check is not None and count <= self.limits.checks_per_question
                and time.monotonic() < notebook_deadline):
            self._state = "checkpoint"
            try:
                on_check(question)
            except BaseException as exc:  # re-raised once the cell has finished
                error = exc
        if not self.alive():
            raise SandboxDied(self.exit_reason or "sandbox died during a checkpoint")
        self._recover()
        self._state = "running"
        self._write({"op": "resume"}, min(time.monotonic() + self.limits.call_timeout,
                                          notebook_deadline + self.limits.interrupt_grace))
        return error

    def _cell_outcome(self, message: dict[str, Any]) -> CellOutcome:
        """Validate a ``cell_done`` message (untrusted) into a CellOutcome."""
        status, error, output = message.get("status"), message.get("error"), message.get("output")
        if status not in ("ok", "error", "memory") or type(output) is not str or not (
                error is None or type(error) is str):
            raise ProtocolError("malformed cell_done message")
        return CellOutcome(status, None if error is None else clean_text(error, MAX_TEXT),
                           clean_text(output, self.limits.output_bytes))

    def _interrupt_cell(self, which: str, seq: int) -> CellOutcome:
        """Cell over time: interrupt, give it ``interrupt_grace`` to stop, else kill."""
        limit = self.limits.cell_timeout if which == "cell" else self.limits.notebook_timeout
        stop = Stop(Cause.CELL_TIMEOUT if which == "cell" else Cause.NOTEBOOK_TIMEOUT,
                    seconds=limit)
        self._interrupt()
        deadline = time.monotonic() + self.limits.interrupt_grace
        while True:
            try:
                if time.monotonic() >= deadline:  # buffered frames do not buy more time
                    raise FrameTimeoutError("interrupt grace over")
                message = self._read(deadline, seq)
            except FrameTimeoutError:
                self._record_stop(stop)
                self._kill(f"{which} time limit ({limit:g} s) exceeded; killed")
                return CellOutcome("timeout", f"{which} time limit ({limit:g} s) exceeded; "
                                   "the sandbox did not stop and was killed", "", stop)
            except (ProtocolError, SandboxDied) as exc:
                self._record_stop(stop)
                self._fail(exc)
                return CellOutcome("timeout", f"{which} time limit ({limit:g} s) exceeded", "",
                                   stop)
            if message.get("op") == "check":  # no tests now: let it run into the interrupt
                self._write({"op": "resume"}, deadline)
                continue
            if message.get("op") == "cell_done" and type(message.get("output")) is str:
                self._state = "idle"
                return CellOutcome("timeout", f"{which} time limit ({limit:g} s) exceeded "
                                   "(interrupted)", clean_text(message["output"],
                                                              self.limits.output_bytes))
            self._record_stop(stop)
            self._fail(ProtocolError("unexpected message after an interrupt"))
            return CellOutcome("timeout", f"{which} time limit ({limit:g} s) exceeded", "",
                               stop)

    def checkpoint(self, question: str, on_check: Callable[[str], None]) -> None:
        """Between cells: run ``on_check(question)`` with the namespace live."""
        with self._lock:
            if self._state not in ("idle", "dead", "closed"):
                raise RuntimeError(f"checkpoint while the sandbox is {self._state}")
            on_check(question)

    # -- namespace and remote objects -------------------------------------------------------
    @property
    def namespace(self) -> Mapping[str, Any]:
        """Lazy view of the student's globals as they are now (see ``RemoteNamespace``)."""
        return RemoteNamespace(self._remote)

    def request(self, message: dict[str, Any], prepare: Callable[[dict[str, Any]], None],
                interpret: Callable[[dict[str, Any]], Any], extra_time: float = 0.0) -> Any:
        """One forwarded operation (``remote.RemoteObjects`` builds and reads the messages).

        Under the sandbox's lock: check that the namespace may be used now, ``prepare`` the
        message (encode a test's arguments), catch up on an abandoned exchange, send, wait at
        most ``call_timeout`` (plus ``extra_time``: a batch of calls may spend one time slice
        before its last call starts) and return ``interpret(reply)``. A hung call is
        interrupted and raises ``SandboxTimeout``; anything malformed kills the sandbox
        (``SandboxDied``).
        """
        with self._lock:
            if not self.alive():
                raise SandboxDied(self.exit_reason or "sandbox is not running")
            if self._state not in ("idle", "checkpoint"):
                raise RuntimeError("the student namespace is only available between cells "
                                   "and during on_check")
            assert self._channel is not None
            began = time.monotonic()
            between_cells = self._state == "idle"
            budget_end = (began + self.limits.notebook_timeout - self._notebook_used
                          if between_cells or self._cell_budget_end is None
                          else self._cell_budget_end)
            if budget_end <= began:
                raise SandboxTimeout("notebook time limit exceeded")
            prepare(message)
            try:
                self._recover()
                released = self._remote.take_released()
                if released:
                    message["rel"] = released
                seq = message["seq"] = self._channel.next_seq()
                deadline = min(time.monotonic() + self.limits.call_timeout + extra_time,
                               budget_end)
                self._write(message, deadline, expect_reply=True)
                try:
                    reply = self._read(deadline, seq)
                except FrameTimeoutError:
                    self._interrupt_call(seq)
                    raise SandboxTimeout(f"remote {message['op']} exceeded "
                                         f"{self.limits.call_timeout:g} s or the notebook "
                                         "time limit") from None
                return interpret(reply)
            except (ProtocolError, SandboxDied) as exc:
                raise self._fail(exc) from None
            finally:
                if between_cells:  # between cells and at the end: the notebook's time too
                    self._notebook_used += time.monotonic() - began

    def _recover(self) -> None:
        """Catch up after an abandoned exchange (see ``signals_deferred``).

        If an asynchronous exception (a test's alarm) left while a reply was still owed,
        interrupt the student code and read that reply before anything else; if it does
        not come within ``interrupt_grace``, kill the sandbox.
        """
        channel = self._channel
        if channel is None or channel.awaiting is None:
            return
        self._interrupt()
        try:
            self._drain(time.monotonic() + self.limits.interrupt_grace)
        except FrameTimeoutError:
            self._kill("an abandoned remote call did not stop; killed")
            raise SandboxDied("an abandoned remote call did not stop; killed") from None

    def _drain(self, deadline: float) -> None:
        """``Channel.drain`` with the pipe's end reported as ``SandboxDied``."""
        assert self._channel is not None
        try:
            self._channel.drain(deadline)
        except PeerClosedError:
            raise SandboxDied(_describe_exit(self._reap(2))) from None

    def _interrupt_call(self, seq: int) -> None:
        """A forwarded call hung: interrupt; if no reply within the grace, kill."""
        self._interrupt()
        try:
            self._drain(time.monotonic() + self.limits.interrupt_grace)
        except FrameTimeoutError:
            self._record_stop(Stop(Cause.CALL_TIMEOUT, seconds=self.limits.call_timeout))
            self._kill(f"remote call exceeded {self.limits.call_timeout:g} s; killed")
        except (ProtocolError, SandboxDied) as exc:
            self._fail(exc)


class ExecKeeper:
    """A cold-started keeper (our child): the same surface as ``zygote.ForkedKeeper``."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.pid = process.pid
        self.pidfd = os.pidfd_open(process.pid)

    def reap(self, timeout: float | None) -> int | None:
        """The exit code once it has exited (waiting up to ``timeout``), else None.

        Why not ``Popen.wait``/``poll``: they hold an internal lock that an asynchronous
        exception (a test's alarm) can leave locked forever; pidfd + waitpid hold none.
        """
        process = self.process
        if process.returncode is not None:
            return process.returncode
        ready, _, _ = select.select([self.pidfd], [], [], timeout)
        if not ready:
            return None
        try:
            _, status = os.waitpid(process.pid, 0)
        except ChildProcessError:
            return process.returncode
        process.returncode = os.waitstatus_to_exitcode(status)
        return process.returncode

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def close(self) -> None:
        """Release the pidfd (after the keeper is gone)."""
        if self.pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = -1


def _emergency_cleanup(keeper: ExecKeeper | zygote.ForkedKeeper, lifeline: int,
                       runtime: str) -> None:
    """Garbage-collected without close(): kill the keeper and drop the runtime dir."""
    with contextlib.suppress(OSError):
        os.close(lifeline)
    with contextlib.suppress(Exception):
        keeper.kill()
    with contextlib.suppress(Exception):
        keeper.reap(5)
    keeper.close()
    shutil.rmtree(runtime, ignore_errors=True)
