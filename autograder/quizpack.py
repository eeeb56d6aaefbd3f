"""The student-side data of a quiz: every pool variant's prompts, options, pictures and arrays.

Written by the build next to the student notebook as ``<quiz>.quiz.npz`` and read by
``mlphys_quiz.py``. Only presentation goes in: no answer, no reason, no generating formula, no
seed and no salt (only the pool's one-way ``mapping_key``, which picks a student's variant).
:func:`embed_variant` takes ONE variant out of a pack for a notebook made for one student.

``python -m autograder.quizpack QUIZ --pack OUT.npz [--keys-for ID]`` is how ``mlphys build``
runs this with the course's own ``reference`` package (first on ``PYTHONPATH``, with the
course's ``pool.json``): it writes the pack and prints JSON with the keys of that student's
variant (for the letters version of the solutions) and which ``reference`` it used.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from reference.quiz import Pool, Question

STUDENT_FIELDS = ("qid", "title", "prompt", "options", "code")
FIGURE_DPI = 72


def figure_png(q: Question) -> bytes:
    """The picture of a question exactly as students get it (the answer key shows the same bytes)."""
    buffer = io.BytesIO()
    figure = q.figure()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()


def write_quiz_pack(quiz: str, path: Path, pool: Pool | None = None) -> Path:
    """Write ``path`` with every variant of ``quiz`` in ``pool`` (default: the active pool)."""
    from reference.quiz import active_pool, variant_questions

    pool = pool or active_pool()
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"quiz": quiz, "variants": pool.variants, "mapping_key": pool.mapping_key,
                  "questions": {}}
    for k in range(pool.variants):
        shown = []
        for q in variant_questions(quiz, k, pool):
            shown.append({field: (dict(q.options) if field == "options" else getattr(q, field))
                          for field in STUDENT_FIELDS})
            if q.figure is not None:
                arrays[f"fig/{k}/{q.qid}"] = np.frombuffer(figure_png(q), dtype=np.uint8)
            if "trajectory" in q.data:
                arrays[f"arr/{k}/{q.qid}/trajectory"] = np.asarray(q.data["trajectory"], np.float32)
        meta["questions"][str(k)] = shown
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def pack_meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return json.loads(bytes(data["meta"]).decode())


def embed_variant(pack: Path, variant: int, identity: str) -> str:
    """One variant of a pack, for ``mlphys_quiz.Quiz.from_embedded``: zlib-compressed JSON in
    base64 (a plain string literal in a notebook cell)."""
    with np.load(pack, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        if str(variant) not in meta["questions"]:
            raise KeyError(f"{pack.name} has no variant {variant}")
        figures, arrays = {}, {}
        for name in data.files:
            parts = name.split("/")
            if len(parts) >= 3 and parts[1] == str(variant):
                value = np.asarray(data[name])
                if parts[0] == "fig":
                    figures[parts[2]] = base64.b64encode(value.tobytes()).decode()
                elif parts[0] == "arr":
                    arrays["/".join(parts[2:])] = {"dtype": value.dtype.str, "shape": list(value.shape),
                                                   "data": base64.b64encode(value.tobytes()).decode()}
    payload = {"quiz": meta["quiz"], "identity": identity, "variant": variant,
               "questions": meta["questions"][str(variant)], "figures": figures, "arrays": arrays}
    return base64.b64encode(zlib.compress(json.dumps(payload).encode("utf-8"), 9)).decode()


def _worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.quizpack")
    parser.add_argument("quiz")
    parser.add_argument("--pack", type=Path, required=True)
    parser.add_argument("--keys-for", default=None)
    args = parser.parse_args(argv)
    import reference.quiz as rq

    write_quiz_pack(args.quiz, args.pack)
    pool = rq.active_pool()
    keys = ({q.qid: q.answer for q in rq.questions_for_student(args.quiz, args.keys_for)}
            if args.keys_for else {})
    json.dump({"reference": str(Path(rq.__file__).resolve().parent.parent), "keys": keys,
               "variants": pool.variants, "default_salt": pool.is_default}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
