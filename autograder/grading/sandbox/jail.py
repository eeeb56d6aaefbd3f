"""Process isolation for one sandbox: the "keeper" program and the jail it builds.

The trusted grader never forks itself (it may be multi-threaded). It starts, per sandbox, a
small *keeper* process: ``python -I -S jail.py`` with a JSON config on stdin. This file is
therefore both a module (the trusted side imports ``JailConfig``, ``processes_of_uid``...)
and a standard-library-only script. The keeper builds the jail, starts the runner inside it
and supervises it::

    trusted grader ──Popen──> keeper (host pid ns)          watches: lifeline pipe, init pidfd
                                └─fork─> init  (pid 1 of a new pid ns; root; own mount ns)
                                           └─fork/exec─> runner (uid 62000+slot, no caps)

Modes (``JailConfig.mode``), strongest first:

``jail`` (root)
    new PID, network, IPC, UTS and mount namespaces; a minimal read-only root on a tmpfs
    (``/usr``, ``/etc``, ``/bin``..., the Python prefix and the venv, with the project's own
    packages masked), ``/dev`` with a few safe nodes, a fresh ``/proc``; everything the
    student can write (``/home/student``, ``/tmp``, ``/dev/shm``) lives on ONE size- and
    inode-capped tmpfs (the sandbox's disk), into which the host scratch dir (the support
    files, written by the grader) is copied: student code never writes to the host's disk;
    the runner drops to a dedicated uid per slot, sets ``no_new_privs`` and rlimits.
``userns`` (non-root with unprivileged user namespaces)
    the same jail built inside a new user namespace; the runner then enters a second, nested
    user namespace as a non-zero uid, so after ``execve`` it holds no capabilities (it cannot
    unmount the masks) and the mounts are locked.
``basic`` (anything else)
    no namespaces: rlimits, a new session, a scrubbed environment, a sys.path without the
    project; the keeper is a child subreaper so double-forked daemons still come back to it
    and are killed. As root the runner still gets its own uid. The file system and the
    network stay visible: ``Sandbox.isolation`` says so.

Control group: when the trusted side created one (``cgroups.SandboxCgroup``), the keeper joins
it before it forks, so init, the runner and everything they start are counted together (memory,
tasks); the keeper and init then set their own ``oom_score_adj`` to -1000 where allowed, so
that running out of memory kills student processes, never the sandbox's supervisors.

Lifetime: the keeper holds the read end of a *lifeline* pipe whose write end only the trusted
process holds. When the trusted side closes it (``Sandbox.close``) or dies, the keeper kills
init; the kernel then kills every process of the PID namespace (daemons and setsid'd
grandchildren included) before init's exit is reported. ``init`` has ``PDEATHSIG=SIGKILL`` so
killing the keeper has the same effect.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import sys
import traceback
from typing import Any, NamedTuple

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_RELATIME = 0x200000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

SYS_PIVOT_ROOT = 155  # x86_64; see _pivot_root for other architectures
PIVOT_ROOT_NR = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}

JAIL_HOME = "/home/student"
"""Where the scratch dir appears inside the jail (also HOME and the notebook's CWD)."""

JAIL_CODE = "/opt/mlphys"
"""Where the runner's own files appear inside the jail (read-only)."""

DEVICES = ("null", "zero", "full", "random", "urandom")


class JailConfig(NamedTuple):
    """Everything the keeper needs, passed as JSON on its stdin (plain data only).

    (A NamedTuple rather than a dataclass: importing dataclasses costs the keeper ~6 ms.)
    """

    mode: str                          # "jail" | "userns" | "basic"
    python: str                        # interpreter for the runner (same path inside the jail)
    runner_args: list[str]             # argv after the interpreter
    env: dict[str, str]                # complete environment of the runner
    scratch: str                       # host path of the scratch dir
    code_dir: str                      # host dir holding runner.py + mlphys_protocol.py
    root_dir: str                      # empty host dir used as mount point of the new root
    workdir: str                       # CWD of the runner (JAIL_HOME or the scratch path)
    lifeline_fd: int
    keep_fds: list[int]                # protocol fds handed to the runner
    rlimits: dict[str, int]            # RLIMIT_* name -> soft=hard value
    uid: int | None = None             # drop to this uid/gid (root modes)
    gid: int | None = None
    ro_paths: list[str] = []           # bound read-only into the jail (never mutated)
    hide_paths: list[str] = []         # masked by an empty read-only tmpfs
    disk_bytes: int = 512 * 1024**2    # one tmpfs for home, /tmp and /dev/shm together
    disk_inodes: int = 100_000         # ... and its number of files and directories
    cgroup_procs: list[str] = []       # cgroup.procs files the keeper joins before forking
    outer_uid: int = 0                 # uid/gid of the keeper (userns maps)
    outer_gid: int = 0

    def to_json(self) -> str:
        return json.dumps(self._asdict())

    @classmethod
    def from_json(cls, text: str) -> JailConfig:
        return cls(**json.loads(text))


# --------------------------------------------------------------------------------------------
# libc helpers
# --------------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)  # the interpreter's own libc (no find_library: 10 ms)


def _check(result: int, what: str) -> int:
    """Raise OSError with errno when a libc call failed."""
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def unshare(flags: int) -> None:
    """unshare(2) (Python 3.11 has no os.unshare)."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    """mount(2) with str arguments."""
    def enc(value: str | None) -> bytes | None:
        return None if value is None else value.encode()
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                       enc(data)), f"mount {source} -> {target}")


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def _pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2) through syscall(2): glibc has no wrapper."""
    number = PIVOT_ROOT_NR.get(os.uname().machine, SYS_PIVOT_ROOT)
    _check(_libc.syscall(ctypes.c_long(number), new_root.encode(), put_old.encode()),
           "pivot_root")


# --------------------------------------------------------------------------------------------
# Building the jail's file system (runs in init, as root of its own mount namespace)
# --------------------------------------------------------------------------------------------


def _mountpoints_under(path: str) -> list[str]:
    """Mount points at or below ``path`` (from /proc/self/mountinfo), shallowest first."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point == path or point.startswith(path.rstrip("/") + "/"):
                points.append(point)
    return sorted(points, key=len)


def bind_readonly(source: str, target: str) -> None:
    """Bind ``source`` at ``target`` and make it (and every sub-mount) read-only + nosuid.

    Why each sub-mount: a recursive bind copies sub-mounts (e.g. Docker's /etc/hosts) with
    their own flags, and a read-only remount only applies to one mount at a time.
    """
    mount(source, target, None, MS_BIND | MS_REC)
    for point in _mountpoints_under(target):
        # keep the mount's own noexec/atime flags: in a user namespace they are locked and
        # a remount that tries to clear them fails
        have = os.statvfs(point).f_flag
        kept = 0
        for st_flag, ms_flag in ((os.ST_NOEXEC, MS_NOEXEC), (os.ST_NOATIME, MS_NOATIME),
                                 (os.ST_NODIRATIME, MS_NODIRATIME),
                                 (os.ST_RELATIME, MS_RELATIME)):
            if have & st_flag:
                kept |= ms_flag
        mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def _mirror_path(root: str, path: str) -> str:
    """Create ``path`` (a dir, or an empty file for a file) inside ``root``; return it."""
    target = os.path.join(root, path.lstrip("/"))
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            with open(target, "w"):
                pass
    return target


def build_root(cfg: JailConfig) -> None:
    """Assemble the jail's root file system on a tmpfs at ``cfg.root_dir``.

    Order matters: the sandbox's disk and the private /tmp on it first (the interpreter or
    the venv may live under the host's /tmp, e.g. in a CI checkout, and must be bound on top
    of it, not hidden by it), then read-only system trees, masks over the project's packages
    inside them, /dev, the home with the support files copied in, and the runner's code.
    The disk's own mount point is detached at the end: only its three binds remain.
    """
    root = cfg.root_dir
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    disk = os.path.join(root, ".disk")
    os.mkdir(disk)
    mount("tmpfs", disk, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={cfg.disk_bytes},nr_inodes={cfg.disk_inodes},mode=0755")
    for name, mode in (("tmp", 0o1777), ("shm", 0o1777), ("home", 0o755)):
        os.mkdir(os.path.join(disk, name))
        os.chmod(os.path.join(disk, name), mode)
    tmp = _mirror_path(root, "/tmp")
    _bind_writable(os.path.join(disk, "tmp"), tmp, 0)
    for path in cfg.ro_paths:
        if not os.path.lexists(path):
            continue
        if os.path.islink(path):  # e.g. /bin -> usr/bin on merged-/usr systems
            link = os.path.join(root, path.lstrip("/"))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            if not os.path.lexists(link):
                os.symlink(os.readlink(path), link)
            continue
        bind_readonly(path, _mirror_path(root, path))
    for path in cfg.hide_paths:
        target = os.path.join(root, path.lstrip("/"))
        if os.path.isdir(target):
            mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=4k,mode=0555")
        elif os.path.isfile(target):
            bind_readonly("/dev/null", target)
    _build_dev(root, os.path.join(disk, "shm"))
    home_src = os.path.join(disk, "home")
    copy_tree_into(cfg.scratch, home_src, cfg.uid, cfg.gid if cfg.gid is not None else cfg.uid)
    home = os.path.join(root, JAIL_HOME.lstrip("/"))
    os.makedirs(home, exist_ok=True)
    _bind_writable(home_src, home, 0)
    umount2(disk, MNT_DETACH)
    os.rmdir(disk)
    code = os.path.join(root, JAIL_CODE.lstrip("/"))
    os.makedirs(code, exist_ok=True)
    bind_readonly(cfg.code_dir, code)
    os.makedirs(os.path.join(root, "proc"), exist_ok=True)


def _bind_writable(source: str, target: str, extra: int) -> None:
    """Bind ``source`` at ``target`` read-write, nosuid and nodev (plus ``extra`` flags)."""
    mount(source, target, None, MS_BIND)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | extra)


def copy_tree_into(source: str, target: str, uid: int | None, gid: int | None) -> None:
    """Copy the host scratch dir (support files the grader wrote: trusted, shallow) into the
    sandbox's disk, owned by the runner's uid. Symlinks and special files are skipped.

    Why copy rather than bind: the host scratch stays the grader's; whatever the student
    writes lands on the capped tmpfs and disappears with the sandbox's mount namespace.
    """
    if uid is not None:
        os.chown(target, uid, gid if gid is not None else uid)
    for directory, dirs, files in os.walk(source):
        rel = os.path.relpath(directory, source)
        dest = target if rel == "." else os.path.join(target, rel)
        for name in dirs:
            path = os.path.join(dest, name)
            if os.path.islink(os.path.join(directory, name)):
                continue
            os.mkdir(path, 0o755)
            if uid is not None:
                os.chown(path, uid, gid if gid is not None else uid)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(directory, d))]
        for name in files:
            src = os.path.join(directory, name)
            if os.path.islink(src) or not os.path.isfile(src):
                continue
            path = os.path.join(dest, name)
            with open(src, "rb") as inp, open(path, "wb") as out:
                while True:
                    chunk = inp.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
            os.chmod(path, 0o644)
            if uid is not None:
                os.chown(path, uid, gid if gid is not None else uid)


def _build_dev(root: str, shm_source: str) -> None:
    """A /dev with only null/zero/full/random/urandom, /dev/shm (on the sandbox's disk) and
    the fd symlinks."""
    dev = os.path.join(root, "dev")
    os.makedirs(dev, exist_ok=True)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for name in DEVICES:
        node = os.path.join(dev, name)
        with open(node, "w"):
            pass
        mount(f"/dev/{name}", node, None, MS_BIND)
    shm = os.path.join(dev, "shm")
    os.makedirs(shm)
    _bind_writable(shm_source, shm, MS_NOEXEC)
    pts = os.path.join(dev, "pts")
    os.makedirs(pts)
    try:  # a private pty instance: pexpect-based ``x = !cmd`` needs one
        mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620")
        os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    except OSError:
        pass
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))
    mount(None, dev, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)


def enter_root(cfg: JailConfig) -> None:
    """Mount /proc, pivot_root into the new root, drop the old one, freeze / read-only.

    Why pivot_root and not chroot: after pivot_root + detaching the old root, the host's
    tree is no longer reachable from this mount namespace at all (chroot can be escaped).
    """
    root = cfg.root_dir
    # /proc first: in a user namespace the kernel only allows a new proc mount while a
    # fully visible one is still present (the host's, until the old root is detached).
    mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    old = os.path.join(root, ".old_root")
    os.makedirs(old, exist_ok=True)
    _pivot_root(root, old)
    os.chdir("/")
    umount2("/.old_root", MNT_DETACH)
    os.rmdir("/.old_root")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def apply_rlimits(rlimits: dict[str, int]) -> None:
    """Set soft=hard limits (lowering is always allowed; the runner cannot raise them again)."""
    for name, value in rlimits.items():
        # CPU: a hard limit one second above the soft one, so the runner first gets
        # SIGXCPU (reported as a time limit) rather than an anonymous SIGKILL
        hard = value + 1 if name == "RLIMIT_CPU" else value
        resource.setrlimit(getattr(resource, name), (value, hard))


def _write_map(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def enter_user_namespace(inner_uid: int, outer_uid: int, outer_gid: int) -> None:
    """unshare(CLONE_NEWUSER) and map ``inner_uid`` to our outer uid/gid (one id each)."""
    unshare(CLONE_NEWUSER)
    _write_map("/proc/self/setgroups", "deny")
    _write_map("/proc/self/uid_map", f"{inner_uid} {outer_uid} 1")
    _write_map("/proc/self/gid_map", f"{inner_uid} {outer_gid} 1")


def drop_privileges(cfg: JailConfig) -> None:
    """Become the runner's identity: new session, unprivileged uid, no_new_privs, rlimits.

    * ``setsid``: the student's process group is not the keeper's, so killpg() hits only it;
    * ``setgroups/setgid/setuid``: the per-slot uid owns nothing outside its scratch dir and
      lets the grader kill every leftover process of that uid; going from root to a non-zero
      uid clears every capability (permitted, effective and ambient), with or without execve;
    * nested user namespace (userns mode): drops every capability at execve;
    * ``PR_SET_NO_NEW_PRIVS``: setuid binaries cannot give privileges back;
    * ``PDEATHSIG``: in basic mode the runner dies with its keeper (set after setuid, which
      clears it).
    """
    os.setsid()
    if cfg.mode == "userns":
        enter_user_namespace(1000, 0, 0)
    elif cfg.uid is not None:
        os.setgroups([])
        os.setgid(cfg.gid if cfg.gid is not None else cfg.uid)
        os.setuid(cfg.uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    apply_rlimits(cfg.rlimits)
    os.chdir(cfg.workdir)


def exec_runner(cfg: JailConfig) -> None:
    """Become the runner: drop privileges (``drop_privileges``), then execve a fresh
    interpreter on ``runner.py`` (the cold start; ``zygote_server`` forks a warm one)."""
    drop_privileges(cfg)
    for fd in cfg.keep_fds:
        os.set_inheritable(fd, True)
    os.execve(cfg.python, [cfg.python, *cfg.runner_args], cfg.env)


RunnerEntry = Any
"""``(cfg: JailConfig) -> None``, never returning: how the runner process starts once the
jail is built (``exec_runner`` by default; the fork server passes its own)."""


def _reset_signals() -> None:
    """Default dispositions, so the exec'd runner starts like a normal process."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)


def init_main(cfg: JailConfig, become_runner: RunnerEntry = exec_runner) -> None:
    """PID 1 of the sandbox's PID namespace: build the jail, start the runner, reap.

    It exits with the runner's status (128+signal when killed); its exit makes the kernel
    kill every other process of the namespace.
    """
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.close(cfg.lifeline_fd)
    unshare(CLONE_NEWNS)  # a mount namespace of our own: pivot_root must not move the keeper
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    build_root(cfg)
    enter_root(cfg)
    _reset_signals()
    runner = os.fork()
    if runner == 0:
        _child_guard(become_runner, cfg)
    for fd in cfg.keep_fds:
        os.close(fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # pid 1 ignores it anyway; be explicit
    protect_from_oom_killer()  # after the fork: the runner keeps the default score
    while True:
        pid, status = os.wait()
        if pid == runner:
            os._exit(_exit_code(status))


def _exit_code(status: int) -> int:
    """Wait status -> shell-style exit code (128+N for 'killed by signal N')."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 255


def _child_guard(function: Any, cfg: JailConfig) -> None:
    """Run ``function(cfg)`` in a forked child; never return into the parent's code."""
    try:
        function(cfg)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    os._exit(127)


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (host view), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    stat = handle.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def kill_descendants(pid: int) -> None:
    """SIGKILL every descendant of ``pid`` (which must be a subreaper), reaping until none."""
    for _ in range(200):
        victims = []
        stack = _children(pid)
        while stack:
            child = stack.pop()
            victims.append(child)
            stack.extend(_children(child))
        if not victims:
            return
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        for _victim in victims:
            try:
                os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break


def supervise(child: int, lifeline: int) -> int:
    """Wait until the child exits or the lifeline closes; kill the child; return its code."""
    pidfd = os.pidfd_open(child)
    ready, _, _ = select.select([lifeline, pidfd], [], [])
    if lifeline in ready:
        os.kill(child, signal.SIGKILL)
    _, status = os.waitpid(child, 0)
    return _exit_code(status)


def join_cgroups(procs_files: list[str]) -> None:
    """Move this process into the sandbox's control group(s) (``0`` means "the writer")."""
    for path in procs_files:
        _write_map(path, "0")


def protect_from_oom_killer() -> None:
    """``oom_score_adj = -1000`` where we may: out of memory, the kernel picks a student
    process, not a supervisor (lowering needs CAP_SYS_RESOURCE: a no-op in user namespaces)."""
    with contextlib.suppress(OSError):
        _write_map("/proc/self/oom_score_adj", "-1000")


def keeper_main(cfg: JailConfig, become_runner: RunnerEntry = exec_runner,
                keeper_only_fds: tuple[int, ...] = ()) -> int:
    """The keeper: join the control group, create namespaces (or become a subreaper), start
    init/runner, supervise. ``become_runner`` turns init's child into the runner;
    ``keeper_only_fds`` are closed in every child (the fork server's exit-status pipe)."""

    def in_child(function: RunnerEntry) -> None:
        for fd in keeper_only_fds:
            os.close(fd)
        _child_guard(function, cfg)

    join_cgroups(cfg.cgroup_procs)
    # a grader without cgroups caps its own memory with a soft RLIMIT_DATA: not ours to inherit
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))
    if cfg.mode == "basic":
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        child = os.fork()
        if child == 0:
            os.close(cfg.lifeline_fd)
            in_child(become_runner)
    else:
        if cfg.mode == "userns":
            enter_user_namespace(0, cfg.outer_uid, cfg.outer_gid)
        unshare(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
        child = os.fork()
        if child == 0:
            in_child(lambda config: init_main(config, become_runner))
    for fd in cfg.keep_fds:
        os.close(fd)
    protect_from_oom_killer()  # after the fork: init/runner keep the default score
    code = supervise(child, cfg.lifeline_fd)
    if cfg.mode == "basic":
        kill_descendants(os.getpid())
    return code


# --------------------------------------------------------------------------------------------
# Trusted-side helpers
# --------------------------------------------------------------------------------------------


def processes_of_uid(uid: int) -> list[int]:
    """Host pids whose real uid is ``uid`` (used to prove and enforce a clean close)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except OSError:
            continue
    return pids


def descendants(pid: int) -> list[int]:
    """All host pids below ``pid`` in the process tree."""
    found, stack = [], _children(pid)
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(_children(child))
    return found


def read_config_from_stdin() -> JailConfig:
    """The keeper's config arrives on stdin (argv would be readable as /proc/1/cmdline inside
    the jail); stdin is then pointed at /dev/null."""
    chunks = []
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return JailConfig.from_json(b"".join(chunks).decode())


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (public wrapper)."""
    return _children(pid)


if __name__ == "__main__":
    try:
        sys.exit(keeper_main(read_config_from_stdin()))
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(126)
