"""
What a student runs: `check` (the instant verdict, the grader's half of the self-check cell), the
untouched-notebook shortcut, and `lab` (JupyterLab as a student meets it, student_jupyter/).

May import: course, sandbox, pipeline, outputs. Never release or run.
"""
