"""
Running a grading at scale and end to end: the `grade` command and its options, its lock and regrade
store, the unit of work (worker) here, in a local pool or on a Dask worker (dask_worker), a TLS Dask
cluster on one machine for tests and benchmarks (local_cluster), and `demo`.

May import: course, sandbox, pipeline, outputs, student, release (it is the top floor).
"""
