"""
What a grading run leaves for people: nbgrader's gradebook rows, the LMS files, the feedback pages
and the self-check's verdict (templates/), the class report and its CSVs, the terminal table, and
the Formgrader for the instructor.

May import: course, pipeline. Never sandbox, student, release or run.
"""
