"""Where submissions are graded: ``local`` runs a pool of worker processes on this machine, each
grading one submission at a time with ``otter.grade_one.grade_path``."""
