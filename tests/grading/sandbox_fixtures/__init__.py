"""Helpers shared by the sandbox tests (``tests/grading/test_sandbox_*.py``)."""
