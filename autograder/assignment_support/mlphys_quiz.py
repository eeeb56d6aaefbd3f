"""Shows your personal variant of an mlphys quiz inside Jupyter.

Usage in the quiz notebook::

    import mlphys_quiz
    quiz = mlphys_quiz.Quiz("quiz02-python-numpy", student_id)
    quiz.show("numpy.row")                     # prompt, code, options (and picture)
    w = quiz.array("sgd.eta", "trajectory")    # data a question gives you

Every student gets one variant of each question from the course's pool, picked from
``student_id``. This file and the ``<quiz>.quiz.npz`` next to it contain only what you see
(prompts, options, pictures, data): no answers, and nothing that would let anyone compute them.
A notebook made for one student carries this module and that student's variant inside it
(``Quiz.from_embedded``) and needs no other file. Needs only NumPy, and IPython to display.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import unicodedata
import zlib
from pathlib import Path

import numpy as np

MISSING_ID = ("**Set `student_id` to your university login first** (e.g. `student_id = \"ada.lovelace\"`), "
              "then run the cells again: it picks your variant of every question.")


def normalize_identity(student_id: str) -> str:
    """Must agree with reference.quiz.pool.normalize_identity (a test checks that it does)."""
    if not isinstance(student_id, str):
        raise ValueError(f"a student id must be a string, not {type(student_id).__name__}")
    normalized = unicodedata.normalize("NFKC", student_id).strip().lower()
    if not normalized:
        raise ValueError("a student id is needed to pick the quiz variant")
    return normalized


def variant_of(student_id: str, quiz: str, variants: int, mapping_key: str) -> int:
    """Must agree with reference.quiz.variant_of for the same course (a test checks that it does)."""
    payload = json.dumps(["variant", mapping_key, quiz, normalize_identity(student_id)])
    digest = hashlib.sha256(payload.encode("ascii")).digest()
    return int.from_bytes(digest[:8], "little") % variants


def missing_files_message(quiz: str) -> str:
    """What a student whose notebook arrived without its two companion files must do."""
    return (f"This quiz needs 2 files next to this notebook: mlphys_quiz.py and {quiz}.quiz.npz "
            f"(they came with it). Upload both to {os.getcwd()} (the folder this notebook runs "
            "in), then run all cells again.")


def _has_id(student_id: object) -> bool:
    return isinstance(student_id, str) and bool(student_id.strip())


class Quiz:
    """One student's variant of one quiz: what each question shows."""

    def __init__(self, quiz: str, student_id: str, folder: str | Path = ".") -> None:
        path = Path(folder) / f"{quiz}.quiz.npz"
        if not path.exists():
            raise FileNotFoundError(missing_files_message(quiz))
        data = np.load(path, allow_pickle=False)
        meta = json.loads(bytes(data["meta"]).decode())
        # Without an id the notebook still runs (nothing to show yet); see MISSING_ID.
        variant = (variant_of(student_id, quiz, meta["variants"], meta["mapping_key"])
                   if _has_id(student_id) else None)
        k = 0 if variant is None else variant
        figures = {q["qid"]: bytes(data[f"fig/{k}/{q['qid']}"]) for q in meta["questions"][str(k)]
                   if f"fig/{k}/{q['qid']}" in data.files}
        prefix = f"arr/{k}/"
        arrays = {name[len(prefix):]: np.array(data[name]) for name in data.files
                  if name.startswith(prefix)}
        self._setup(quiz, variant, meta["questions"][str(k)], figures, arrays)

    @classmethod
    def from_embedded(cls, payload: str, student_id: str) -> Quiz:
        """The variant carried inside a notebook made for one student (see ``embed_variant``)."""
        data = json.loads(zlib.decompress(base64.b64decode(payload)).decode("utf-8"))
        owner = data["identity"]
        if not _has_id(student_id) or normalize_identity(student_id) != normalize_identity(owner):
            raise ValueError(
                f"This notebook was made for student_id = {owner!r}: the questions in it are that "
                f"student's variant. Set student_id = {owner!r} again (or ask for your own notebook).")
        figures = {qid: base64.b64decode(png) for qid, png in data["figures"].items()}
        arrays = {name: np.frombuffer(base64.b64decode(a["data"]), dtype=a["dtype"]).reshape(a["shape"])
                  for name, a in data["arrays"].items()}
        quiz = cls.__new__(cls)
        quiz._setup(data["quiz"], data["variant"], data["questions"], figures, arrays)
        return quiz

    def _setup(self, quiz: str, variant: int | None, shown: list[dict], figures: dict[str, bytes],
               arrays: dict[str, np.ndarray]) -> None:
        self.quiz = quiz
        self.variant = variant
        self._questions = {q["qid"]: q for q in shown}
        self._figures = figures
        self._arrays = arrays

    @property
    def question_ids(self) -> list[str]:
        return list(self._questions)

    def _get(self, qid: str | int) -> dict:
        if isinstance(qid, int):
            qid = self.question_ids[qid - 1]
        if qid not in self._questions:
            raise KeyError(f"no question {qid!r}; this quiz has {', '.join(self._questions)}")
        return self._questions[qid]

    def markdown(self, qid: str | int) -> str:
        q = self._get(qid)
        if self.variant is None:
            return f"### {q['title']}\n\n{MISSING_ID}\n"
        options = "\n".join(f"- **{letter}**&nbsp; {text}" for letter, text in q["options"].items())
        return f"### {q['title']}\n\n{q['prompt']}\n\n{options}\n"

    def letters(self, qid: str | int) -> str:
        """The letters of the question's options in this variant, e.g. ``"abcd"`` (what a
        valid answer is, so the public check can say so)."""
        return "".join(self._get(qid)["options"])

    def figure_png(self, qid: str | int) -> bytes | None:
        if self.variant is None:
            return None
        return self._figures.get(self._get(qid)["qid"])

    def array(self, qid: str | int, name: str) -> np.ndarray | None:
        """The data a question gives you (None until student_id is set)."""
        if self.variant is None:
            return None
        key = f"{self._get(qid)['qid']}/{name}"
        if key not in self._arrays:
            raise KeyError(f"question {qid!r} gives no array {name!r}")
        return np.array(self._arrays[key], dtype=float)

    def show(self, qid: str | int) -> None:
        from IPython.display import Image, Markdown, display

        display(Markdown(self.markdown(qid)))
        png = self.figure_png(qid)
        if png:
            display(Image(data=png))

    def __repr__(self) -> str:
        if self.variant is None:
            return f"<{self.quiz}: set student_id to see your variant>"
        return f"<{self.quiz}: variant {self.variant}, questions {', '.join(self.question_ids)}>"
