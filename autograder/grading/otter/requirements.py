"""An Otter autograder zip's requirements, and what an environment lacks of them.

Why: Otter builds a fresh image from the zip's ``environment.yml`` (Otter 7) or
``requirements.txt`` (older zips and ``otter generate``) for every assignment. ``mlphys grade``
runs student code with the grader's own interpreter and packages, so a notebook that imports a
package the zip asks for but this machine lacks (``import statsmodels``) would lose every
question that needs it, with status ``Completed`` and no warning. Grades like that must never
reach an LMS: before grading, :func:`missing` compares the requirements with the environment the
sandboxes will use, and the caller refuses with the exact list; or :func:`build_environment`
installs them once into a cached virtual environment that the sandboxes put first on their path.

What is compared: every requirement line of ``requirements.txt`` and of the ``pip:`` section of
``environment.yml``, and the conda dependencies of ``environment.yml`` under their (usually
identical) PyPI names. Not compared, because the grader provides them itself: the Python
version, ``pip``, Jupyter's server and kernel plumbing, and ``otter-grader`` (the sandbox has
its own stand-in for ``otter.Notebook``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import re
import sysconfig
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

PROVIDED_BY_GRADER = frozenset({
    "python", "pip", "setuptools", "wheel", "jupyter-server", "nb-conda-kernels",
    "otter-grader", "jupyter", "notebook", "jupyterlab",
})
"""Requirements the grader satisfies by itself (canonical names)."""



class RequirementsError(RuntimeError):
    """The zip's requirements cannot be met (the message is one line for the user)."""


@dataclass(frozen=True)
class Requirements:
    """What an autograder zip asks to have installed."""

    lines: tuple[str, ...]
    """PEP 508 requirement strings to check and install, in the zip's order"""
    ignored: tuple[str, ...] = ()
    """entries left out because the grader provides them (python, pip, otter-grader...)"""
    unreadable: tuple[str, ...] = ()
    """lines that are not PEP 508 requirements (URLs, ``-e``, options): cannot be checked"""

    @property
    def digest(self) -> str:
        """Identifies the set of requirements (order and spelling of names do not matter)."""
        canon = sorted(_canonical(line) for line in self.lines)
        return hashlib.sha256("\n".join(canon).encode()).hexdigest()


def _canonical(line: str) -> str:
    req = _parse(line)
    if req is None:
        return line
    extras = ",".join(sorted(canonicalize_name(e) for e in req.extras))
    return (f"{canonicalize_name(req.name)}[{extras}]{req.specifier}"
            f";{req.marker or ''}@{req.url or ''}")


def _parse(line: str) -> Requirement | None:
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


def _requirement_lines(text: str) -> tuple[list[str], list[str]]:
    """PEP 508 lines of a requirements file and the lines that are something else."""
    lines, other = [], []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement", "-c ", "--constraint")):
            continue  # Otter's environment.yml points at the requirements.txt read separately
        (lines if _parse(line) is not None else other).append(line)
    return lines, other


_CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<op>==|>=|<=|>|<|=|!=)?\s*(?P<ver>[^\s=]*)")


def _conda_to_pep508(spec: str) -> str | None:
    """``numpy=1.26`` -> ``numpy==1.26.*``; ``conda-forge::scipy`` -> ``scipy``."""
    spec = spec.split("::", 1)[-1].strip()
    match = _CONDA_SPEC.match(spec)
    if match is None:
        return None
    name, op, ver = match["name"], match["op"], match["ver"]
    if not op or not ver:
        return name
    if op == "=":
        return f"{name}=={ver}" if ver.endswith("*") else f"{name}=={ver}.*"
    return f"{name}{op}{ver}"


def read_requirements(zip_path: str | Path) -> Requirements:
    """The requirements an Otter autograder zip declares (none if it declares none)."""
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        req_text = zf.read("requirements.txt").decode("utf-8", "replace") \
            if "requirements.txt" in names else ""
        env_text = zf.read("environment.yml").decode("utf-8", "replace") \
            if "environment.yml" in names else ""
    lines, other = _requirement_lines(req_text)
    if env_text:
        try:
            env = yaml.safe_load(env_text) or {}
        except yaml.YAMLError as exc:
            raise RequirementsError(f"environment.yml in {zip_path} is not valid YAML: "
                                    f"{str(exc).splitlines()[0]}") from None
        for dep in env.get("dependencies") or [] if isinstance(env, dict) else []:
            if isinstance(dep, dict):
                pip_lines, pip_other = _requirement_lines("\n".join(map(str, dep.get("pip") or [])))
                lines += pip_lines
                other += pip_other
            elif isinstance(dep, str):
                converted = _conda_to_pep508(dep)
                (lines if converted else other).append(converted or dep)
    keep, ignored, seen = [], [], set()
    for line in lines:
        req = _parse(line)
        assert req is not None
        name = canonicalize_name(req.name)
        if name in PROVIDED_BY_GRADER:
            ignored.append(line)
        elif line not in seen:
            seen.add(line)
            keep.append(line)
    return Requirements(tuple(keep), tuple(ignored), tuple(other))


def installed_distributions(site_dirs: Sequence[str]) -> dict[str, str]:
    """Canonical name -> version of every distribution found in ``site_dirs`` (the first
    directory that has a distribution wins, as on ``sys.path``)."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=list(site_dirs)):
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            found.setdefault(canonicalize_name(name), dist.version)
    return found


def missing(requirements: Requirements, site_dirs: Sequence[str]) -> list[str]:
    """The requirements (as written in the zip) that ``site_dirs`` do not satisfy."""
    have = installed_distributions(site_dirs)
    out = []
    for line in requirements.lines:
        req = _parse(line)
        assert req is not None
        if req.marker is not None and not req.marker.evaluate():
            continue  # not meant for this platform/Python
        version = have.get(canonicalize_name(req.name))
        if version is None:
            out.append(line)
            continue
        try:
            ok = req.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            ok = not req.specifier
        if not ok:
            out.append(f"{line} (installed: {version})")
    return out + list(requirements.unreadable)


def grader_site_dirs() -> list[str]:
    """The site-packages directories the sandboxes use by default (the grader's own)."""
    import site

    dirs: list[str] = []
    with contextlib.suppress(AttributeError):
        dirs += site.getsitepackages()
    paths = sysconfig.get_paths()
    dirs += [paths["purelib"], paths["platlib"]]
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]
