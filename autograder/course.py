"""The course folder and its ``course.toml``: what ``mlphys build`` and ``mlphys answer-key`` use.

A course folder holds ``assignments/`` (one folder per assignment with its master notebook),
optionally ``reference/`` (the course's own copy of the reference package; without it the
installed one is used) and optionally ``course.toml``::

    [quiz]
    salt = "ws2025-otters-in-the-lab"   # secret; a new one every term gives a new pool
    variants = 32                        # variants per quiz

    [roster]
    file = "roster.csv"    # Canvas/Moodle export or plain CSV: one notebook per student
    identity = "auto"      # roster column that is student_id: auto|login|email|sid|id_number|lms_id

    [gradescope]
    question_visibility = "after_published"   # hidden|after_due_date|visible: when students
                                              # see per-question scores and hints

The folder is ``--course DIR``, else the nearest of the current directory and its parents that
holds ``course.toml`` or an ``assignments/`` folder, else the course shipped with mlphys (this
checkout); the commands print which one they use, so building the wrong course is visible.

This module reads files only: it never imports ``reference`` (the course may bring its own).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import click

from autograder.zip_additions import DEFAULT_VISIBILITY, VISIBILITY_CHOICES

CONFIG_NAME = "course.toml"
PACKAGE_COURSE = Path(__file__).resolve().parent.parent
"""The course shipped with mlphys: this checkout's ``assignments/`` and ``reference/``."""

# Must equal reference.quiz.pool's defaults (tested); not imported from there: see module doc.
DEFAULT_SALT = "mlphys"
DEFAULT_VARIANTS = 32
MAX_VARIANTS = 1024
SHIPPED = "the course shipped with mlphys"
IDENTITY_COLUMNS = ("auto", "login", "email", "sid", "id_number", "lms_id")
_KNOWN = {"quiz": {"salt", "variants"}, "roster": {"file", "identity"},
          "gradescope": {"question_visibility"}}
# ``[gradescope] question_visibility``: when students see per-question scores and hints
# (``autograder.zip_additions``); an assignment's ``mlphys: gradescope:`` config overrides it.


class CourseError(click.ClickException):
    """A course folder or ``course.toml`` that cannot be used (said in one line)."""


@dataclass(frozen=True)
class Course:
    root: Path
    found: str
    """how the folder was chosen, for the user"""
    config_file: Path | None
    assignments: Path
    reference: Path
    """the ``reference`` package directory the build ships and the answer key computes with"""
    salt: str = DEFAULT_SALT
    variants: int = DEFAULT_VARIANTS
    roster: Path | None = None
    identity: str = "auto"
    question_visibility: str = DEFAULT_VISIBILITY

    @property
    def own_reference(self) -> bool:
        return self.reference.parent == self.root

    @property
    def default_salt(self) -> bool:
        return self.salt == DEFAULT_SALT

    def pool_json(self) -> dict[str, str | int]:
        """What ``reference.quiz.pool`` reads from ``pool.json`` in the shipped package."""
        return {"salt": self.salt, "variants": self.variants}

    def stage_reference(self, target_parent: Path) -> Path:
        """Copy the course's ``reference`` into ``target_parent/reference`` with the course's
        ``quiz/pool.json``: the package exactly as the autograder zip ships it."""
        target = target_parent / "reference"
        shutil.copytree(self.reference, target, ignore=shutil.ignore_patterns("__pycache__", "pool.json"))
        if not (target / "quiz").is_dir():
            raise CourseError(f"{self.reference} has no quiz/ package: not an mlphys reference")
        (target / "quiz" / "pool.json").write_text(json.dumps(self.pool_json(), indent=2) + "\n")
        return target

    def with_assignments(self, assignments: Path) -> Course:
        return dataclasses.replace(self, assignments=assignments.resolve())

    def with_roster(self, roster: Path) -> Course:
        return dataclasses.replace(self, roster=roster.resolve())

    def describe(self) -> list[str]:
        """The lines the commands print: every folder they take something from."""
        config = str(self.config_file) if self.config_file else f"none (no {CONFIG_NAME}: defaults)"
        reference = (f"{self.reference} (the course's own)" if self.own_reference else
                     f"{self.reference} (installed mlphys: the course folder has no reference/)")
        lines = [f"course folder: {self.root}  [{self.found}]",
                 f"  config:      {config}",
                 f"  assignments: {self.assignments}",
                 f"  reference:   {reference}",
                 f"  quiz pool:   {self.variants} variants per quiz, "
                 + ("DEFAULT salt" if self.default_salt else f"salt from {CONFIG_NAME}")]
        if self.roster:
            lines.append(f"  roster:      {self.roster} (identity column: {self.identity})")
        return lines

    @property
    def is_fallback(self) -> bool:
        """No course folder was given or found: the course shipped with mlphys is used."""
        return self.found.endswith(SHIPPED)

    def warnings(self) -> list[str]:
        out = []
        if self.is_fallback:
            out.append(f"WARNING: no {CONFIG_NAME} or assignments/ here or above: using the course "
                       f"shipped with mlphys ({self.root}); pass --course DIR for yours.")
        if self.default_salt:
            out.append(f"WARNING: the quiz pool uses the default salt: every course without a salt "
                       f"(and every earlier term) has these same variants. Set [quiz] salt in "
                       f"{CONFIG_NAME}.")
        return out


