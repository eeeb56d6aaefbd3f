"""What a pre-started, pre-importing sandbox (a fork server) would save per submission.

A fork server keeps one warm process per grading slot that has already imported what every
notebook's runner imports (NumPy, IPython, and for the homework matplotlib.pyplot), and forks
it per submission instead of starting a fresh interpreter in a fresh jail. This benchmark
measures, alternating in one run so that the machine's load falls on both alike:

* ``cold``: what a submission pays today before its first line of its own: ``Sandbox.start``
  (keeper, jail, runner with NumPy and IPython) plus a cell ``import matplotlib.pyplot``;
* what a fork server would no longer pay: the keeper's interpreter start-up (``keeper``: a
  fresh ``python -I -S``) and the runner's (``runner``: a fresh interpreter importing NumPy,
  IPython and matplotlib.pyplot and creating the IPython shell), against what it would pay
  instead: two ``fork()`` of a process holding those modules (``fork``, with the child's exit
  and the parent's ``waitpid``). Building the namespaces and mounts stays the same either way.

The saving per submission is at most ``keeper + runner - 2 x fork``; ``cold`` bounds it too.
All are medians of alternating rounds in one run; under load, compare them with each other
only, never with a quiet machine's grading times.

    .venv/bin/python benchmarks/bench_sandbox_start.py --rounds 20

Writes ``benchmarks/results/sandbox-start.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sandbox-start.json"

WARM = """
import os, sys, time
import numpy, IPython, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
from IPython.core.interactiveshell import InteractiveShell
out = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    out.append(time.perf_counter() - t)
print(" ".join(f"{x:.6f}" for x in out))
"""


def cold_start() -> tuple[float, float]:
    """(start seconds, import-pyplot-cell seconds) of one fresh sandbox."""
    from autograder.grading.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        t0 = time.perf_counter()
        sandbox = Sandbox(scratch)
        sandbox.start()
        t1 = time.perf_counter()
        outcome = sandbox.run_cell("import matplotlib.pyplot as plt")
        t2 = time.perf_counter()
        sandbox.close()
        assert outcome.status == "ok", outcome.error
        return t1 - t0, t2 - t1


RUNNER = ("import numpy, IPython, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot\n"
          "from IPython.core.interactiveshell import InteractiveShell\n"
          "InteractiveShell.instance()\n")


def runner_only() -> float:
    """A fresh interpreter that imports what the runner and the homework import."""
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-E", "-s", "-B", "-c", RUNNER], check=True, env=env,
                   capture_output=True)
    return time.perf_counter() - t


def keeper_only() -> float:
    """The keeper alone: a fresh ``python -I -S`` that exits (its interpreter start-up)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
    return time.perf_counter() - t


def fork_costs(n: int) -> list[float]:
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", WARM, str(n)], capture_output=True, text=True,
                          check=True, env=env)
    return [float(x) for x in done.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    start, imports, forks, keepers, runners, load = [], [], [], [], [], []
    cold_start()  # warm the page cache and the font cache once
    for _ in range(args.rounds):
        load.append(os.getloadavg()[0])
        s, i = cold_start()
        start.append(s)
        imports.append(i)
        forks.extend(fork_costs(5))
        keepers.append(keeper_only())
        runners.append(runner_only())
    cold = statistics.median(a + b for a, b in zip(start, imports, strict=True))
    fork = statistics.median(forks)
    result = {
        "rounds": args.rounds, "cpu_count": os.cpu_count(),
        "median_seconds": {"sandbox_start": round(statistics.median(start), 4),
                           "import_pyplot_cell": round(statistics.median(imports), 4),
                           "cold_total": round(cold, 4), "fork": round(fork, 5),
                           "keeper_interpreter": round(statistics.median(keepers), 4),
                           "runner_interpreter_and_imports": round(statistics.median(runners), 4)},
        "load_average_1min": {"mean": round(statistics.mean(load), 2), "max": round(max(load), 2)},
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
