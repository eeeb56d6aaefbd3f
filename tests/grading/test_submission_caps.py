"""submission_caps: oversized zips and notebooks are refused before they are parsed.

The attacks of issue 8 (a 400,000-member zip, a 150,000-cell notebook) are built here and
the refusal is measured: it must allocate almost nothing, while the parsers it replaces
allocate in proportion to the file (measured in the same test, so the comparison is real).
"""

from __future__ import annotations

import json
import struct
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from autograder.grading.otter.submission_caps import (
    SubmissionCaps,
    check_notebook_bytes,
    check_zip_file,
)
from autograder.grading.otter.submissions import SubmissionError

MiB = 1024**2
LOCAL = struct.Struct("<4sHHHHHIIIHH")
CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")


def _raw_zip(path: Path, members: int) -> Path:
    """A valid zip64 archive of ``members`` empty stored files, written without zipfile
    (zipfile needs ~30 s for 400,000 members; this takes one)."""
    local, central = bytearray(), bytearray()
    for i in range(members):
        name = b"%d" % i
        offset = len(local)
        local += LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0) + name
        central += CENTRAL.pack(b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0,
                                0, 0, 0, 0, offset) + name
    cd_offset, cd_size = len(local), len(central)
    record_pos = cd_offset + cd_size
    zip64 = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, members, members,
                        cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, record_pos, 1)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                       0xFFFFFFFF, 0)
    path.write_bytes(bytes(local) + bytes(central) + zip64 + locator + eocd)
    return path


def _peak(function, *args) -> tuple[int, BaseException | None]:
    """Peak Python allocation (bytes) while ``function`` runs, and what it raised."""
    tracemalloc.start()
    error = None
    try:
        function(*args)
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        error = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, error


def test_a_400k_member_zip_is_refused_without_parsing_its_directory(tmp_path):
    bomb = _raw_zip(tmp_path / "members.zip", 400_000)
    # the file is a real zip: zipfile builds an object per member before anyone can count
    # them (a lower bound of what it holds: the objects and their names, nothing shared)
    with zipfile.ZipFile(bomb) as zf:
        infos = zf.infolist()
        members = len(infos)
        parse_peak = sum(sys.getsizeof(i) + sys.getsizeof(i.filename) + sys.getsizeof(i.extra)
                         for i in infos)
        del infos
    assert members == 400_000
    check_peak, error = _peak(check_zip_file, bomb, SubmissionCaps(max_zip_members=10_000))
    assert isinstance(error, SubmissionError)
    assert error.status.startswith("error: zip has too many members (400000;")
    assert parse_peak > 50 * MiB  # what zipfile holds (~100 MiB)...
    assert check_peak < 4 * MiB    # ...and what the refusal costs


def test_the_directory_is_counted_even_when_the_record_lies(tmp_path):
    """zipfile walks the directory's bytes, not the stated count: a record that claims 3
    members in front of 50,000 directory entries is still refused."""
    path = _raw_zip(tmp_path / "liar.zip", 50_000)
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x06\x06")
    struct.pack_into("<QQ", data, at + 24, 3, 3)
    path.write_bytes(bytes(data))
    with pytest.raises(SubmissionError, match="too many members .more than"):
        check_zip_file(path, SubmissionCaps(max_zip_members=1000))


def test_ordinary_zips_pass_and_size_is_a_stat(tmp_path):
    nb = tmp_path / "export.zip"
    with zipfile.ZipFile(nb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("hw.ipynb", json.dumps({"cells": [], "metadata": {}}))
        zf.writestr(".OTTER_LOG", b"\x80" * 1000)
        zf.writestr("__zip_filename__", "hw.zip")
        zf.comment = b"x" * 60_000  # a long comment does not hide the record
    check_zip_file(nb)
    small = SubmissionCaps(max_zip_bytes=nb.stat().st_size - 1)
    with pytest.raises(SubmissionError, match="zip file is too large"):
        check_zip_file(nb, small)
    with pytest.raises(SubmissionError, match="not a readable zip"):
        (tmp_path / "not.zip").write_bytes(b"PK\x03\x04 garbage")
        check_zip_file(tmp_path / "not.zip")


def test_zip64_written_by_zipfile_is_read(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(70_000):  # more than 0xFFFF: zipfile writes zip64 records
            zf.writestr(f"{i}", b"")
    check_zip_file(path, SubmissionCaps(max_zip_members=70_000))
    with pytest.raises(SubmissionError, match=r"too many members \(70000;"):
        check_zip_file(path, SubmissionCaps(max_zip_members=69_999))


def _notebook(cells: int) -> bytes:
    cell = {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [],
            "execution_count": None}
    return json.dumps({"cells": [cell] * cells, "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5}).encode()


def test_a_150k_cell_notebook_is_refused_before_parsing():
    data = _notebook(150_000)
    assert len(data) < 20 * MiB  # under the size cap: only the cell cap can stop it
    parse_peak, _ = _peak(json.loads, data)  # the first step of parsing, before nbformat
    check_peak, error = _peak(check_notebook_bytes, data, SubmissionCaps(max_cells=5000))
    assert isinstance(error, SubmissionError)
    assert error.status == "error: notebook has too many cells (150000; the limit is 5000)"
    assert parse_peak > 50 * MiB
    assert check_peak < 1 * MiB


def test_cell_count_never_undercounts_and_ignores_quoted_text():
    tricky = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": 'print(\'"cell_type"\')  # "cell_type": "code"'}
    data = json.dumps({"cells": [tricky] * 10, "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5}).encode()
    check_notebook_bytes(data, SubmissionCaps(max_cells=10))
    with pytest.raises(SubmissionError, match="too many cells"):
        check_notebook_bytes(data, SubmissionCaps(max_cells=9))
    with pytest.raises(SubmissionError, match="notebook is too large"):
        check_notebook_bytes(data, SubmissionCaps(max_notebook_bytes=len(data) - 1))
