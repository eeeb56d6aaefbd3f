"""The LMS side of mlphys: submissions in as Canvas, Gradescope and Moodle hand them out, grades
out in the formats they import.

Why a package of its own: the grader (``autograder.grading``) knows files, not people. This
package maps LMS downloads to students (``collect``, ``roster``), reads the grader's results back
(``grades``), adds manually graded questions (``manual``) and a late policy (``late``), and
writes the CSV files each LMS imports. Everything specific to one LMS (its download layout,
roster files and grade import file) is in that LMS's module (``canvas``, ``gradescope``,
``moodle``), listed in ``registry``; the commands live in ``commands``. Formats and their
sources: docs/lms.md.
"""

from __future__ import annotations

__all__ = [
    "Collection",
    "LatePolicy",
    "Roster",
    "collect",
    "read_roster",
]

from autograder.lms.collect import Collection, collect
from autograder.lms.late import LatePolicy
from autograder.lms.roster import Roster, read_roster
