"""Grade one Gradescope submission with ``mlphys grade``'s sandbox: ``python -m
autograder.gradescope.run /autograder`` (started by the zip's bootstrap, as root, with the
grading tree already root-only: :mod:`autograder.gradescope.bootstrap`).

Gradescope's layout: ``source/`` (the unpacked zip), ``submission/`` (the student's files),
``submission_metadata.json`` (who submitted), ``results/results.json`` (what we write). The
grading is the batch grader's, for a batch of one: the zip is packed again from ``source/``
into a root-only folder, the notebook is graded with the isolation this container allows (here
usually ``basic`` with a slot uid: the Docker default capabilities allow no namespaces; the
mode is recorded), the hidden tests see the submitter's identity from the metadata
(``autograder.gradescope.metadata``), and ``results.json`` is the one ``mlphys grade`` writes
for that submission, plus what happened to the identity and the isolation. ``otter grade``
reads ``results/results.pkl`` (a pickled Otter ``GradingResults``), which is written too.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from autograder.gradescope import metadata as gs_metadata
from autograder.gradescope.hardened_zip import ROSTER
from autograder.grading.batch.driver import grade_batch
from autograder.grading.batch.gradebook import GRADEBOOK_FILE, Gradebook
from autograder.grading.model import Limits
from autograder.grading.otter.autograder_zip import AutograderSpec, load_autograder
from autograder.grading.otter.submissions import discover
from autograder.hashing import sha256_file

PAYLOAD = "mlphys_grader"
GRADESCOPE_LIMITS = Limits(notebook_timeout=420.0)
"""The notebook's budget leaves room for start-up and the tests within Gradescope's default
10-minute autograder timeout; the other limits are ``mlphys grade``'s defaults."""


class SubmissionError(Exception):
    """The upload cannot be graded (no notebook, several): told to the student."""


def pack_autograder(source: Path, dest: Path) -> Path:
    """The autograder zip again, from the unpacked ``source/`` (without the grader's wheel)."""
    manifest = source / "mlphys.json"
    if not manifest.is_file():  # `otter grade` copies only files/ and tests/ from the zip
        manifest = source / "files" / PAYLOAD / "mlphys.json"
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        if (source / "otter_config.json").is_file():
            zf.write(source / "otter_config.json", "otter_config.json")
        if manifest.is_file():
            zf.write(manifest, "mlphys.json")
        for folder in ("tests", "files"):
            for path in sorted((source / folder).rglob("*")):
                rel = path.relative_to(source).as_posix()
                if path.is_file() and not path.is_symlink() and not (
                        rel.startswith(f"files/{PAYLOAD}/") and rel.endswith(".whl")):
                    zf.write(path, rel)
    return dest


def find_submission(folder: Path, assignment: str | None) -> Path:
    """The notebook (or Otter export zip) the student uploaded."""
    paths = [s.path for s in discover([folder])] if folder.is_dir() else []
    if not paths and folder.is_dir():  # uploaded inside a folder
        paths = sorted(p.resolve() for p in folder.rglob("*.ipynb")
                       if p.is_file() and not p.name.startswith("."))
    if len(paths) == 1:
        return paths[0]
    if not paths:
        raise SubmissionError("no notebook (.ipynb) was submitted")
    named = [p for p in paths if assignment and p.name == f"{assignment}.ipynb"]
    notebooks = [p for p in paths if p.suffix == ".ipynb"]
    if len(named) == 1:
        return named[0]
    if len(notebooks) == 1:
        return notebooks[0]
    raise SubmissionError("several notebooks were submitted ("
                            + ", ".join(sorted(p.name for p in paths)) + "); submit one")


def write_results(root: Path, results: dict[str, Any]) -> None:
    folder = root / "results"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".results.json.tmp"
    tmp.write_text(json.dumps(results, indent=4))
    os.replace(tmp, folder / "results.json")


def write_otter_pickle(root: Path, spec: AutograderSpec, gb: Gradebook, attempt_id: int) -> None:
    """``results/results.pkl`` as Otter's own run writes it (``otter grade`` loads it)."""
    try:
        import dill
        from otter.test_files import GradingResults
        from otter.test_files.abstract_test import TestCaseResult
    except ImportError:  # not Otter's environment: nobody will read it
        return
    files = []
    for row in gb.questions_of(attempt_id):
        question = next((q for q in spec.questions if q.name == row["name"]), None)
        if question is None:
            continue
        tf = question.make_test_file()
        cases = {c["idx"]: c for c in gb.cases_of(attempt_id, row["name"])}
        tf.test_case_results = [
            TestCaseResult(test_case=tc, message=(cases[i]["message"] if i in cases else ""),
                           passed=bool(cases[i]["passed"]) if i in cases else False)
            for i, tc in enumerate(tf.test_cases)]
        files.append(tf)
    try:
        with open(root / "results" / "results.pkl", "wb") as f:
            dill.dump(GradingResults(files), f)
    except Exception as e:  # only `otter grade` reads it; results.json stands
        print(f"[mlphys] results.pkl not written: {type(e).__name__}: {e}", flush=True)


def run(root: Path) -> dict[str, Any]:
    """Grade ``root/submission`` and return the results.json written."""
    work = Path(tempfile.mkdtemp(prefix="mlphys-grading-", dir=root))  # root-only (0700)
    spec = load_autograder(pack_autograder(root / "source", work / "autograder.zip"))
    try:
        notebook = find_submission(root / "submission", spec.assignment_name)
    except SubmissionError as e:
        results = {"score": 0, "output": f"This submission could not be graded: {e}.",
                   "tests": [], "extra_data": {"mlphys": {"error": str(e)}}}
        write_results(root, results)
        return results
    submitter = None
    if spec.identity_column is not None:
        submitter = gs_metadata.submitter(
            gs_metadata.read_metadata(root / gs_metadata.METADATA_FILE), spec.identity_column,
            gs_metadata.read_roster(root / "source" / ROSTER))
    grade_batch(spec.path, [notebook], work / "out", jobs=1, limits=GRADESCOPE_LIMITS,
                progress=False,
                ignore_requirements=True,  # setup.sh installed them at image build: no refusal here
                submitter_of=None if submitter is None else (lambda _path: submitter))
    gb = Gradebook(work / "out" / GRADEBOOK_FILE)
    try:
        attempt = gb.result_attempt(str(notebook), sha256_file(notebook), spec.sha256)
        results = json.loads(attempt["results_json"])
        extra = results.setdefault("extra_data", {}).setdefault("mlphys", {})
        extra.update(isolation=attempt["isolation"] or "",
                     grading_status=attempt["grading_status"])
        if spec.identity_column is not None and "identity" not in extra:
            extra["identity"] = {"status": "not checked",
                                 "why": "no submission_metadata.json: graded against the "
                                        "notebook's own student_id"}
        write_results(root, results)
        write_otter_pickle(root, spec, gb, attempt["id"])
    finally:
        gb.close()
    print(f"[mlphys] graded {notebook.name}: {attempt['total']:g} / {attempt['possible']:g} "
          f"({attempt['grading_status']})", flush=True)
    print(f"[mlphys] isolation: {extra['isolation']}", flush=True)
    if "identity" in extra:
        print(f"[mlphys] identity: {json.dumps(extra['identity'])}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run(Path(args[0] if args else "/autograder"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
