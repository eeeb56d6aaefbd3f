"""The ``mlphys manual serve`` command: start the grading page on 127.0.0.1 and print its link."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click


@click.command("serve")
@click.option("--grades", "grades_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The grading directory (collection.json, submissions/, gradebook.sqlite).")
@click.option("--master", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="The Otter master notebook (which questions are graded by hand); default: the "
                   "questions 'mlphys manual export' recorded in the gradebook.")
@click.option("--collection", default=None, type=click.Path(path_type=Path),
              help="collection.json (default: GRADES/collection.json).")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--anonymous", is_flag=True,
              help="Hide names (and shuffle the order) until every answer of a question is graded.")
def serve_command(grades_dir: Path, master: Path | None, collection: Path | None, port: int,
                  anonymous: bool) -> None:
    """Grade the manually graded questions in a web page (saved to the gradebook as you go)."""
    import tornado.httpserver
    import tornado.netutil

    from autograder.handgrading.app import make_app, open_grading
    from autograder.lms.errors import LmsError

    if not grades_dir.is_dir():
        raise click.ClickException(f"grading directory not found: {grades_dir}")
    if master is not None and not master.is_file():
        raise click.ClickException(f"master notebook not found: {master}")
    try:
        grading = open_grading(grades_dir, master, anonymous, collection)
    except LmsError as e:
        raise click.ClickException(str(e)) from None
    try:
        sockets = tornado.netutil.bind_sockets(port, address="127.0.0.1")
    except OSError as e:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {e.strerror}") from None
    grading.port = sockets[0].getsockname()[1]

    async def serve() -> None:
        server = tornado.httpserver.HTTPServer(make_app(grading))
        server.add_sockets(sockets)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if grading.work is None:
            click.secho(f"warning: {grading.fatal}", fg="yellow", err=True)
        else:
            for problem in grading.work.problems:
                click.secho(f"warning: {problem}", fg="yellow", err=True)
            click.echo(f"grading {', '.join(grading.work.questions)} for "
                       f"{len(grading.work.students)} students; saving to {grading.store.path}")
        click.echo(f"grading page: http://127.0.0.1:{grading.port}/?token={grading.token}", )
        click.echo("(open it in a browser on this machine; Ctrl+C stops the server, the grades "
                   "are already saved)")
        await stop.wait()
        server.stop()

    try:
        asyncio.run(serve())
    finally:
        grading.store.close()
