"""Parity of `mlphys grade` with `otter run` on Otter's own material.

Material nobody here wrote, from a local copy of the public otter-grader repository (CI has no
access to it, so this is a script, not a test; its result is quoted in docs/grading.md):

* the tutorial (``docs/tutorial``): ``demo.ipynb`` and its 12 submissions (6 notebooks, the same
  6 as Otter export zips);
* the Data 88E project 3 (``examples/data-88e-proj03``, OK-format tests, and
  ``examples/data-88e-proj03-exception``, exception-format tests): the solutions, the blank
  student notebook and three wrong variants written here (:data:`WRONG_VARIANTS`).

Each is built with ``otter assign --no-pdfs`` (the tutorial with ``--no-run-tests``: under
NumPy 2 its own solution fails q3's hidden doctests, see below), graded one submission at a
time by ``otter run`` and twice by ``mlphys grade`` (``--jobs 2`` in one order, ``--jobs 4`` in
the reverse order). A third ``mlphys grade`` run with ``--numpy-legacy-repr`` is compared with
``otter run`` in a kernel whose NumPy prints scalars as NumPy 1 did (what the tutorial's
expected outputs were recorded with).

    .venv/bin/pip install -e '.[parity]'          # statsmodels, ipywidgets, tqdm
    .venv/bin/python benchmarks/otter_parity.py --otter-repo PATH [--out benchmarks/results]

PATH is a clone (or a bare git directory) of github.com/ucbds-infra/otter-grader; the files
are taken at :data:`PINNED_COMMIT`. Writes ``otter_parity.md`` (per-question table) and
``otter_parity.json``; exits 1 if any per-question score differs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

PINNED_COMMIT = "4059e7ae536b64a9d9b18c0d693a4a88dc3e255a"
"""otter-grader's main branch on 2026-08-08, the files this comparison was made with."""

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TUTORIAL, D88E, D88E_EXC = "tutorial", "data88e_ok", "data88e_exception"
SOURCES = {TUTORIAL: "docs/tutorial", D88E: "examples/data-88e-proj03",
           D88E_EXC: "examples/data-88e-proj03-exception"}
MASTERS = {TUTORIAL: "demo.ipynb", D88E: "proj03.ipynb", D88E_EXC: "proj03.ipynb"}

WRONG_VARIANTS: dict[str, list[tuple[str, str]]] = {
    # name -> (text in the solutions notebook, replacement); a variant applies every pair found
    "wrong-dummies-and-corr": [
        ('q0_1 = ["sex", "education", "marital_status"]', 'q0_1 = ["sex", "education"]'),
        ("return np.mean(su(x) * su(y))", "return -np.mean(su(x) * su(y))"),
    ],
    "wrong-rmse-and-choice": [
        ("return np.sqrt(np.mean((y - y_hat)**2))", "return np.mean((y - y_hat)**2)"),
        ('q2_1 = "d"', 'q2_1 = "a"'),
    ],
    "wrong-slope-crashes-later": [
        ("return np.std(y) * corr(x, y) / np.std(x)", "return np.std(x) * corr(x, y) / np.std(y)"),
        ("Y_hat = result.fittedvalues", "Y_hat = result.fittedvalues\nraise RuntimeError('oops')"),
    ],
}

LEGACY_SITECUSTOMIZE = """\
# NumPy 1's scalar repr for the reference `otter run` (its kernel imports this at start-up)
try:
    import numpy
    numpy.set_printoptions(legacy="1.25")
except Exception:
    pass
"""


