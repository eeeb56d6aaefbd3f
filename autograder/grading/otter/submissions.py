"""Find submissions and read the one notebook each contains, without trusting anything else.

Accepted: ``.ipynb`` files, Otter export zips (``otter.Notebook.export``: the notebook plus
``.OTTER_LOG``, ``__zip_filename__``, maybe a PDF) and directories of either (not recursive).
From a zip we read exactly one top-level ``.ipynb`` member and IGNORE every other file: Otter
dill-loads ``.OTTER_LOG`` and puts the submission directory on ``sys.path``, so a ``numpy.py``
or a package directory in the zip would run code in the grader; we never extract or load them.
Several top-level notebooks in one zip is an error status (Otter's choice too: "More than one
.ipynb file found in submission"). Sizes are checked before anything is read, so a 100 MB
notebook or a zip bomb costs a ``stat`` and a status, not memory.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autograder.grading.otter.submission_caps import SubmissionCaps

DEFAULT_MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
SUBMISSION_SUFFIXES = (".ipynb", ".zip")


class SubmissionError(Exception):
    """A submission that cannot be graded; ``status`` goes to the CSV and gradebook."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Submission:
    path: Path
    """absolute path of the file as given (the gradebook keys attempts by it)"""

    @property
    def kind(self) -> str:
        return "zip" if self.path.suffix.lower() == ".zip" else "ipynb"


def discover(paths: Iterable[str | Path]) -> Iterator[Submission]:
    """Yield submissions from files and directories, in a stable order, each path once.

    Raises ``FileNotFoundError`` for a path that does not exist (a user mistake)."""
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise FileNotFoundError(f"submission path not found: {raw}")
        if p.is_dir():
            children = sorted(
                c for c in p.iterdir()
                if c.is_file() and c.suffix.lower() in SUBMISSION_SUFFIXES
                and not c.name.startswith(".")
            )
        else:
            children = [p]
        for c in children:
            c = c.resolve()
            if c not in seen:
                seen.add(c)
                yield Submission(c)



def read_notebook_bytes(sub: Submission, max_bytes: int = DEFAULT_MAX_NOTEBOOK_BYTES,
                        caps: SubmissionCaps | None = None) -> tuple[bytes, str]:
    """Return the notebook's bytes and its name (the zip member name for zips).

    ``caps`` (``submission_caps``): zip size and member count are checked before the zip's
    directory is parsed, the notebook's cell count before it is parsed.
    """
    from autograder.grading.otter.submission_caps import (
        SubmissionCaps,
        check_notebook_bytes,
        check_zip_file,
    )

    if caps is None:
        caps = SubmissionCaps(max_notebook_bytes=max_bytes)
    data, name = _read_notebook_bytes(sub, max_bytes, caps, check_zip_file)
    check_notebook_bytes(data, caps)
    return data, name


def _read_notebook_bytes(sub: Submission, max_bytes: int, caps: SubmissionCaps,
                         check_zip_file: Any) -> tuple[bytes, str]:
    if sub.kind == "ipynb":
        size = sub.path.stat().st_size
        if size > max_bytes:
            raise SubmissionError(
                f"error: notebook is too large ({size} bytes; the limit is {max_bytes})"
            )
        with open(sub.path, "rb") as f:
            return f.read(max_bytes + 1)[: max_bytes + 1], sub.path.name
    check_zip_file(sub.path, caps)
    try:
        zf = zipfile.ZipFile(sub.path)
    except (zipfile.BadZipFile, OSError) as e:
        raise SubmissionError(f"error: not a readable zip file ({e})") from None
    with zf:
        notebooks = []
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            if info.is_dir() or "/" in name.strip("/"):
                continue  # Otter globs only top-level *.ipynb
            if name.lower().endswith(".ipynb") and not posixpath.basename(name).startswith("."):
                notebooks.append(info)
        if not notebooks:
            raise SubmissionError("error: no notebook (.ipynb) at the top level of the zip")
        if len(notebooks) > 1:
            names = ", ".join(sorted(i.filename for i in notebooks))
            raise SubmissionError(f"error: more than one notebook in the zip ({names})")
        info = notebooks[0]
        if info.file_size > max_bytes:
            raise SubmissionError(
                f"error: notebook is too large ({info.file_size} bytes; the limit is {max_bytes})"
            )
        try:
            with zf.open(info) as f:
                data = f.read(max_bytes + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as e:
            raise SubmissionError(f"error: cannot read {info.filename} from the zip ({e})") from None
        if len(data) > max_bytes:  # a lying header
            raise SubmissionError(f"error: notebook is too large (more than {max_bytes} bytes)")
        return data, info.filename
