"""Write ``final_grades.csv`` and ``results/<id>.json`` from the gradebook, atomically.

Why regenerate instead of append: the gradebook is the only state; the files are views of it, so
a run killed half-way through writing them is repaired by the next run, and each file is
replaced in one ``os.replace`` (readers see the old or the new file, never half of one).

The CSV is Otter's (``otter.grade.utils.merge_scores_to_df``): columns ``file``, the questions in
sorted order, ``total_points_earned``, ``percent_correct``, ``grading_status``; the first data
row is ``points-per-question`` with the points possible (percent 1, status ``--``); then one row
per submission sorted by file name.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from autograder import csvsafe
from autograder.grading.batch.gradebook import Gradebook
from autograder.grading.model import COMPLETED
from autograder.grading.otter.autograder_zip import AutograderSpec

CSV_FILE = "final_grades.csv"
RESULTS_DIR = "results"
POINTS_POSSIBLE_LABEL = "points-per-question"


def atomic_write(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _num(x: float) -> str:
    return repr(float(x))


def write_outputs(
    out_dir: Path,
    gradebook: Gradebook,
    spec: AutograderSpec,
    batch: Iterable[tuple[str, str, str]],
) -> int:
    """Write the CSV and JSON files for ``batch`` = (path, sha256, submission id) triples.
    Returns the number of rows written (submissions with a committed result)."""
    questions = sorted(q.name for q in spec.questions)
    buf = io.StringIO()
    w = csvsafe.writer(buf, lineterminator="\n")  # file names are the students' own
    w.writerow(["file", *questions, "total_points_earned", "percent_correct", "grading_status"])
    possible = spec.points_possible
    w.writerow([POINTS_POSSIBLE_LABEL, *(_num(possible[q]) for q in questions),
                _num(spec.total_possible), "1", "--"])
    rows = []
    results_dir = out_dir / RESULTS_DIR
    for path, sha, sub_id in batch:
        attempt = gradebook.result_attempt(path, sha, spec.sha256)  # failed ones too
        if attempt is None:
            continue
        scores = {r["name"]: r["score"] for r in gradebook.questions_of(attempt["id"])}
        rows.append([
            Path(path).name,
            *(_num(scores.get(q, 0.0)) for q in questions),
            _num(attempt["total"]),
            _num(attempt["percent"]),
            COMPLETED if attempt["grading_status"] == COMPLETED else attempt["grading_status"],
        ])
        atomic_write(results_dir / f"{sub_id}.json",
                     json.dumps(json.loads(attempt["results_json"]), indent=4))
    rows.sort(key=lambda r: r[0])
    w.writerows(rows)
    atomic_write(out_dir / CSV_FILE, buf.getvalue())
    return len(rows)


def submission_ids(paths: list[str]) -> dict[str, str]:
    """A file-name-safe id per submission: its stem, disambiguated when two stems collide."""
    import hashlib

    stems: dict[str, list[str]] = {}
    for p in paths:
        stems.setdefault(Path(p).stem, []).append(p)
    ids = {}
    for stem, group in stems.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem) or "submission"
        safe = safe.lstrip(".") or "submission"
        if len(group) == 1:
            ids[group[0]] = safe
        else:
            for p in group:
                ids[p] = f"{safe}-{hashlib.sha256(p.encode()).hexdigest()[:8]}"
    return ids
