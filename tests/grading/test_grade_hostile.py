"""Issue 8's attacks (hostile_corpus.py) graded in ONE batch beside honest submissions.

What is asserted, submission by submission and for the batch:

* exact scores and statuses; the honest submissions graded on the same workers after the
  attacks get exactly what they get alone;
* the batch finishes, and each submission within its notebook time limit plus the documented
  margin (``GRADE_MARGIN_S``), whatever its sandbox sent;
* while it runs, sampled every 50 ms: the resident memory of all sandbox processes of the
  batch together stays under ``jobs x memory limit``, and the host disk used under the
  batch's temporary directory (where scratch and sandbox runtime directories live) stays
  under 64 MiB although the attacks write gigabytes;
* no process survives; no cgroup of the batch is left; nothing outside the batch's temporary
  directories changed; no status or student-visible text carries student-chosen text or
  hidden test arguments;
* a grader failure is shown but not final: the next run grades that submission again and
  skips every other one.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from adversarial_corpus import FULL
from hostile_corpus import (
    GRADER_MEMORY_BYTES,
    HOSTILE_LIMITS,
    SECRETS,
    honest_submissions,
    hostile_corpus,
)
from mlgrade_support import FIXTURES, ag_zip

from autograder.grading import grade_batch, read_feedback
from autograder.grading.model import Limits
from autograder.grading.sandbox import cgroups

pytestmark = pytest.mark.slow
ATTACKS = hostile_corpus()
HONEST = honest_submissions()
EVERYONE = ATTACKS + HONEST
LIMITS = Limits(**HOSTILE_LIMITS)
JOBS = 2
SANDBOX_UIDS = range(62000, 63000)
GRADE_MARGIN_S = 15.0
"""Startup, interrupt grace, kill and cleanup on top of the notebook limit (docs/security.md)."""


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, uid, resident bytes)."""
    table = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/status") as handle:
                uid = next(int(line.split()[1]) for line in handle if line.startswith("Uid:"))
        except (OSError, StopIteration, IndexError):
            continue
        table[int(entry)] = (int(stat[1]), uid, int(stat[21]) * page)
    return table


