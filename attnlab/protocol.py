"""
The protocol between the grader (autograder/) and the library the notebooks import, in the one module
both import. Nothing here imports torch: every graded quiz runs the self-check cell, and a quiz's kernel
would otherwise spend more time importing torch than running all of its answers.

- The recording switch: a kernel that runs a notebook for grading (or for `python -m autograder check`)
  has ATTNLAB_RECORD=1 in its environment (`attnlab.settings`: RECORDING_ENV, recording()). Hidden tests
  then hand their results to the grader (attnlab.checks.record), and the self-check cell stays quiet
  (attnlab.selfcheck).
- A record: a display output of its test cell with the MIME type RECORD_MIME and a JSON payload, whose
  fields are RECORD_FIELDS; its value is one of VALUE_KINDS (encoded by attnlab.checks.encode_value,
  decoded and judged by autograder/pipeline/records.py, never trusted beyond plain data).
- The exit statuses of `python -m autograder check`, which the self-check cell reads.
"""

RECORD_MIME = "application/vnd.attnlab.record+json"
RECORD_FIELDS = ("name", "hint", "verify", "atol", "rtol", "params", "value")
# {"json": number | string | bool | None}, {"list": [value, ...]}, {"tensor": base64 of torch.save bytes},
# {"unsupported": type name}
VALUE_KINDS = ("json", "list", "tensor", "unsupported")

# `python -m autograder check`: everything passed, something did not, a user mistake, no answer key here.
CHECK_PASSED, CHECK_NOT_PASSED, CHECK_USER_ERROR, CHECK_NO_ANSWER_KEY = 0, 1, 2, 3
