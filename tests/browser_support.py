"""Servers and a browser for the tests that drive pages as people do: Debian's Chromium under
Playwright, JupyterLab and ``mlphys manual serve`` started on 127.0.0.1 with a free port, and
stopped afterwards with every process they started (checked, not hoped for)."""

from __future__ import annotations

import glob
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VENV_BIN = Path(sys.executable).parent


def chromium_path() -> str:
    return shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


@contextmanager
def chromium(tmp: Path):
    """A Playwright Chromium browser with a fresh user-data dir (yields the Playwright object
    and a factory of persistent-free contexts)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def descendants_of(pids: set[int]) -> set[int]:
    """Every live process whose ancestry reaches one of ``pids`` (from /proc)."""
    parent: dict[int, int] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        pid = int(stat.split("/")[2])
        parent[pid] = int(text.rsplit(")", 1)[1].split()[1])
    found = set()
    for pid in parent:
        p = pid
        while p in parent and p not in pids and p > 1:
            p = parent[p]
        if p in pids and pid not in pids:
            found.add(pid)
    return found


def processes_mentioning(text: str) -> set[int]:
    """Live processes whose command line contains ``text`` (e.g. a test's own tmp path)."""
    out = set()
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = Path(cmdline).read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            out.add(int(cmdline.split("/")[2]))
    out.discard(os.getpid())
    return out


def _kill(pids: set[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- JupyterLab --------------------------------------------------------------------------------

@dataclass
class Lab:
    url: str
    token: str
    root: Path
    proc: subprocess.Popen
    home: Path

    def open_url(self, path: str) -> str:
        """The notebook alone in a fresh workspace (no tabs restored from an earlier page)."""
        return f"{self.url}lab/workspaces/w{secrets.token_hex(4)}/tree/{path}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"{self.url}api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", "DELETE")


LAB_SETTINGS = {
    # no "would you like news?" toast over the notebook, no update check: no network here
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    # every cell in the page (the tests address cells by their index)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@contextmanager
def jupyter_lab(home: Path, root: Path):
    """``jupyter lab`` from this environment on 127.0.0.1, a free port, a token, its config,
    data, runtime and settings under ``home``; shut down (kernels included) on exit, and any
    process it left is killed and reported."""
    runtime, settings = home / "runtime", home / "settings"
    for d in (runtime, settings, home / "config", home / "data", home / "workspaces"):
        d.mkdir(parents=True, exist_ok=True)
    for name, value in LAB_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))
    token = secrets.token_hex(24)
    # the kernel must draw plots inline as on a student's machine: no MPLBACKEND=Agg from run.py
    env = {k: v for k, v in os.environ.items() if k not in {"MPLBACKEND", "JUPYTER_TOKEN"}}
    env.update(JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_PLATFORM_DIRS="1")
    cmd = [str(VENV_BIN / "jupyter-lab"), "--no-browser", "--ServerApp.ip=127.0.0.1",
           "--ServerApp.port=0", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
           "--ServerApp.terminals_enabled=False"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = (home / "lab.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
                            start_new_session=True)
    lab = None
    try:
        deadline = time.monotonic() + 120
        info_files: list[str] = []
        while not info_files:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("jupyter lab did not start:\n" + (home / "lab.log").read_text()[-3000:])
            time.sleep(0.2)
            info_files = glob.glob(str(runtime / "jpserver-*.json"))
        time.sleep(0.3)
        info = json.loads(Path(info_files[0]).read_text())
        assert info["hostname"] in {"127.0.0.1", "localhost"} and info["port"] > 0
        lab = Lab(f"http://127.0.0.1:{info['port']}/", token, root, proc, home)
        yield lab
    finally:
        if lab is not None and proc.poll() is None:
            with suppress(OSError):
                lab.api("shutdown", "POST")
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
        left = processes_mentioning(str(runtime))
        _kill(left)
        assert not left, f"JupyterLab left processes behind: {left}"


# -- mlphys manual serve -------------------------------------------------------------------------

@dataclass
class GradingServer:
    url: str
    """the printed link, with its token"""
    base: str
    token: str
    proc: subprocess.Popen
    output: list[str]


@contextmanager
def grading_server(*args: str | Path):
    """``mlphys manual serve ARGS --port 0`` in a subprocess; yields once it printed its link."""
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "autograder.cli", "manual", "serve", *map(str, args),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        url = None
        while url is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("mlphys manual serve printed no link:\n" + "".join(output)) from None
            output.append(line)
            m = re.search(r"grading page: (http://127\.0\.0\.1:(\d+)/\?token=(\S+))", line)
            if m:
                url = m[1]
                yield GradingServer(url, f"http://127.0.0.1:{m[2]}", m[3], proc, output)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        while not lines.empty():
            output.append(lines.get())
