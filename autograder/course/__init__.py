"""
The course as data: its configuration (course.toml) and where things live, the assignments, the quiz
bank and the quiz as a notebook, the cells every student notebook gets, nbgrader cell metadata and
safe notebook reading, the class roster, and writing files whole or not at all.

May import: nothing else of autograder (every other room builds on this one).
"""
