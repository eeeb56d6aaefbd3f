"""``mlphys demo``: the README's main job, runnable with no setup beyond the install.

For now it writes the computed answer key of every quiz (lecture versions and one per-student
variant); the course-loop issues extend it to build, grade and export a whole class.
"""

from __future__ import annotations

from pathlib import Path

import click

from autograder.answer_key import write_answer_key


@click.command("demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("mlphys-demo"), show_default=True, help="Where everything is written.")
def demo_command(out_dir: Path) -> None:
    """Run the course loop on the embedded default and say where the results are."""
    lecture = write_answer_key(out_dir / "answer-key")
    variant = write_answer_key(out_dir / "answer-key-student-demo", student="demo.student")
    click.echo(f"answer key (lecture versions): {lecture}")
    click.echo(f"answer key (variants of student 'demo.student'): {variant}")
