"""The student-side data of a quiz: every pool variant's prompts, options, pictures and arrays.

Written by the build next to the student notebook as ``<quiz>.quiz.npz`` and read by
``mlphys_quiz.py``. Only presentation goes in: no answer, no reason, no generating formula.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from reference.quiz import VARIANTS, Question, questions

STUDENT_FIELDS = ("qid", "title", "prompt", "options", "code")


def _png(q: Question) -> bytes:
    buffer = io.BytesIO()
    q.figure().savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


def write_quiz_pack(quiz: str, path: Path, variants: int = VARIANTS) -> Path:
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"quiz": quiz, "variants": variants, "questions": {}}
    for k in range(variants):
        shown = []
        for q in questions(quiz, k):
            shown.append({field: (dict(q.options) if field == "options" else getattr(q, field))
                          for field in STUDENT_FIELDS})
            if q.figure is not None:
                arrays[f"fig/{k}/{q.qid}"] = np.frombuffer(_png(q), dtype=np.uint8)
            if "trajectory" in q.data:
                arrays[f"arr/{k}/{q.qid}/trajectory"] = np.asarray(q.data["trajectory"], np.float32)
        meta["questions"][str(k)] = shown
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path
