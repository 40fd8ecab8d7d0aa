"""
The grading pipeline: the steps nbgrader's Autograde runs on a submission (steps), our preprocessors,
the steps that grade apart and keep content inert, taking in a submissions folder (intake), the
records a hidden test hands out and their judging (records, tensor_reader, verifiers, results, judge),
the instructor's references and the answer key, running a notebook without a gradebook (running),
and the one place that configures and calls nbgrader (nbgrader_api).

May import: course, sandbox. Never outputs, student, release or run.
"""
