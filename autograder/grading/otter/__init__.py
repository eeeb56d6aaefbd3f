"""Otter-Grader 7 semantics (trusted process): the autograder zip, submissions and their one
notebook, the notebook's plan (cells and checks in Otter's order), grading ONE submission, running
a question's tests against the student's remote globals, and Gradescope's ``results.json``."""
