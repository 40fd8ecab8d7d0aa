"""
Building the release: solutions/ -> an nbgrader course -> lessons/ and quizzes/, and the bundled
example class (examples/) made from the released notebooks.

May import: course, pipeline. Never sandbox, outputs, student or run.
"""
