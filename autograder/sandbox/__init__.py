"""
Where student code runs: the bubblewrap sandbox (bwrap), its cgroup memory limit, and the kernel
manager that starts every grading kernel inside it.

May import: course.
"""
