"""
autograder: turns the course's instructor notebooks into an nbgrader course, grades submissions,
writes feedback and grades, and lets a self-learner check a notebook alone.

    python -m autograder build                 solutions/ -> lessons/, quiz bank -> quizzes/quiz.ipynb
    python -m autograder grade SUBMITTED --out OUT [--workers N | --scheduler ADDRESS] [--db URL]
    python -m autograder check NOTEBOOK [--json | --html]
    python -m autograder lab [JUPYTERLAB OPTIONS]  JupyterLab for students (what `make lab` runs)
    python -m autograder demo                  build, run the lessons, grade the bundled examples

Modules, one step each:
    config        course.toml and the repository layout
    quizbank      the quiz questions as data, their shuffled options and key
    quiz_notebook the quiz bank as an nbgrader notebook
    nbgrader_api  the one place that configures and calls nbgrader
    build         sources -> course directory -> student versions
    student_cells what every student notebook gets besides the lesson: a guide, tags, a self-check cell
    sandbox       the bubblewrap command every kernel that runs student code starts in
    kernel        the kernel manager that starts kernels in the sandbox, over ipc
    preprocessors our additions to nbgrader's pipeline (answer pinning, robust execution, output limits)
    intake        copies a submissions folder into the course, fixing what can be fixed, refusing the rest
    records       what hidden tests hand out of the kernel, judged in the grader's process
    reference     the instructor's records, from one cached run of the solution
    verifiers     checks of exercises with many right answers, on the course's own models
    results       reads an executed notebook into per-question verdicts (scores decided here)
    worker        one submission as a task: here, in a local pool or on a Dask cluster
    gradebook     writes scores into nbgrader's gradebook
    feedback      the HTML a student gets back, and the self-check's verdict (templates/)
    report        the class report and the LMS-ready wide CSV
    output        atomic writes and spreadsheet-safe CSV values
    lab           JupyterLab as students meet it (student_jupyter/: no instructor tools)
    grade / check / demo  the commands
"""

import sys

# jsonschema (under nbformat and nbgrader) imports rfc3987_syntax when it is installed, which builds some
# 35 Earley parsers at import, in every start of the grader, of `check` and of the self-check cell
# (python-jsonschema/jsonschema#1428). It serves only the "iri" formats, which no notebook or gradebook
# schema uses. Marked as absent, it is skipped; tests/test_internals.py fails once jsonschema stops needing it.
sys.modules.setdefault("rfc3987_syntax", None)
