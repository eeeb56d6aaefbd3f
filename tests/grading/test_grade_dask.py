"""`mlphys grade` on a real Dask cluster (a scheduler and two workers on loopback).

* A mixed batch (honest, wrong, hostile, malformed, too large) gives the same
  final_grades.csv and results files on Dask as on the local executor, with workers that
  cannot see the driver's files (the submissions and the zip travel as bytes).
* A worker killed with SIGKILL mid-batch: its submission is graded on the other worker and
  recorded once; its grading process and sandbox die with it.
* The driver killed with SIGKILL mid-batch, then run again: every submission has exactly one
  committed result.
* No process started for a test survives it.
"""

from __future__ import annotations

import csv
import filecmp
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adversarial_corpus import CORPUS_MARK, corpus
from dask_support import LoopbackCluster, children, parent, tagged_processes
from mlgrade_support import ROOT, ag_zip, build_notebook, write_nb

from autograder.grading import grade_batch
from autograder.grading.executors import dask as dask_executor_module
from autograder.grading.executors.base import ExecutorError
from autograder.grading.executors.dask import DaskExecutor
from autograder.grading.executors.local import LocalExecutor
from autograder.grading.model import Limits

pytestmark = pytest.mark.slow

# the cell limit leaves honest cells room on a loaded machine (the two graders must agree on
# every row, so no honest cell may come near it); the loopers reach it whatever the load
LIMITS = Limits(cell_timeout=10, notebook_timeout=90, call_timeout=10, interrupt_grace=1)
MIXED_ATTACKS = ("fool_allclose", "always_equal_objects", "read_hidden_tests",
                 "zip_otter_log_pickle", "forged_results_file", "exfil_hidden_message",
                 "infinite_loop", "sleep_ignoring_interrupts", "os_exit",
                 "kill_parent_and_group", "segfault", "network", "malformed_json", "empty_file",
                 "several_notebooks", "wrong_assignment", "huge_notebook")
WRONG = {"q1": "def square(x):\n    return 2 * x"}


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "final_grades.csv") as f:
        return list(csv.DictReader(f))[1:]


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


def _slow_batch(folder: Path, n: int) -> dict[str, float]:
    """n submissions that each take a while (a 1.5 s cell); every third one has q1 wrong.
    Returns file name -> expected total."""
    expected = {}
    for i in range(n):
        answers = WRONG if i % 3 == 0 else {}
        nb = build_notebook("demo_ok", answers,
                            extra_cells=[(-1, f"import time\ntime.sleep(1.5)  # {i}")])
        write_nb(nb, folder / f"student_{i:02d}.ipynb")
        expected[f"student_{i:02d}.ipynb"] = 12.0 if i % 3 == 0 else 14.0
    return expected


@pytest.fixture()
def cluster_factory(tmp_path):
    made: list[LoopbackCluster] = []

    def make(**kw) -> LoopbackCluster:
        c = LoopbackCluster(tmp_path / f"cluster{len(made)}", **kw)
        made.append(c)
        return c

    yield make
    survivors = {c.tag: c.close() for c in made}
    assert all(not pids for pids in survivors.values()), f"processes survived: {survivors}"


