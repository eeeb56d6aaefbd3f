"""The LMS's maximum for an assignment versus ours: compare, rescale on request, else refuse.

Why: Canvas reads a grade file's "Points Possible" row only when the import CREATES an
assignment (canvas-lms ``GradebookImporter#process_pp`` sets it on the parsed assignments; an
existing assignment keeps its own points), and Moodle imports raw points into a grade item of
its own maximum (bounding anything above it). So 4.5 points of a 10-point homework uploaded into
a 100-point column is recorded as 4.5/100 without a word. The LMS's maximum is in the files the
LMS gives the instructor: the Canvas gradebook export's ``Points Possible`` row (per assignment
column, ``I18n.n(points, precision: 2)``: ``10.00``, ``10,00`` in some locales) and the Moodle
grading worksheet's ``Maximum Grade`` column.
"""

from __future__ import annotations

import re

from autograder.lms.errors import LmsError

_POINTS = re.compile(r"^\s*(\d{1,3}(?:[ ,.\u00a0\u202f]\d{3})*|\d+)(?:[.,](\d+))?\s*$")


def parse_points(text: str) -> float | None:
    """'10.00', '10,00', '1,000.50', '100' -> float; anything else (blank, '(read only)') -> None."""
    m = _POINTS.match(text or "")
    if not m:
        return None
    whole = re.sub(r"[ ,.\u00a0\u202f]", "", m.group(1))
    return float(f"{whole}.{m.group(2) or 0}")


def scale_factor(ours: float, lms: float | None, rescale: bool, what: str) -> float:
    """The factor to multiply our totals by before writing them for the LMS.

    ``lms`` None (the roster does not say) -> 1 when not rescaling; ``rescale`` without a known
    LMS maximum, or a mismatch without ``rescale``, is an LmsError that says what to do."""
    if lms is None:
        if rescale:
            raise LmsError(f"--rescale needs the LMS's points possible for {what}, and the roster "
                           "does not give them (pass the Canvas gradebook export or the Moodle "
                           "grading worksheet as --roster)")
        return 1.0
    if abs(lms - ours) < 1e-9:
        return 1.0
    if not rescale:
        raise LmsError(f"{what} is out of {lms:g} points in the LMS but the grades are out of "
                       f"{ours:g}: the LMS would record {ours / 2:g}/{lms:g} for {ours / 2:g}/"
                       f"{ours:g}. Pass --rescale to write grades out of {lms:g}, or change the "
                       f"assignment's points in the LMS to {ours:g}")
    if ours <= 0:
        raise LmsError("cannot rescale grades out of 0 points")
    return lms / ours
