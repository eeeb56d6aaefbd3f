"""Shows your personal variant of an mlphys quiz inside Jupyter.

Usage in the quiz notebook::

    import mlphys_quiz
    quiz = mlphys_quiz.Quiz("quiz02-python-numpy", student_id)
    quiz.show("numpy.row")                     # prompt, code, options (and picture)
    w = quiz.array("sgd.eta", "trajectory")    # data a question gives you

Every student gets one of a pool of variants, picked from ``student_id``. This file and the
``<quiz>.quiz.npz`` next to it contain only what you see (prompts, options, pictures, data);
the answers are not in them. It needs only NumPy, and IPython to display.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

SALT = "mlphys"


MISSING_ID = ("**Set `student_id` to your university login first** (e.g. `student_id = \"ada.lovelace\"`), "
              "then run the cells again: it picks your variant of every question.")


def variant_of(student_id: str, quiz: str, variants: int) -> int:
    """Must agree with reference.quiz.variant_of (a test checks that it does)."""
    if not isinstance(student_id, str) or not student_id.strip():
        raise ValueError("student_id must be a non-empty string")
    normalized = student_id.strip().lower()
    digest = hashlib.sha256(f"{SALT}:{quiz}:{normalized}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % variants


class Quiz:
    def __init__(self, quiz: str, student_id: str, folder: str | Path = ".") -> None:
        path = Path(folder) / f"{quiz}.quiz.npz"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: keep it next to this notebook")
        self._data = np.load(path, allow_pickle=False)
        self._meta = json.loads(bytes(self._data["meta"]).decode())
        self.quiz = quiz
        # Without an id the notebook still runs (nothing to show yet); see MISSING_ID.
        has_id = isinstance(student_id, str) and bool(student_id.strip())
        self.variant = variant_of(student_id, quiz, self._meta["variants"]) if has_id else None
        shown = self._meta["questions"][str(self.variant if has_id else 0)]
        self._questions = {q["qid"]: q for q in shown}

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

    def figure_png(self, qid: str | int) -> bytes | None:
        if self.variant is None:
            return None
        key = f"fig/{self.variant}/{self._get(qid)['qid']}"
        return bytes(self._data[key]) if key in self._data.files else None

    def array(self, qid: str | int, name: str) -> np.ndarray | None:
        """The data a question gives you (None until student_id is set)."""
        if self.variant is None:
            return None
        key = f"arr/{self.variant}/{self._get(qid)['qid']}/{name}"
        if key not in self._data.files:
            raise KeyError(f"question {qid!r} gives no array {name!r}")
        return np.array(self._data[key], dtype=float)

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
