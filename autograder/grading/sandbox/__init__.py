"""The sandbox: run a notebook's cells in an isolated process; this package's public API.

Design rule: student code runs in the sandboxed runner process; test code runs in the
trusted grading process; only plain data (see ``values``) crosses from the sandbox to it.

Modules, by trust side:

* trusted grader process: ``sandbox`` (the ``Sandbox`` lifecycle: start, cells, checkpoints,
  forwarded requests, close), ``remote`` (remote handles, the namespace view, the errors),
  ``host`` (slot uid leases, isolation mode probe, jail paths, killing a slot's processes);
* keeper (``python -I -S jail.py``, standard library only, root or in user namespaces): ``jail``
  builds the namespaces and mounts and supervises the runner;
* student's runner (inside the jail, as the slot uid): ``runner``, with copies of ``channel``
  (framing) and ``values`` (value codec); those two are shared with the trusted side and import
  only the standard library (``values`` imports NumPy lazily).

Usage::

    with Sandbox(scratch_dir, Limits(cell_timeout=30), slot=worker_index) as sandbox:
        for source in code_cells:
            outcome = sandbox.run_cell(source, on_check=run_tests_for_question)
        sandbox.checkpoint("q9", run_tests_for_question)   # questions never checked
        # inside run_tests_for_question: sandbox.namespace["f"](3) == 9 ...

Public API (contract with the batch layer):

* ``Limits`` (frozen dataclass): ``notebook_timeout``, ``cell_timeout``, ``call_timeout``,
  ``memory_bytes``, ``cpu_seconds``, ``file_size_bytes``, ``open_files``, ``processes``,
  ``output_bytes``; additions: ``interrupt_grace`` (seconds between the interrupt and the
  kill), ``startup_timeout``, ``disk_bytes``/``disk_inodes`` (one tmpfs for everything the
  notebook can write), ``checks_per_question``/``checks_per_notebook`` (caps enforced here).
* ``Sandbox.stop``/``CellOutcome.stop``: why it stopped, as a ``causes.Stop`` the grader
  decided itself (statuses are composed from it, never from the runner's text).
* ``CellOutcome(status, error, output)`` with status ``ok|error|timeout|memory|died``.
  A protocol violation during a cell gives ``error`` with ``"ProtocolError: ..."`` and the
  sandbox is killed (later cells: ``died``). Once the notebook budget is spent, cells return
  ``timeout`` without running.
* ``Sandbox(scratch_dir, limits, slot, preload, mode="auto")``: ``start()``,
  ``run_cell(source, on_check)``, ``checkpoint(question, on_check)``, ``namespace``,
  ``alive()``, ``isolation``, ``close()``, context manager. Additions: ``mode`` (force
  ``"jail"``, ``"userns"`` or ``"basic"``), ``runner_pid`` (host pid of the runner),
  ``startup_seconds``, ``exit_reason``; ``request(message, prepare, interpret)`` is the one
  door remote handles use (through ``remote.RemoteObjects``).
* ``RemoteHandle``, ``RemoteError``, ``SandboxTimeout``, ``SandboxDied`` (with ``.reason``)
  and its subclass ``SandboxProtocolError`` (re-exported from ``remote``).

Timing rules and asynchronous exceptions: see ``sandbox.sandbox``.

Notes for callers:

* ``slot`` is a hint: as root the sandbox leases a slot uid ``62000 + n`` machine-wide
  (``SlotLease``, trying ``n = slot`` first), so concurrent sandboxes of any number of
  batches never share a uid; closing a sandbox kills every leftover process of its uid.
* In the namespace modes the scratch dir is only read (copied onto the sandbox's own tmpfs
  at start); student code never writes to the host's disk. In ``basic`` mode it is chowned
  to the slot uid and the student can write anything in it (symlinks to anywhere, any depth):
  remove it with ``untrusted_tree.remove_tree``.
* Text printed by student code during a forwarded call is written to the grading
  process's ``sys.stdout`` (for doctest-style tests). Student code sees the arguments a
  hidden test passes to it and may print them: keep that output out of student feedback.
* Values that cross as data: None/bool/int/float/str/complex/bytes, list/tuple, dicts with
  str or plain hashable keys, set/frozenset of plain hashables, ndarrays and numpy scalars of
  numeric/bool/string/datetime dtypes, dates and times, pandas DataFrame/Series/Index and
  scalars, datascience Tables (``richvalues``; exact types only), allow-listed modules (as
  the grader's own module). Everything else (student objects, functions, generators, object
  columns holding them, subclasses of the above, values larger than
  ``channel.MAX_FRAME_BYTES``) is a ``RemoteHandle``.
* A forwarded call's changes to the data arguments a test passed are written back into the
  test's objects (``argsync``); ``namespace.numpy_print_legacy()`` reads the notebook's NumPy
  ``legacy`` print option.

Threading: one Sandbox is meant to be driven by one thread; a lock serializes the pipe.
"""

from __future__ import annotations

from autograder.grading.model import Limits
from autograder.grading.sandbox.host import SLOT_UID_BASE, SlotLease, available_mode
from autograder.grading.sandbox.remote import (
    RemoteError,
    RemoteHandle,
    SandboxDied,
    SandboxProtocolError,
    SandboxTimeout,
)
from autograder.grading.sandbox.sandbox import CellOutcome, Sandbox

__all__ = [
    "SLOT_UID_BASE", "CellOutcome", "Limits", "RemoteError", "RemoteHandle", "Sandbox",
    "SandboxDied", "SandboxProtocolError", "SandboxTimeout", "SlotLease", "available_mode",
]
