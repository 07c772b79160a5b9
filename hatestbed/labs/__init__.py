"""`lab check N`: the labs' self-check, graded against what this testbed measured in the same
session (session.py: the measurements; steps.py: each lab's steps; book.py: what the student
recorded; grade.py: the verdicts)."""
