"""The ``mlphys`` command. Each subcommand lives in its own module; this file only wires them.

User mistakes (missing files, bad options) end in a one-line message and a non-zero exit code,
never a traceback: subcommands raise ``click.ClickException``/``click.UsageError`` for them.

Subcommands are imported when they are used, not when ``mlphys`` starts: ``mlphys grade``
should not pay for ``mlphys check``'s imports (nbformat's JSON-schema validator alone took
seconds to import on a loaded machine, in the driver of every batch).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import click


def _manual() -> click.Command:
    """``mlphys manual``: the sheets (LMS side) plus ``manual serve`` (the browser page)."""
    from autograder.handgrading.command import serve_command
    from autograder.lms.commands import manual_group

    if "serve" not in manual_group.commands:
        manual_group.add_command(serve_command)
    return manual_group


def _attribute(module: str, name: str) -> Callable[[], click.Command]:
    return lambda: getattr(importlib.import_module(module), name)


SUBCOMMANDS: dict[str, Callable[[], click.Command]] = {
    "answer-key": _attribute("autograder.answer_key", "answer_key_command"),
    "build": _attribute("autograder.build", "build_command"),
    "check": _attribute("autograder.assignment_check", "check_command"),
    "collect": _attribute("autograder.lms.commands", "collect_command"),
    "demo": _attribute("autograder.demo", "demo_command"),
    "export": _attribute("autograder.lms.commands", "export_group"),
    "grade": _attribute("autograder.grading.command", "grade_command"),
    "gradescope-check": _attribute("autograder.gradescope_check", "gradescope_check_command"),
    "manual": _manual,
    "new": _attribute("autograder.scaffold", "new_group"),
}
"""Subcommand name -> how to load it (a test checks each loads under that name)."""


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        load = SUBCOMMANDS.get(cmd_name)
        return None if load is None else load()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlphys")
def main() -> None:
    """mlphys: quizzes and homework for Machine Learning for Physicists, and their grader."""


if __name__ == "__main__":
    main()
