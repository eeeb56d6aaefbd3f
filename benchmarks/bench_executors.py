"""Benchmark the executors side by side: `mlphys grade --jobs 2` (local worker processes)
against `mlphys grade --dask-scheduler-file` on two local Dask workers (one thread each), the
same submissions, alternating in one run (local, dask, dask, local, ...) so that the machine's
load falls on both alike.

    .venv/bin/python benchmarks/bench_executors.py --assignment hw04-feedforward -n 40

Every run grades into a fresh output directory (nothing is skipped as already graded). Note
what the ratio includes: the Dask client's connection to the scheduler, the transfer of every
submission as bytes, the scheduler's round trips and the Dask processes' own CPU on the same
two cores; and what favours Dask: its workers keep their grading processes between runs of the
same autograder (a second batch does not pay their start-up).
Writes ``benchmarks/results/executors-<assignment>.json``.
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
sys.path.insert(0, str(ROOT / "tests" / "grading"))
sys.path.insert(0, str(ROOT / "benchmarks"))
BIN = Path(sys.executable).parent


def grade(zip_path: Path, subs: Path, out: Path, extra: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "mlphys"), "grade", "--autograder", str(zip_path), "--out",
                    str(out), "--quiet", *extra, str(subs)], check=True)
    return time.perf_counter() - t0


def main() -> None:
    from bench_grade import _course_submissions
    from dask_support import LoopbackCluster

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assignment", default="hw04-feedforward")
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    out_file = args.out or ROOT / "benchmarks" / "results" / f"executors-{args.assignment}.json"

    with tempfile.TemporaryDirectory(prefix="bench-executors-") as tmp:
        work = Path(tmp)
        zip_path, subs = _course_submissions(args.assignment, work, args.n)
        folder = subs[0].parent
        cluster = LoopbackCluster(work / "cluster", workers=2, nanny=True)
        times: dict[str, list[float]] = {"local": [], "dask": []}
        load: list[float] = []
        try:
            runs = {"local": ["--jobs", "2"],
                    "dask": ["--dask-scheduler-file", str(cluster.scheduler_file)]}
            for r in range(args.rounds):
                order = ["local", "dask"] if r % 2 == 0 else ["dask", "local"]
                for kind in order:
                    load.append(os.getloadavg()[0])
                    t = grade(zip_path, folder, work / f"out-{kind}-{r}", runs[kind])
                    times[kind].append(round(t, 2))
                    print(f"round {r}: {kind} {t:.1f} s (load {load[-1]:.1f})", flush=True)
        finally:
            survivors = cluster.close()
        same = all((work / f"out-local-{r}" / "final_grades.csv").read_bytes()
                   == (work / f"out-dask-{r}" / "final_grades.csv").read_bytes()
                   for r in range(args.rounds))

    local, dask = statistics.median(times["local"]), statistics.median(times["dask"])
    result = {
        "assignment": args.assignment, "submissions": args.n, "rounds": args.rounds,
        "cpu_count": os.cpu_count(), "seconds": times,
        "median_seconds": {"local": local, "dask": dask},
        "dask_vs_local": round(dask / local, 3),
        "per_round_ratio": [round(d / loc, 3) for loc, d in zip(times["local"], times["dask"],
                                                                 strict=True)],
        "same_final_grades_csv": same, "load_average_1min": [round(x, 2) for x in load],
        "processes_left": survivors, "goal": {"dask_vs_local": "<= 1.1"},
    }
    print(json.dumps({k: result[k] for k in ("median_seconds", "dask_vs_local",
                                             "same_final_grades_csv")}, indent=2))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_file}")


if __name__ == "__main__":
    main()
