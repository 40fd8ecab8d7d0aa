"""
autograder: turns the course's instructor notebooks into an nbgrader course, grades submissions,
writes feedback and grades, and lets a self-learner check a notebook alone.

    python -m autograder build                 solutions/ -> lessons/, quiz bank -> quizzes/quiz.ipynb
    python -m autograder grade SUBMITTED --out OUT
    python -m autograder check NOTEBOOK [--json]
    python -m autograder demo                  build, run the lessons, grade the bundled examples

Modules, one step each:
    config        course.toml and the repository layout
    quizbank      the quiz questions as data, their shuffled options and key
    quiz_notebook the quiz bank as an nbgrader notebook
    nbgrader_api  the one place that configures and calls nbgrader
    build         sources -> course directory -> student versions
    preprocessors our additions to nbgrader's pipeline (answer pinning, robust execution, output limits)
    intake        copies a submissions folder into the course, fixing what can be fixed
    results       reads an executed notebook into per-question verdicts
    feedback      the HTML a student gets back
    grade / check / demo  the commands
"""
