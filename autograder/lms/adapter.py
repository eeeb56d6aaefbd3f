"""What an LMS adapter module provides: the interface behind ``lms.registry``.

Each LMS (Canvas, Gradescope, Moodle, ...) is ONE module that describes its download layout,
the roster files it exports and the grade file it imports, and ends with an ``ADAPTER`` built
from the records here; ``lms.registry`` lists the adapters, and the commands
(``collect --lms``, ``export <lms>``), the roster reader and the collector read them from
there. Adding an LMS is one new module plus one registry line.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autograder.lms.grades import AssignmentGrades
    from autograder.lms.model import Download
    from autograder.lms.roster import Roster


@dataclass(frozen=True)
class RosterFormat:
    """One roster file layout an LMS exports."""

    name: str
    """recorded in ``collection.json`` (``roster.format``)"""
    detect: Callable[[list[str]], bool]
    """True for a header row (lower-cased, stripped cells) in this layout"""
    read: Callable[[list[list[str]], Path], Roster]
    """all rows (header first) -> the roster"""
    parse_time: Callable[[str], datetime | None] | None = None
    """parses ``Student.submitted_at`` when this layout states submission times"""
    time_source: str = ""
    """where those times come from (recorded as ``timestamp_source`` in ``collection.json``)"""


@dataclass(frozen=True)
class ExportField:
    """An option of ``mlphys export <lms>`` (e.g. the assignment's LMS title): required unless it
    has a ``default`` or is a ``flag``."""

    option: str
    """the command-line option, e.g. ``--assignment-name``"""
    help: str
    default: str | None = None
    choices: tuple[str, ...] = ()
    flag: bool = False
    """an on/off switch (the writer receives a bool)"""

    @property
    def key(self) -> str:
        """The keyword the export writer receives (``assignment_name``)."""
        return self.option.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class LmsAdapter:
    """Everything mlphys knows about one LMS."""

    name: str
    """``--lms`` value and ``export`` subcommand name"""
    read_download: Callable[[zipfile.ZipFile], Download]
    """the LMS's submission download -> candidates (one per gradable file)"""
    user_id_field: str
    """the ``Student`` attribute that holds ``Candidate.lms_user_id`` when there is no roster"""
    export_help: str
    """one line for ``mlphys export <lms> --help``"""
    write_export: Callable[..., str]
    """``(grades, missing_as_zero=..., due=..., rescale=..., **fields) -> CSV text`` the LMS
    imports; rows only for students with a grade (all of them with ``missing_as_zero``)"""
    export_fields: tuple[ExportField, ...] = ()
    roster_formats: tuple[RosterFormat, ...] = ()
    roster_id_columns: tuple[str, ...] = ()
    """headers (lower case) under which a plain roster may give this LMS's user ids"""
    import_note: Callable[..., str] | None = None
    """``(**fields) -> text`` printed after the export: how to import the file"""

    def export(self, grades: AssignmentGrades, *, missing_as_zero: bool = False,
               due: datetime | None = None, rescale: bool = False, **fields: Any) -> str:
        """The grade file for this LMS (``fields``: the values of ``export_fields``).

        ``rescale``: write totals on the LMS's own scale when the roster says it differs from
        ours (otherwise such a difference is an LmsError)."""
        return self.write_export(grades, missing_as_zero=missing_as_zero, due=due,
                                 rescale=rescale, **fields)
