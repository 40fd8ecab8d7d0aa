"""
`dask worker tls://SCHEDULER:8786 --preload autograder.run.dask_worker ...`: a worker that is not set up to
grade (worker.worker_refusal: not over TLS, or the answer key readable) says why and exits at once
(Dask only logs a preload that raises, and the worker would stay up). Every task checks the same again,
so a worker started without this preload still grades nothing.
"""

from __future__ import annotations

import os
import sys

from autograder.run.worker import worker_refusal

EXIT_STATUS = 78  # EX_CONFIG: the worker's setup, not a crash


def dask_setup(worker) -> None:
    why = worker_refusal(worker.address)
    if why is not None:
        print(f"this Dask worker will not grade: {why}", file=sys.stderr, flush=True)
        os._exit(EXIT_STATUS)
