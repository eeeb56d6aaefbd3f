"""The ``mlphys`` command. Each subcommand lives in its own module; this file only wires them.

User mistakes (missing files, bad options) end in a one-line message and a non-zero exit code,
never a traceback: subcommands raise ``click.ClickException``/``click.UsageError`` for them.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlphys")
def main() -> None:
    """mlphys: quizzes and homework for Machine Learning for Physicists, and their grader."""


def _register() -> None:
    from autograder.answer_key import answer_key_command
    from autograder.assignment_check import check_command
    from autograder.build import build_command
    from autograder.demo import demo_command
    from autograder.gradescope_check import gradescope_check_command

    main.add_command(answer_key_command)
    main.add_command(build_command)
    main.add_command(check_command)
    main.add_command(demo_command)
    main.add_command(gradescope_check_command)
    from autograder.grading.command import grade_command

    main.add_command(grade_command)
    from autograder.lms.commands import collect_command, export_group, manual_group

    main.add_command(collect_command)
    main.add_command(export_group)
    from autograder.handgrading.command import serve_command

    manual_group.add_command(serve_command)
    main.add_command(manual_group)
    from autograder.scaffold import new_group

    main.add_command(new_group)


_register()

if __name__ == "__main__":
    main()
