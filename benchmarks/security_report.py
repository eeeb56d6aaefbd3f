"""Run the adversarial corpus under `otter run` and under `mlphys grade`; write the comparison
table of docs/security.md (between its BEGIN/END TABLE markers).

    .venv/bin/python benchmarks/security_report.py [--timeout 90] [--only first|hostile]

Two tables: the first corpus (adversarial_corpus.py, graded with `--cell-timeout 3 --timeout
90`) and issue 8's hostile corpus (hostile_corpus.py, graded with its small limits so that
every limit is reached; between the HOSTILE TABLE markers).

`otter run` has no sandbox, so a few attacks are NOT run under it here: the ones that never
return (it has no timeout) and the ones that would damage the host it runs on (memory
exhaustion, a fork bomb, filling the disk). The table says which and why. Every process an
attack leaves behind under `otter run` is found (by an environment marker) and killed after
the attack, and counted in the table.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "grading"))

from adversarial_corpus import CORPUS_MARK, FULL, corpus  # noqa: E402
from hostile_corpus import GRADER_MEMORY_BYTES, HOSTILE_LIMITS, hostile_corpus  # noqa: E402
from mlgrade_support import ag_zip  # noqa: E402

BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "security.md"
NOT_UNDER_OTTER = {
    "memory_creep": "would exhaust the host's memory (otter run sets no memory limit)",
    "fork_bomb": "would fork until the host's process table is full (no process limit)",
    "disk_fill": "writes ~10 GB to the host's disk (no file-size limit)",
    "huge_allocation": "may commit 50 GB on the host (no memory limit)",
    "fork_allocate": "would hold 2.4 GB of the host's memory (no memory limit)",
    "memory_through_files": "would fill the host's /dev/shm and then its memory (no limits)",
    "disk_fill_fast": "writes to the host's disk as fast as it can for 5 s (no disk limit)",
    "inode_fill": "creates 500,000 files on the host's disk (no limit)",
}
HOST_LEFTOVERS = ("/tmp/deep",)
"""What an attack leaves on the host under `otter run` (removed after it, any depth)."""


def _marked_pids(token: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if token.encode() in (d / "environ").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def _victims(root: Path) -> dict[str, str]:
    import hashlib

    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_otter(path: Path, work: Path, timeout: float) -> dict:
    token = f"MLGRADE_REPORT_{uuid.uuid4().hex}"
    out = work / path.stem
    out.mkdir(parents=True)
    env = dict(os.environ, MLGRADE_REPORT=token)
    t0 = time.monotonic()
    proc = subprocess.Popen([str(BIN / "otter"), "run", str(path), "-a", str(ag_zip("demo_ok")),
                             "-o", str(out), "--no-logo"], cwd=out, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        text, _ = proc.communicate(timeout=timeout)
        outcome = "ok" if proc.returncode == 0 else f"crashed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        text, _ = proc.communicate()
        outcome = f"hung (killed after {timeout:g} s)"
    seconds = time.monotonic() - t0
    time.sleep(0.5)
    leftovers = _marked_pids(token)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    results = out / "results.json"
    scores = None
    if results.exists():
        data = json.loads(results.read_text())
        scores = {t["name"]: t["score"] for t in data.get("tests", []) if "score" in t}
    last = (text or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
    return {"outcome": outcome, "scores": scores, "leftover_processes": len(leftovers),
            "seconds": round(seconds, 1), "last_line": last[0][:200]}


def run_ours(subs: Path, work: Path, hostile: bool = False) -> dict[str, dict]:
    out = work / ("ours_hostile" if hostile else "ours")
    sys.path.insert(0, str(ROOT))
    from autograder.grading import read_feedback

    if hostile:
        from autograder.grading import grade_batch
        from autograder.grading.model import Limits

        grade_batch(ag_zip("demo_ok"), [subs], out, jobs=2, progress=False,
                    limits=Limits(**HOSTILE_LIMITS), grader_memory_bytes=GRADER_MEMORY_BYTES)
    else:
        subprocess.run([str(BIN / "mlphys"), "grade", "--autograder", str(ag_zip("demo_ok")),
                        "--out", str(out), "--quiet", "--cell-timeout", "3", "--timeout", "90",
                        str(subs)], check=True)

    fb = {Path(f.path).name: f for f in read_feedback(out)}
    with open(out / "final_grades.csv") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    return {name: {"total": float(rows[name]["total_points_earned"]),
                   "status": rows[name]["grading_status"],
                   "questions": {q.name: (q.score, q.status) for q in fb[name].questions}}
            for name in rows if name != "points-per-question"}


def _fmt_scores(scores: dict | None, expected: dict[str, float]) -> str:
    if scores is None:
        return "no results.json"
    total = sum(scores.values())
    diff = [f"{q} {scores.get(q, 0):g}/{FULL[q]:g}" for q in FULL
            if scores.get(q, 0) != expected.get(q, FULL[q])]
    return f"{total:g}/14" + (f" (honest: {sum(expected.values()):g}; {', '.join(diff)})"
                              if diff else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--only", choices=("first", "hostile"), help="write one table only")
    args = ap.parse_args()
    if args.only != "hostile":
        write_table(corpus(), args.timeout, "TABLE", hostile=False)
    if args.only != "first":
        write_table(hostile_corpus(), args.timeout, "HOSTILE TABLE", hostile=True)


def _remove_host_leftovers() -> None:
    sys.path.insert(0, str(ROOT))
    from autograder.grading.sandbox.untrusted_tree import remove_tree

    for path in HOST_LEFTOVERS:
        with contextlib.suppress(OSError):
            remove_tree(path)


def write_table(attacks: list, timeout: float, marker: str, hostile: bool) -> None:
    with tempfile.TemporaryDirectory(prefix=CORPUS_MARK) as tmp:
        work = Path(tmp)
        subs = work / "subs"
        subs.mkdir()
        paths = {a.name: a.build(subs) for a in attacks}
        ours = run_ours(subs, work, hostile)
        todo = [a for a in attacks if not a.otter_hangs and a.name not in NOT_UNDER_OTTER]
        # other students' files and a copy of the autograder zip, where attacks can find them
        victims = work / "victims"
        victims.mkdir()
        for a in attacks[:3]:
            a.build(victims)
        (victims / "autograder.zip").write_bytes(ag_zip("demo_ok").read_bytes())
        pristine = {p: Path(p).read_bytes() for p in _victims(victims)}

        otter = {}
        for a in todo:  # one at a time, each on a freshly built file: attacks damage files
            print(f"otter run: {a.name}", file=sys.stderr, flush=True)
            (work / "otter_in" / a.name).mkdir(parents=True)
            fresh = a.build(work / "otter_in" / a.name)
            before = _victims(victims)
            otter[a.name] = run_otter(fresh, work / "otter", timeout)
            _remove_host_leftovers()
            after = _victims(victims)
            otter[a.name]["victims_changed"] = sum(before.get(k) != v for k, v in after.items())
            for p, data in pristine.items():
                Path(p).write_bytes(data)
        rows = []
        for a in attacks:
            expected = {q: s for q, (s, _) in a.expected().items()}
            mine = ours[paths[a.name].name]
            if a.otter_hangs:
                o = "not run: never returns (otter run has no timeout)"
            elif a.name in NOT_UNDER_OTTER:
                o = f"not run: {NOT_UNDER_OTTER[a.name]}"
            else:
                r = otter[a.name]
                o = _fmt_scores(r["scores"], expected)
                if r["outcome"] != "ok":
                    o += f"; otter run {r['outcome']}"
                if r["leftover_processes"]:
                    o += f"; {r['leftover_processes']} process(es) left running"
                if r["victims_changed"]:
                    o += f"; changed {r['victims_changed']} other students'/instructor files"
                if hostile:
                    o += f"; {r['seconds']:g} s"
            bad = [f"{q}: {st}" for q, (s, st) in mine["questions"].items()
                   if st not in ("passed", "failed")]
            m = f"{mine['total']:g}/14"
            if bad:
                m += " (" + "; ".join(sorted(set(b.split(': ', 1)[1] for b in bad))) + \
                     f" for {', '.join(b.split(':')[0] for b in bad)})"
            elif mine["status"] != "Completed":
                m += f" ({mine['status'][:60]})"
            rows.append((a.family, a.name, a.description, o, m,
                         f"{sum(expected.values()):g}/14"))
    table = ["| family | attack | what it does | `otter run` | `mlphys grade` | expected |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        table.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    text = DOC.read_text()
    new = re.sub(rf"(<!-- BEGIN {marker} -->\n).*(<!-- END {marker} -->)",
                 lambda m: m.group(1) + "\n".join(table) + "\n" + m.group(2), text, flags=re.S)
    DOC.write_text(new)
    print(f"updated {DOC} ({marker})")


if __name__ == "__main__":
    main()
