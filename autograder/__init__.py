"""
autograder: turns the course's instructor notebooks into an nbgrader course, grades submissions,
writes feedback and grades, and lets a self-learner check a notebook alone.

    python -m autograder build                 solutions/ -> lessons/, quiz bank -> quizzes/quiz.ipynb
    python -m autograder grade SUBMITTED --out OUT [--workers N | --scheduler ADDRESS] [--db URL]
    python -m autograder check NOTEBOOK [--json | --html]
    python -m autograder lab [JUPYTERLAB OPTIONS]  JupyterLab for students (what `make lab` runs)
    python -m autograder demo                  build, run the lessons, grade the bundled examples

Rooms, lowest first; each may import only the rooms below it (its __init__ says which;
tests/test_layout.py holds every import to that):
    course    the course as data: course.toml, assignments, the quiz bank, cell metadata, files
    sandbox   bubblewrap, cgroups and the kernel manager every student kernel starts in
    pipeline  the grading steps, records and their judging, the instructor's references, the key
    outputs   gradebook, LMS files, feedback, the class report and CSVs, the terminal table
    student   check, the untouched shortcut, lab
    release   build: solutions/ -> the nbgrader course -> lessons/, quizzes/, the example class
    run       grade (lock, regrade store, workers, Dask) and demo
"""

import sys

# jsonschema (under nbformat and nbgrader) imports rfc3987_syntax when it is installed, which builds some
# 35 Earley parsers at import, in every start of the grader, of `check` and of the self-check cell
# (python-jsonschema/jsonschema#1428). It serves only the "iri" formats, which no notebook or gradebook
# schema uses. Marked as absent, it is skipped; tests/test_internals.py fails once jsonschema stops needing it.
sys.modules.setdefault("rfc3987_syntax", None)