def _has_assignments(folder: Path) -> bool:
    a = folder / "assignments"
    return a.is_dir() and any((p / f"{p.name}.ipynb").exists() for p in a.iterdir() if p.is_dir())


def find_course_root(start: Path) -> Path | None:
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).is_file() or _has_assignments(folder):
            return folder
    return None


def _installed_reference() -> Path:
    spec = importlib.util.find_spec("reference")
    if spec is None or not spec.submodule_search_locations:
        raise CourseError("the reference package is not installed and the course has no reference/")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _read_config(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise CourseError(f"{path}: not valid TOML: {e}") from None
    for section, value in data.items():
        if section not in _KNOWN or not isinstance(value, dict):
            raise CourseError(f"{path}: unknown section [{section}] (known: "
                              f"{', '.join(f'[{s}]' for s in _KNOWN)})")
        unknown = set(value) - _KNOWN[section]
        if unknown:
            raise CourseError(f"{path}: unknown key {section}.{sorted(unknown)[0]} (known in [{section}]: "
                              f"{', '.join(sorted(_KNOWN[section]))})")
    return data


def load_course(root: Path, found: str = "given") -> Course:
    """The course in folder ``root`` (its ``course.toml`` if present, else the defaults)."""
    root = root.resolve()
    if not root.is_dir():
        raise CourseError(f"course folder {root} does not exist")
    config_file = root / CONFIG_NAME if (root / CONFIG_NAME).is_file() else None
    data = _read_config(config_file) if config_file else {}
    quiz, roster = data.get("quiz", {}), data.get("roster", {})
    where = config_file or root
    salt = quiz.get("salt", DEFAULT_SALT)
    if not isinstance(salt, str) or not salt.strip():
        raise CourseError(f"{where}: quiz.salt must be a non-empty string")
    variants = quiz.get("variants", DEFAULT_VARIANTS)
    if isinstance(variants, bool) or not isinstance(variants, int) or not 1 <= variants <= MAX_VARIANTS:
        raise CourseError(f"{where}: quiz.variants must be an integer from 1 to {MAX_VARIANTS}, "
                          f"not {variants!r}")
    identity = roster.get("identity", "auto")
    if identity not in IDENTITY_COLUMNS:
        raise CourseError(f"{where}: roster.identity must be one of {', '.join(IDENTITY_COLUMNS)}, "
                          f"not {identity!r}")
    roster_file = None
    if "file" in roster:
        if not isinstance(roster["file"], str) or not roster["file"]:
            raise CourseError(f"{where}: roster.file must be a file name")
        roster_file = (root / roster["file"]).resolve()
        if not roster_file.is_file():
            raise CourseError(f"{where}: roster file {roster_file} does not exist")
    visibility = data.get("gradescope", {}).get("question_visibility", DEFAULT_VISIBILITY)
    if visibility not in VISIBILITY_CHOICES:
        raise CourseError(f"{where}: gradescope.question_visibility must be one of "
                          f"{', '.join(VISIBILITY_CHOICES)}, not {visibility!r}")
    own = root / "reference"
    reference = own if (own / "__init__.py").is_file() else _installed_reference()
    return Course(root, found, config_file, root / "assignments", reference.resolve(), salt, variants,
                  roster_file, identity, visibility)


def discover_course(course: Path | None = None, cwd: Path | None = None) -> Course:
    """``--course DIR``, else the course folder around ``cwd``, else the course shipped with mlphys."""
    if course is not None:
        return load_course(course, "given with --course")
    cwd = (cwd or Path.cwd()).resolve()
    root = find_course_root(cwd)
    if root is not None:
        return load_course(root, f"found from {cwd}")
    return load_course(PACKAGE_COURSE, f"no {CONFIG_NAME} or assignments/ in {cwd} or above: {SHIPPED}")


def importable_reference_is(reference: Path) -> bool:
    """True when ``import reference`` in this process gives ``reference`` (so the course's
    computations can run here rather than in a subprocess)."""
    try:
        return _installed_reference() == reference.resolve()
    except CourseError:
        return False
