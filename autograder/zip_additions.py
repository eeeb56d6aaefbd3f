"""What ``mlphys build`` adds to the autograder zip that ``otter assign`` wrote.

* ``mlphys.json``, read by ``mlphys grade``: which support files are for the tests only
  (``autograder_files``, e.g. ``reference``, which holds the answers: kept out of the student's
  sandbox) and the Gradescope visibility of the per-question entries of ``results.json``.
* The Gradescope feedback plugin (``mlphys_gradescope.py`` with its copy of ``case_labels.py``
  as ``mlphys_case_labels.py``) and a ``run_otter.py`` that loads it: on Gradescope, Otter's
  own grading then names every hidden case and gives its hint, and publishes per-question
  scores when the course asks for it. ``otter run`` and ``mlphys grade`` never execute
  ``run_otter.py``, so they are unaffected.

The course chooses the visibility in its ``course.toml``::

    [gradescope]
    question_visibility = "after_published"   # or "hidden"

and one assignment may differ in its master's ``# ASSIGNMENT CONFIG`` (Otter ignores keys it
does not know)::

    mlphys:
      gradescope:
        question_visibility: hidden

``after_published`` (the default): students see each question's score and the names and hints
of its failed hidden tests once the instructor publishes grades; ``hidden``: Otter's default,
students see only the public tests' summary.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import click

HERE = Path(__file__).resolve().parent
PLUGIN_FILE = HERE / "assignment_support" / "mlphys_gradescope.py"
LABELS_FILE = HERE / "grading" / "otter" / "case_labels.py"
DEFAULT_VISIBILITY = "after_published"
VISIBILITY_CHOICES = ("hidden", "after_published")
"""What Otter's Gradescope run can produce (``show_hidden`` off or on, turned on by the plugin)."""

RUN_OTTER = '''"""Runs Otter-Grader's autograding process with mlphys's feedback plugin.

Written by ``mlphys build`` in place of Otter's own run_otter.py: the same call, plus the plugin
in mlphys_gradescope.py (next to this file), which names hidden test cases, gives their hints
instead of their code, and applies the per-question visibility of mlphys.json.
"""

import json
import os
import sys

try:
    from otter.run.run_autograder import main as run_autograder
except ModuleNotFoundError as e:
    if "'otter'" in str(e):
        raise RuntimeError(
            "The 'otter' module could not be imported. This is usually caused by errors while building the "
            "grading image, so check the image build logs and include them when requesting "
            "support."
        )
    raise e


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    with open(os.path.join(here, "otter_config.json"), encoding="utf-8") as f:
        plugins = json.load(f).get("plugins", [])
    run_autograder("/autograder", plugins=[*plugins, "mlphys_gradescope.FeedbackPlugin"])
'''


def question_visibility(assignment_config: dict[str, Any],
                        course_default: str = DEFAULT_VISIBILITY) -> str:
    """The ``mlphys.gradescope.question_visibility`` of an assignment config (checked), else
    the course's choice."""
    section = assignment_config.get("mlphys") or {}
    gradescope = section.get("gradescope") or {} if isinstance(section, dict) else None
    if not isinstance(gradescope, dict):
        raise click.ClickException("ASSIGNMENT CONFIG: 'mlphys: gradescope:' must be a mapping")
    value = gradescope.get("question_visibility", course_default)
    if value not in VISIBILITY_CHOICES:
        raise click.ClickException(
            f"ASSIGNMENT CONFIG: mlphys.gradescope.question_visibility must be one of "
            f"{', '.join(VISIBILITY_CHOICES)}, not {value!r}")
    return value


def manifest(assignment_config: dict[str, Any], extra: dict[str, Any] | None = None,
             course_default: str = DEFAULT_VISIBILITY) -> dict[str, Any]:
    """The ``mlphys.json`` of an assignment (``extra``: more keys the build records)."""
    only = sorted({str(f).strip("/").split("/", 1)[0]
                   for f in assignment_config.get("autograder_files", [])})
    visibility = question_visibility(assignment_config, course_default)
    return {"autograder_only": only, "gradescope": {"question_visibility": visibility},
            **(extra or {})}


def add_to_zip(autograder_zip: Path, assignment_config: dict[str, Any],
               extra: dict[str, Any] | None = None,
               course_default: str = DEFAULT_VISIBILITY) -> None:
    """Rewrite ``autograder_zip`` with the additions (atomically: a new zip replaces it)."""
    additions = {
        "mlphys.json": json.dumps(manifest(assignment_config, extra, course_default), indent=2),
        "run_otter.py": RUN_OTTER,
        "mlphys_gradescope.py": PLUGIN_FILE.read_text(encoding="utf-8"),
        "mlphys_case_labels.py": LABELS_FILE.read_text(encoding="utf-8"),
    }
    fd, tmp = tempfile.mkstemp(dir=autograder_zip.parent, suffix=".zip.tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(autograder_zip) as old, \
                zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as new:
            for info in old.infolist():
                if info.filename not in additions:
                    new.writestr(info, old.read(info))
            for name, text in additions.items():
                new.writestr(name, text)
        os.replace(tmp, autograder_zip)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
