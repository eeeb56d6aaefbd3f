"""The LMSs mlphys supports, in one place: the ``collect --lms`` and ``export`` choices, the roster
layouts it recognises and the download readers all come from :data:`LMS_ADAPTERS`.

To add an LMS: write ``autograder/lms/<name>.py`` ending in an ``ADAPTER``
(:class:`~autograder.lms.adapter.LmsAdapter`) and add it to the tuple below.
"""

from __future__ import annotations

from autograder.lms import canvas, gradescope, moodle
from autograder.lms.adapter import LmsAdapter, RosterFormat
from autograder.lms.errors import LmsError

LMS_ADAPTERS: dict[str, LmsAdapter] = {
    adapter.name: adapter for adapter in (canvas.ADAPTER, gradescope.ADAPTER, moodle.ADAPTER)
}


def adapter(name: str) -> LmsAdapter:
    """The adapter of ``name`` (LmsError naming the choices when there is none)."""
    try:
        return LMS_ADAPTERS[name]
    except KeyError:
        raise LmsError(f"unknown LMS {name!r} (choose from {', '.join(LMS_ADAPTERS)})") from None


def roster_formats() -> list[RosterFormat]:
    """Every LMS's roster layouts, in registry order (detection tries them in this order)."""
    return [fmt for a in LMS_ADAPTERS.values() for fmt in a.roster_formats]
