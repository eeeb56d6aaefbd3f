"""Kill `mlphys grade` with SIGKILL at several points, run it again: every submission is graded
exactly once in the final outputs, every attempt is recorded, nothing is lost, no process
survives; a changed submission or a changed autograder zip is graded again."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from mlgrade_support import ROOT, ag_zip, build_notebook, write_nb

pytestmark = pytest.mark.slow
N = 8


def _cmd(zip_path: Path, out: Path, subs: Path) -> list[str]:
    return [sys.executable, "-m", "autograder.cli", "grade", "--autograder", str(zip_path),
            "--out", str(out), "--jobs", "2", "--quiet", str(subs)]


def _db(out: Path, sql: str) -> list[tuple]:
    path = out / "gradebook.sqlite"
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return []


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (workers, keepers, jail inits, runners, their kids)."""
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, stack = set(), [pid]
    while stack:
        current = stack.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found.add(child)
                stack.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists()}


def _kill_when(cmd: list[str], condition, timeout: float = 120) -> None:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    batch: set[int] = set()
    try:
        while time.monotonic() < deadline:
            # the kill point, once the driver has started a worker (the run's row is written
            # before its workers start: killing in between would test nothing about them)
            if condition() and _descendants(proc.pid):
                break
            if proc.poll() is not None:
                raise AssertionError("mlphys grade finished before the kill point")
            time.sleep(0.05)
        else:
            raise AssertionError("kill point never reached")
    finally:
        # this batch's processes (other suites on the machine run sandboxes of their own,
        # on their own leased uids: a machine-wide count of sandbox uids would see them)
        batch = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert batch  # the driver had started its workers (and sandboxes) when it was killed
    # the workers and sandboxes die with it
    end = time.monotonic() + 10
    while _alive(batch) and time.monotonic() < end:
        time.sleep(0.1)
    assert _alive(batch) == set()


def _rows(out: Path) -> list[dict]:
    with open(out / "final_grades.csv") as f:
        return list(csv.DictReader(f))[1:]


def _expected_total(i: int) -> float:
    return 12.0 if i % 3 == 0 else 14.0  # every third submission gets q1 wrong


@pytest.fixture()
def batch(tmp_path):
    subs = tmp_path / "subs"
    for i in range(N):
        answers = {"q1": "def square(x):\n    return 2 * x"} if i % 3 == 0 else {}
        nb = build_notebook("demo_ok", answers,
                            extra_cells=[(-1, "import time\ntime.sleep(1.2)")])
        write_nb(nb, subs / f"student_{i:02d}.ipynb")
    return subs


def test_sigkill_at_several_points_then_resume(tmp_path, batch):
    out = tmp_path / "out"
    cmd = _cmd(ag_zip("demo_ok"), out, batch)

    # 1. right after the first result row is committed
    _kill_when(cmd, lambda: _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")
               and _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")[0][0] >= 1)
    done1 = _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")[0][0]
    assert 1 <= done1 < N

    # 2. in the middle of a submission (an attempt is running, more results are committed)
    def mid_submission():
        running = _db(out, "SELECT COUNT(*) FROM attempts WHERE state='running' AND run_id="
                           "(SELECT MAX(id) FROM runs)")
        done = _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")
        return running and running[0][0] >= 1 and done[0][0] > done1

    _kill_when(cmd, mid_submission)

    # 3. during start-up (workers spawning, nothing graded in this run yet)
    _kill_when(cmd, lambda: len(_db(out, "SELECT id FROM runs")) >= 3)

    # 4. run to completion
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = _rows(out)
    assert sorted(r["file"] for r in rows) == [f"student_{i:02d}.ipynb" for i in range(N)]
    for r in rows:
        i = int(r["file"][8:10])
        assert float(r["total_points_earned"]) == _expected_total(i)
        assert r["grading_status"] == "Completed"
    # exactly one committed result per submission; interrupted attempts are kept
    per_sub = _db(out, "SELECT submission_path, COUNT(*) FROM attempts WHERE state='done'"
                       " GROUP BY submission_path")
    assert len(per_sub) == N and all(n == 1 for _, n in per_sub)
    states = dict(_db(out, "SELECT state, COUNT(*) FROM attempts GROUP BY state"))
    assert states.get("running", 0) == 0
    assert states.get("interrupted", 0) >= 1
    assert len(_db(out, "SELECT id FROM runs")) == 4
    # every committed attempt has its questions and cases (atomic commits)
    assert _db(out, "SELECT COUNT(*) FROM questions")[0][0] == 7 * N
    assert _db(out, "SELECT COUNT(*) FROM attempts a WHERE state='done' AND NOT EXISTS"
                    " (SELECT 1 FROM questions q WHERE q.attempt_id=a.id)")[0][0] == 0
    results = sorted(p.name for p in (out / "results").glob("*.json"))
    assert results == [f"student_{i:02d}.json" for i in range(N)]

    # 5. nothing changed: nothing is graded again
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    assert _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")[0][0] == N

    # 6. a changed submission is graded again, the others are not
    changed = batch / "student_00.ipynb"
    write_nb(build_notebook("demo_ok"), changed)
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)
    assert _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")[0][0] == N + 1
    row = next(r for r in _rows(out) if r["file"] == "student_00.ipynb")
    assert float(row["total_points_earned"]) == 14.0
    assert len(_rows(out)) == N
    fb = json.loads((out / "results" / "student_00.json").read_text())
    assert sum(t.get("score", 0) for t in fb["tests"]) == 14.0

    # 7. a changed autograder zip regrades everything
    new_zip = tmp_path / "autograder_v2.zip"
    with zipfile.ZipFile(ag_zip("demo_ok")) as src, zipfile.ZipFile(new_zip, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "otter_config.json":
                config = json.loads(data)
                config["show_hidden"] = True
                data = json.dumps(config).encode()
            dst.writestr(info, data)
    subprocess.run(_cmd(new_zip, out, batch), cwd=ROOT, check=True, capture_output=True,
                   timeout=300)
    assert _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")[0][0] == 2 * N + 1
    fb = json.loads((out / "results" / "student_01.json").read_text())
    assert {t["visibility"] for t in fb["tests"][1:]} == {"after_published"}


def test_a_renamed_file_grades_exactly_as_under_its_original_name(tmp_path):
    nb = build_notebook("demo_ok", {"q4": "arr = np.zeros(5)"})
    a = write_nb(nb, tmp_path / "a" / "master.ipynb")
    b = write_nb(nb, tmp_path / "b" / "Doe_Jane_12345_late_master-3.ipynb")
    for sub, out in ((a, tmp_path / "out_a"), (b, tmp_path / "out_b")):
        subprocess.run(_cmd(ag_zip("demo_ok"), out, sub), cwd=ROOT, check=True,
                       capture_output=True, timeout=300)
    ra = json.loads((tmp_path / "out_a" / "results" / "master.json").read_text())
    rb = json.loads((tmp_path / "out_b" / "results" / "Doe_Jane_12345_late_master-3.json")
                    .read_text())
    assert ra == rb
    assert sum(t.get("score", 0) for t in ra["tests"]) == 12.0
