"""A wheel of the grader (the ``autograder`` package) that travels inside the autograder zip.

Why a wheel we write ourselves: Gradescope and ``otter grade`` know nothing of mlphys, and the
container must not need the network to get it; a wheel in the zip is installed with
``pip install --no-index --no-deps``. ``pip wheel`` would need this repository's source tree and
setuptools, which an instructor who installed mlphys from a wheel does not have, so the wheel is
assembled from the installed package directly (PEP 427: the files, ``METADATA``, ``WHEEL`` and a
``RECORD`` of hashes, which pip checks on install).

Only ``autograder`` goes in, never ``reference``: the tests import the course's copy from the
zip's support files. The wheel is reproducible (sorted members, fixed timestamps, its version
carries a hash of the contents): the same grader gives the same bytes, so builds stay stable.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

import autograder

DISTRIBUTION = "mlphys_grader"
"""The wheel's distribution name (its own: it holds only the grader)."""
EPOCH = (1980, 1, 1, 0, 0, 0)
SKIP_DIRS = {"__pycache__"}
SKIP_SUFFIXES = (".pyc", ".pyo")


def package_files(package_dir: Path | None = None) -> dict[str, bytes]:
    """``autograder/...`` archive name -> bytes, for every file of the installed package."""
    root = Path(package_dir or Path(autograder.__file__).resolve().parent)
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or SKIP_DIRS & set(rel.parts) or path.name.endswith(SKIP_SUFFIXES):
            continue
        files[f"autograder/{rel.as_posix()}"] = path.read_bytes()
    return files


def _base_version() -> str:
    try:
        return importlib.metadata.version("mlphys")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(out_dir: Path, package_dir: Path | None = None) -> Path:
    """Write the grader's wheel into ``out_dir``; returns its path."""
    files = package_files(package_dir)
    content = hashlib.sha256()
    for name, data in files.items():
        content.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    version = f"{_base_version()}+g{content.hexdigest()[:12]}"
    info = f"{DISTRIBUTION}-{version}.dist-info"
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {version}\n"
        "Summary: the sandboxed grader of mlphys (the autograder package), for Gradescope\n"
        "Requires-Python: >=3.11\n").encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: mlphys\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{DISTRIBUTION}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    return path