@dataclass
class Material:
    name: str
    autograder: Path
    submissions: dict[str, Path] = field(default_factory=dict)
    """id -> file (an .ipynb named as the master, or an export zip)"""


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def extract(repo: Path, commit: str, dest: Path) -> str:
    """Copy the three source folders out of ``repo`` at ``commit``; return the commit used."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        full = run(["git", "-C", str(repo), "rev-parse", f"{commit}^{{commit}}"]).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        sys.exit(f"{repo} is not a git clone of otter-grader containing commit {commit}")
    archive = subprocess.run(["git", "-C", str(repo), "archive", full, *SOURCES.values()],
                             check=True, capture_output=True).stdout
    with tempfile.TemporaryFile() as handle:
        handle.write(archive)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as tar:
            tar.extractall(dest, filter="data")
    return full


def assign(master: Path, out: Path, run_tests: bool) -> Path:
    """``otter assign --no-pdfs``; the autograder zip under a stable name."""
    cmd = [str(VENV_BIN / "otter"), "assign", "--no-pdfs", str(master), str(out)]
    if not run_tests:
        cmd.insert(3, "--no-run-tests")
    run(cmd, cwd=master.parent)
    zips = sorted((out / "autograder").glob("*-autograder_*.zip"))
    stable = out / "autograder.zip"
    shutil.copyfile(zips[-1], stable)
    return stable


def variant(solution: Path, edits: list[tuple[str, str]], dest: Path) -> Path | None:
    nb = nbformat.read(solution, as_version=4)
    applied = 0
    for cell in nb.cells:
        for old, new in edits:
            if cell.cell_type == "code" and old in cell.source:
                cell.source = cell.source.replace(old, new)
                applied += 1
    if not applied:
        return None
    for cell in nb.cells:  # a submission does not carry the solutions' outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def materials(src: Path, work: Path) -> list[Material]:
    out = []
    tut = src / SOURCES[TUTORIAL]
    ag = assign(tut / MASTERS[TUTORIAL], work / "build" / TUTORIAL, run_tests=False)
    m = Material(TUTORIAL, ag)
    for path in sorted((tut / "submissions").glob("*/*")):
        ident = f"{path.stem}.{path.suffix[1:]}"
        if path.suffix == ".ipynb":  # under the name its init cell opens, as a student saves it
            target = work / "subs" / TUTORIAL / ident / MASTERS[TUTORIAL]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            m.submissions[ident] = target
        else:
            m.submissions[ident] = path
    out.append(m)
    for name in (D88E, D88E_EXC):
        build = work / "build" / name
        ag = assign(src / SOURCES[name] / MASTERS[name], build, run_tests=True)
        m = Material(name, ag)
        master = MASTERS[name]
        for ident, source in (("solutions", build / "autograder" / master),
                              ("blank", build / "student" / master)):
            target = work / "subs" / name / ident / master
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            m.submissions[ident] = target
        for ident, edits in WRONG_VARIANTS.items():
            made = variant(build / "autograder" / master, edits,
                           work / "subs" / name / ident / master)
            if made is not None:
                m.submissions[ident] = made
        out.append(m)
    return out


def otter_run(ag: Path, sub: Path, out: Path, legacy: bool) -> dict[str, float] | str:
    """Per-question scores from ``otter run`` (or why there are none)."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    if legacy:
        (out / "site").mkdir(exist_ok=True)
        (out / "site" / "sitecustomize.py").write_text(LEGACY_SITECUSTOMIZE)
        env["PYTHONPATH"] = str(out / "site")
    try:
        subprocess.run([str(VENV_BIN / "otter"), "run", str(sub), "-a", str(ag), "-o", str(out),
                        "--no-logo"], check=True, capture_output=True, timeout=900, env=env,
                       cwd=out)
    except subprocess.CalledProcessError as e:
        return f"otter run failed (exit {e.returncode})"
    except subprocess.TimeoutExpired:
        return "otter run timed out"
    results = json.loads((out / "results.json").read_text())
    return {t["name"]: float(t["score"]) for t in results["tests"]
            if "score" in t and t["name"] != "Public Tests"}


def mlphys_grade(m: Material, idents: list[str], out: Path, jobs: int,
                 extra: list[str]) -> tuple[dict[str, dict[str, float]], float]:
    """Per-question scores of one ``mlphys grade`` batch (submissions in the given order)."""
    files = [str(m.submissions[i]) for i in idents]
    began = time.monotonic()
    run([str(VENV_BIN / "mlphys"), "grade", "--autograder", str(m.autograder), "--out", str(out),
         "--jobs", str(jobs), "--quiet", *extra, *files])
    seconds = time.monotonic() - began
    by_file = {str(Path(f).resolve()): i for i, f in zip(idents, files, strict=True)}
    import sqlite3

    scores: dict[str, dict[str, float]] = {}
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        rows = db.execute("SELECT a.submission_path, q.name, q.score FROM questions q "
                          "JOIN attempts a ON a.id = q.attempt_id WHERE a.state = 'done'")
        for path, question, score in rows:
            scores.setdefault(by_file[str(Path(path).resolve())], {})[question] = float(score)
    return scores, seconds


