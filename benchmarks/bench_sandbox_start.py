"""What the fork server saves per sandbox: a cold start against a fork of the warm zygote.

Measured alternately in one run, so that the machine's load falls on both alike, each round
opens one sandbox of each kind and times what a homework submission pays before its first
line of its own:

* ``start``: ``Sandbox.start`` (keeper, namespaces and mounts, runner with NumPy and the
  IPython shell, its hello);
* ``first_cell``: a cell ``import numpy as np, matplotlib.pyplot as plt`` (a homework's first
  cell; matplotlib is already imported in a forked runner, not in a cold one);
* ``close``: ``Sandbox.close`` (kill, control group, tmpfs, slot lease).

``cold`` starts with ``MLPHYS_FORK_SERVER=0``; ``fork server`` with the default. The zygote's
own start-up (once per grading process) is reported apart. Medians of ``--rounds`` rounds;
under load compare the two columns with each other only.

    .venv/bin/python benchmarks/bench_sandbox_start.py --rounds 20

Writes ``benchmarks/results/sandbox-start.json``. Needs root and the jail mode (the fork
server serves nothing else).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "sandbox-start.json"

from autograder.grading.model import Limits  # noqa: E402
from autograder.grading.sandbox import Sandbox, host, zygote  # noqa: E402

FIRST_CELL = "import numpy as np, matplotlib.pyplot as plt"


def one(work: Path, fork_server: bool, index: int) -> dict[str, float]:
    """Open, run the first cell, close: the three times."""
    os.environ[zygote.ENV_SWITCH] = "1" if fork_server else "0"
    scratch = work / f"{'fork' if fork_server else 'cold'}-{index}"
    scratch.mkdir()
    box = Sandbox(scratch, Limits(cell_timeout=60), slot=900)
    t0 = time.perf_counter()
    box.start()
    t1 = time.perf_counter()
    outcome = box.run_cell(FIRST_CELL)
    t2 = time.perf_counter()
    box.close()
    t3 = time.perf_counter()
    expected = "fork server" if fork_server else "exec"
    if outcome.status != "ok" or box.start_method != expected:
        raise SystemExit(f"unexpected: {outcome} / {box.start_method}")
    return {"start": t1 - t0, "first_cell": t2 - t1, "close": t3 - t2, "total": t3 - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if os.geteuid() != 0 or host.available_mode() != "jail":
        raise SystemExit("needs root and the jail mode (the fork server serves nothing else)")
    load_before = os.getloadavg()
    times: dict[str, list[dict[str, float]]] = {"cold": [], "fork server": []}
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        work = Path(tmp)
        began = time.perf_counter()
        one(work, True, -1)  # the zygote's own start-up, once per grading process
        zygote_start = time.perf_counter() - began
        for k in range(args.rounds):
            for fork in ((True, False) if k % 2 == 0 else (False, True)):
                times["fork server" if fork else "cold"].append(one(work, fork, k))
    zygote.close_all()
    medians = {kind: {part: round(statistics.median(t[part] for t in runs), 4)
                      for part in ("start", "first_cell", "close", "total")}
               for kind, runs in times.items()}
    result = {
        "rounds": args.rounds,
        "medians_s": medians,
        "saved_per_sandbox_s": round(medians["cold"]["total"] - medians["fork server"]["total"],
                                     4),
        "cold_over_fork_server": round(medians["cold"]["total"]
                                       / medians["fork server"]["total"], 2),
        "first_fork_with_zygote_start_s": round(zygote_start, 3),
        "load_average": [round(x, 1) for x in load_before],
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
