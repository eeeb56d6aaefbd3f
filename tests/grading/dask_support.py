"""A real Dask cluster on loopback for the tests: one ``dask scheduler`` and N ``dask worker``
processes started with the venv's entry points, bound to 127.0.0.1 with port 0, the address
passed through a scheduler file in the test's temporary directory.

Every process started here (and everything they start: grading processes, sandbox keepers)
carries a tag in its environment; :meth:`LoopbackCluster.close` stops them and returns the
tagged processes still alive, so a test can assert that none survives.

``hidden``: directories the workers must not see. Each worker runs in a mount namespace of its
own where those directories are covered by an empty tmpfs, so a worker that read a submission
or the autograder zip from the driver's file system instead of receiving the bytes would fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
TAG_VAR = "MLPHYS_TEST_CLUSTER"


def tagged_processes(tag: str) -> list[int]:
    """Pids whose environment carries ``TAG_VAR=tag``."""
    needle = f"{TAG_VAR}={tag}".encode()
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            pids.append(int(d.name))
    return pids


def children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                status = (d / "status").read_text()
            except OSError:
                continue
            ppid = int(status.split("PPid:")[1].split()[0])
            if ppid == pid:
                kids.append(int(d.name))
    return kids


def parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0])
    except (OSError, IndexError):
        return None


class LoopbackCluster:
    def __init__(self, root: Path, workers: int = 2, hidden: tuple[Path, ...] = (),
                 nanny: bool = False, env: dict[str, str] | None = None):
        """``env``: more environment for the scheduler and the workers (Dask settings)."""
        self.root = root
        self.nanny = nanny
        self.tag = f"{os.getpid()}-{time.monotonic_ns()}"
        self.env = dict(os.environ, **(env or {}), **{TAG_VAR: self.tag})
        self.scheduler_file = root / "scheduler.json"
        self.hidden = hidden
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        root.mkdir(parents=True, exist_ok=True)
        self._start_scheduler()
        for i in range(workers):
            self.add_worker(f"w{i}")
        self.wait_for_workers(workers)

    def _popen(self, cmd: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(self.root / log, "wb") as out:
            p = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def _start_scheduler(self) -> None:
        self._popen([str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                     "--no-dashboard", "--scheduler-file", str(self.scheduler_file)],
                    "scheduler.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.address = json.loads(self.scheduler_file.read_text())["address"]
                return
            time.sleep(0.1)
        raise AssertionError("the dask scheduler did not start: "
                             + (self.root / "scheduler.log").read_text()[-2000:])

    def add_worker(self, name: str) -> subprocess.Popen[bytes]:
        worker = [str(VENV_BIN / "dask"), "worker", "--scheduler-file", str(self.scheduler_file),
                  "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
                  "--name", name, "--local-directory", str(self.root / f"local-{name}")]
        if not self.nanny:  # the tests kill the worker process itself
            worker.append("--no-nanny")
        if self.hidden:
            mounts = " && ".join(f"mount -t tmpfs -o size=4k tmpfs '{d}'" for d in self.hidden)
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   f'{mounts} && exec "$@"', "sh", *worker]
        else:
            cmd = worker
        p = self._popen(cmd, f"worker-{name}.log")
        self.workers.append(p)
        return p

    def wait_for_workers(self, n: int, timeout: float = 90) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)

    def close(self) -> list[int]:
        """Stop the workers, then the scheduler; return the tagged processes still alive after
        that (20 s for the kernel to reap what died with them)."""
        workers = [p for p in self.procs if p in self.workers]
        for group in (workers, [p for p in self.procs if p not in workers]):
            for p in group:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
            for p in group:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        deadline = time.monotonic() + 20
        while tagged_processes(self.tag) and time.monotonic() < deadline:
            time.sleep(0.2)
        return tagged_processes(self.tag)