def _descendants(pid: int, table: dict[int, tuple[int, int, int]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for child, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(child)
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _disk_bytes(root: Path) -> int:
    """Bytes allocated under ``root`` (st_blocks), without following links, any depth."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            with contextlib.suppress(OSError):  # removed while we looked
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


class Sampler(threading.Thread):
    """Peak sandbox memory (RSS of our sandbox-uid descendants) and host disk use."""

    def __init__(self, tmp_root: Path) -> None:
        super().__init__(daemon=True)
        self.tmp_root = tmp_root
        self.stop = threading.Event()
        self.peak_sandbox_rss = 0
        self.peak_disk = 0
        self.samples = 0

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.is_set():
            table = _proc_table()
            ours = _descendants(me, table)
            rss = sum(table[p][2] for p in ours if table[p][1] in SANDBOX_UIDS)
            self.peak_sandbox_rss = max(self.peak_sandbox_rss, rss)
            self.peak_disk = max(self.peak_disk, _disk_bytes(self.tmp_root))
            self.samples += 1
            self.stop.wait(0.05)


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _our_cgroups() -> list[str]:
    found = cgroups._parents()
    if found is None:
        return []
    return [name for parent in found[1].values() for name in os.listdir(parent)
            if name.startswith(cgroups.PREFIX) and f"-{os.getpid()}-" in name]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    subs = root / "subs"
    subs.mkdir()
    zip_copy = root / "autograder.zip"
    zip_copy.write_bytes(ag_zip("demo_ok").read_bytes())
    paths = {a.name: a.build(subs) for a in EVERYONE}
    batch_tmp = root / "tmp"
    batch_tmp.mkdir()
    before = _snapshot(subs) | _snapshot(FIXTURES)
    table = _proc_table()
    kids_before = _descendants(os.getpid(), table)
    saved_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(batch_tmp)  # scratch, runtime dirs: of this batch, measured
    import tempfile
    tempfile.tempdir = None
    sampler = Sampler(batch_tmp)
    sampler.start()
    out = root / "out"
    t0 = time.monotonic()
    try:
        summary = grade_batch(zip_copy, [subs], out, jobs=JOBS, progress=False, limits=LIMITS,
                              grader_memory_bytes=GRADER_MEMORY_BYTES)
    finally:
        seconds = time.monotonic() - t0
        sampler.stop.set()
        sampler.join()
        if saved_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_tmp
        tempfile.tempdir = None
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and _descendants(os.getpid(), _proc_table()) - kids_before:
        time.sleep(0.1)
    with open(summary.csv_path) as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    return {
        "root": root, "subs": subs, "out": out, "zip": zip_copy, "summary": summary,
        "paths": paths, "rows": rows, "seconds": seconds, "sampler": sampler,
        "before": before, "after": _snapshot(subs) | _snapshot(FIXTURES),
        "new_kids": _descendants(os.getpid(), _proc_table()) - kids_before,
        "feedback": {Path(f.path).name: f for f in read_feedback(out)},
        "batch_tmp": batch_tmp,
    }


def test_the_batch_completes_with_a_row_per_submission(graded):
    s = graded["summary"]
    assert s.submissions == len(EVERYONE) == s.rows == s.graded
    assert set(graded["rows"]) == {"points-per-question"} | {
        p.name for p in graded["paths"].values()}


@pytest.mark.parametrize("attack", EVERYONE, ids=[a.name for a in EVERYONE])
def test_exact_scores_and_statuses(graded, attack):
    name = graded["paths"][attack.name].name
    row = graded["rows"][name]
    fb = graded["feedback"][name]
    got = {q.name: (q.score, q.status) for q in fb.questions}
    for q, (score, status) in attack.expected().items():
        assert float(row[q]) == score, f"{q}: {got[q]} ({row['grading_status']})"
        assert got[q][1].startswith(status), f"{q}: {got[q]}"
    assert float(row["total_points_earned"]) == sum(s for s, _ in attack.expected().values())
    assert row["grading_status"].startswith(attack.grading_status), row["grading_status"]


def test_resource_deaths_are_named_not_kernel_died(graded):
    rows = graded["rows"]
    fork = rows[graded["paths"]["fork_allocate"].name]["grading_status"]
    # children are the OOM killer's victims; a sandbox slowed down at its memory limit may
    # also miss its cell's time limit: named as such, never an anonymous "kernel died"
    assert fork == "Completed" or fork.startswith(("memory: ", "timeout: ")), fork
    memory = rows[graded["paths"]["memory_through_files"].name]["grading_status"]
    assert memory.startswith("memory: the notebook ran out of memory (limit 1 GiB)"), memory


def test_honest_work_beside_the_attacks_is_graded_exactly(graded):
    for attack in HONEST:
        row = graded["rows"][graded["paths"][attack.name].name]
        assert row["grading_status"] == "Completed"
        expected = sum(FULL.values()) - (2.0 if "partial" in attack.name else 0.0)
        assert float(row["total_points_earned"]) == expected


def test_each_submission_ends_within_its_time_limit_plus_the_margin(graded):
    with sqlite3.connect(graded["out"] / "gradebook.sqlite") as db:
        durations = dict(db.execute("SELECT submission_path, duration_s FROM attempts"))
    assert len(durations) == len(EVERYONE)
    for path, seconds in durations.items():
        assert seconds is not None
        assert seconds <= LIMITS.notebook_timeout + GRADE_MARGIN_S, (path, seconds)


def test_host_memory_and_disk_stay_bounded_while_it_runs(graded):
    sampler = graded["sampler"]
    assert sampler.samples > 20
    assert sampler.peak_sandbox_rss <= JOBS * LIMITS.memory_bytes, sampler.peak_sandbox_rss
    assert sampler.peak_disk <= 64 * 1024**2, sampler.peak_disk


def test_nothing_survives_and_nothing_outside_scratch_changed(graded):
    assert graded["new_kids"] == set()
    assert graded["after"] == graded["before"]
    assert _our_cgroups() == []
    assert list(graded["batch_tmp"].iterdir()) == []


def test_no_student_text_in_statuses_or_visible_output(graded):
    for name, fb in graded["feedback"].items():
        texts = [fb.grading_status, *(q.status for q in fb.questions),
                 *(q.reason or "" for q in fb.questions),
                 *(q.public_output for q in fb.questions),
                 *(c.message for q in fb.questions for c in q.failed_hidden)]
        for text in texts:
            for secret in SECRETS:
                assert secret not in text, (name, secret, text)
    for path in (graded["out"] / "results").iterdir():
        data = path.read_text()
        for secret in SECRETS:
            assert secret not in data, (path.name, secret)
    csv_text = (graded["out"] / "final_grades.csv").read_text()
    assert not any(secret in csv_text for secret in SECRETS)


def test_a_rerun_regrades_only_the_grader_failures(graded):
    rows = graded["rows"]
    failures = {f for f, r in rows.items() if r["grading_status"].startswith(
        "error: grader failure")}
    assert failures == {graded["paths"]["trusted_broadcast"].name}
    again = grade_batch(graded["zip"], [graded["subs"]], graded["out"], jobs=JOBS,
                        progress=False, limits=dataclasses.replace(LIMITS),
                        grader_memory_bytes=GRADER_MEMORY_BYTES)
    assert again.graded == len(failures)
    assert again.skipped == len(EVERYONE) - len(failures)
    with open(again.csv_path) as f:
        rerun = {r["file"]: r for r in csv.DictReader(f)}
    for name, row in rows.items():
        if name not in failures:
            assert rerun[name] == row
    assert json.loads(json.dumps(rerun))  # plain data
