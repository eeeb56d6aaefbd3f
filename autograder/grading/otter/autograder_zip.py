"""Read and validate an Otter 7 Python autograder zip.

Why our own reader instead of unzipping and calling Otter: we must never extract instructor
files where student code can see them (Otter copies ``tests/`` next to the submission), and we
must fail with one clear sentence on a zip that is not an Otter autograder. The zip is read into
memory once; test files are kept as source text and turned into fresh Otter ``TestFile`` objects
per grading run (Otter's objects store results on themselves).
"""

from __future__ import annotations

import importlib.util
import json
import posixpath
import sys
import types
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.hashing import sha256_file

MAX_AUTOGRADER_BYTES = 200 * 1024 * 1024
MAX_MEMBER_BYTES = 50 * 1024 * 1024


class AutograderZipError(ValueError):
    """The autograder zip is missing, unreadable or not an Otter Python autograder."""


@dataclass(frozen=True)
class QuestionTests:
    """One Otter test file (``tests/<stem>.py``): a question."""

    name: str
    """the question name (the test file's ``name``, which is what Otter keys results by)"""

    stem: str
    """the file stem that ``grader.check(stem)`` resolves to"""

    path: str
    """the path Otter reports, e.g. ``tests/q1.py``"""

    source: str
    ok_format: bool
    possible: float
    all_or_nothing: bool

    def make_test_file(self) -> Any:
        """A fresh Otter ``TestFile`` for one grading run (Otter stores results on it)."""
        return _parse_test_file(self.source, self.path)


@dataclass(frozen=True)
class AutograderSpec:
    """Everything the grader needs from an autograder zip."""

    path: Path
    sha256: str
    config: dict[str, Any]
    questions: tuple[QuestionTests, ...]
    support_files: dict[str, bytes] = field(repr=False)
    """``files/...`` entries that Otter copies next to the submission (data files etc.)"""
    autograder_only: tuple[str, ...] = ()
    """top-level ``files/`` entries for the tests only (``mlphys.json``, written by
    ``mlphys build`` from the assignment's ``autograder_files``): never put in the sandbox"""
    question_visibility: str | None = None
    """Gradescope visibility of every per-question entry of ``results.json`` (``mlphys.json``'s
    ``gradescope.question_visibility``, written by ``mlphys build``); None: Otter's rules
    (``show_hidden``, ``show_all_public``)"""
    identity_column: str | None = None
    """for a quiz built by ``mlphys build``: the roster column that is a student's identity
    (``mlphys.json``'s ``quiz_identity_column``); when set, a grader that knows the submitter
    binds the tests' ``student_id`` to the submitter (``otter.identity_binding``)"""

    def sandbox_files(self) -> dict[str, bytes]:
        """The support files the student's notebook may see (Otter copies all of them; we keep
        the autograder-only ones, e.g. a reference solution the hidden tests import, out)."""
        return {rel: data for rel, data in self.support_files.items()
                if rel.split("/", 1)[0] not in self.autograder_only}

    @property
    def seed(self) -> int | None:
        return self.config.get("seed")

    @property
    def seed_variable(self) -> str | None:
        return self.config.get("seed_variable")

    @property
    def assignment_name(self) -> str | None:
        return self.config.get("assignment_name")

    def question(self, stem_or_name: str) -> QuestionTests | None:
        for q in self.questions:
            if q.stem == stem_or_name:
                return q
        return None

    @property
    def points_possible(self) -> dict[str, float]:
        return {q.name: q.possible for q in self.questions}

    @property
    def total_possible(self) -> float:
        return sum(q.possible for q in self.questions)



