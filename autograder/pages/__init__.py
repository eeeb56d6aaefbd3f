"""HTML pages for students (feedback) and instructors (class report)."""
