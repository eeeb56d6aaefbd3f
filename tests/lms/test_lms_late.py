"""Late policy arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from autograder.lms.errors import LmsError
from autograder.lms.late import LatePolicy, parse_due, parse_duration, parse_penalty

CET = timezone(timedelta(hours=1))
DUE = datetime(2024, 3, 1, 23, 59, tzinfo=CET)


def at(**delta):
    return DUE + timedelta(**delta)


@pytest.mark.parametrize("ts, days", [
    (at(minutes=-1), 0),
    (DUE, 0),
    (at(minutes=10), 0),            # inside the 15 min grace period
    (at(minutes=16), 1),
    (at(hours=24), 1),
    (at(hours=24, seconds=1), 2),   # days are counted from the due date, started days count
    (at(days=3, hours=1), 4),
])
def test_days_late(ts, days):
    p = LatePolicy(due=DUE, grace=timedelta(minutes=15), per_day=0.1)
    assert p.days_late(ts, None)[0] == days


def test_fraction_penalty_with_cap():
    p = LatePolicy(due=DUE, per_day=0.1, cap=0.25)
    assert p.assess(at(hours=1), None, 20).penalty_points == pytest.approx(2.0)
    assert p.assess(at(days=1, hours=1), None, 20).penalty_points == pytest.approx(4.0)
    assert p.assess(at(days=9), None, 20).penalty_points == pytest.approx(5.0)  # capped at 25%


def test_points_penalty_and_other_zone():
    p = LatePolicy(due=DUE, per_day=2, kind="points", cap=5)
    utc_ts = datetime(2024, 3, 2, 0, 30, tzinfo=UTC)  # 01:30 CET: 1 day late
    a = p.assess(utc_ts, None, 10)
    assert (a.days_late, a.penalty_points, a.basis) == (1, 2.0, "timestamp")
    assert p.assess(at(days=5), None, 10).penalty_points == 5.0


def test_penalty_never_exceeds_possible():
    p = LatePolicy(due=DUE, per_day=0.6)
    assert p.assess(at(days=2), None, 10).penalty_points == 10.0


def test_late_flag_without_timestamp():
    p = LatePolicy(per_day=0.1, flagged_days=2)
    a = p.assess(None, True, 10)
    assert a.days_late == 2 and a.penalty_points == pytest.approx(2.0)
    assert "late flag" in a.basis
    assert p.assess(None, False, 10).penalty_points == 0


def test_no_penalty_configured():
    assert LatePolicy(due=DUE).assess(at(days=3), None, 10).penalty_points == 0


@pytest.mark.parametrize("text, value", [("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
                                         ("1d", timedelta(days=1)), ("90", timedelta(minutes=90))])
def test_parse_duration(text, value):
    assert parse_duration(text) == value


@pytest.mark.parametrize("text, value", [("10%", (0.1, "fraction")), ("0.25", (0.25, "fraction")),
                                         ("2pt", (2.0, "points")), ("1.5 points", (1.5, "points"))])
def test_parse_penalty(text, value):
    assert parse_penalty(text)[1] == value[1]
    assert parse_penalty(text)[0] == pytest.approx(value[0])


@pytest.mark.parametrize("bad", ["ten", "150", "-"])
def test_bad_penalty(bad):
    with pytest.raises(LmsError):
        parse_penalty(bad)


def test_parse_due():
    assert parse_due("2024-03-01T23:59:00+01:00") == DUE
    assert parse_due("2024-03-01 23:59").tzinfo is not None
    with pytest.raises(LmsError, match="due date"):
        parse_due("next friday")


def test_negative_rejected():
    with pytest.raises(LmsError):
        LatePolicy(per_day=-1)
