"""``mlphys gradescope-check``: run a built autograder zip the way Gradescope runs it, locally.

Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/specs/) extracts the zip to
``/autograder/source``, puts the student's upload in ``/autograder/submission``, runs
``run_autograder`` with ``/autograder`` as the working directory, and reads
``/autograder/results/results.json``. Otter's ``run_autograder`` activates its conda env and runs
``source/run_otter.py``, whose Python part is ``otter.run.run_autograder.main("/autograder")``.

Here the same tree is laid out in a temporary directory and that Python part is executed with
the tree's root in place of ``/autograder`` (the shell part only activates Gradescope's conda
environment). The produced results.json is validated against the documented format, so an
instructor learns about a broken zip before 200 students do.
"""

from __future__ import annotations

import json
import shutil
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


@dataclass(frozen=True)
class GradescopeRun:
    results: dict
    problems: list[str]
    stdout: str
    score: float
    possible: float


def run_like_gradescope(autograder_zip: Path, submission: Path, workdir: Path | None = None,
                        timeout: float = 900, env: dict[str, str] | None = None) -> GradescopeRun:
    """Grade ``submission`` with ``autograder_zip`` in a Gradescope-shaped tree."""
    with tempfile.TemporaryDirectory(prefix="mlphys-gradescope-") as tmp:
        root = Path(workdir or tmp) / "autograder"
        for sub in ("source", "submission", "results"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(autograder_zip) as zf:
            zf.extractall(root / "source")
        shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
        shutil.copy(submission, root / "submission" / submission.name)
        (root / "submission_metadata.json").write_text(json.dumps({
            "id": 1, "created_at": datetime.now(UTC).isoformat(),
            "assignment": {"id": 1, "title": autograder_zip.stem, "total_points": "0.0",
                           "due_date": None, "late_due_date": None, "group_submission": False,
                           "group_size": None, "release_date": None},
            "users": [{"email": "student@example.com", "id": 1, "name": "Student"}],
            "previous_submissions": [],
        }))
        entry = (root / "source" / "run_otter.py").read_text()
        if '"/autograder"' not in entry:
            raise click.ClickException(f"{autograder_zip.name}: run_otter.py does not look like "
                                       "Otter's Gradescope entry point")
        # next to the zip's files, as /autograder/source/run_otter.py is on Gradescope (the
        # entry point imports modules that lie beside it)
        script = root / "source" / "run_here.py"
        script.write_text(entry.replace('"/autograder"', repr(str(root))))
        proc = subprocess.run([sys.executable, str(script)], cwd=root, capture_output=True,
                              text=True, timeout=timeout, env=env)
        results_path = root / "results" / "results.json"
        if not results_path.exists():
            raise click.ClickException(f"no results.json was produced:\n{proc.stdout[-2000:]}"
                                       f"\n{proc.stderr[-2000:]}")
        results = json.loads(results_path.read_text())
    tests = [t for t in results.get("tests", []) if "max_score" in t]
    score = results.get("score", sum(t.get("score", 0) for t in tests))
    return GradescopeRun(results, validate_results(results), proc.stdout,
                         float(score), float(sum(t["max_score"] for t in tests)))


@click.command("gradescope-check")
@click.option("--autograder", "autograder_zip", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The built <name>-autograder.zip you will upload to Gradescope.")
@click.argument("submission", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def gradescope_check_command(autograder_zip: Path, submission: Path) -> None:
    """Grade SUBMISSION the way Gradescope would and validate the results.json it produces."""
    if not zipfile.is_zipfile(autograder_zip):
        raise click.ClickException(f"{autograder_zip} is not a zip file")
    run = run_like_gradescope(autograder_zip, submission)
    click.echo(f"score {run.score:g} / {run.possible:g} over {len(run.results.get('tests', []))} "
               "results.json entries")
    if run.problems:
        raise click.ClickException("results.json does not follow Gradescope's format:\n  "
                                   + "\n  ".join(run.problems))
    click.echo("results.json follows Gradescope's documented format")
