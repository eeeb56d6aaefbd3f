"""``mlphys manual serve``: grade the manually graded questions in a web page.

One question at a time, every student's answer rendered as they wrote it (Markdown with maths,
plots, code), Gradescope-style rubric items with points, comments and point adjustments, all
from the keyboard, saved to the gradebook as the TA goes (the same scores ``mlphys manual
import`` writes, so sheets, exports and feedback pages see them).

Modules: ``answers`` (the class, the questions and each student's answer cells), ``render``
(safe HTML of untrusted notebooks), ``app`` (the Tornado application), ``command`` (the
command line).
"""
