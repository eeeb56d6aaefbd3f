"""Two `mlphys grade` runs at once on one machine, one of them hostile (issue 8, item 8).

Two TAs (or a TA and a CI job) grading at the same time used to share slot uids and so
per-uid limits: one batch's fork bomb could starve the other's sandboxes. Here both run as
separate processes through the real command line; the hostile one forks without end,
allocates past its memory limit in many processes and fills its disk, and the honest one
must still get exactly its scores, with every process of both gone afterwards.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adversarial_corpus import FORK_BOMB, FULL, WRONG_SQUARE, _nb
from hostile_corpus import DISK_FILL_FAST, FORK_ALLOCATE
from mlgrade_support import ag_zip, write_nb

pytestmark = pytest.mark.slow


def _grade(subs: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "autograder.cli", "grade", "--autograder",
         str(ag_zip("demo_ok")), "--out", str(out), "--jobs", "2", "--timeout", "20",
         "--cell-timeout", "3", "--quiet", str(subs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _descendants(pid: int) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, stack = set(), [pid]
    while stack:
        current = stack.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found.add(child)
                stack.append(child)
    return found


def test_a_hostile_batch_beside_an_honest_one(tmp_path):
    hostile, honest = tmp_path / "hostile", tmp_path / "honest"
    write_nb(_nb(end=FORK_BOMB), hostile / "fork_bomb.ipynb")
    write_nb(_nb(end=FORK_ALLOCATE), hostile / "fork_allocate.ipynb")
    write_nb(_nb(after={"q2": DISK_FILL_FAST}), hostile / "disk_fill.ipynb")
    write_nb(_nb(end=FORK_BOMB), hostile / "fork_bomb_2.ipynb")
    expected = {}
    for i in range(6):
        wrong = i % 2 == 1
        write_nb(_nb({"q1": WRONG_SQUARE} if wrong else None), honest / f"student_{i}.ipynb")
        expected[f"student_{i}.ipynb"] = sum(FULL.values()) - (FULL["q1"] if wrong else 0)
    before = _descendants(os.getpid())
    bad = _grade(hostile, tmp_path / "out_hostile")
    time.sleep(1.0)  # the hostile batch's sandboxes are up first
    good = _grade(honest, tmp_path / "out_honest")
    good_out, good_err = good.communicate(timeout=600)
    bad_out, bad_err = bad.communicate(timeout=600)
    assert good.returncode == 0, good_err
    assert bad.returncode == 0, bad_err
    with open(tmp_path / "out_honest" / "final_grades.csv") as handle:
        rows = {r["file"]: r for r in csv.DictReader(handle)}
    for name, total in expected.items():
        assert rows[name]["grading_status"] == "Completed", rows[name]
        assert float(rows[name]["total_points_earned"]) == total, rows[name]
    with open(tmp_path / "out_hostile" / "final_grades.csv") as handle:
        hostile_rows = {r["file"]: r for r in csv.DictReader(handle)}
    assert len(hostile_rows) == 1 + 4
    for name, row in hostile_rows.items():
        if name != "points-per-question":
            # every question was tested before the attack cell: full marks whatever it did
            assert float(row["total_points_earned"]) == sum(FULL.values()), row
            assert not row["grading_status"].startswith("kernel died"), row
    deadline = time.monotonic() + 5
    while _descendants(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _descendants(os.getpid()) - before == set()
