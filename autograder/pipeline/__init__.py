"""
The grading pipeline: the steps nbgrader's Autograde runs on a submission (steps), our preprocessors,
the steps that grade apart and keep content inert, taking in a submissions folder (intake), the
records a hidden test hands out and their judging (records, tensor_reader, verifiers, results, judge),
the instructor's references and the answer key, running a notebook without a gradebook (running),
the one place that calls nbgrader (nbgrader_api) and a course folder's nbgrader configuration
(course_folder).

May import: course, sandbox. Never outputs, student, release or run.

Its modules, each importing only modules on the floors below it (tests/test_layout.py fails on a circle):

    course_folder   the nbgrader configuration that names the whole pipeline
    steps           the whole pipeline in order; its second half, judging (JudgeGrades and nbgrader's steps)
    judge           JudgeGrades: every graded cell's score; under nbgrader it reads the key (key)
    key             the answer key in a course folder; computes the instructor's records when missing
    reference       the instructor's records: the solution run like a submission (running), cached
    running         a notebook through the first half, without a gradebook
    execution       the pipeline's first half: the steps that run a submission's code; reads no key
    results         verdicts from the records and outputs of an executed notebook
    guards, intake, nbgrader_api    GradeApart; taking in a submissions folder; calling nbgrader, the steps' settings
    preprocessors, records          RobustExecute and our other steps; the records and their judging
    hidden, inert, tensor_reader, verifiers    the floor: read cells, make content inert, read tensors, verify

The key runs the instructor's solution through the first half (execution), which does not hold the
judge; RobustExecute learns that GradeApart follows it from its settings (grade_apart_follows), not by
asking GradeApart.
"""
