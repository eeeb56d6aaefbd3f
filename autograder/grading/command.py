"""``mlphys grade``: grade Otter submissions without Docker, safely, resumably, in parallel.

The command line is a contract other tools depend on:

    mlphys grade --autograder ZIP [--out DIR] [--jobs N] [--timeout SECONDS]
                 [--cell-timeout SECONDS] [--install-requirements | --ignore-requirements]
                 [--numpy-legacy-repr] [--dask-scheduler ADDRESS] SUBMISSION ...

User mistakes end in one line and exit code 1 (``click.ClickException``); a submission that
fails to grade is not a mistake: it gets a row with its status and the exit code stays 0.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from autograder.grading.sandbox import zygote


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
@click.option("--dask-scheduler", metavar="ADDRESS", default=None,
              help="Grade on the workers of this Dask scheduler (e.g. tcp://host:8786) "
                   "instead of on this machine.")
@click.option("--dask-scheduler-file", metavar="FILE", default=None,
              help="Like --dask-scheduler, with the address read from a scheduler file.")
@click.option("--max-cells", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Refuse notebooks with more cells than this (counted before parsing).")
@click.option("--max-zip-mb", type=click.FloatRange(min=0.001), default=100.0,
              show_default=True, help="Refuse zip submissions larger than this.")
@click.option("--max-zip-members", type=click.IntRange(min=1), default=10_000,
              show_default=True, help="Refuse zip submissions with more members than this.")
@click.option("--grader-memory-mb", type=click.FloatRange(min=64), default=2048.0,
              show_default=True,
              help="Memory of each grading worker (its tests' work on student data).")
@click.option("--identities", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Who handed each file in, for quizzes: collect's collection.json or a CSV "
                   "with the columns file,identity (default: the collection.json next to a "
                   "collected submissions/ folder). The quiz is graded against that identity's "
                   "variant and a notebook whose student_id differs is flagged.")
@click.option("--install-requirements", is_flag=True,
              help="Build (once, cached) a virtual environment from the zip's requirements "
                   "and grade in it.")
@click.option("--ignore-requirements", is_flag=True,
              help="Grade even if the zip's requirements are not installed.")
@click.option("--numpy-legacy-repr", is_flag=True,
              help="Run doctests with NumPy 1's scalar repr (expected outputs recorded under "
                   "NumPy 1).")
@click.option("--no-fork-server", is_flag=True,
              help="Start every sandbox from a fresh interpreter instead of forking a warm "
                   "one (slower; for comparison or if the fork server misbehaves). On Dask, "
                   "set MLPHYS_FORK_SERVER=0 in the workers' environment instead.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.argument("submissions", nargs=-1, metavar="SUBMISSION ...")
def grade_command(
    autograder: str,
    out_dir: str,
    jobs: int | None,
    timeout: float | None,
    cell_timeout: float | None,
    max_notebook_mb: float,
    dask_scheduler: str | None,
    dask_scheduler_file: str | None,
    max_cells: int,
    max_zip_mb: float,
    max_zip_members: int,
    grader_memory_mb: float,
    no_fork_server: bool,
    identities: str | None,
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
    from autograder.grading.executors.base import Executor, ExecutorError
    from autograder.grading.otter.submission_caps import SubmissionCaps

    if not submissions:
        raise click.ClickException("no submissions given (pass .ipynb/.zip files or directories)")
    if install_requirements and ignore_requirements:
        raise click.ClickException("--install-requirements and --ignore-requirements exclude "
                                   "each other")
    try:
        submitter_of = _identity_source(autograder, identities, submissions, quiet)
    except (AutograderZipError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    if no_fork_server:  # read by the grading processes this one starts (they inherit it)
        os.environ[zygote.ENV_SWITCH] = "0"
    executor: Executor | None = None
    try:
        if dask_scheduler is not None or dask_scheduler_file is not None:
            if dask_scheduler is not None and dask_scheduler_file is not None:
                raise click.ClickException("give --dask-scheduler or --dask-scheduler-file, "
                                           "not both")
            if jobs is not None:
                raise click.ClickException("--jobs is for grading on this machine; on Dask, "
                                           "each worker grades --nthreads submissions at once")
            from autograder.grading.executors.dask import DaskExecutor

            executor = DaskExecutor(dask_scheduler, scheduler_file=dask_scheduler_file)
            if not quiet:
                click.echo(executor.describe(), err=True)
        summary = grade_batch(
            autograder, list(submissions), Path(out_dir), jobs=jobs, timeout=timeout,
            cell_timeout=cell_timeout, max_notebook_bytes=int(max_notebook_mb * 1024 * 1024),
            progress=not quiet, executor=executor,
            caps=SubmissionCaps(max_notebook_bytes=int(max_notebook_mb * 1024 * 1024),
                                max_cells=max_cells, max_zip_bytes=int(max_zip_mb * 1024 * 1024),
                                max_zip_members=max_zip_members),
            grader_memory_bytes=int(grader_memory_mb * 1024 * 1024),
            numpy_legacy_repr=numpy_legacy_repr,
            install_requirements=install_requirements, ignore_requirements=ignore_requirements,
            submitter_of=submitter_of,
        )
    except (AutograderZipError, BatchError, ExecutorError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    finally:
        if executor is not None:
            executor.close()
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


def _identity_source(autograder: str, identities: str | None, submissions: tuple[str, ...],
                     quiet: bool):  # -> Callable[[Path], Submitter] | None
    """Who handed each file in, for an autograder that binds a quiz identity (else None)."""
    from autograder.grading.otter.autograder_zip import load_autograder
    from autograder.identity_sources import collection_beside, load_source

    column = load_autograder(autograder).identity_column
    if column is None:
        if identities is not None and not quiet:
            click.echo("note: this autograder is not a quiz with per-student variants; "
                       "--identities is not needed", err=True)
        return None
    path = Path(identities) if identities is not None else collection_beside(submissions)
    if path is None:
        if not quiet:
            click.echo("note: quiz graded against the student_id each notebook sets (no "
                       "identity source): pass --identities collection.json or a file,identity "
                       "CSV to grade each submitter's own variant", err=True)
        return None
    source = load_source(path, column)
    if not quiet:
        click.echo(f"{source.describe()} ({path})", err=True)
    return source.submitter
