"""Reading LMS download zips safely: member names as the LMS meant them, no path escapes,
bounded sizes.

Why not ``ZipFile.extractall``: the zips hold student-controlled file names (a Canvas display
name, a Moodle file path), so a name like ``../../x`` must never become a path, and a zip bomb
must cost a size check, not the disk. And why the name repair: writers that do not set the
zip "UTF-8 names" flag (bit 11) still write UTF-8 bytes, which Python then decodes as cp437
(``MÃ¼ller``); we re-encode such names and take the UTF-8 reading when it is valid.
"""

from __future__ import annotations

import contextlib
import posixpath
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from autograder.lms.errors import LmsError

MAX_MEMBER_BYTES = 50 * 1024 * 1024
MAX_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
UTF8_FLAG = 0x800


@dataclass(frozen=True)
class Member:
    """One file in an LMS zip."""

    info: zipfile.ZipInfo
    name: str
    """the member's path with the LMS's intended decoding, '/'-separated, no leading '/'"""

    @property
    def basename(self) -> str:
        return posixpath.basename(self.name)

    @property
    def parts(self) -> list[str]:
        return self.name.split("/")

    @property
    def mtime(self) -> datetime | None:
        """The member's DOS timestamp (local time of the zip writer, no zone), or None."""
        try:
            return datetime(*self.info.date_time)
        except ValueError:
            return None

    @property
    def size(self) -> int:
        return self.info.file_size


def decoded_name(info: zipfile.ZipInfo) -> str:
    """The member name, repairing UTF-8 bytes that Python decoded as cp437."""
    name = info.filename
    if not info.flag_bits & UTF8_FLAG:
        try:
            raw = name.encode("cp437")
        except UnicodeEncodeError:
            raw = None
        if raw is not None:
            with contextlib.suppress(UnicodeDecodeError):
                name = raw.decode("utf-8")
    return name.replace("\\", "/")


def _is_junk(name: str) -> bool:
    base = posixpath.basename(name)
    return (
        name.startswith("__MACOSX/")
        or "/__MACOSX/" in name
        or base in {".DS_Store", "Thumbs.db", "desktop.ini"}
        or base.startswith("._")
    )


def open_zip(path: str | Path) -> zipfile.ZipFile:
    p = Path(path)
    if not p.exists():
        raise LmsError(f"download zip not found: {p}")
    if p.is_dir():
        raise LmsError(f"{p} is a directory; pass the zip file the LMS gave you")
    try:
        return zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as e:
        raise LmsError(f"{p} is not a readable zip file ({e})") from None


def members(zf: zipfile.ZipFile) -> list[Member]:
    """The zip's files (no directories, no macOS/Windows junk), in archive order.

    Raises LmsError for absolute paths or '..' components (no LMS writes those) and for
    archives whose declared sizes exceed the limits."""
    out: list[Member] = []
    total = 0
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = decoded_name(info)
        if _is_junk(name):
            continue
        norm = posixpath.normpath(name)
        if name.startswith("/") or norm.startswith("../") or norm == ".." or ":" in name.split("/")[0]:
            raise LmsError(f"unsafe path in zip: {name!r}")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise LmsError("zip contents exceed 4 GiB; refusing to read it")
        out.append(Member(info=info, name=norm))
    return out


def read_member(zf: zipfile.ZipFile, member: Member, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """The member's bytes, refusing members larger than ``limit`` (declared or actual)."""
    if member.size > limit:
        raise LmsError(f"{member.name} is too large ({member.size} bytes; limit {limit})")
    try:
        with zf.open(member.info) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as e:
        raise LmsError(f"cannot read {member.name} from the zip ({e})") from None
    if len(data) > limit:
        raise LmsError(f"{member.name} is larger than its header says; refusing it")
    return data
