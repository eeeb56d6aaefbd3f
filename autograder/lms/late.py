"""The late policy: due date, grace period, a penalty per started day late, a cap.

Why days are counted from the due date, not from the end of the grace period: the grace period
forgives small delays (an upload that took a minute), it does not move the deadline, so a
submission 25 hours late with a 15 minute grace is 2 days late. When the LMS gives no time but
says "late" (Canvas's LATE marker), the submission counts as ``flagged_days`` late (1 by
default) and the record says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from autograder.lms.errors import LmsError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|hours?|d|days?)?\s*$", re.I)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "hour": 3600,
          "hours": 3600, "d": 86400, "day": 86400, "days": 86400}


def parse_duration(text: str) -> timedelta:
    """'15m', '2h', '1d', '90' (minutes) -> timedelta."""
    m = _DURATION.match(text or "")
    if not m:
        raise LmsError(f"cannot read duration {text!r} (examples: 15m, 2h, 1d)")
    unit = (m.group(2) or "m").lower()
    return timedelta(seconds=float(m.group(1)) * _UNITS[unit])


def parse_due(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is this machine's local time (stated in docs)."""
    try:
        dt = datetime.fromisoformat(text.strip().replace(" ", "T", 1) if " " in text.strip()
                                    else text.strip())
    except ValueError:
        raise LmsError(f"cannot read due date {text!r} (example: 2024-03-01T23:59:00+01:00)") from None
    return dt if dt.tzinfo else dt.astimezone()


def parse_penalty(text: str) -> tuple[float, str]:
    """'10%' -> (0.10, 'fraction'); '0.1' -> (0.1, 'fraction'); '2pt'/'2 points' -> (2, 'points')."""
    t = (text or "").strip().lower()
    try:
        if t.endswith("%"):
            return float(t[:-1]) / 100.0, "fraction"
        for suffix in ("points", "point", "pts", "pt"):
            if t.endswith(suffix):
                return float(t[: -len(suffix)].strip()), "points"
        value = float(t)
    except ValueError:
        raise LmsError(f"cannot read penalty {text!r} (examples: 10%, 0.1, 2pt)") from None
    if value > 1:
        raise LmsError(f"penalty {text!r} is more than 100%; write '{text}pt' for points")
    return value, "fraction"


@dataclass(frozen=True)
class LateAssessment:
    """How late one submission is and what it costs."""

    days_late: int
    penalty_points: float
    basis: str
    """where the lateness came from: 'timestamp', 'late flag (assumed N days)', 'on time', ..."""


@dataclass(frozen=True)
class LatePolicy:
    """``per_day`` is a fraction of the points possible (kind 'fraction') or points ('points');
    ``cap`` bounds the total penalty in the same unit (None: up to everything)."""

    due: datetime | None = None
    grace: timedelta = timedelta(0)
    per_day: float = 0.0
    kind: str = "fraction"
    cap: float | None = None
    flagged_days: int = 1

    def __post_init__(self) -> None:
        if self.per_day < 0 or (self.cap is not None and self.cap < 0):
            raise LmsError("late penalties and caps cannot be negative")
        if self.kind not in ("fraction", "points"):
            raise LmsError(f"unknown penalty kind {self.kind!r}")
        if self.grace < timedelta(0):
            raise LmsError("the grace period cannot be negative")

    @classmethod
    def from_options(cls, due: str | None = None, grace: str = "0m", penalty_per_day: str = "0",
                     penalty_cap: str | None = None, late_flag_days: int = 1) -> LatePolicy:
        """The policy of ``mlphys export``'s options (``--due``, ``--grace``, ...), as text."""
        per_day, kind = parse_penalty(penalty_per_day)
        cap = None
        if penalty_cap is not None:
            cap, cap_kind = parse_penalty(penalty_cap)
            if cap_kind != kind and per_day:
                raise LmsError("--penalty-cap must use the same unit as --penalty-per-day")
        return cls(due=parse_due(due) if due else None, grace=parse_duration(grace),
                   per_day=per_day, kind=kind, cap=cap, flagged_days=late_flag_days)

    @property
    def active(self) -> bool:
        return self.per_day > 0

    def days_late(self, timestamp: datetime | None, late_flag: bool | None) -> tuple[int, str]:
        if timestamp is not None and self.due is not None:
            ts = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
            delay = ts - self.due
            if delay <= self.grace:
                return 0, "on time (timestamp)" if delay <= timedelta(0) else "within grace period"
            return math.ceil(delay / timedelta(days=1)), "timestamp"
        if late_flag:
            return self.flagged_days, f"LMS late flag (assumed {self.flagged_days} day(s))"
        if timestamp is None and self.due is not None:
            return 0, "no timestamp and no late flag: counted on time"
        return 0, "on time"

    def assess(self, timestamp: datetime | None, late_flag: bool | None,
               possible: float) -> LateAssessment:
        """The penalty, in points, for a submission worth ``possible`` points."""
        days, basis = self.days_late(timestamp, late_flag)
        raw = self.per_day * days
        if self.cap is not None:
            raw = min(raw, self.cap)
        points = raw * possible if self.kind == "fraction" else raw
        if self.kind == "fraction":
            points = min(points, possible)
        return LateAssessment(days, round(points, 6) if self.active else 0.0, basis)
