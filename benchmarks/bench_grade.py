"""Benchmark `mlphys grade` against `otter run` and against bare nbclient execution.

The same N submissions (default 20) are graded, in one run, three ways:

* ``mlphys grade`` (the CLI, ``--jobs`` workers, default: the CPU count), ``--mlphys-rounds``
  times (default 3), one round before each K-th of the ``otter run`` sequence, so that both
  see the same machine; its time is the median of the rounds (one batch takes half a minute,
  and on a busy shared machine a single one moved by up to 40% between runs);
* ``otter run``, one process per submission, sequentially: what an instructor without Docker
  has to do (Otter's only Docker-free path);
* bare ``nbclient`` execution of the same notebooks, no grading at all: the floor. It runs with
  the same parallelism as ``mlphys grade`` (one kernel per notebook, ``--jobs`` at a time), so
  the ratio measures our overhead, not the number of cores.

Printed and written to ``benchmarks/results/grade.json``:
``throughput_vs_otter_run`` (goal >= 10) and ``time_vs_nbclient_floor`` (goal <= 1.5).

    .venv/bin/python benchmarks/bench_grade.py                       # fixture assignment
    .venv/bin/python benchmarks/bench_grade.py --autograder A.zip --notebook SOLVED.ipynb
    .venv/bin/python benchmarks/bench_grade.py --autograder A.zip --submissions DIR
    .venv/bin/python benchmarks/bench_grade.py --skip-otter --baseline /tmp/old --rounds 3

``--cold-rounds K``: ``mlphys grade`` is timed K times with the fork server (the default: a
warm zygote forks each sandbox) and K times with ``--no-fork-server`` (a fresh interpreter per
sandbox), alternating, and ``fork_server_speedup`` (median cold / median fork server) is
reported next to both throughputs.

``--baseline DIR``: a checkout of an earlier version (``git archive REV | tar -x -C DIR``);
``mlphys grade`` is then timed alternately with this code and with that one, ``--rounds``
times each, in the same run, and ``vs_baseline`` (median time now / median time then) is
reported: a before/after comparison under the same machine load.

With ``--notebook`` the notebook is copied N times (each copy gets a distinct trailing comment,
so every file has its own hash and none is skipped as already graded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results" / "grade.json"


def _fixture_submissions(dest: Path, n: int) -> tuple[Path, list[Path]]:
    """Submissions for the fixture assignment: a mix of correct and partly wrong answers."""
    sys.path.insert(0, str(ROOT / "tests" / "grading"))
    from mlgrade_support import ag_zip, build_notebook, write_nb

    wrong = [{}, {"q1": "def square(x):\n    return 2 * x"}, {"q4": "arr = np.zeros(5)"},
             {"q5": "mass = 2.0\nvelocity = 3.0\nkinetic = 1.0"}]
    paths = []
    for i in range(n):
        nb = build_notebook("demo_ok", wrong[i % len(wrong)])
        nb.cells.append(nbformat.v4.new_code_cell(f"# submission {i}"))
        paths.append(write_nb(nb, dest / f"student_{i:02d}" / "master.ipynb"))
    return ag_zip("demo_ok"), paths


def _copies(notebook: Path, dest: Path, n: int) -> list[Path]:
    nb = nbformat.read(notebook, as_version=4)
    paths = []
    for i in range(n):
        copy = nbformat.from_dict(json.loads(nbformat.writes(nb)))
        copy.cells.append(nbformat.v4.new_code_cell(f"# submission {i}"))
        paths.append(write(copy, dest / f"student_{i:02d}" / notebook.name))
    return paths


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def time_mlphys(zip_path: Path, subs: list[Path], jobs: int, work: Path,
                code: Path | None = None, fork_server: bool = True) -> float:
    """Wall time of one ``mlphys grade`` of ``subs`` (a fresh output directory each time);
    ``code``: run that checkout's ``autograder`` instead of this one; ``fork_server=False``:
    every sandbox starts cold (``--no-fork-server``)."""
    out = Path(tempfile.mkdtemp(prefix="mlphys-out-", dir=work))
    flat = work / "mlphys-in"
    if not flat.exists():
        flat.mkdir()
        for i, p in enumerate(subs):  # one directory argument; names must differ
            shutil.copy(p, flat / f"{i:02d}_{p.name}")
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    env["MLPHYS_FORK_SERVER"] = "1" if fork_server else "0"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "--autograder",
                    str(zip_path), "--out", str(out), "--jobs", str(jobs), "--quiet", str(flat)],
                   check=True, env=env, cwd=code or ROOT)
    return time.perf_counter() - t0


def time_otter_run(zip_path: Path, subs: list[Path], work: Path,
                   between: Callable[[], None] | None = None, pauses: int = 0,
                   ) -> tuple[float, list[float]]:
    """Sequential ``otter run`` of every submission: total of the runs' own times, and each.
    ``between()`` is called before every ``len(subs) / pauses``-th run (not timed): the
    ``mlphys grade`` rounds, spread through the anchor so both see the same machine."""
    each = []
    marks = {round(k * len(subs) / pauses) for k in range(pauses)} if pauses else set()
    for i, p in enumerate(subs):
        if between is not None and i in marks:
            between()
        out = work / "otter-out" / str(i)
        out.mkdir(parents=True)
        t = time.perf_counter()
        subprocess.run([str(BIN / "otter"), "run", str(p), "-a", str(zip_path), "-o", str(out),
                        "--no-logo"], check=True, capture_output=True, cwd=out)
        each.append(time.perf_counter() - t)
    return sum(each), each


def time_nbclient(subs: list[Path], jobs: int) -> float:
    from nbclient import NotebookClient

    def run(p: Path) -> None:
        nb = nbformat.read(p, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(p.parent)}}).execute()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        list(ex.map(run, subs))
    return time.perf_counter() - t0


def _course_submissions(name: str, work: Path, n: int) -> tuple[Path, list[Path]]:
    """Build a course assignment and write n honest submissions of it (correct and partly
    wrong, as the demo's class makes them; no hostile ones, which would hang `otter run`)."""
    import numpy as np

    from autograder.build import ASSIGNMENTS, build_assignment
    from autograder.democlass import apply_mutation, as_student_work, load_mutations, make_roster

    built = build_assignment(name, work / "dist")
    solutions = nbformat.read(built.solutions, as_version=4)
    handout = nbformat.read(built.student_dir / f"{name}.ipynb", as_version=4)
    mutations = load_mutations(ASSIGNMENTS / name)
    rng = np.random.default_rng(20)
    folder = work / "subs"
    folder.mkdir(parents=True)
    subs = []
    for k, student in enumerate(make_roster(n, rng)):
        nb = as_student_work(solutions, handout, student)
        if mutations and k % 3 == 2:
            apply_mutation(nb, mutations[k % len(mutations)])
        path = folder / f"{student.login}.ipynb"
        nbformat.write(nb, path)
        subs.append(path)
    return built.autograder_zip, subs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--autograder", type=Path, help="Otter autograder zip (default: fixture)")
    ap.add_argument("--notebook", type=Path, help="a solved notebook, copied N times")
    ap.add_argument("--submissions", type=Path, help="a directory of submissions (*.ipynb)")
    ap.add_argument("--assignment", help="one of the course's assignments (e.g. hw02-backprop): "
                    "built here, with N honest submissions made from its solutions")
    ap.add_argument("-n", type=int, default=20, help="number of submissions (default 20)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-otter", action="store_true", help="(for quick checks only)")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    ap.add_argument("--baseline", type=Path, help="an earlier checkout to compare with")
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs with --baseline")
    ap.add_argument("--mlphys-rounds", type=int, default=3, metavar="K",
                    help="time `mlphys grade` K times, one before each K-th of the `otter run` "
                         "sequence; its time is the median (default 3)")
    ap.add_argument("--cold-rounds", type=int, default=0, metavar="K",
                    help="also time K alternating pairs of `mlphys grade` with and without the "
                         "fork server (--no-fork-server); the fork server's time is then the "
                         "median of its K runs")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        work = Path(tmp)
        if args.assignment is not None:
            zip_path, subs = _course_submissions(args.assignment, work, args.n)
            assignment = f"assignments/{args.assignment}"
        elif args.autograder is None:
            zip_path, subs = _fixture_submissions(work / "subs", args.n)
            assignment = "tests/grading/fixtures/demo_ok"
        else:
            zip_path = args.autograder
            assignment = str(args.autograder)
            if args.submissions is not None:
                subs = sorted(args.submissions.glob("*.ipynb"))[: args.n]
            elif args.notebook is not None:
                subs = _copies(args.notebook, work / "subs", args.n)
            else:
                ap.error("--autograder needs --notebook or --submissions")
        n = len(subs)
        print(f"{n} submissions of {assignment}, {args.jobs} jobs", flush=True)
        t_floor = time_nbclient(subs, args.jobs)
        print(f"nbclient floor ({args.jobs} parallel): {t_floor:.1f} s", flush=True)
        cold_pairs: dict[str, list[float]] = {"fork_server": [], "cold": []}
        if args.cold_rounds > 0:
            for k in range(args.cold_rounds):  # alternate the order: both see the same load
                for fork in ((True, False) if k % 2 == 0 else (False, True)):
                    cold_pairs["fork_server" if fork else "cold"].append(
                        time_mlphys(zip_path, subs, args.jobs, work, fork_server=fork))
            print(f"fork server / cold pairs (s): {cold_pairs}", flush=True)
            t_ours = statistics.median(cold_pairs["fork_server"])
        rounds: list[float] = []

        def one_round() -> None:
            rounds.append(time_mlphys(zip_path, subs, args.jobs, work))
            print(f"mlphys grade: {rounds[-1]:.1f} s", flush=True)

        if args.cold_rounds == 0 and args.skip_otter:
            for _ in range(args.mlphys_rounds):
                one_round()
        paired: dict[str, list[float]] = {"now": [], "baseline": []}
        if args.baseline is not None:
            for _ in range(args.rounds):  # alternate, so both see the same load
                paired["baseline"].append(time_mlphys(zip_path, subs, args.jobs, work,
                                                      args.baseline.resolve()))
                paired["now"].append(time_mlphys(zip_path, subs, args.jobs, work))
            print(f"paired runs (s): {paired}", flush=True)
        if args.skip_otter:
            t_otter, each = float("nan"), []
        else:
            spread = args.cold_rounds == 0
            t_otter, each = time_otter_run(zip_path, subs, work, one_round if spread else None,
                                           args.mlphys_rounds if spread else 0)
            print(f"otter run (sequential): {t_otter:.1f} s "
                  f"({t_otter / n:.1f} s per submission)", flush=True)
        if args.cold_rounds == 0:
            t_ours = statistics.median(rounds)
            print(f"mlphys grade, median of {len(rounds)}: {t_ours:.1f} s", flush=True)

    result = {
        "assignment": assignment,
        "submissions": n,
        "jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "seconds": {"mlphys_grade": round(t_ours, 2), "otter_run_sequential": round(t_otter, 2),
                    "nbclient_floor": round(t_floor, 2)},
        "mlphys_grade_rounds": [round(x, 2) for x in rounds],
        "otter_run_per_submission": [round(x, 2) for x in each],
        "throughput_vs_otter_run": round(t_otter / t_ours, 2),
        "time_vs_nbclient_floor": round(t_ours / t_floor, 2),
        "goals": {"throughput_vs_otter_run": ">= 10", "time_vs_nbclient_floor": "<= 1.5"},
    }
    if args.cold_rounds > 0:
        t_cold = statistics.median(cold_pairs["cold"])
        result["fork_server_vs_cold_s"] = cold_pairs
        result["cold_start"] = {"mlphys_grade": round(t_cold, 2),
                                "throughput_vs_otter_run": round(t_otter / t_cold, 2),
                                "time_vs_nbclient_floor": round(t_cold / t_floor, 2)}
        result["fork_server_speedup"] = round(t_cold / t_ours, 2)
        print(f"fork server speed-up (median cold / median fork server): "
              f"{result['fork_server_speedup']}")
    if args.baseline is not None:
        result["paired_with_baseline_s"] = paired
        result["vs_baseline"] = round(statistics.median(paired["now"])
                                      / statistics.median(paired["baseline"]), 3)
        print(f"vs_baseline (median now / median baseline): {result['vs_baseline']}")
    print(json.dumps({k: result[k] for k in ("throughput_vs_otter_run",
                                             "time_vs_nbclient_floor")}, indent=2))
    if "load_average" not in result:
        result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    if not args.skip_otter:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
