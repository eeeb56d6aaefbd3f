"""Which of the files of one submission is the assignment's notebook.

Why this is not "the newest file": an LMS download holds every file of a student's *current*
attempt (Canvas zips all attachments of the submission, Moodle all files of the submission,
Gradescope the submission folder), and Canvas and Moodle give no time per file -- Canvas's
attachment ids and Moodle's member times (the download time) do not say which file the student
meant. So the file is chosen by the assignment's notebook name (``hw01.ipynb``; the name Canvas
gives a second upload of the same name, ``hw01-1.ipynb``, and a browser's ``hw01 (1).ipynb``
fit it too), and when that does not single one out -- two files that fit, or none -- the
instructor decides (``collect --pick``): several candidates are an ambiguity that is reported,
never settled by a guess.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_COPY_SUFFIX = re.compile(r"(?:-\d+|\s*\(\d+\))$")


def fitted_name(filename: str) -> str:
    """``HW01-1.ipynb`` / ``hw01 (2).ipynb`` -> ``hw01.ipynb``: the name without the copy
    numbers Canvas or a browser add, case-folded."""
    base = posixpath.basename(filename)
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = _COPY_SUFFIX.sub("", stem.strip())
    return (f"{stem}.{ext}" if dot else stem).casefold()


@dataclass(frozen=True)
class NotebookChoice:
    index: int | None
    """position of the chosen file, or None when the choice is ambiguous"""
    reason: str


def choose(names: list[str], notebook: str | None) -> NotebookChoice:
    """Pick the assignment's notebook among the gradable files ``names`` of ONE attempt."""
    if len(names) == 1:
        return NotebookChoice(0, "the only notebook")
    if notebook:
        fits = [i for i, n in enumerate(names) if fitted_name(n) == fitted_name(notebook)]
        if len(fits) == 1:
            return NotebookChoice(fits[0], f"the one named like {notebook}")
        if fits:
            return NotebookChoice(None, f"{len(fits)} files are named like {notebook}")
        return NotebookChoice(None, f"{len(names)} notebooks, none named like {notebook}")
    return NotebookChoice(None, f"{len(names)} notebooks and no assignment notebook name")


def infer_notebook_name(names: Iterable[str]) -> str | None:
    """The name most students' files fit (a unique most common one), or None."""
    counts = Counter(fitted_name(n) for n in names)
    if not counts:
        return None
    (best, n), *rest = counts.most_common(2) + [("", 0)]
    return best if n > rest[0][1] else None