def use_light_otter() -> None:
    """Make ``import otter.test_files`` skip ``otter/__init__.py``.

    Why: Otter's package ``__init__`` imports its whole command line (pandas, nbconvert, the
    export machinery): ~0.5 s per process, on the critical path of every batch. Test files and
    our scoring need only ``otter.test_files`` (and test files import ``test_case`` from it),
    which do not depend on the package ``__init__``. So processes that never use the rest of
    Otter (the CLI driver, grading workers) register a bare package object for ``otter`` whose
    submodules load from Otter's real directory. Library callers keep the real package.
    """
    if "otter" in sys.modules:
        return
    spec = importlib.util.find_spec("otter")
    if spec is None or not spec.submodule_search_locations:
        return
    package = types.ModuleType("otter", "Otter-Grader (test-file classes only; see use_light_otter)")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = "otter"
    sys.modules["otter"] = package


def _parse_test_file(source: str, path: str) -> Any:
    """Mirror of ``otter.test_files.create_test_file`` for a test file given as text."""
    from otter.test_files.exception_test import ExceptionTestFile
    from otter.test_files.ok_test import OKTestFile

    env: dict[str, Any] = {}
    exec(compile(source, path, "exec"), env)  # instructor code from the autograder zip
    if "OK_FORMAT" not in env:
        raise AutograderZipError(f"{path} does not define OK_FORMAT (not an Otter test file)")
    if env["OK_FORMAT"]:
        if not isinstance(env.get("test"), dict):
            raise AutograderZipError(f"{path} is OK-format but defines no 'test' dict")
        return OKTestFile.from_spec(env["test"], path=path)
    return ExceptionTestFile.from_string(source, path=path)



def load_autograder(path: str | Path) -> AutograderSpec:
    """Read ``path`` and return its spec, or raise :class:`AutograderZipError` with one line."""
    path = Path(path)
    if not path.exists():
        raise AutograderZipError(f"autograder zip not found: {path}")
    if not path.is_file():
        raise AutograderZipError(f"autograder zip is not a file: {path}")
    if path.stat().st_size > MAX_AUTOGRADER_BYTES:
        raise AutograderZipError(f"autograder zip is larger than {MAX_AUTOGRADER_BYTES} bytes: {path}")
    if not zipfile.is_zipfile(path):
        raise AutograderZipError(f"not a zip file: {path}")
    digest = sha256_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = {}
            for info in zf.infolist():
                if info.is_dir():
                    continue
                name = posixpath.normpath(info.filename.replace("\\", "/"))
                if name.startswith(("../", "/")) or name == "..":
                    continue
                if name.startswith(("tests/", "files/")) or name in ("otter_config.json", MANIFEST):
                    if info.file_size > MAX_MEMBER_BYTES:
                        raise AutograderZipError(f"{name} in {path} is too large")
                    members[name] = zf.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError) as e:
        raise AutograderZipError(f"cannot read autograder zip {path}: {e}") from None

    config: dict[str, Any] = {}
    if "otter_config.json" in members:
        try:
            config = json.loads(members["otter_config.json"].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise AutograderZipError(f"otter_config.json in {path} is not valid JSON: {e}") from None
        if not isinstance(config, dict):
            raise AutograderZipError(f"otter_config.json in {path} is not a JSON object")
    if config.get("lang", "python") != "python":
        raise AutograderZipError(f"{path} is a {config.get('lang')!r} autograder; only Python is supported")
    for key in ("seed",):
        if config.get(key) is not None and not isinstance(config[key], int):
            raise AutograderZipError(f"otter_config.json in {path}: {key} must be an integer")
    if config.get("seed_variable") is not None and not str(config["seed_variable"]).isidentifier():
        raise AutograderZipError(f"otter_config.json in {path}: seed_variable is not a Python name")

    test_paths = sorted(
        n for n in members
        if n.startswith("tests/") and n.count("/") == 1 and n.endswith(".py")
        and n != "tests/__init__.py"
    )
    if not test_paths:
        raise AutograderZipError(
            f"not an Otter autograder zip (no tests/*.py and "
            f"{'an' if 'otter_config.json' in members else 'no'} otter_config.json): {path}"
        )
    questions = []
    for tp in test_paths:
        try:
            source = members[tp].decode("utf-8")
            tf = _parse_test_file(source, tp)
        except AutograderZipError:
            raise
        except Exception as e:  # a broken instructor test file: say which one
            raise AutograderZipError(
                f"cannot load test file {tp} from {path}: {type(e).__name__}: {e}"
            ) from None
        questions.append(
            QuestionTests(
                name=str(tf.name),
                stem=posixpath.splitext(posixpath.basename(tp))[0],
                path=tp,
                source=source,
                ok_format=type(tf).__name__ == "OKTestFile",
                possible=float(tf.possible),
                all_or_nothing=bool(tf.all_or_nothing),
            )
        )
    names = [q.name for q in questions]
    if len(set(names)) != len(names):
        raise AutograderZipError(f"two test files in {path} define the same question name")
    support = {n[len("files/"):]: data for n, data in members.items() if n.startswith("files/")}
    manifest = _manifest(members.get(MANIFEST), path)
    return AutograderSpec(path=path.resolve(), sha256=digest, config=config,
                          questions=tuple(questions), support_files=support,
                          autograder_only=_autograder_only(manifest, path),
                          question_visibility=_question_visibility(manifest, path),
                          identity_column=_identity_column(manifest, path))


MANIFEST = "mlphys.json"


def import_support_files(spec: AutograderSpec) -> Path:
    """Make the zip's support files importable by the test code in THIS (trusted) process.

    Otter runs tests where it copied ``files/`` (next to the notebook), so tests may import
    modules shipped there (our assignments' hidden tests import ``reference`` from the zip,
    which keeps the zip self-contained). We extract a private copy, readable only by us and never
    mounted in a sandbox, and put it first on ``sys.path``: a student cannot touch it, and the
    tests use the zip's version of those modules rather than whatever else is installed.
    """
    import atexit
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="mlphys-support-"))  # mode 0700
    atexit.register(shutil.rmtree, root, True)
    for rel, data in spec.support_files.items():
        parts = posixpath.normpath(rel).split("/")
        if rel.startswith("/") or ".." in parts:
            continue
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    return root


