"""Cheap refusal of oversized submissions, before anything is extracted or parsed.

Why: ``zipfile.ZipFile`` builds one ``ZipInfo`` per member from the central directory before a
caller can count them (a 400,000-member zip: seconds and hundreds of MB), and ``json.loads``
plus nbformat's validation of a 150,000-cell notebook cost as much before any limit applied
(issue 8). Each check here reads a bounded number of bytes and allocates nothing in
proportion to the attacker's file:

* zip: the file size (``stat``); the End Of Central Directory record (the last 64 KiB) for the
  member count and the central directory's size and offset (zip64 too); then the central
  directory itself is *streamed* in 1 MiB chunks counting entry signatures, because
  ``zipfile`` trusts the directory's byte size, not the count the record states.
* notebook: its size, and an upper bound on its cells counted on the raw bytes: every cell
  has a ``"cell_type"`` key, and inside a JSON string that text can only appear with escaped
  quotes, so counting the byte sequence never under-counts.

Every refusal is a :class:`SubmissionError` whose status names the cap and the number found.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from autograder.grading.otter.submissions import DEFAULT_MAX_NOTEBOOK_BYTES, SubmissionError

__all__ = ["SubmissionCaps", "check_notebook_bytes", "check_zip_file"]

_EOCD = struct.Struct("<4sHHHHIIH")
_EOCD64_LOCATOR = struct.Struct("<4sIQI")
_EOCD64 = struct.Struct("<4sQHHIIQQQQ")
_CD_ENTRY = b"PK\x01\x02"
_MAX_COMMENT = 65535
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SubmissionCaps:
    """Largest submission the grader will look at (``mlphys grade --max-...``)."""

    max_notebook_bytes: int = DEFAULT_MAX_NOTEBOOK_BYTES
    max_cells: int = 5_000
    max_zip_bytes: int = 100 * 1024 * 1024
    max_zip_members: int = 10_000


def _refuse(what: str, found: int | str, limit: int) -> SubmissionError:
    return SubmissionError(f"error: {what} ({found}; the limit is {limit})")


def check_zip_file(path: str | os.PathLike[str], caps: SubmissionCaps = SubmissionCaps()) -> None:
    """Refuse a zip that is too large or has too many members, reading only its directory."""
    size = os.stat(path).st_size
    if size > caps.max_zip_bytes:
        raise _refuse("zip file is too large", f"{size} bytes", caps.max_zip_bytes)
    with open(path, "rb") as handle:
        tail_size = min(size, _EOCD.size + _MAX_COMMENT)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _EOCD.size > len(tail):
            raise SubmissionError("error: not a readable zip file (no end of central directory)")
        _, _, _, _, members, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
        directory_end = size - tail_size + at
        if members == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
            members, cd_size, cd_offset, directory_end = _zip64_directory(handle, directory_end)
        if members > caps.max_zip_members:
            raise _refuse("zip has too many members", members, caps.max_zip_members)
        if cd_size > size or cd_offset > size:
            raise SubmissionError("error: not a readable zip file (central directory out of "
                                  "range)")
        # zipfile parses entries until cd_size bytes are used up: count what it would see
        handle.seek(max(0, directory_end - cd_size))
        remaining, carry, seen = cd_size, b"", 0
        while remaining > 0:
            chunk = handle.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            block = carry + chunk
            seen += block.count(_CD_ENTRY)
            # a 4-byte signature cannot fit in the 3 carried bytes: none is counted twice
            carry = block[-(len(_CD_ENTRY) - 1):]
            if seen > caps.max_zip_members:
                raise _refuse("zip has too many members", f"more than {seen}",
                              caps.max_zip_members)


def _zip64_directory(handle: object, eocd_pos: int) -> tuple[int, int, int, int]:
    """(members, directory size, directory offset, where the directory ends) from the zip64
    records (the directory ends where the zip64 end record starts)."""
    import io

    assert isinstance(handle, io.BufferedReader)
    if eocd_pos < _EOCD64_LOCATOR.size:
        raise SubmissionError("error: not a readable zip file (broken zip64 record)")
    handle.seek(eocd_pos - _EOCD64_LOCATOR.size)
    signature, _, record_pos, _ = _EOCD64_LOCATOR.unpack(handle.read(_EOCD64_LOCATOR.size))
    if signature != b"PK\x06\x07":
        raise SubmissionError("error: not a readable zip file (broken zip64 record)")
    handle.seek(record_pos)
    raw = handle.read(_EOCD64.size)
    if len(raw) < _EOCD64.size or raw[:4] != b"PK\x06\x06":
        raise SubmissionError("error: not a readable zip file (broken zip64 record)")
    _, _, _, _, _, _, _, members, cd_size, cd_offset = _EOCD64.unpack(raw)
    return members, cd_size, cd_offset, record_pos


def check_notebook_bytes(data: bytes, caps: SubmissionCaps = SubmissionCaps()) -> None:
    """Refuse a notebook that is too large or has too many cells, before it is parsed."""
    if len(data) > caps.max_notebook_bytes:
        raise _refuse("notebook is too large", f"{len(data)} bytes", caps.max_notebook_bytes)
    cells = data.count(b'"cell_type"')
    if cells > caps.max_cells:
        raise _refuse("notebook has too many cells", cells, caps.max_cells)


def check_notebook_file(path: Path, caps: SubmissionCaps = SubmissionCaps()) -> None:
    """The size check of :func:`check_notebook_bytes` from ``stat`` alone."""
    size = os.stat(path).st_size
    if size > caps.max_notebook_bytes:
        raise _refuse("notebook is too large", f"{size} bytes", caps.max_notebook_bytes)
