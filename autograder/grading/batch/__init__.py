"""Batch grading (trusted process): the driver (``grade_batch``), the gradebook (the only owner
of ``gradebook.sqlite``), the student-safe feedback read from it and the output files
(``final_grades.csv``, ``results/*.json``)."""
