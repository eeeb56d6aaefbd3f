"""The adversarial corpus (adversarial_corpus.py) graded in ONE batch: every attack family of
the threat model gets exactly the scores and statuses an honest grader gives, the batch
completes, no process survives, and nothing outside the sandbox's scratch directory changes."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from adversarial_corpus import CORPUS_MARK, FULL, corpus
from mlgrade_support import FIXTURES, ag_zip

from autograder.grading import grade_batch, read_feedback
from autograder.grading.batch.outputs import submission_ids
from autograder.grading.model import Limits

pytestmark = pytest.mark.slow
ATTACKS = corpus()
SANDBOX_UIDS = range(62000, 63000)


def _snapshot(*roots: Path, exclude: Path | None = None) -> dict[str, str]:
    out = {}
    for root in roots:
        for dirpath, _, files in os.walk(root):
            if exclude is not None and Path(dirpath).is_relative_to(exclude):
                continue
            for f in files:
                p = Path(dirpath) / f
                if p.name.startswith("huge_notebook"):
                    out[str(p)] = str(p.stat().st_size)
                    continue
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (uid, ppid) for every process (multiprocessing's resource tracker, which lives
    as long as the test process, is not a grading process)."""
    procs = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            status = (d / "status").read_text()
            if b"resource_tracker" in (d / "cmdline").read_bytes():
                continue
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        procs[int(d.name)] = (int(fields["Uid"].split()[0]), int(fields["PPid"].strip()))
    return procs


def _descendants(pid: int, procs: dict[int, tuple[int, int]]) -> set[int]:
    kids = {p for p, (_, ppid) in procs.items() if ppid == pid}
    for k in list(kids):
        kids |= _descendants(k, procs)
    return kids


def _sandbox_uid_processes(pids: set[int] | None = None) -> list[int]:
    """Sandbox-uid processes among ``pids`` (default: everything this test process started:
    other test suites on the machine run sandboxes of their own, on their own leased uids)."""
    procs = _processes()
    ours = _descendants(os.getpid(), procs) if pids is None else pids
    return [p for p, (uid, _) in procs.items() if uid in SANDBOX_UIDS and p in ours]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp(CORPUS_MARK)
    subs = root / "subs"
    subs.mkdir()
    (root / "sentinels").mkdir()
    (root / "sentinels" / "secret.txt").write_text("instructor secret: square(-2) == 4\n")
    (root / "ag").mkdir()
    zip_copy = root / "ag" / "autograder.zip"
    shutil.copy(ag_zip("demo_ok"), zip_copy)
    paths = {a.name: a.build(subs) for a in ATTACKS}
    out = root / "out"
    before = _snapshot(root, FIXTURES)
    procs_before = _processes()
    uids_before = {p for p, (uid, _) in procs_before.items() if uid in SANDBOX_UIDS}
    kids_before = _descendants(os.getpid(), procs_before)
    t0 = time.monotonic()
    summary = grade_batch(
        zip_copy, [subs], out, jobs=2, progress=False,
        limits=Limits(cell_timeout=3, notebook_timeout=90, call_timeout=10, interrupt_grace=1),
    )
    seconds = time.monotonic() - t0
    deadline = time.monotonic() + 3  # the kernel needs a moment to reap
    while time.monotonic() < deadline and (_sandbox_uid_processes() or
                                           _descendants(os.getpid(), _processes()) - kids_before):
        time.sleep(0.1)
    procs_after = _processes()
    after = _snapshot(root, FIXTURES, exclude=out)
    with open(summary.csv_path) as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    return {
        "root": root, "out": out, "summary": summary, "paths": paths, "rows": rows,
        "before": before, "after": after, "seconds": seconds,
        # sandbox-uid processes that were not there before and are ours, or orphans (ppid 1
        # of the host: an escaped daemon of this batch would be reparented there)
        "leftover": [p for p, (uid, ppid) in procs_after.items() if uid in SANDBOX_UIDS
                     and p not in uids_before and (p in _descendants(os.getpid(), procs_after)
                                                   or ppid == 1)],
        "new_kids": _descendants(os.getpid(), procs_after) - kids_before,
        "feedback": {Path(f.path).name: f for f in read_feedback(out)},
        "ids": {a: submission_ids([str(p.resolve()) for p in paths.values()])[str(p.resolve())]
                for a, p in paths.items()},
    }


