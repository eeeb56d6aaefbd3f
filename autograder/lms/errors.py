"""The one exception type for user mistakes in LMS files (the CLI turns it into one line)."""

from __future__ import annotations


class LmsError(ValueError):
    """A file that is not what its LMS produces, or inputs that do not fit together."""
