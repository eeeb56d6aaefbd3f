"""``mlphys gradescope-check``: run a built autograder zip the way Gradescope runs it, locally.

Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/specs/) unpacks the zip to
``/autograder/source``, puts the student's upload in ``/autograder/submission`` and who submitted
it in ``/autograder/submission_metadata.json``, runs ``/autograder/run_autograder`` as root in a
Docker container, and reads ``/autograder/results/results.json``.

Here the same tree is laid out in a temporary folder and the zip's own ``run_autograder`` is run
under conditions like Gradescope's (:func:`run_like_gradescope`): as root, in a private mount
namespace where that folder *is* ``/autograder``, with a private ``/tmp``, no control groups to
manage (``/sys/fs/cgroup`` empty and read-only) and exactly Docker's default capabilities (no
``CAP_SYS_ADMIN``; util-linux ``setpriv``), so the grader takes the fallback a Gradescope container
leaves it. Without root (or without ``unshare``) the script runs with ``MLPHYS_AUTOGRADER_ROOT``
pointing at the tree instead, and the run says it is only an approximation. The produced
results.json is validated against the documented format, so an instructor learns about a broken
zip before 200 students do.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import jsonschema

VISIBILITY = ["hidden", "after_due_date", "after_published", "visible"]
FORMATS = ["text", "html", "simple_format", "md", "ansi"]

# The results.json format of the Gradescope autograder specification ("Output format").
RESULTS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": {"enum": FORMATS},
        "test_output_format": {"enum": FORMATS},
        "test_name_format": {"enum": FORMATS},
        "visibility": {"enum": VISIBILITY},
        "stdout_visibility": {"enum": VISIBILITY},
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": {"enum": FORMATS},
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": {"enum": FORMATS},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": {"enum": VISIBILITY},
                    "extra_data": {"type": "object"},
                },
                "additionalProperties": False,
            },
        },
        "leaderboard": {
            "type": "array",
            "items": {"type": "object", "required": ["name", "value"],
                      "properties": {"name": {"type": "string"},
                                     "value": {"type": ["number", "string"]},
                                     "order": {"enum": ["asc", "desc"]}}},
        },
    },
    "additionalProperties": False,
    # The spec: "score: optional, but required if not on each test case". Gradescope then sums
    # the scored tests; entries without a score (Otter's "Public Tests" summary) are shown as
    # text only, so what must hold is: a top-level score, or at least one scored test, and every
    # scored test has its max_score.
    "anyOf": [
        {"required": ["score"]},
        {"required": ["tests"],
         "properties": {"tests": {"contains": {"required": ["score", "max_score"]}}}},
    ],
}


def validate_results(results: dict) -> list[str]:
    """Every way ``results`` departs from Gradescope's results.json format (empty: valid)."""
    validator = jsonschema.Draft202012Validator(RESULTS_SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}"
            for e in sorted(validator.iter_errors(results), key=str)]


DOCKER_CAPABILITIES = ("chown", "dac_override", "fowner", "fsetid", "kill", "setgid", "setuid",
                       "setpcap", "net_bind_service", "net_raw", "sys_chroot", "mknod",
                       "audit_write", "setfcap")
"""Docker's default capability set (what a Gradescope container's root has)."""
CONTAINER = "container"
APPROXIMATION = "approximation"


@dataclass(frozen=True)
class GradescopeRun:
    results: dict
    problems: list[str]
    stdout: str
    score: float
    possible: float
    mode: str = CONTAINER
    """``container`` (root, Docker's capabilities, /autograder) or ``approximation``"""


