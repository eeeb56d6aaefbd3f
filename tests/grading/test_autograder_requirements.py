"""An autograder's requirements: read from the zip, compared with the grading environment
(``mlphys grade`` refuses with the exact list of what is missing), and installed into a cached
environment that the sandboxes use (``--install-requirements``; offline here: a wheel written
by the test, pip pointed at it)."""

from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlgrade_support import ag_zip, build_notebook, write_nb
from wheel_support import make_wheel

from autograder.cli import main
from autograder.grading.batch.environment import build_environment
from autograder.grading.otter.requirements import (
    Requirements,
    RequirementsError,
    grader_site_dirs,
    missing,
    read_requirements,
)

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

PROBE = "mlphys-probe-pkg"
PROBE_MODULE = "def square(x):\n    return x * x\n"


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def _with_requirements(tmp_path: Path, requirement: str) -> Path:
    """demo_ok's autograder zip with an Otter 7 environment.yml asking for ``requirement``."""
    target = tmp_path / "autograder.zip"
    with zipfile.ZipFile(ag_zip("demo_ok")) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            if info.filename != "environment.yml":
                dst.writestr(info, src.read(info))
        dst.writestr("environment.yml", ENVIRONMENT_YML.replace("statsmodels>=0.14", requirement)
                     .replace("  - scipy=1.*\n", "").replace("      - -r requirements.txt\n", ""))
    return target


def test_requirements_come_from_environment_yml_and_requirements_txt(tmp_path: Path) -> None:
    zp = _zip(tmp_path / "ag.zip", {"environment.yml": ENVIRONMENT_YML,
                                    "requirements.txt": "tqdm  # progress bars\n\nnumpy>=1.20\n"
                                                        "git+https://example.invalid/x.git\n"})
    req = read_requirements(zp)
    assert req.lines == ("tqdm", "numpy>=1.20", "scipy==1.*", "statsmodels>=0.14")
    assert set(req.ignored) == {"python==3.13.*", "pip", "jupyter_server",
                                "otter-grader[grading,plugins]==7.0.0"}
    assert req.unreadable == ("git+https://example.invalid/x.git",)
    # the order and spelling of names do not change the cache key; the versions do
    same = Requirements(("Numpy>=1.20", "statsmodels>=0.14", "tqdm", "scipy==1.*"))
    other = Requirements(("numpy>=1.21", "statsmodels>=0.14", "tqdm", "scipy==1.*"))
    assert Requirements(req.lines).digest == same.digest != other.digest


def test_missing_lists_absent_packages_and_wrong_versions() -> None:
    import numpy
    import pandas

    req = Requirements(("numpy", "numpy>=999", "mlphys-absent-package", "pandas<0.1",
                        "mlphys-other-os; sys_platform == 'nonexistent'"),
                       unreadable=("-e ./local",))
    assert missing(req, grader_site_dirs()) == [
        f"numpy>=999 (installed: {numpy.__version__})", "mlphys-absent-package",
        f"pandas<0.1 (installed: {pandas.__version__})", "-e ./local"]
    assert missing(Requirements(()), []) == []


def test_grade_refuses_when_a_requirement_is_missing(tmp_path: Path) -> None:
    zp = _with_requirements(tmp_path, "mlphys-absent-package>=1")
    sub = write_nb(build_notebook("demo_ok"), tmp_path / "s.ipynb")
    result = CliRunner().invoke(main, ["grade", "--autograder", str(zp), "--out",
                                       str(tmp_path / "out"), str(sub)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the autograder needs packages")
    assert "mlphys-absent-package>=1" in lines[0] and "--install-requirements" in lines[0]
    assert "statsmodels" not in lines[0] and "otter-grader" not in lines[0]
    assert not (tmp_path / "out" / "final_grades.csv").exists()  # nothing was graded


def test_install_requirements_builds_a_cached_environment_the_sandbox_uses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """q1's answer comes from the required package: full marks only if the sandbox has it."""
    make_wheel(tmp_path / "wheels", PROBE, "1.2", PROBE_MODULE)
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "wheels"),
           "MLPHYS_ENV_CACHE": str(tmp_path / "cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    zp = _with_requirements(tmp_path, f"{PROBE}>=1.0")
    sub = write_nb(build_notebook("demo_ok", {"q1": "from mlphys_probe_pkg import square"}),
                   tmp_path / "s.ipynb")

    def grade(*flags: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        done = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "--autograder",
                               str(zp), "--out", str(out), "--jobs", "1", *flags, str(sub)],
                              capture_output=True, text=True, timeout=600, check=False)
        rows = list(csv.DictReader((out / "final_grades.csv").open())) if done.returncode == 0 \
            else []
        return done, (rows[1] if rows else {})

    first, row = grade("--install-requirements")
    assert first.returncode == 0, first.stderr
    assert "[environment] building the autograder's environment" in first.stderr
    assert f"Successfully installed {PROBE}-1.2" in first.stderr
    assert float(row["q1"]) == 2.0  # the sandbox imported the package from the environment
    again, row_again = grade("--install-requirements")
    assert "building" not in again.stderr and float(row_again["q1"]) == 2.0  # reused
    assert len([p for p in (tmp_path / "cache").iterdir()]) == 1
    without, row_without = grade("--ignore-requirements")
    assert without.returncode == 0 and "warning: grading without" in without.stderr
    assert float(row_without["q1"]) == 0.0  # the same notebook without the package


def test_build_environment_reports_what_pip_cannot_install(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(RequirementsError, match="mlphys-absent-package"):
        build_environment(Requirements(("mlphys-absent-package",)), tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())  # the half-built environment is gone
    with pytest.raises(RequirementsError, match="not package names"):
        build_environment(Requirements((), unreadable=("-e .",)), tmp_path / "cache")
