"""
The one signal between the grader and the library: a kernel that runs a notebook for grading (or for
`python -m autograder check`) has ATTNLAB_RECORD=1 in its environment. Hidden tests then hand their
results to the grader (attnlab.checks.record), and the self-check cell stays quiet (attnlab.selfcheck).

Nothing here imports torch: every graded quiz runs the self-check cell, and a quiz's kernel would
otherwise spend more time importing torch than running all of its answers.
"""

import os

RECORDING_ENV = "ATTNLAB_RECORD"


def recording() -> bool:
    """True in a kernel the grader started; elsewhere `record` does nothing."""
    return os.environ.get(RECORDING_ENV) == "1"