def test_mixed_batch_same_grades_as_local_with_workers_blind_to_the_driver_files(
        tmp_path_factory, cluster_factory):
    root = tmp_path_factory.mktemp(CORPUS_MARK)
    driver = root / "driver"  # what only the driver sees
    subs = driver / "subs"
    subs.mkdir(parents=True)
    zip_path = driver / "autograder.zip"
    shutil.copy(ag_zip("demo_ok"), zip_path)
    attacks = {a.name: a for a in corpus()}
    for name in MIXED_ATTACKS:
        attacks[name].build(subs)
    for i, answers in enumerate([{}, WRONG, {"q4": "arr = np.zeros(5)"}, {}]):
        write_nb(build_notebook("demo_ok", answers), subs / f"honest_{i}.ipynb")
    n = len(list(subs.iterdir()))

    cluster = cluster_factory(workers=2, hidden=(driver,))
    for w in cluster.workers:  # the workers really cannot see the driver's files
        assert os.listdir(f"/proc/{w.pid}/root{driver}") == []

    # workers with other grading code than the driver are refused before anything is sent
    with DaskExecutor(cluster.address) as executor, pytest.MonkeyPatch.context() as mp:
        mp.setattr(dask_executor_module, "local_code_fingerprint", lambda: "another version")
        with pytest.raises(ExecutorError, match="2 Dask worker.*other grading code"):
            grade_batch(zip_path, [subs], root / "refused", executor=executor, limits=LIMITS,
                        progress=False)
    assert not (root / "refused" / "final_grades.csv").exists()

    local = grade_batch(zip_path, [subs], root / "local", executor=LocalExecutor(2),
                        limits=LIMITS, progress=False)
    # the 100 MB notebook: only its first 21 MiB travel, and it is refused by its size alike
    with DaskExecutor(cluster.address, max_send_bytes=21 * 2**20) as executor:
        assert executor.parallelism == 2
        described = executor.describe()
        assert "2 workers" in described
        # Dask's default keeps 1000 messages per connection, submissions included: advised down
        assert "note: the Dask processes keep their last 1000 messages" in described
        assert "DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH=50" in described
        # and the driver's own connection keeps few (it sends every submission)
        assert executor.client.scheduler_comm.recent_message_log.maxlen == 50
        dask = grade_batch(zip_path, [subs], root / "dask", executor=executor, limits=LIMITS,
                           progress=False)

    assert local.rows == dask.rows == dask.graded == n
    assert (root / "local" / "final_grades.csv").read_bytes() == \
        (root / "dask" / "final_grades.csv").read_bytes()
    statuses = {r["grading_status"].split(":")[0] for r in _rows(root / "dask")}
    assert {"Completed", "timeout", "kernel died", "error"} <= statuses
    names = sorted(p.name for p in (root / "local" / "results").iterdir())
    assert names == sorted(p.name for p in (root / "dask" / "results").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(root / "local" / "results",
                                               root / "dask" / "results", names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == n
    # graded in the same sandbox, by grading processes whose parents are the Dask workers
    iso = "SELECT submission_path, isolation FROM attempts ORDER BY submission_path"
    assert _db(root / "dask", iso) == _db(root / "local", iso)
    jailed = [i for _, i in _db(root / "dask", iso)
              if i.startswith("uid+pidns+netns+mountns+ipcns+utsns+rlimits+no_new_privs;")]
    assert len(jailed) >= n // 2  # the refused files never started a sandbox
    assert _db(root / "dask", "SELECT COUNT(*) FROM attempts WHERE state != 'done'") == [(0,)]


def test_a_worker_killed_mid_batch_is_retried_elsewhere_and_counted_once(tmp_path,
                                                                         cluster_factory):
    subs = tmp_path / "subs"
    expected = _slow_batch(subs, 6)
    cluster = cluster_factory(workers=2)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "autograder.cli", "grade", "--autograder",
           str(ag_zip("demo_ok")), "--out", str(out), "--quiet", "--dask-scheduler",
           cluster.address, str(subs)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    worker_pids = {w.pid for w in cluster.workers}
    victim = grading = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        # a submission is being graded (after at least one result): kill its Dask worker
        running = _db(out, "SELECT worker_pid FROM attempts WHERE state='running'"
                           " AND worker_pid IS NOT NULL")
        done = _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")
        if running and done and done[0][0] >= 1:
            for (pid,) in running:
                if parent(pid) in worker_pids:
                    victim, grading = parent(pid), pid
                    break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    assert victim is not None, "no submission was seen running on a worker"
    sandboxes = children(grading)
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr.decode()

    # the grading process and its sandbox died with the worker
    end = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() for p in [grading, *sandboxes]) and \
            time.monotonic() < end:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{p}").exists() for p in [grading, *sandboxes])
    rows = _rows(out)
    assert {r["file"]: float(r["total_points_earned"]) for r in rows} == expected
    assert {r["grading_status"] for r in rows} == {"Completed"}
    per_sub = _db(out, "SELECT submission_path, COUNT(*) FROM attempts WHERE state='done'"
                       " GROUP BY submission_path")
    assert len(per_sub) == len(expected) and all(k == 1 for _, k in per_sub)
    # the abandoned try is recorded as interrupted, and its submission was graded again
    interrupted = _db(out, "SELECT submission_path FROM attempts WHERE state='interrupted'")
    assert len(interrupted) == 1
    assert _db(out, "SELECT COUNT(*) FROM attempts WHERE state='running'") == [(0,)]
    regraded = _db(out, "SELECT worker_pid FROM attempts WHERE state='done' AND "
                        f"submission_path='{interrupted[0][0]}'")
    assert regraded[0][0] != grading


def test_driver_killed_then_rerun_grades_every_submission_exactly_once(tmp_path,
                                                                      cluster_factory):
    subs = tmp_path / "subs"
    expected = _slow_batch(subs, 6)
    # as docs/cluster.md advises: Dask processes that keep few messages per connection
    cluster = cluster_factory(workers=2, env={"DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH": "50"})
    with DaskExecutor(cluster.address) as executor:
        assert "note:" not in executor.describe()
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "autograder.cli", "grade", "--autograder",
           str(ag_zip("demo_ok")), "--out", str(out), "--quiet", "--dask-scheduler-file",
           str(cluster.scheduler_file), str(subs)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            done = _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")
            running = _db(out, "SELECT COUNT(*) FROM attempts WHERE state='running'")
            if done and done[0][0] >= 1 and running and running[0][0] >= 1:
                break
            assert proc.poll() is None, "the batch finished before the kill point"
            time.sleep(0.05)
        else:
            raise AssertionError("kill point never reached")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")[0][0]
    assert 1 <= done_before < len(expected)
    # in Dask mode the driver starts no process of its own: nothing of it is left
    assert children(proc.pid) == []

    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = _rows(out)
    assert {r["file"]: float(r["total_points_earned"]) for r in rows} == expected
    per_sub = _db(out, "SELECT submission_path, COUNT(*) FROM attempts WHERE state='done'"
                       " GROUP BY submission_path")
    assert len(per_sub) == len(expected) and all(k == 1 for _, k in per_sub)
    assert _db(out, "SELECT COUNT(*) FROM attempts WHERE state='interrupted'")[0][0] >= 1
    assert _db(out, "SELECT COUNT(*) FROM attempts WHERE state='running'") == [(0,)]
    assert len(_db(out, "SELECT id FROM runs")) == 2
    # nothing changed: the next run grades nothing
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)
    assert _db(out, "SELECT COUNT(*) FROM attempts WHERE state='done'")[0][0] == len(expected)


