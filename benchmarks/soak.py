"""Soak benchmark: 1,000 submissions (honest, wrong, crashing, looping, hostile, malformed) of
hw04-feedforward and quiz02-python-numpy, graded on this machine by the local executor and then
by two local Dask workers.

For each executor, one driver process grades the hw04 batch (500) and then the quiz02 batch
(500), as ``grade_batch`` calls with one executor (for Dask: one cluster connection, as an
instructor grading several assignments would). Measured:

* wall time of each batch and of both (goal: < 20 minutes for the 1,000 on 2 cores);
* exactly once: every submission has exactly one committed result, and one CSV row;
* memory: the resident set (VmRSS) of the driver, the grading processes and the Dask processes,
  sampled every 0.5 s, reported as the peak per window of 100 completed submissions (goal:
  flat from the first 100 to the last 100 of each batch); sandboxes are per submission and
  not counted;
* the Dask run's wall time over the local run's (goal <= 1.1), and whether both gave the same
  grades (submissions whose outcome depends on timing, like fork bombs, may differ);
* the machine's load average during each run (other people's work slows both).

    .venv/bin/python benchmarks/soak.py                 # 1,000 submissions, both executors
    .venv/bin/python benchmarks/soak.py -n 100 --executors local     # a quick look

Writes ``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "grading"))
RESULTS = ROOT / "benchmarks" / "results" / "soak.json"
TAG_VAR = "MLPHYS_TEST_CLUSTER"  # dask_support tags the cluster's processes with it
ASSIGNMENTS = ("hw04-feedforward", "quiz02-python-numpy")
SEED = 1000

# kind -> share of the class
MIX = {"honest": 0.50, "wrong": 0.20, "crashing": 0.10, "looping": 0.05, "hostile": 0.10,
       "malformed": 0.05}
CRASHES = ["raise RuntimeError('I will fix this later')", "import os\nos._exit(3)",
           "import ctypes\nctypes.string_at(0)", "import sys\nsys.exit(2)"]
LOOPS = ["while True:\n    pass",
         "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"]


def _hostile_snippets() -> list[str]:
    from adversarial_corpus import DISK_FILL, FORK_BOMB, GIANT_OUTPUT, KILL_PARENT, ORPHAN_DAEMON

    from autograder.democlass import MALICIOUS

    creep = "hog = []\nwhile True:\n    hog.append(bytearray(64 * 2**20))"
    return [MALICIOUS, FORK_BOMB, creep, GIANT_OUTPUT, KILL_PARENT, ORPHAN_DAEMON, DISK_FILL]


# --------------------------------------------------------------------------------------------
# the class
# --------------------------------------------------------------------------------------------

def _insert(nb, source: str, where: float):
    import nbformat

    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    nb.cells.insert(code[int(where * (len(code) - 1))] + 1, nbformat.v4.new_code_cell(source))
    return nb


def make_class(work: Path, n: int) -> tuple[dict[str, Path], dict[str, dict[str, str]]]:
    """Build both assignments and write n submissions (half each). Returns the autograder zip
    and the submission folder of each assignment, and file name -> kind per assignment."""
    import nbformat
    import numpy as np

    from autograder.build import ASSIGNMENTS as MASTERS
    from autograder.build import build_assignment
    from autograder.democlass import (
        KEY_CALL,
        apply_mutation,
        as_student_work,
        load_mutations,
        make_roster,
    )

    rng = np.random.default_rng(SEED)
    hostile = _hostile_snippets()
    zips: dict[str, Path] = {}
    kinds: dict[str, dict[str, str]] = {}
    built = {name: build_assignment(name, work / "dist") for name in ASSIGNMENTS}
    for a, name in enumerate(ASSIGNMENTS):
        b = built[name]
        other = built[ASSIGNMENTS[1 - a]]
        solutions = nbformat.read(b.solutions, as_version=4)
        handout = nbformat.read(b.student_dir / f"{name}.ipynb", as_version=4)
        foreign = nbformat.read(other.student_dir / f"{other.name}.ipynb", as_version=4)
        mutations = load_mutations(MASTERS / name)
        letters = sorted({m["var"].removesuffix("_answer") for c in solutions.cells
                          if c.cell_type == "code" for m in KEY_CALL.finditer(c.source)})
        folder = work / "subs" / name
        folder.mkdir(parents=True)
        count = n // 2 + (n % 2 if a == 0 else 0)
        names = list(MIX)
        picks = rng.choice(len(names), size=count, p=[MIX[k] for k in names])
        kinds[name] = {}
        for k, (student, pick) in enumerate(zip(make_roster(count, rng), picks, strict=True)):
            kind = names[int(pick)]
            stem = f"s{k:04d}_{student.login}"
            wrong: set[str] = set()
            if kind == "wrong" and letters:
                wrong = set(rng.choice(letters, size=min(len(letters), 1 + k % 2),
                                       replace=False).tolist())
            nb = as_student_work(solutions, handout, student, wrong)
            path = folder / f"{stem}.ipynb"
            if kind == "wrong" and mutations:
                apply_mutation(nb, mutations[int(rng.integers(len(mutations)))])
            elif kind == "crashing":
                _insert(nb, CRASHES[k % len(CRASHES)], float(rng.uniform(0.2, 0.9)))
            elif kind == "looping":
                _insert(nb, LOOPS[k % len(LOOPS)], float(rng.uniform(0.2, 0.9)))
            elif kind == "hostile":
                _insert(nb, hostile[k % len(hostile)], float(rng.uniform(0.1, 0.95)))
            elif kind == "malformed":
                text = nbformat.writes(nb)
                variant = k % 4
                if variant == 0:
                    path.write_text(text[: len(text) // 2])
                elif variant == 1:
                    path.write_bytes(b"")
                elif variant == 2:
                    nbformat.write(foreign, path)
                else:
                    path = folder / f"{stem}.zip"
                    with zipfile.ZipFile(path, "w") as zf:
                        zf.writestr("a.ipynb", text)
                        zf.writestr("b.ipynb", text)
                kinds[name][path.name] = kind
                continue
            nbformat.write(nb, path)
            kinds[name][path.name] = kind
        zips[name] = b.autograder_zip
    return zips, kinds


# --------------------------------------------------------------------------------------------
# the driver (a child process, so its memory is its own)
# --------------------------------------------------------------------------------------------

def drive(config: dict) -> None:
    from autograder.grading import grade_batch
    from autograder.grading.model import Limits

    limits = Limits(cell_timeout=config["cell_timeout"], notebook_timeout=config["timeout"])
    if config["executor"] == "dask":
        from autograder.grading.executors.dask import DaskExecutor

        executor = DaskExecutor(scheduler_file=config["scheduler_file"])
    else:
        from autograder.grading.executors.local import LocalExecutor

        executor = LocalExecutor(config["jobs"])
    seconds = {}
    with open(config["progress"], "w") as progress:
        for name in ASSIGNMENTS:
            t0 = time.perf_counter()
            summary = grade_batch(config["zips"][name], [config["subs"][name]],
                                  Path(config["out"]) / name, executor=executor, limits=limits,
                                  progress=False)
            seconds[name] = time.perf_counter() - t0
            progress.write(f"{name} {summary.graded} {seconds[name]:.2f}\n")
            progress.flush()
    executor.close()
    print(json.dumps(seconds))


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------

def _proc_info(pid: int) -> tuple[str, int, bytes] | None:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace")
        status = Path(f"/proc/{pid}/status").read_text()
        env = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    rss = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return cmd, rss, env


def _role(pid: int, driver: int, cmd: str, env: bytes, tag: str | None) -> str | None:
    if pid == driver:
        return "driver"
    if "jail.py" in cmd or "runner.py" in cmd:
        return None  # a sandbox: per submission, not the batch's memory
    mine = f"{TAG_VAR}={tag}".encode() in env.split(b"\0") if tag else False
    if "autograder.grading.executors.local" in cmd and (mine or _ancestor(pid, driver)):
        return "grading process"
    if mine:
        return "dask scheduler" if " scheduler" in cmd else "dask worker"
    return None


def _ancestor(pid: int, ancestor: int) -> bool:
    for _ in range(8):
        try:
            pid = int(Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            return False
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


def _done(out: Path) -> int:
    total = 0
    for name in ASSIGNMENTS:
        db = out / name / "gradebook.sqlite"
        if not db.exists():
            continue
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            try:
                total += conn.execute(
                    "SELECT COUNT(*) FROM attempts WHERE state='done'").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.OperationalError:
            pass
    return total


class Sampler(threading.Thread):
    """Every 0.5 s: completed submissions, the RSS of each process of the run, load."""

    def __init__(self, driver: int, out: Path, tag: str | None):
        super().__init__(daemon=True)
        self.driver, self.out, self.tag = driver, out, tag
        self.samples: list[tuple[float, int, dict[str, int]]] = []
        self.load: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            done = _done(self.out)
            peak: dict[str, int] = collections.defaultdict(int)
            for d in Path("/proc").iterdir():
                if not d.name.isdigit():
                    continue
                info = _proc_info(int(d.name))
                if info is None:
                    continue
                role = _role(int(d.name), self.driver, info[0], info[2], self.tag)
                if role is not None:
                    peak[role] = max(peak[role], info[1])
            self.samples.append((time.monotonic(), done, dict(peak)))
            self.load.append(os.getloadavg()[0])

    def windows(self, n: int, size: int = 100) -> dict[str, list[float]]:
        """Peak MB per role in each window of ``size`` completed submissions."""
        out: dict[str, list[float]] = {}
        bins = max(1, -(-n // size))
        for _, done, peak in self.samples:
            w = min(bins - 1, done // size)
            for role, rss in peak.items():
                row = out.setdefault(role, [0.0] * bins)
                row[w] = max(row[w], round(rss / 2**20, 1))
        return out


# --------------------------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------------------------

def run_executor(kind: str, work: Path, zips: dict[str, Path], kinds: dict[str, dict[str, str]],
                 args: argparse.Namespace) -> dict:
    out = work / f"out-{kind}"
    cluster = None
    tag = None
    if kind == "dask":
        from dask_support import LoopbackCluster

        # as docs/cluster.md advises (Dask's default keeps 1000 messages per connection,
        # each submission's bytes included): --dask-message-log 1000 measures the default
        cluster = LoopbackCluster(work / "cluster", workers=2, nanny=True, env={
            "DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH": str(args.dask_message_log)})
        tag = cluster.tag
    config = {"executor": kind, "zips": {k: str(v) for k, v in zips.items()},
              "subs": {k: str(work / "subs" / k) for k in ASSIGNMENTS}, "out": str(out),
              "jobs": args.jobs, "cell_timeout": args.cell_timeout, "timeout": args.timeout,
              "scheduler_file": str(cluster.scheduler_file) if cluster else None,
              "progress": str(work / f"progress-{kind}.txt")}
    n = sum(len(v) for v in kinds.values())
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--drive", json.dumps(config)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    sampler = Sampler(proc.pid, out, tag)
    sampler.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    survivors = cluster.close() if cluster else []
    if proc.returncode != 0:
        raise SystemExit(f"the {kind} driver failed (exit {proc.returncode})")
    seconds = json.loads(stdout.strip().splitlines()[-1])

    # exactly once, and what each kind of submission got
    once, rows, outcomes = True, 0, collections.Counter()
    percent: dict[str, list[float]] = collections.defaultdict(list)
    grades: dict[str, tuple[str, ...]] = {}
    for name in ASSIGNMENTS:
        conn = sqlite3.connect(f"file:{out / name / 'gradebook.sqlite'}?mode=ro", uri=True)
        per = conn.execute("SELECT submission_path, COUNT(*) FROM attempts WHERE state='done'"
                           " GROUP BY submission_path").fetchall()
        conn.close()
        once = once and len(per) == len(kinds[name]) and all(c == 1 for _, c in per)
        with open(out / name / "final_grades.csv") as f:
            data = list(csv.DictReader(f))[1:]
        rows += len(data)
        for r in data:
            status = r["grading_status"].split(":")[0]
            outcomes[f"{kinds[name][r['file']]}: {status}"] += 1
            percent[kinds[name][r["file"]]].append(float(r["percent_correct"]))
            grades[f"{name}/{r['file']}"] = tuple(r.values())
    return {
        "wall_seconds": round(wall, 1),
        "batch_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "submissions": n, "csv_rows": rows, "exactly_once": once,
        "outcomes": dict(sorted(outcomes.items())),
        "mean_percent_correct": {k: round(sum(v) / len(v), 3) for k, v in sorted(percent.items())},
        "peak_mb_per_100": sampler.windows(n),
        "load_average_1min": {"mean": round(sum(sampler.load) / max(1, len(sampler.load)), 2),
                              "max": round(max(sampler.load, default=0.0), 2)},
        "processes_left": survivors,
        "_grades": grades,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1000, help="submissions in all (default 1000)")
    ap.add_argument("--executors", default="local,dask")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cell-timeout", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--dask-message-log", type=int, default=50,
                    help="messages each Dask process keeps per connection (Dask's default: 1000)")
    ap.add_argument("--drive", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.drive:
        drive(json.loads(args.drive))
        return

    with tempfile.TemporaryDirectory(prefix="mlphys-soak-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        zips, kinds = make_class(work, args.n)
        print(f"{args.n} submissions written in {time.perf_counter() - t:.0f} s: "
              f"{collections.Counter(k for v in kinds.values() for k in v.values())}", flush=True)
        runs: dict[str, dict] = {}
        for kind in args.executors.split(","):
            runs[kind] = run_executor(kind, work, zips, kinds, args)
            r = runs[kind]
            print(f"{kind}: {r['wall_seconds']} s ({r['batch_seconds']}), exactly once: "
                  f"{r['exactly_once']}, rows {r['csv_rows']}, load {r['load_average_1min']}",
                  flush=True)
            for role, peaks in r["peak_mb_per_100"].items():
                print(f"  {role}: peak MB per 100 graded {peaks}", flush=True)
            write_result(args, runs)  # after each executor: an interrupted run keeps the first


def write_result(args: argparse.Namespace, runs: dict[str, dict]) -> None:
    """Write the runs so far (the grades themselves stay out of the file)."""
    result: dict = {
        "submissions": args.n, "assignments": list(ASSIGNMENTS), "mix": MIX,
        "cell_timeout": args.cell_timeout, "notebook_timeout": args.timeout,
        "jobs": args.jobs, "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "dask_message_log": args.dask_message_log,
        "goals": {"wall_seconds": "< 1200", "dask_vs_local": "<= 1.1",
                  "memory": "flat from the first 100 to the last 100"},
    }
    if "local" in runs and "dask" in runs:
        a, b = runs["local"]["_grades"], runs["dask"]["_grades"]
        differ = sorted(k for k in a if a[k] != b.get(k))
        result["dask_vs_local"] = round(runs["dask"]["wall_seconds"]
                                        / runs["local"]["wall_seconds"], 3)
        result["grades_that_differ"] = differ
        print(f"dask / local: {result['dask_vs_local']}; {len(differ)} grades differ: "
              f"{differ[:10]}")
    result["runs"] = {kind: {k: v for k, v in r.items() if k != "_grades"}
                      for kind, r in runs.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
