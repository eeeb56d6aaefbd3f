"""Grading on Gradescope (and under ``otter grade``) with mlphys's sandboxed grader.

Gradescope runs the autograder zip's ``run_autograder`` as root in a container. Otter's own
``run_autograder`` grades the notebook in the student's kernel, next to the tests and every
support file, so a notebook can import the answers or read the tests. ``mlphys build`` replaces it
(:mod:`autograder.gradescope.hardened_zip`) with one that installs this package from a wheel in
the zip (:mod:`autograder.gradescope.wheel`), locks the grading tree away from other users
(:mod:`autograder.gradescope.bootstrap`) and grades with ``mlphys grade``'s sandbox, the student's
code as a slot uid, the identity taken from Gradescope's ``submission_metadata.json``
(:mod:`autograder.gradescope.run`, :mod:`autograder.gradescope.metadata`).
"""
