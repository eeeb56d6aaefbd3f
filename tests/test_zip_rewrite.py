"""``zip_rewrite.rewrite_zip``: the one zip rewrite behind ``mlphys build``'s additions
(``zip_additions.add_to_zip``) and the Gradescope hardening (``hardened_zip``).

Checked: added members replace their namesakes, dropped ones are gone, every other member keeps
its bytes and its header (time stamp, mode), the header hook stamps the additions, and a
failure half-way leaves the old zip as it was with no temporary file next to it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from autograder.gradescope.hardened_zip import PAYLOAD, add_sandboxed_runner, wheel_time
from autograder.zip_additions import add_to_zip
from autograder.zip_rewrite import rewrite_zip

OTTER_TIME = (2024, 1, 2, 3, 4, 6)
FIXTURE = Path(__file__).resolve().parent / "grading" / "fixtures" / "demo_ok" / "autograder.zip"


def members(path: Path) -> dict[str, tuple[bytes, tuple, int]]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: (zf.read(i), i.date_time, i.external_attr >> 16) for i in zf.infolist()}


@pytest.fixture
def original(tmp_path: Path) -> Path:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, mode, data in (("keep.txt", 0o640, b"kept"), ("run", 0o755, b"#!/bin/sh\n"),
                                 ("old/x.bin", 0o644, b"\0" * 10), ("mlphys.json", 0o644, b"{}")):
            info = zipfile.ZipInfo(name, OTTER_TIME)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_additions_replace_drop_removes_and_the_rest_keeps_bytes_and_headers(original):
    before = members(original)
    rewrite_zip(original, {"mlphys.json": '{"a": 1}', "new.bin": b"\1\2"},
                drop=lambda name: name.startswith("old/"))
    after = members(original)
    assert sorted(after) == ["keep.txt", "mlphys.json", "new.bin", "run"]
    assert after["keep.txt"] == before["keep.txt"] and after["run"] == before["run"]
    assert after["mlphys.json"][0] == b'{"a": 1}' and after["new.bin"][0] == b"\1\2"
    with zipfile.ZipFile(original) as zf:
        assert zf.getinfo("new.bin").compress_type == zipfile.ZIP_DEFLATED
    assert list(original.parent.iterdir()) == [original]  # no temporary file left


def test_the_header_hook_stamps_each_addition(original):
    def stamped(name: str, old: zipfile.ZipFile) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, old.getinfo("run").date_time)
        info.external_attr = (0o755 if name == "tool" else 0o600) << 16
        return info

    rewrite_zip(original, {"tool": "x", "data": "y"}, header=stamped)
    after = members(original)
    assert after["tool"][1:] == (OTTER_TIME, 0o755) and after["data"][1:] == (OTTER_TIME, 0o600)
    with zipfile.ZipFile(original) as zf:
        assert {zf.getinfo(n).compress_type for n in ("tool", "data")} == {zipfile.ZIP_DEFLATED}


def test_a_failure_half_way_leaves_the_old_zip_and_no_temporary_file(original):
    before = original.read_bytes()

    def broken(name: str, old: zipfile.ZipFile) -> zipfile.ZipInfo:
        raise RuntimeError("no header")

    with pytest.raises(RuntimeError):
        rewrite_zip(original, {"x": "y"}, header=broken)
    assert original.read_bytes() == before
    assert list(original.parent.iterdir()) == [original]


def test_both_build_steps_rewrite_through_it(tmp_path):
    """``add_to_zip`` and ``add_sandboxed_runner`` on a zip ``otter assign`` wrote: Otter's
    members unchanged, the additions there, the hardening's stamped with Otter's time and a
    stale copy of its payload folder dropped."""
    path = tmp_path / "autograder.zip"
    with zipfile.ZipFile(FIXTURE) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(info, src.read(info))
        zf.writestr(f"files/{PAYLOAD}/stale.whl", b"old")
        otter_time = wheel_time(src)
    before = members(path)
    add_to_zip(path, {"autograder_files": ["reference"]})
    add_sandboxed_runner(path)
    after = members(path)
    assert f"files/{PAYLOAD}/stale.whl" not in after
    assert f"files/{PAYLOAD}/bootstrap.py" in after and "mlphys.json" in after
    for name in ("otter_config.json", "run_otter.py", *[n for n in before if n.startswith("tests/")]):
        assert after[name] == before[name], name
    assert after["run_autograder"][1:] == (otter_time, 0o755)
    assert after[f"files/{PAYLOAD}/bootstrap.py"][1:] == (otter_time, 0o644)
    assert list(tmp_path.iterdir()) == [path]
