"""Slot uids are leased machine-wide: concurrent batches never share one, a dead holder's slot
comes back, and a leased uid starts with no process of a previous holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from autograder.grading.sandbox import SLOT_UID_BASE, SlotLease
from autograder.grading.sandbox.jail import processes_of_uid

IS_ROOT = os.geteuid() == 0
pytestmark = pytest.mark.skipif(not IS_ROOT, reason="slot uids are only used by a root grader")

# A slot range of its own so that this test does not wait on a batch running beside it.
BASE = 900 + os.getpid() % 50


def test_two_leases_never_share_a_slot() -> None:
    first = SlotLease.acquire(BASE)
    second = SlotLease.acquire(BASE)
    try:
        assert first.index == BASE
        assert second.index != first.index
        assert second.uid == SLOT_UID_BASE + second.index
    finally:
        first.release()
        second.release()
    again = SlotLease.acquire(BASE)
    assert again.index == BASE  # released slots are reused
    again.release()


def test_a_lease_held_by_another_process_is_respected_and_freed_by_its_death() -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from autograder.grading.sandbox import SlotLease\n"
         f"lease = SlotLease.acquire({BASE})\n"
         "print(lease.index, flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert int(holder.stdout.readline()) == BASE
        other = SlotLease.acquire(BASE)
        assert other.index != BASE
        other.release()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    after = SlotLease.acquire(BASE)  # the kernel dropped the dead holder's lock
    assert after.index == BASE
    after.release()


def test_a_fresh_lease_kills_what_a_previous_holder_left_running() -> None:
    uid = SLOT_UID_BASE + BASE
    leftover = subprocess.Popen(["sleep", "60"], user=uid, group=uid, extra_groups=[],
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while leftover.pid not in processes_of_uid(uid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert leftover.pid in processes_of_uid(uid)
        lease = SlotLease.acquire(BASE)
        try:
            assert lease.index == BASE
            assert leftover.wait(timeout=5) == -signal.SIGKILL
            assert processes_of_uid(uid) == []
        finally:
            lease.release()
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()
