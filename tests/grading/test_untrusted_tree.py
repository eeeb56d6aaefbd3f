"""untrusted_tree: removing and re-owning what a student left in a scratch directory.

Each test builds the hostile tree a notebook can build (deep chains past PATH_MAX and past
Python's recursion limit, symlinks out of the tree, unreadable directories, odd names, hard
links to outside files) and checks the whole tree is gone or re-owned and nothing outside it
changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.grading.sandbox.untrusted_tree import chown_tree, remove_tree

NOBODY = 65534


def _deep_chain(top: Path, depth: int, name: str = "deeper") -> None:
    """``top/name/name/...`` ``depth`` levels deep, built fd-relative (no path is ever
    longer than one name), with a file at the bottom."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir(name, dir_fd=fd)
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)


def test_python_311_rmtree_really_fails_on_the_chain_we_remove(tmp_path):
    """The attack is real: shutil.rmtree cannot delete a 1,500-level chain on Python 3.11."""
    if sys.version_info >= (3, 12):
        pytest.skip("shutil.rmtree is iterative from Python 3.12 on")
    victim = tmp_path / "victim"
    victim.mkdir()
    _deep_chain(victim, 1500, "d")
    with pytest.raises(RecursionError):
        shutil.rmtree(victim)
    remove_tree(victim)
    assert not victim.exists()


def test_removes_a_chain_deeper_than_path_max_and_the_recursion_limit(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    depth = max(3000, sys.getrecursionlimit() * 3)
    _deep_chain(scratch, depth, "a" * 40)  # 3000 * 41 bytes: far past PATH_MAX (4096)
    remove_tree(scratch)
    assert not scratch.exists()
    assert list(tmp_path.iterdir()) == []


def test_symlinks_are_removed_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("instructor file")
    scratch = tmp_path / "scratch"
    (scratch / "sub").mkdir(parents=True)
    (scratch / "to_dir").symlink_to(outside)
    (scratch / "sub" / "to_file").symlink_to(outside / "keep.txt")
    (scratch / "to_root").symlink_to("/")
    (scratch / "dangling").symlink_to(tmp_path / "nothing")
    (scratch / "loop").symlink_to(scratch)
    remove_tree(scratch)
    assert not scratch.exists()
    assert (outside / "keep.txt").read_text() == "instructor file"


def test_a_symlink_given_as_the_top_is_removed_not_its_target(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "f").write_text("x")
    link = tmp_path / "link"
    link.symlink_to(target)
    remove_tree(link)
    assert not link.exists() and (target / "f").exists()


def test_odd_names_and_missing_top(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
    for raw in (b"new\nline", b"\xff\xfe not utf-8", b"-rf", b" ", b"x" * 255, b"..."):
        os.close(os.open(raw, os.O_WRONLY | os.O_CREAT, dir_fd=fd))
        os.mkdir(raw + b".d" if len(raw) < 250 else b"y" * 255, dir_fd=fd)
    os.close(fd)
    remove_tree(scratch)
    assert not scratch.exists()
    remove_tree(scratch)  # already gone: no error


def _as_nobody(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-c", code, *args], user=NOBODY, group=NOBODY,
                          extra_groups=[], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")
def test_unprivileged_owner_removes_directories_it_locked_itself_out_of():
    """What the grader meets in user-namespace mode: the student's files belong to the
    grader's uid, and the student chmod'ed directories to 000 on the way down."""
    home = Path(tempfile.mkdtemp(prefix="mlphys-tree-test-"))  # pytest's tmp is root-only
    os.chown(home, NOBODY, NOBODY)
    try:
        _lock_out_and_remove(home / "scratch")
    finally:
        remove_tree(home)


def _lock_out_and_remove(scratch: Path) -> None:
    build = (
        "import os, sys\n"
        "top = sys.argv[1]\nos.mkdir(top)\n"
        "fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)\n"
        "for i in range(1200):\n"
        "    os.mkdir('d', dir_fd=fd)\n"
        "    os.close(os.open('f', os.O_WRONLY | os.O_CREAT, 0o000, dir_fd=fd))\n"
        "    child = os.open('d', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)\n"
        "    if i % 2:\n"
        "        os.fchmod(fd, 0o000)\n"
        "    os.close(fd)\n"
        "    fd = child\n"
        "os.fchmod(fd, 0o000)\n"
    )
    made = _as_nobody(build, str(scratch))
    assert made.returncode == 0, made.stderr
    helper = ("import sys\nsys.path.insert(0, sys.argv[2])\n"
              "from autograder.grading.sandbox.untrusted_tree import remove_tree\n"
              "remove_tree(sys.argv[1])\n")
    root = str(Path(__file__).resolve().parents[2])
    removed = _as_nobody(helper, str(scratch), root)
    assert removed.returncode == 0, removed.stderr
    assert not scratch.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_chown_tree_reowns_everything_but_links_out(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    os.chown(outside, NOBODY, NOBODY)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    _deep_chain(scratch, 1500, "d")
    (scratch / "hard").hardlink_to(outside)
    (scratch / "sym").symlink_to(outside)
    chown_tree(scratch, 62999, 62999)
    owners = set()
    fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
    depth = 0
    while True:
        for name in os.listdir(fd):
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if name != "hard":
                owners.add(info.st_uid)
        if "d" not in os.listdir(fd):
            break
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd, depth = child, depth + 1
    os.close(fd)
    assert depth == 1500
    assert owners == {62999}
    assert outside.stat().st_uid == NOBODY  # the hard link did not hand it over
    remove_tree(scratch)
    assert outside.read_text() == "host file"
