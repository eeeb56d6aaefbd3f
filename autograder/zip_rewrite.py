"""Rewrite a zip with some members added or replaced, atomically.

Why one function: ``mlphys build`` rewrites the autograder zip that ``otter assign`` wrote twice
(``autograder.zip_additions``: ``mlphys.json``; ``autograder.gradescope.hardened_zip``: the
sandboxed grader). Both must leave the old zip intact if anything fails half-way (a new zip is
written next to it and replaces it), and both keep every other member byte for byte with its
own header (Otter's time stamps and modes).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

Header = Callable[[str, zipfile.ZipFile], "zipfile.ZipInfo | str"]
"""How an added member is stamped, given its name and the old zip: a ``ZipInfo`` (time, mode)
or the name alone (``ZipFile.writestr``'s defaults: the current time, mode 0600)."""


def _name_only(name: str, _old: zipfile.ZipFile) -> str:
    return name


def rewrite_zip(path: Path, additions: Mapping[str, str | bytes],
                drop: Callable[[str], bool] = lambda name: False,
                header: Header = _name_only) -> None:
    """Replace ``path`` by a copy in which ``additions`` (member name -> content) are added or
    replace the members of the same name, and the members for which ``drop(name)`` is true are
    left out (e.g. an earlier version of a folder the additions write again).

    The copy is written to a temporary file in the same folder and moved over ``path``
    (``os.replace``), so a reader sees the old zip or the new one, never half of one; on an
    error the temporary file is removed and ``path`` is unchanged. Added members are
    compressed (deflate); the others keep their own headers."""
    fd, temp = tempfile.mkstemp(dir=path.parent, suffix=".zip.tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(path) as old, \
                zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as new:
            for info in old.infolist():
                if info.filename not in additions and not drop(info.filename):
                    new.writestr(info, old.read(info))
            for name, data in additions.items():
                entry = header(name, old)
                if isinstance(entry, zipfile.ZipInfo):
                    entry.compress_type = zipfile.ZIP_DEFLATED
                new.writestr(entry, data)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
