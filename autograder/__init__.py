"""Instructor tooling for mlphys: answer keys, assignment builds, the hardened batch grader,
LMS import/export and feedback. The console command is ``mlphys`` (``autograder.cli``)."""