def test_user_mistakes_are_one_line_errors(tmp_path):
    sub = write_nb(build_notebook("demo_ok"), tmp_path / "s.ipynb")
    base = [sys.executable, "-m", "autograder.cli", "grade", "--autograder",
            str(ag_zip("demo_ok")), "--out", str(tmp_path / "out")]
    for extra, message in (
            (["--dask-scheduler-file", str(tmp_path / "missing.json")],
             "no Dask scheduler file"),
            (["--dask-scheduler", "tcp://127.0.0.1:9", "--jobs", "2"], "--jobs is for"),
            (["--dask-scheduler", "tcp://127.0.0.1:9", "--dask-scheduler-file", "x.json"],
             "not both")):
        result = subprocess.run([*base, *extra, str(sub)], cwd=ROOT, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert message in result.stderr
    # nothing listens on port 9 of loopback: a clear error, quickly
    with pytest.raises(ExecutorError, match="cannot reach the Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", connect_timeout=2)


def test_tagged_process_scan_sees_a_tagged_process(tmp_path):
    """The survivor check above must be able to fail: it finds a live tagged process."""
    tag = f"probe-{os.getpid()}"
    env = dict(os.environ, MLPHYS_TEST_CLUSTER=tag)
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        end = time.monotonic() + 5
        while p.pid not in tagged_processes(tag) and time.monotonic() < end:
            time.sleep(0.05)
        assert p.pid in tagged_processes(tag)
    finally:
        p.kill()
        p.wait()
    assert tagged_processes(tag) == []