GRADESCOPE_VISIBILITY = ("hidden", "after_due_date", "after_published", "visible")
"""The visibility values of Gradescope's results.json."""


def _manifest(data: bytes | None, path: Path) -> dict[str, Any]:
    """The zip's ``mlphys.json`` (empty without one)."""
    if data is None:
        return {}
    try:
        manifest = json.loads(data.decode("utf-8"))
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict):
        raise AutograderZipError(f"{MANIFEST} in {path} is not a JSON object")
    return manifest


def _autograder_only(manifest: dict[str, Any], path: Path) -> tuple[str, ...]:
    """Top-level names listed under ``autograder_only`` in the zip's ``mlphys.json``, if any."""
    names = manifest.get("autograder_only", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n and "/" not in n.strip("/")
                                              for n in names):
        raise AutograderZipError(f"{MANIFEST} in {path}: autograder_only must list top-level names")
    return tuple(n.strip("/") for n in names)


def _question_visibility(manifest: dict[str, Any], path: Path) -> str | None:
    gradescope = manifest.get("gradescope", {})
    value = gradescope.get("question_visibility") if isinstance(gradescope, dict) else None
    if value is None:
        return None
    if value not in GRADESCOPE_VISIBILITY:
        raise AutograderZipError(f"{MANIFEST} in {path}: gradescope.question_visibility must be "
                                 f"one of {', '.join(GRADESCOPE_VISIBILITY)}, not {value!r}")
    return value


def _identity_column(manifest: dict[str, Any], path: Path) -> str | None:
    """``quiz_identity_column`` of the zip's ``mlphys.json`` (None without one)."""
    value = manifest.get("quiz_identity_column")
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise AutograderZipError(f"{MANIFEST} in {path}: quiz_identity_column must be a column name")
    return value