def compare(reference: dict[str, float] | str, *runs: dict[str, float]) -> tuple[bool, str]:
    if isinstance(reference, str):
        return False, reference
    diffs = []
    for question, want in sorted(reference.items()):
        got = [r.get(question) for r in runs]
        if any(g is None or not _close(g, want) for g in got):
            diffs.append(f"{question}: otter {want:g} vs " + "/".join(
                "-" if g is None else f"{g:g}" for g in got))
    return not diffs, "; ".join(diffs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--otter-repo", type=Path, required=True)
    parser.add_argument("--commit", default=PINNED_COMMIT)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--work", type=Path, default=None, help="keep the build here")
    parser.add_argument("--parallel", type=int, default=2, help="otter run processes at once")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="otter-parity-"))
    began = time.monotonic()
    commit = extract(args.otter_repo, args.commit, work / "src")
    mats = materials(work / "src", work)
    report: dict[str, object] = {"otter_grader_commit": commit, "materials": {}}
    lines = [f"otter-grader commit `{commit}`; `otter run` one process per submission; "
             "`mlphys grade` run A `--jobs 2` in order, run B `--jobs 4` in reverse order; "
             "run C `--numpy-legacy-repr` vs `otter run` with NumPy 1's scalar repr.", ""]
    all_equal = True
    for m in mats:
        idents = list(m.submissions)
        jobs = [(i, legacy) for i in idents for legacy in ((False, True) if m.name == TUTORIAL
                                                           else (False,))]
        with ThreadPoolExecutor(args.parallel) as pool:
            futures = {job: pool.submit(otter_run, m.autograder, m.submissions[job[0]],
                                        work / "otter" / m.name / f"{job[0]}-{job[1]}", job[1])
                       for job in jobs}
        otter = {job: f.result() for job, f in futures.items()}
        run_a, sec_a = mlphys_grade(m, idents, work / "mlphys" / m.name / "A", 2, [])
        run_b, sec_b = mlphys_grade(m, idents[::-1], work / "mlphys" / m.name / "B", 4, [])
        run_c: dict[str, dict[str, float]] = {}
        if m.name == TUTORIAL:
            try:
                run_c, _ = mlphys_grade(m, idents, work / "mlphys" / m.name / "C", 2,
                                        ["--numpy-legacy-repr"])
            except subprocess.CalledProcessError as e:
                print(f"mlphys grade --numpy-legacy-repr failed: {e.stderr.strip()[-300:]}")
                run_c = {i: {} for i in idents}
        lines += [f"### {m.name} ({len(idents)} submissions; mlphys grade {sec_a:.0f} s with "
                  f"--jobs 2, {sec_b:.0f} s with --jobs 4)", "",
                  "| submission | question | otter run | mlphys A | mlphys B | equal |"
                  + (" otter run, NumPy 1 repr | mlphys --numpy-legacy-repr | equal |"
                     if run_c else ""),
                  "|---|---|---|---|---|---|" + ("---|---|---|" if run_c else "")]
        entries = {}
        for ident in idents:
            ref = otter[(ident, False)]
            ok, why = compare(ref, run_a.get(ident, {}), run_b.get(ident, {}))
            ok_c, why_c = True, ""
            if run_c:
                ok_c, why_c = compare(otter[(ident, True)], run_c.get(ident, {}))
            all_equal = all_equal and ok and ok_c
            entries[ident] = {"otter": ref, "A": run_a.get(ident), "B": run_b.get(ident),
                              "equal": ok, "why": why}
            if run_c:
                entries[ident].update({"otter_numpy1": otter[(ident, True)],
                                       "C": run_c.get(ident), "equal_numpy1": ok_c,
                                       "why_numpy1": why_c})
            questions = sorted(ref) if isinstance(ref, dict) else ["-"]
            for q in questions:
                row = [ident, q, _fmt(ref, q), _fmt(run_a.get(ident), q),
                       _fmt(run_b.get(ident), q),
                       "yes" if _same(ref, q, run_a.get(ident), run_b.get(ident)) else "**no**"]
                if run_c:
                    ref_c = otter[(ident, True)]
                    row += [_fmt(ref_c, q), _fmt(run_c.get(ident), q),
                            "yes" if _same(ref_c, q, run_c.get(ident)) else "**no**"]
                lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        report["materials"][m.name] = entries  # type: ignore[index]
    report["all_equal"] = all_equal
    report["seconds"] = round(time.monotonic() - began, 1)
    lines.insert(1, f"Result: {'every per-question score equal' if all_equal else 'DIFFERENCES'}"
                    f" ({report['seconds']:.0f} s in all).")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "otter_parity.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "otter_parity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all_equal else 1


def _fmt(scores: dict[str, float] | str | None, q: str) -> str:
    if not isinstance(scores, dict):
        return "-" if scores is None else scores
    value = scores.get(q)
    return "-" if value is None else f"{value:.4g}"


def _same(ref: dict[str, float] | str, q: str, *runs: dict[str, float] | None) -> bool:
    if not isinstance(ref, dict):
        return False
    return all(r is not None and q in r and _close(r[q], ref[q]) for r in runs)


def _close(got: float, otter: float) -> bool:
    """Equal as Otter reports it: its results.json rounds scores to 5 decimals."""
    return abs(round(got, 5) - round(otter, 5)) < 1e-9


if __name__ == "__main__":
    sys.exit(main())
