"""Remove or re-own a directory tree that student code has written, whatever it holds.

Why not ``shutil.rmtree``/``os.walk``: on Python 3.11 both recurse once per directory level, so a
chain of ~1,000 nested directories raises ``RecursionError`` (issue 8: a 1,500-level chain made
every later cleanup of that worker fail). Paths deeper than ``PATH_MAX`` cannot even be named,
and a student can also leave symlinks to anywhere, directories without permissions, names with
newlines or invalid UTF-8, and hard links to files outside the tree.

How: one loop and one open directory at a time. Every step is relative to the directory fd it
came from (``openat``/``unlinkat``/``fstatat`` with ``O_NOFOLLOW``), so path length does not
matter and a symlink is never followed: it is removed like a file. Going back up opens ``..``
and checks that it is the directory we came from (device and inode), so a tree that changes
under us stops the walk instead of sending it elsewhere. Memory is the names still to visit,
never the call stack. A directory we own but cannot read or search is given ``u+rwx`` first.

Call these only once every process that could write into the tree is dead (``Sandbox.close``
kills them first): the checks above make a concurrent change fail safely, not succeed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

__all__ = ["TreeChangedError", "chown_tree", "remove_tree"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TreeChangedError(OSError):
    """The tree was modified while we walked it (a writer is still alive)."""


def _identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _open_subdir(parent_fd: int, name: str, device: int) -> int | None:
    """Open ``name`` below ``parent_fd`` if it is a directory on ``device``; else None.

    A directory we own without ``rwx`` for us is chmod'ed first (root needs no such help).
    """
    try:
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_dev != device:
        return None
    if os.geteuid() != 0 and info.st_uid == os.geteuid() and info.st_mode & 0o700 != 0o700:
        # it is a directory (checked above, nothing else writes now): chmod may follow
        os.chmod(name, stat.S_IMODE(info.st_mode) | 0o700, dir_fd=parent_fd)
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    if os.fstat(fd).st_ino != info.st_ino:
        os.close(fd)
        raise TreeChangedError(f"directory {name!r} was replaced during the walk")
    return fd


def _walk(top: Path, on_entry: Callable[[int, str, os.stat_result], bool],
          on_leave: Callable[[int, str], None]) -> None:
    """Visit every entry below ``top`` depth-first without recursion or symlink following.

    ``on_entry(dir_fd, name, lstat)`` runs for each entry (directories before their contents)
    and returns True to descend into a directory; ``on_leave(dir_fd, name)`` runs in the
    parent once a directory's contents are done (``top`` itself included, with the fd of its
    parent).
    """
    parent = os.open(top.parent, _DIR_FLAGS)
    try:
        device = os.stat(top.name, dir_fd=parent, follow_symlinks=False).st_dev
        fd = _open_subdir(parent, top.name, device)
        if fd is None:
            raise NotADirectoryError(str(top))
        top_id = _identity(parent)
        # ancestors[i] = (identity of a directory, its names still to visit, our name in it)
        ancestors: list[tuple[tuple[int, int], list[str], str]] = []
        pending = _scan(fd, on_entry)
        while True:
            if pending:
                name = pending.pop()
                child = _open_subdir(fd, name, device)
                if child is None:
                    continue
                ancestors.append((_identity(fd), pending, name))
                os.close(fd)
                fd = child
                pending = _scan(fd, on_entry)
                continue
            if not ancestors:
                break
            parent_id, pending, name = ancestors.pop()
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            if _identity(up) != parent_id:
                os.close(up)
                raise TreeChangedError(f"{top}: a directory moved during the walk")
            os.close(fd)
            fd = up
            on_leave(fd, name)
        os.close(fd)
        if _identity(parent) != top_id:
            raise TreeChangedError(str(top))
        on_leave(parent, top.name)
    finally:
        os.close(parent)


def _scan(fd: int, on_entry: Callable[[int, str, os.stat_result], bool]) -> list[str]:
    """Entries of the directory ``fd``: ``on_entry`` for each; the ones to descend into."""
    descend = []
    for name in os.listdir(fd):
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if on_entry(fd, name, info) and stat.S_ISDIR(info.st_mode):
            descend.append(name)
    return descend


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Delete ``path`` and everything below it (a symlink or file at ``path``: just it).

    Missing ``path`` is fine. Raises ``OSError`` if something could not be removed.
    """
    top = Path(os.path.abspath(path))
    try:
        info = os.lstat(top)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(top)
        return

    def on_entry(fd: int, name: str, entry: os.stat_result) -> bool:
        if stat.S_ISDIR(entry.st_mode):
            return True
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=fd)
        return False

    def on_leave(fd: int, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(name, dir_fd=fd)

    _walk(top, on_entry, on_leave)


def chown_tree(path: str | os.PathLike[str], uid: int, gid: int) -> None:
    """``lchown`` ``path`` and everything below it to ``uid:gid``.

    Files with more than one hard link are left alone: a link to a file outside the tree
    (say in a world-writable /tmp) must not hand that file to someone else.
    """
    top = Path(os.path.abspath(path))
    os.chown(top, uid, gid, follow_symlinks=False)
    if not stat.S_ISDIR(os.lstat(top).st_mode):
        return

    def on_entry(fd: int, name: str, entry: os.stat_result) -> bool:
        directory = stat.S_ISDIR(entry.st_mode)
        if directory or entry.st_nlink == 1:
            with contextlib.suppress(FileNotFoundError):
                os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
        return directory

    _walk(top, on_entry, lambda fd, name: None)
