"""The package's layout shows its trust boundaries; these tests keep it that way (docs/architecture.md).

Rules, checked on the source with ``ast`` (so a violation fails here, not in production):

* the keeper (``jail``), the runner and the two modules copied next to it (``channel``,
  ``values``) import only the standard library at module level (they run where the project is
  hidden); ``values`` may import NumPy lazily, the runner IPython and traitlets;
* ``sandbox/`` imports nothing from ``batch/``, ``otter/``, ``executors/`` or ``lms/``;
  ``otter/`` nothing from ``batch/``, ``executors/`` or ``lms/``; ``executors/`` nothing from
  ``batch/`` or ``lms/`` (the gradebook stays with the driver, wherever grading runs);
* only ``batch/gradebook.py`` holds SQL and imports ``sqlite3``;
* no module imports ``autograder.cli`` (the ``mlphys`` entry point is imported by nobody);
* every LMS of the registry lives in ONE module, and the generic LMS modules never name an LMS;
* every module and package directly under ``autograder/`` is in docs/architecture.md's map.

The checkers are exercised on small bad sources first, so a checker that can never fire fails.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "autograder"
SANDBOX = PACKAGE / "grading" / "sandbox"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

# what may be imported besides the standard library, at module level and inside functions
SIBLINGS = {"autograder.grading.sandbox.channel", "autograder.grading.sandbox.values",
            "autograder.grading.sandbox.richvalues", "mlphys_channel", "mlphys_values",
            "mlphys_richvalues", ".channel", ".richvalues"}
JAIL_SIDE = {
    "jail.py": (set(), set()),
    "channel.py": (set(), set()),
    "values.py": (SIBLINGS, {"numpy"}),
    "richvalues.py": (set(), {"numpy", "pandas", "pytz", "datascience"}),
    "runner.py": (SIBLINGS, {"IPython", "traitlets"}),
    "zygote_server.py": (set(), set()),
}
SQL = re.compile(r"\b(SELECT\s[\s\S]*\sFROM\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
                 r"|CREATE\s+(TABLE|(UNIQUE\s+)?INDEX)\s|PRAGMA\s)")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, package: str) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import; ``from pkg import sub`` counts as
    ``pkg.sub`` too, relative imports are resolved against ``package``."""
    tree = ast.parse(source)
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
              for n in ast.walk(f)}
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        top = id(node) not in nested
        if isinstance(node, ast.Import):
            found += [(alias.name, top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if package else "." + base
            found.append((base, top))
            found += [(f"{base}.{alias.name}", top) for alias in node.names]
    return found


def not_stdlib(source: str, package: str, siblings: set[str], lazy_ok: set[str]) -> list[str]:
    """Imports that are neither standard library nor allowed (``lazy_ok`` only in functions)."""
    bad = []
    for name, top in imports(source, package):
        root = name.split(".")[0]
        if root in STDLIB or name in siblings or (not top and root in lazy_ok):
            continue
        if any(name.startswith(s + ".") for s in siblings):  # ``from .channel import X``
            continue
        if package and name == package:  # ``from autograder.grading.sandbox import channel``
            continue
        bad.append(name)
    return bad


def forbidden_imports(source: str, package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [n for n, _ in imports(source, package)
            if any(n == f or n.startswith(f + ".") for f in forbidden)]


def sql_strings(source: str) -> list[str]:
    return [n.value[:40] for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and SQL.search(n.value)]


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


# -- the checkers can fire ---------------------------------------------------------------------

def test_checkers_find_violations_in_bad_sources() -> None:
    pkg = "autograder.grading.sandbox"
    assert not_stdlib("import numpy\n", pkg, set(), set()) == ["numpy"]
    assert not_stdlib("def f():\n    import numpy\n", pkg, set(), {"numpy"}) == []
    assert not_stdlib("import numpy\n", pkg, set(), {"numpy"}) == ["numpy"]  # not lazy
    assert not_stdlib("from autograder.grading.batch import driver\n", pkg, SIBLINGS, set())
    assert not_stdlib("from .channel import X\n", pkg, SIBLINGS, set()) == []
    assert not_stdlib("from .host import X\n", pkg, SIBLINGS, set()) == [
        "autograder.grading.sandbox.host", "autograder.grading.sandbox.host.X"]
    assert forbidden_imports("from ..batch import gradebook\n", pkg,
                             ("autograder.grading.batch",))
    assert forbidden_imports("def f():\n    from autograder.cli import main\n", "x",
                             ("autograder.cli",))
    assert sql_strings('q = "SELECT * FROM attempts"\n') and sql_strings(
        'x = """\nCREATE TABLE t (a)"""\n')
    assert sql_strings('x = "UPDATE attempts SET state=? WHERE id=?"\n')
    assert not sql_strings('x = "select the questions a TA grades from the sheet"\n')


# -- the rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(JAIL_SIDE))
def test_jail_side_modules_import_only_the_standard_library(name: str) -> None:
    siblings, lazy_ok = JAIL_SIDE[name]
    source = (SANDBOX / name).read_text(encoding="utf-8")
    assert not_stdlib(source, "autograder.grading.sandbox", siblings, lazy_ok) == []


def test_the_jail_copies_work_without_the_project(tmp_path: Path) -> None:
    """What the sandbox copies into the jail imports and round-trips values the way the runner is
    started (no site-packages, no project), and the keeper starts as ``python -I -S jail.py``."""
    from autograder.grading.sandbox.host import RUNNER_FILES

    assert {source for source, _ in RUNNER_FILES} == {"runner.py", "channel.py", "values.py",
                                                      "richvalues.py"}
    for source, copy in RUNNER_FILES:
        (tmp_path / copy).write_bytes((SANDBOX / source).read_bytes())
    check = ("import sys\n"
             "import datetime, mlphys_channel as c, mlphys_values as v\n"
             "value = {'a': (1, 2.5, 'x'), 'b': {3, 4}, 'c': [None, True, b'z', 1j],\n"
             "         'd': datetime.date(2024, 3, 30)}\n"
             "enc = v.encode_value(value, lambda o: 1/0, lambda o: None)\n"
             "msg = c.parse_payload(c.pack_frame({'op': 'ok', 'v': enc})[4:])\n"
             "assert v.decode_value(msg['v'], None, None) == value\n"
             "assert 'numpy' not in sys.modules and 'autograder' not in sys.modules\n"
             "print('ok')\n")
    (tmp_path / "check.py").write_text(check)
    # the runner's own flags: no site-packages, no environment, the script's folder on sys.path
    done = subprocess.run([sys.executable, "-S", "-E", "-s", "-B", "check.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == "ok\n", done.stderr
    keeper = subprocess.run([sys.executable, "-I", "-S", str(SANDBOX / "jail.py")], input="{}",
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "ImportError" not in keeper.stderr and "ModuleNotFoundError" not in keeper.stderr
    assert keeper.returncode == 126  # it ran, and refused an empty config


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("sandbox", ("autograder.grading.batch", "autograder.grading.otter",
                 "autograder.grading.executors", "autograder.lms")),
    ("otter", ("autograder.grading.batch", "autograder.grading.executors", "autograder.lms")),
    ("executors", ("autograder.grading.batch", "autograder.lms")),
])
def test_inner_layers_do_not_import_outer_ones(folder: str, forbidden: tuple[str, ...]) -> None:
    bad = {}
    for path in python_files(PACKAGE / "grading" / folder):
        package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
        found = forbidden_imports(path.read_text(encoding="utf-8"), package, forbidden)
        if found:
            bad[path.name] = found
    assert bad == {}


def test_gradebook_imports_only_records() -> None:
    source = (PACKAGE / "grading" / "batch" / "gradebook.py").read_text(encoding="utf-8")
    assert forbidden_imports(source, "autograder.grading.batch", (
        "autograder.grading.otter", "autograder.grading.sandbox", "autograder.grading.executors",
        "autograder.lms")) == []


def test_only_the_gradebook_module_knows_sql() -> None:
    owners = {}
    for path in python_files(PACKAGE):
        source = path.read_text(encoding="utf-8")
        uses = sql_strings(source) + [n for n, _ in imports(source, "") if n == "sqlite3"]
        if uses:
            owners[str(path.relative_to(ROOT))] = uses
    assert list(owners) == ["autograder/grading/batch/gradebook.py"], owners


def test_nobody_imports_the_command_line_entry_point() -> None:
    importers = [str(p.relative_to(ROOT)) for p in python_files(PACKAGE)
                 if p.name != "cli.py" or p.parent != PACKAGE
                 if forbidden_imports(p.read_text(encoding="utf-8"), "", ("autograder.cli",))]
    assert importers == []


def test_each_lms_lives_in_one_module() -> None:
    from autograder.lms.registry import LMS_ADAPTERS

    assert set(LMS_ADAPTERS) >= {"canvas", "gradescope", "moodle"}
    for name, adapter in LMS_ADAPTERS.items():
        module = f"autograder.lms.{name}"
        parts = [adapter.read_download, adapter.write_export]
        parts += [f for fmt in adapter.roster_formats for f in (fmt.detect, fmt.read, fmt.parse_time)
                  if f is not None]
        assert {p.__module__ for p in parts} == {module}, name
        assert sys.modules[module].ADAPTER is adapter
    generic = [p for p in python_files(PACKAGE / "lms") if p.stem not in LMS_ADAPTERS
               and p.stem not in ("registry",)]
    naming = {}
    for path in generic:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                 and isinstance(n.value, str) and n.value.lower() in LMS_ADAPTERS}
        if names:
            naming[path.name] = names
    assert naming == {}


def modules_missing_from_the_map(package: Path, map_text: str) -> list[str]:
    """Top-level modules (``name.py``) and packages (``name/``) of ``package`` the map never names."""
    names = [p.name for p in package.glob("*.py") if p.name != "__init__.py"]
    names += [f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()]
    return sorted(n for n in names if not re.search(rf"(?<![\w/]){re.escape(n)}", map_text))


def test_the_map_checker_finds_a_missing_module(tmp_path: Path) -> None:
    (tmp_path / "listed.py").write_text("")
    (tmp_path / "unlisted.py").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "__init__.py").write_text("")
    assert modules_missing_from_the_map(tmp_path, "listed.py  a module\n  notsub/ x") == [
        "sub/", "unlisted.py"]


def test_every_top_level_module_is_in_the_map() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    map_text = text.split("## The map", 1)[1].split("```")[1]
    assert modules_missing_from_the_map(PACKAGE, map_text) == []


def test_the_command_loads_each_subcommand_under_its_name_and_only_when_used() -> None:
    """``mlphys grade`` must not import what other subcommands need (nbformat's schema
    validator, the course build, matplotlib): the batch driver pays every import."""
    from click.testing import CliRunner

    from autograder.cli import SUBCOMMANDS, main

    for name, load in SUBCOMMANDS.items():
        assert load().name == name
    assert "serve" in SUBCOMMANDS["manual"]().commands
    listing = CliRunner().invoke(main, ["--help"]).output
    assert all(f"  {name} " in listing for name in SUBCOMMANDS)
    probe = ("import sys, autograder.cli\n"
             "from autograder.cli import SUBCOMMANDS\nSUBCOMMANDS['grade']()\n"
             "print(sorted(m for m in ('nbformat', 'jsonschema', 'matplotlib', "
             "'autograder.build', 'autograder.assignment_check', 'autograder.lms.commands') "
             "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, cwd=ROOT).stdout.strip()
    assert loaded == "[]"


def test_a_grading_process_does_not_import_the_iri_format_checker() -> None:
    """jsonschema's optional ``rfc3987_syntax`` (installed with JupyterLab) builds a parser at
    import: seconds of every grading process's start-up on a loaded machine."""
    probe = ("import sys\nimport autograder.grading.otter.grade_one\n"
             "import jsonschema\nprint(sys.modules.get('rfc3987_syntax'))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, cwd=ROOT).stdout.strip()
    assert loaded == "None"