def notebook_student_id(notebook: Path) -> str | None:
    """The string a notebook assigns to ``student_id`` (read, never run), if any."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    except (OSError, ValueError, AttributeError):
        return None
    for cell in cells:
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                    and any(isinstance(t, ast.Name) and t.id == "student_id" for t in node.targets)):
                return node.value.value
    return None


def metadata_for(users: list[dict], title: str) -> dict:
    """A ``submission_metadata.json`` as Gradescope writes it, for ``users``."""
    return {
        "id": 1, "created_at": datetime.now(UTC).isoformat(),
        "assignment": {"id": 1, "title": title, "total_points": "0.0", "due_date": None,
                       "late_due_date": None, "group_submission": len(users) > 1,
                       "group_size": len(users) if len(users) > 1 else None,
                       "release_date": None},
        "submission_method": "upload",
        "users": users, "previous_submissions": [],
    }


def container_available() -> bool:
    """Can we build the emulated container here (root, unshare and setpriv present)?"""
    return (os.geteuid() == 0 and shutil.which("unshare") is not None
            and shutil.which("setpriv") is not None)


def _under_root() -> list[str]:
    """Entries of /root this interpreter lives under (Otter's Python lives in /root too)."""
    paths = {os.path.realpath(sys.executable), os.path.realpath(sys.prefix),
             os.path.realpath(sys.base_prefix)}
    return sorted({p.split("/")[2] for p in paths if p.startswith("/root/")})


def _under_tmp() -> list[str]:
    """Folders of this interpreter that live under /tmp (a checkout or venv there): the
    container's private /tmp would hide them, so they are carried into it."""
    paths = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)
                    if os.path.realpath(p).startswith("/tmp/")})
    return [p for p in paths if not any(p.startswith(q + "/") for q in paths)]


def _masked() -> list[str]:
    """This machine's mlphys and course sources: a Gradescope container has neither."""
    from autograder.grading.sandbox import host

    paths = [*host.hide_paths(),
             *(os.path.join(host.PROJECT_ROOT, n) for n in ("reference", "autograder", "assignments"))]
    return [p for p in dict.fromkeys(paths) if os.path.lexists(p)]


def _container_command(tree: Path, python_bin: str) -> list[str]:
    """``unshare`` + a script that builds the container's view, then drops to Docker's
    capabilities and runs ``/autograder/run_autograder``."""
    q = shlex.quote
    caps = ",".join(["-all", *(f"+{c}" for c in DOCKER_CAPABILITIES)])
    env = ["env", "-i", f"PATH={python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME=/root",
           "LANG=C.UTF-8"]
    lines = ["set -e", f"mount --bind {q(str(tree))} /autograder"]
    carried = _under_tmp()
    if carried:  # through a private stash, as /root's interpreter below
        lines.append("mount -t tmpfs -o mode=700 tmpfs /dev/shm")
        for i, path in enumerate(carried):
            lines += [f"mkdir -p /dev/shm/.keep/{i}", f"mount --bind {q(path)} /dev/shm/.keep/{i}"]
    lines.append("mount -t tmpfs -o mode=1777,size=2g tmpfs /tmp")
    for i, path in enumerate(carried):
        lines += [f"mkdir -p {q(path)}", f"mount --move /dev/shm/.keep/{i} {q(path)}"]
    keep = _under_root()
    for entry in keep:  # the container's own /root (mode 0700, as in Ubuntu's image) with
        lines += [f"mkdir -p /tmp/.root/{q(entry)}",  # only the interpreter in it
                  f"mount --bind /root/{q(entry)} /tmp/.root/{q(entry)}"]
    lines.append("mount -t tmpfs -o mode=700 tmpfs /root")
    for entry in keep:
        lines += [f"mkdir /root/{q(entry)}", f"mount --move /tmp/.root/{q(entry)} /root/{q(entry)}"]
    for path in _masked():  # (one under /tmp is gone already: only what was carried is there)
        mount = (f"mount -t tmpfs -o ro,mode=755 tmpfs {q(path)}" if os.path.isdir(path)
                 else f"mount --bind /dev/null {q(path)}")
        lines.append(f"if [ -e {q(path)} ]; then {mount}; fi")
    lines += ["mount -t tmpfs -o mode=1777,size=256m tmpfs /dev/shm",
              "mount -t tmpfs -o ro,mode=755 tmpfs /sys/fs/cgroup",
              "cd /autograder",
              f"exec setpriv --bounding-set={caps} --inh-caps=-all -- "
              + " ".join(q(x) for x in env) + " /autograder/run_autograder"]
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(lines)]


