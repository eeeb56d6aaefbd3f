"""The Dask worker's grading processes (``executors.dask_worker._WorkerState``), without Dask:
a process is reused for its own batch, kept for up to two batches at once, stopped when its
batch is evicted or when it dies, and a damaged zip is refused before anything starts."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from mlgrade_support import ag_zip, build_notebook, write_nb

from autograder.grading.executors.dask_worker import IDLE_BATCHES, _Batch, _WorkerState
from autograder.grading.executors.grader_process import GraderProcessError
from autograder.grading.model import Limits

pytestmark = pytest.mark.slow


def _batch(zip_bytes: bytes, cell_timeout: float) -> _Batch:
    import hashlib

    limits = dataclasses.asdict(Limits(cell_timeout=cell_timeout))
    return _Batch(hashlib.sha256(zip_bytes).hexdigest(), json.dumps(limits, sort_keys=True),
                  20 * 2**20)


def _gone(process, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while process.alive() and time.monotonic() < end:
        time.sleep(0.05)
    return not process.alive()


def test_processes_are_reused_per_batch_and_evicted_least_recently_used(tmp_path):
    data = ag_zip("demo_ok").read_bytes()
    a, b, c = (_batch(data, t) for t in (30, 31, 32))
    state = _WorkerState()
    try:
        pa = state.take(a, data)
        state.give_back(a, pa)
        pb = state.take(b, data)
        assert pb.pid != pa.pid and pb.slot != pa.slot
        state.give_back(b, pb)
        assert state.take(a, data) is pa  # the same process, already loaded
        state.give_back(a, pa)            # a is now the most recently used batch
        pc = state.take(c, data)
        state.give_back(c, pc)
        assert IDLE_BATCHES == 2 and list(state.idle) == [a, c]
        assert _gone(pb) and pa.alive() and pc.alive()
        assert pb.slot in state.free_slots  # its scratch slot is free again

        # a reused process still grades (and grades right)
        sub = write_nb(build_notebook("demo_ok"), tmp_path / "s.ipynb")
        proc = state.take(a, data)
        assert proc is pa
        result = proc.grade("k1", str(sub), 300)
        assert result["grading_status"] == "Completed"
        assert sum(q["score"] for q in result["questions"]) == 14.0
        state.give_back(a, proc)

        # a process that died while idle is replaced, on its own slot
        pa.kill()
        fresh = state.take(a, data)
        assert fresh is not pa and fresh.alive() and fresh.slot == pa.slot
        state.give_back(a, fresh)
    finally:
        state.shutdown()
    assert all(_gone(p) for p in (pa, pb, pc, fresh))
    assert not state.workdir.exists()


def test_a_damaged_zip_is_refused(tmp_path):
    data = ag_zip("demo_ok").read_bytes()
    state = _WorkerState()
    try:
        with pytest.raises(GraderProcessError, match="damaged"):
            state.take(_batch(data, 30), data[:-10])
        assert state.idle == {} and state.next_slot == 0
    finally:
        state.shutdown()
