"""``mlphys grade``: grade Otter submissions without Docker, safely, resumably, in parallel.

The command line is a contract other tools depend on:

    mlphys grade --autograder ZIP [--out DIR] [--jobs N] [--timeout SECONDS]
                 [--cell-timeout SECONDS] [--install-requirements | --ignore-requirements]
                 [--numpy-legacy-repr] SUBMISSION ...

User mistakes end in one line and exit code 1 (``click.ClickException``); a submission that
fails to grade is not a mistake: it gets a row with its status and the exit code stays 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("grade")
@click.option("--autograder", "-a", "autograder", required=True, metavar="ZIP",
              help="Otter autograder zip (from `otter assign` / `otter generate`).")
@click.option("--out", "-o", "out_dir", default="mlphys-out", show_default=True, metavar="DIR",
              help="Where final_grades.csv, results/ and gradebook.sqlite go.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Parallel workers (default: the number of CPUs).")
@click.option("--timeout", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
              help="Time limit for running one notebook (default 600).")
@click.option("--cell-timeout", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
              help="Time limit for one cell (default 120).")
@click.option("--max-notebook-mb", type=click.FloatRange(min=0.001), default=20.0,
              show_default=True, help="Refuse notebooks larger than this.")
@click.option("--max-cells", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Refuse notebooks with more cells than this (counted before parsing).")
@click.option("--max-zip-mb", type=click.FloatRange(min=0.001), default=100.0,
              show_default=True, help="Refuse zip submissions larger than this.")
@click.option("--max-zip-members", type=click.IntRange(min=1), default=10_000,
              show_default=True, help="Refuse zip submissions with more members than this.")
@click.option("--grader-memory-mb", type=click.FloatRange(min=64), default=2048.0,
              show_default=True,
              help="Memory of each grading worker (its tests' work on student data).")
@click.option("--install-requirements", is_flag=True,
              help="Build (once, cached) a virtual environment from the zip's requirements "
                   "and grade in it.")
@click.option("--ignore-requirements", is_flag=True,
              help="Grade even if the zip's requirements are not installed.")
@click.option("--numpy-legacy-repr", is_flag=True,
              help="Run doctests with NumPy 1's scalar repr (expected outputs recorded under "
                   "NumPy 1).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.argument("submissions", nargs=-1, metavar="SUBMISSION ...")
def grade_command(
    autograder: str,
    out_dir: str,
    jobs: int | None,
    timeout: float | None,
    cell_timeout: float | None,
    max_notebook_mb: float,
    max_cells: int,
    max_zip_mb: float,
    max_zip_members: int,
    grader_memory_mb: float,
    install_requirements: bool,
    ignore_requirements: bool,
    numpy_legacy_repr: bool,
    quiet: bool,
    submissions: tuple[str, ...],
) -> None:
    """Grade SUBMISSION notebooks (.ipynb, Otter export zips, or directories of them)."""
    from autograder.grading.otter.autograder_zip import AutograderZipError, use_light_otter

    if "pytest" not in sys.modules:  # a real `mlphys` process: nothing else will need Otter's
        use_light_otter()            # package __init__ (in-process test runners might)
    from autograder.grading.batch.driver import BatchError, grade_batch
    from autograder.grading.otter.submission_caps import SubmissionCaps

    if not submissions:
        raise click.ClickException("no submissions given (pass .ipynb/.zip files or directories)")
    if install_requirements and ignore_requirements:
        raise click.ClickException("--install-requirements and --ignore-requirements exclude "
                                   "each other")
    try:
        summary = grade_batch(
            autograder, list(submissions), Path(out_dir), jobs=jobs, timeout=timeout,
            cell_timeout=cell_timeout, max_notebook_bytes=int(max_notebook_mb * 1024 * 1024),
            progress=not quiet,
            caps=SubmissionCaps(max_notebook_bytes=int(max_notebook_mb * 1024 * 1024),
                                max_cells=max_cells, max_zip_bytes=int(max_zip_mb * 1024 * 1024),
                                max_zip_members=max_zip_members),
            grader_memory_bytes=int(grader_memory_mb * 1024 * 1024),
            numpy_legacy_repr=numpy_legacy_repr,
            install_requirements=install_requirements, ignore_requirements=ignore_requirements,
        )
    except (AutograderZipError, BatchError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    if not quiet:
        click.echo(
            f"graded {summary.graded}, already graded {summary.skipped}, "
            f"{summary.incomplete} not completed normally; {summary.rows} rows in "
            f"{summary.csv_path} ({summary.seconds:.1f} s)"
        )
    if summary.numpy_repr_failures:
        cases = sum(summary.numpy_repr_failures.values())
        where = ", ".join(f"{q}: {n}" for q, n in summary.numpy_repr_failures.items())
        click.echo(f"note: {cases} failing doctest case(s) differ from their expected output only "
                   f"by NumPy 2's scalar repr ({where}); --numpy-legacy-repr grades them as "
                   "NumPy 1 would", err=True)
