"""Issue 8's attacks: what got through the first hardening, one submission each, plus honest
submissions that share the batch (and its workers) with them. Used by
test_grade_hostile.py (one batch, exact scores, bounded host disk and memory) and by
benchmarks/security_report.py.

Limits the batch runs with (``HOSTILE_LIMITS``) are small on purpose, so every limit is
actually reached within seconds. Attacks that forge protocol frames reach the runner through
the heap (``gc.get_objects()`` holds the runner's module globals: it lives in the student's
own process): that is exactly the access a student has.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from adversarial_corpus import (
    FULL,
    QUESTIONS,
    WRONG_SQUARE,
    Attack,
    _dead,
    _nb,
    _zero,
    nb_attack,
)

MiB = 1024**2

RUNNER = """
import gc as _gc, types as _types
runner = _types.SimpleNamespace(**next(  # the runner's module globals, found on the heap
    o for o in _gc.get_objects() if type(o) is dict and "STATE" in o and "serve" in o))
"""
"""How a notebook reaches the runner's machinery (IPython replaces ``__main__``)."""

HOSTILE_LIMITS = {
    "cell_timeout": 6, "notebook_timeout": 30, "call_timeout": 8, "interrupt_grace": 1,
    "memory_bytes": 1024 * MiB, "disk_bytes": 512 * MiB, "disk_inodes": 20_000,
}
"""``Limits`` of the hostile batch (plus ``grader_memory_bytes`` below for the workers)."""

GRADER_MEMORY_BYTES = 192 * MiB

# item 1: a tree that recursive cleanup cannot remove ------------------------------------------
DEEP_TREE = """
import os
def chain(top, depth, name):
    os.makedirs(top, exist_ok=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(depth):
        os.mkdir(name, dir_fd=fd)
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        if i % 100 == 99:
            os.symlink("/", "to_root", dir_fd=fd)
            os.close(os.open("odd\\nname \\udcff", os.O_WRONLY | os.O_CREAT, 0, dir_fd=fd))
            os.fchmod(fd, 0)
        os.close(fd)
        fd = child
    os.close(fd)
chain("deep", 1500, "d")
chain("/tmp/deep", 1500, "d" * 60)
os.chmod("deep", 0)
"""

# item 2: check requests that never end -----------------------------------------------------------
CHECK_FLOOD_PACED = RUNNER + """
state = runner.STATE
while True:   # each round: a forged check of q1, then wait for the grader's resume
    runner.send(state, {"op": "check", "q": "q1", "seq": state.cell_seq})
    runner.serve(state, stop_op="resume")
"""

CHECK_FLOOD_BURST = RUNNER + """
import os, signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
state = runner.STATE
frame = runner.channel.pack_frame({"op": "check", "q": "q2", "seq": state.cell_seq})
os.set_blocking(state.wfd, True)
while True:   # frames pile up in the pipe faster than anyone could test them
    os.write(state.wfd, frame * 256)
"""

# item 3: limits of the sandbox as a whole --------------------------------------------------------
FORK_ALLOCATE = """
import os, time
kids = []
for _ in range(6):   # 6 x 400 MB: each child is far below the per-process limit
    pid = os.fork()
    if pid == 0:
        block = bytearray(400 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(1)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
"""

MEMORY_THROUGH_FILES = """
# files in the sandbox's tmpfs are memory too: 500 MB of them (files under the per-file
# limit), then allocate: the process stays within its own limit, the sandbox does not
for n in range(10):
    try:
        with open(f"/dev/shm/fill{n}", "wb") as fh:
            for _ in range(50):
                fh.write(b"x" * 2**20)
    except OSError:
        break
"""

ALLOCATE_UNTIL_KILLED = """
hog = []
while True:
    block = bytearray(64 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    hog.append(block)
"""

DISK_FILL_FAST = """
import os, time
written, t0 = 0, time.time()
for target in ("fill_home.bin", "/tmp/fill_tmp.bin", "/dev/shm/fill_shm.bin"):
    try:
        with open(target, "wb") as fh:
            while time.time() - t0 < 5:
                fh.write(b"\\0" * 2**20)
                written += 2**20
    except OSError as e:
        print(target, e.errno)
print("written", written)
"""

INODE_FILL = """
import os
os.makedirs("many", exist_ok=True)
made = 0
try:
    for i in range(500_000):
        os.close(os.open(f"many/{i}", os.O_WRONLY | os.O_CREAT))
        made += 1
except OSError as e:
    print("stopped after", made, e.errno)
"""

# item 4: the trusted side's work on student data -------------------------------------------------
BROADCAST_BOMB = "arr = np.zeros((3_000_000, 1))  # crosses as data; np.allclose(arr, 5 values): 3M x 5"

# item 5: student text as the grader's words ------------------------------------------------------
SQUARE_STASH = """
seen = []
def square(x):
    seen.append(x)   # the hidden test's argument
    return x * x
"""

FORGED_MEMORY_STATUS = RUNNER + """
import os
state = runner.STATE
runner.send(state, {"op": "cell_done", "status": "memory", "seq": state.cell_seq, "output": "",
                    "error": f"MemoryError: LEAKED hidden args {seen!r} PWNED-STATUS"})
os._exit(0)
"""

FORGED_PROTOCOL_TEXT = RUNNER + """
state = runner.STATE
runner.send(state, {"op": f"LEAKED {seen!r} PWNED-OP", "seq": state.cell_seq})
"""


