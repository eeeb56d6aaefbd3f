"""What ``mlphys build`` adds to the autograder zip that ``otter assign`` wrote.

* ``mlphys.json``, read by ``mlphys grade``: which support files are for the tests only
  (``autograder_files``, e.g. ``reference``, which holds the answers: kept out of the student's
  sandbox) and the Gradescope visibility of the per-question entries of ``results.json``.
  On Gradescope the zip grades with the same grader (``autograder.gradescope.hardened_zip``
  puts it in the zip), so its results.json names every case, gives the hint of every failed
  one and has this visibility there too.

The course chooses the visibility in its ``course.toml``::

    [gradescope]
    question_visibility = "after_published"   # or "hidden", "after_due_date", "visible"

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
from pathlib import Path
from typing import Any

import click

from autograder.zip_rewrite import rewrite_zip

DEFAULT_VISIBILITY = "after_published"
VISIBILITY_CHOICES = ("hidden", "after_due_date", "after_published", "visible")
"""Gradescope's visibility values: ``hidden`` (Otter's own default for a zip with hidden tests:
students see only the public tests' summary), ``after_due_date``, ``after_published`` (scores
and hints once grades are published), ``visible`` (at once). The zip's results.json is written
by mlphys's grader on Gradescope too, so every value applies there."""


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
    }
    rewrite_zip(autograder_zip, additions)
