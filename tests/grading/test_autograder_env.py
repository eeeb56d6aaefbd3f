"""The autograder's requirements: read from the zip, compared with an environment, and installed
into a cached virtual environment (offline: a wheel written by the test, pip pointed at it)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
from wheel_support import make_wheel

from autograder.grading import autograder_env as ae

ENVIRONMENT_YML = """\
name: otter-env
channels:
  - conda-forge
dependencies:
  - python=3.13
  - pip
  - jupyter_server
  - scipy=1.*
  - pip:
      - otter-grader[grading,plugins]==7.0.0
      - statsmodels>=0.14
      - -r requirements.txt
"""


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_requirements_come_from_environment_yml_and_requirements_txt(tmp_path: Path) -> None:
    zp = _zip(tmp_path / "ag.zip", {"environment.yml": ENVIRONMENT_YML,
                                    "requirements.txt": "tqdm  # progress bars\n\nnumpy>=1.20\n"
                                                        "git+https://example.invalid/x.git\n"})
    req = ae.read_requirements(zp)
    assert req.lines == ("tqdm", "numpy>=1.20", "scipy==1.*", "statsmodels>=0.14")
    assert set(req.ignored) == {"python==3.13.*", "pip", "jupyter_server",
                                "otter-grader[grading,plugins]==7.0.0"}
    assert req.unreadable == ("git+https://example.invalid/x.git",)
    # the order and spelling of names do not change the cache key; the versions do
    same = ae.Requirements(("Numpy>=1.20", "statsmodels>=0.14", "tqdm", "scipy==1.*"))
    other = ae.Requirements(("numpy>=1.21", "statsmodels>=0.14", "tqdm", "scipy==1.*"))
    assert ae.Requirements(req.lines).digest == same.digest != other.digest


def test_missing_lists_absent_packages_and_wrong_versions(tmp_path: Path) -> None:
    import numpy

    req = ae.Requirements(("numpy", "numpy>=999", "mlphys-absent-package", "pandas<0.1",
                           "mlphys-other-os; sys_platform == 'nonexistent'"),
                          unreadable=("-e ./local",))
    assert ae.missing(req, ae.grader_site_dirs()) == [
        f"numpy>=999 (installed: {numpy.__version__})", "mlphys-absent-package",
        f"pandas<0.1 (installed: {__import__('pandas').__version__})", "-e ./local"]
    assert ae.missing(ae.Requirements(()), []) == []


def test_build_environment_installs_missing_requirements_once(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    make_wheel(tmp_path / "wheels", "mlphys-probe-pkg", "1.2", "ANSWER = 42\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    req = ae.Requirements(("mlphys-probe-pkg>=1.0", "numpy"))
    assert ae.missing(req, ae.grader_site_dirs()) == ["mlphys-probe-pkg>=1.0"]
    lines: list[str] = []
    env = ae.build_environment(req, tmp_path / "cache", progress=lines.append)
    assert not env.reused and env.installed == ["mlphys-probe-pkg-1.2"]  # numpy came from the grader
    assert lines[0].startswith("building the autograder's environment") and lines[-1].startswith(
        "environment ready")
    assert ae.missing(req, env.site_dirs) == []
    # a process using the environment's site dirs imports the installed module
    code = ("import sys; sys.path[:0] = sys.argv[1:]; import mlphys_probe_pkg, numpy; "
            "print(mlphys_probe_pkg.ANSWER)")
    out = subprocess.run(["python3", "-S", "-c", code, *env.site_dirs[:1]], capture_output=True,
                         text=True, check=False)
    assert out.stdout.strip() == "42" or "numpy" in out.stderr  # system python3 may lack numpy
    again = ae.build_environment(req, tmp_path / "cache", progress=lines.append)
    assert again.reused and again.path == env.path
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [env.path.name]  # no leftovers


def test_build_environment_reports_what_pip_cannot_install(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(ae.RequirementsError, match="mlphys-absent-package"):
        ae.build_environment(ae.Requirements(("mlphys-absent-package",)), tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())  # the half-built environment is gone
    with pytest.raises(ae.RequirementsError, match="not package names"):
        ae.build_environment(ae.Requirements((), unreadable=("-e .",)), tmp_path / "cache")