# item 7: cheap refusal ------------------------------------------------------------------------------
def _zip_members(d: Path) -> Path:
    """A valid zip64 archive: the notebook plus 400,000 empty members (built directly)."""
    local, central = bytearray(), bytearray()
    entries = [(b"master.ipynb", json.dumps(_nb()).encode())]
    entries += [(b"junk/%d" % i, b"") for i in range(400_000)]
    for name, data in entries:
        offset = len(local)
        import zlib

        crc = zlib.crc32(data)
        local += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, len(data),
                             len(data), len(name), 0) + name + data
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21,
                               crc, len(data), len(data), len(name), 0, 0, 0, 0, 0,
                               offset) + name
    count, cd_offset, cd_size = len(entries), len(local), len(central)
    record = cd_offset + cd_size
    tail = (struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count,
                        cd_size, cd_offset)
            + struct.pack("<4sIQI", b"PK\x06\x07", 0, record, 1)
            + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                          0xFFFFFFFF, 0))
    path = d / "zip_400k_members.zip"
    path.write_bytes(bytes(local) + bytes(central) + tail)
    return path


def _many_cells(d: Path) -> Path:
    nb = _nb()
    cell = {"cell_type": "markdown", "metadata": {}, "source": "x"}
    raw = json.loads(json.dumps(nb))
    raw["cells"] += [cell] * 150_000
    path = d / "notebook_150k_cells.ipynb"
    path.write_text(json.dumps(raw))
    return path


ZERO_ALL = dict.fromkeys(QUESTIONS, 0.0)


def hostile_corpus() -> list[Attack]:
    A = nb_attack
    return [
        A("deep_scratch_tree", "cleanup", after={"q1": DEEP_TREE},
          description="a 1,500-level directory chain (and one past PATH_MAX in /tmp) with "
                      "locked directories, symlinks to / and odd names"),
        A("check_flood_paced", "never-ending batch", end=CHECK_FLOOD_PACED,
          grading_status="kernel died",
          description="forged check requests of q1 in an endless loop, each waiting for "
                      "the grader"),
        A("check_flood_burst", "never-ending batch", end=CHECK_FLOOD_BURST,
          scores={"q2": 0.0}, statuses={"q2": "kernel died"}, grading_status="kernel died",
          description="forged checks of q2 written without pause, SIGINT ignored (the last "
                      "check counts, as in Otter: q2 is lost with the sandbox)"),
        A("fork_allocate", "whole-sandbox limits", end=FORK_ALLOCATE, grading_status="",
          description="6 children of 400 MB each (2.4 GB) under a 1 GiB limit"),
        A("memory_through_files", "whole-sandbox limits",
          after={"q2": MEMORY_THROUGH_FILES, "q3": ALLOCATE_UNTIL_KILLED},
          scores=_zero("q4"), statuses=_dead("q4", "memory"), grading_status="memory",
          description="500 MB of files in /dev/shm, then allocate past the sandbox's 1 GiB"),
        A("disk_fill_fast", "whole-sandbox limits", after={"q2": DISK_FILL_FAST},
          description="write as fast as possible for 5 s into home, /tmp and /dev/shm"),
        A("inode_fill", "whole-sandbox limits", after={"q2": INODE_FILL},
          description="create 500,000 empty files"),
        A("trusted_broadcast", "trusted-side work", {"q4": BROADCAST_BOMB},
          scores=ZERO_ALL, statuses=dict.fromkeys(QUESTIONS, "error: grader failure"),
          grading_status="error: grader failure: the grader ran out of memory",
          description="a (3M, 1) array where the test compares with 5 values: 3M x 5 "
                      "temporaries in the grader"),
        A("forged_memory_status", "student text as status", {"q1": SQUARE_STASH},
          after={"q2": FORGED_MEMORY_STATUS}, scores=_zero("q3"),
          statuses=_dead("q3", "kernel died"), grading_status="kernel died",
          description="a forged cell_done 'memory' whose error text carries the hidden "
                      "test's arguments, then exit"),
        A("forged_protocol_text", "student text as status", {"q1": SQUARE_STASH},
          after={"q2": FORGED_PROTOCOL_TEXT}, scores=_zero("q3"),
          statuses=_dead("q3", "kernel died"), grading_status="kernel died",
          description="a frame whose op is text with the hidden test's arguments"),
        Attack("zip_400k_members", "cheap refusal", _zip_members, scores=ZERO_ALL,
               statuses=dict.fromkeys(QUESTIONS, "error: zip has too many members"),
               grading_status="error: zip has too many members",
               description="a zip of the notebook and 400,000 empty members"),
        Attack("notebook_150k_cells", "cheap refusal", _many_cells, scores=ZERO_ALL,
               statuses=dict.fromkeys(QUESTIONS, "error: notebook has too many cells"),
               grading_status="error: notebook has too many cells",
               description="the notebook with 150,000 extra markdown cells (12 MB)"),
    ]


def honest_submissions() -> list[Attack]:
    """Honest work graded in the same batch, after the attacks, on the same workers."""
    A = nb_attack
    return [
        A(f"zz_honest_full_{i}", "honest", description="the solution") for i in range(3)
    ] + [
        A(f"zz_honest_partial_{i}", "honest", {"q1": WRONG_SQUARE}, scores={"q1": 0.0},
          description="q1 wrong") for i in range(3)
    ]


SECRETS = ["square(-2)", "np.allclose(arr, [0, 0.25, 0.5, 0.75, 1])", "LEAKED", "PWNED"]
"""Text that must never reach anything a student sees (nor the grading status)."""

__all__ = ["FULL", "GRADER_MEMORY_BYTES", "HOSTILE_LIMITS", "SECRETS", "honest_submissions",
           "hostile_corpus"]