def run_like_gradescope(autograder_zip: Path, submission: Path, workdir: Path | None = None,
                        timeout: float = 900, users: list[dict] | None = None,
                        container: bool | None = None) -> GradescopeRun:
    """Grade ``submission`` with ``autograder_zip`` in a Gradescope-shaped tree.

    ``users``: the metadata's submitters (default: one student whose email and sid are the
    notebook's own ``student_id``, i.e. an honest submitter); ``container``: force the
    container emulation (True) or the approximation (False); default: the emulation when
    this machine allows it."""
    if container is None:
        container = container_available()
    python_bin = os.path.dirname(sys.executable)
    if users is None:
        own = notebook_student_id(submission) or "student@example.com"
        users = [{"email": own, "id": 1, "name": "Student", "sid": own}]
    with tempfile.TemporaryDirectory(prefix="mlphys-gradescope-") as tmp:
        base = Path(workdir or tmp)
        base.mkdir(parents=True, exist_ok=True)
        root = base / "autograder"
        for sub in ("source", "submission", "results"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(autograder_zip) as zf:
            zf.extractall(root / "source")
        shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
        os.chmod(root / "run_autograder", 0o755)
        shutil.copy(submission, root / "submission" / submission.name)
        (root / "submission_metadata.json").write_text(
            json.dumps(metadata_for(users, autograder_zip.stem)))
        if container:
            os.makedirs("/autograder", exist_ok=True)  # the mount point (stays empty here)
            command = _container_command(root, python_bin)
            env = None
        else:
            command = [str(root / "run_autograder")]
            env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
                   "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
                   "MLPHYS_AUTOGRADER_ROOT": str(root)}
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, _ = proc.communicate()
            raise click.ClickException(f"run_autograder did not finish in {timeout:g} s:\n"
                                       f"{stdout[-3000:]}") from None
        results_path = root / "results" / "results.json"
        if not results_path.exists():
            raise click.ClickException(f"no results.json was produced:\n{stdout[-3000:]}")
        results = json.loads(results_path.read_text())
    tests = [t for t in results.get("tests", []) if "max_score" in t]
    score = results.get("score", sum(t.get("score", 0) for t in tests))
    return GradescopeRun(results, validate_results(results), stdout, float(score),
                         float(sum(t["max_score"] for t in tests)),
                         CONTAINER if container else APPROXIMATION)


def _user(text: str) -> dict:
    email, _, sid = text.partition(":")
    return {"email": email, "id": 1, "name": email, "sid": sid or None}


@click.command("gradescope-check")
@click.option("--autograder", "autograder_zip", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The built <name>-autograder.zip you will upload to Gradescope.")
@click.option("--user", "users", multiple=True, metavar="EMAIL[:SID]",
              help="The submitter in submission_metadata.json (repeat for a group); default: "
                   "the notebook's own student_id as email and sid.")
@click.option("--timeout", type=click.FloatRange(min=1), default=900, show_default=True,
              help="Seconds before run_autograder is stopped.")
@click.argument("submission", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def gradescope_check_command(autograder_zip: Path, users: tuple[str, ...], timeout: float,
                             submission: Path) -> None:
    """Grade SUBMISSION the way Gradescope would and validate the results.json it produces."""
    if not zipfile.is_zipfile(autograder_zip):
        raise click.ClickException(f"{autograder_zip} is not a zip file")
    run = run_like_gradescope(autograder_zip, submission, timeout=timeout,
                              users=[_user(u) for u in users] or None)
    if run.mode == CONTAINER:
        click.echo("ran as root in /autograder with Docker's default capabilities "
                   "(no CAP_SYS_ADMIN, no control groups), as on Gradescope")
    else:
        click.echo("approximation: not root (or no unshare/setpriv here), so the grading tree "
                   "is not at /autograder and the sandbox's isolation differs from Gradescope's")
    mlphys = run.results.get("extra_data", {}).get("mlphys", {})
    if mlphys.get("isolation"):
        click.echo(f"isolation: {mlphys['isolation']}")
    if mlphys.get("identity"):
        identity = mlphys["identity"]
        click.echo(f"identity: {identity.get('status')} (graded as {identity.get('graded_as')!r})")
    if mlphys.get("error"):
        click.echo(f"grader error: {mlphys['error']}")
    click.echo(f"score {run.score:g} / {run.possible:g} over {len(run.results.get('tests', []))} "
               "results.json entries")
    if run.problems:
        raise click.ClickException("results.json does not follow Gradescope's format:\n  "
                                   + "\n  ".join(run.problems))
    click.echo("results.json follows Gradescope's documented format")