def test_corpus_covers_every_attack_family_with_at_least_25_submissions():
    families = {a.family for a in ATTACKS}
    assert families == {
        "fool the comparison", "patch-check-restore", "grading detection", "read/rewrite tests",
        "smuggled code", "forged results", "exfiltration", "denial of service", "network",
        "broken files",
    }
    assert len(ATTACKS) >= 25


def test_the_batch_completes_with_one_row_per_submission(graded):
    s = graded["summary"]
    assert s.submissions == len(ATTACKS) == s.rows == s.graded
    assert set(graded["rows"]) == {"points-per-question"} | {p.name for p in graded["paths"].values()}


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_exact_scores_and_statuses(graded, attack):
    name = graded["paths"][attack.name].name
    row = graded["rows"][name]
    fb = graded["feedback"][name]
    got = {q.name: (q.score, q.status) for q in fb.questions}
    for q, (score, status) in attack.expected().items():
        assert float(row[q]) == score, f"{q}: {got[q]}"
        assert got[q][0] == score
        assert got[q][1].startswith(status), f"{q}: {got[q]}"
    assert float(row["total_points_earned"]) == sum(s for s, _ in attack.expected().values())
    assert row["grading_status"].startswith(attack.grading_status), row["grading_status"]
    assert float(row["total_points_earned"]) <= sum(FULL.values())


def test_no_process_survives(graded):
    assert graded["leftover"] == []
    assert graded["new_kids"] == set()


def test_nothing_outside_the_scratch_directory_changed(graded):
    assert graded["after"] == graded["before"]
    root = graded["root"]
    assert not list(root.rglob("PWNED_*"))
    out_files = {str(p.relative_to(graded["out"])) for p in graded["out"].rglob("*") if p.is_file()}
    expected = {"final_grades.csv", "gradebook.sqlite", ".mlphys-grade.lock"} | {
        f"results/{i}.json" for i in graded["ids"].values()
    }
    assert out_files - {"gradebook.sqlite-wal", "gradebook.sqlite-shm"} == expected
    # nothing left in the host's /tmp by a sandbox uid
    strays = [p for p in Path("/tmp").iterdir() if p.lstat().st_uid in SANDBOX_UIDS]
    assert strays == []


def test_results_files_hold_our_scores_not_forged_ones(graded):
    for attack in ATTACKS:
        stem = graded["ids"][attack.name]
        data = json.loads((graded["out"] / "results" / f"{stem}.json").read_text())
        scores = {t["name"]: t["score"] for t in data["tests"] if "score" in t}
        assert scores == {q: s for q, (s, _) in attack.expected().items()}


def test_hidden_tests_never_reach_student_visible_output(graded):
    secrets = ["square(-2)", "np.allclose(arr, [0, 0.25, 0.5, 0.75, 1])", "float(arr.sum())",
               "hidden input was -2", "LEAK args=-2", "LEAKED [3, -2]", "np.round(sample, 4)"]
    for attack in ATTACKS:
        stem = graded["ids"][attack.name]
        data = json.loads((graded["out"] / "results" / f"{stem}.json").read_text())
        visible = [t["output"] for t in data["tests"] if t["visibility"] != "hidden"]
        fb = graded["feedback"][graded["paths"][attack.name].name]
        visible += [q.public_output for q in fb.questions]
        visible += [c.message for q in fb.questions for c in q.cases]
        # the per-question outputs (hidden on Gradescope by default) are redacted too
        visible += [t["output"] for t in data["tests"]]
        for text in visible:
            for s in secrets:
                assert s not in text, (attack.name, s)


def test_the_corpus_grades_in_reasonable_time(graded):
    # ~40 submissions incl. several deliberate timeouts, 2 workers
    assert graded["seconds"] < 150
