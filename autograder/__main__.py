"""`python -m autograder ...`: the command line. User mistakes print a message, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from attnlab.protocol import CHECK_USER_ERROR
from autograder.course.config import (
    CourseError,
    NoAnswerKey,
    load_config,
    require_grading_arguments,
    require_notebook_file,
)

# Packages only some instructors need come as extras of the package (pyproject.toml), so a student's install
# lacks them: {top-level module: (how to install it, what needs it)}.
OPTIONAL_PACKAGES = {
    "dask": ("pip install -e '.[cluster]'", "grading on a Dask cluster (--scheduler)"),
    "distributed": ("pip install -e '.[cluster]'", "grading on a Dask cluster (--scheduler)"),
    "psycopg": ("pip install -e '.[postgres]'", "a PostgreSQL gradebook (--db postgresql://...)"),
}


def _build(args: argparse.Namespace) -> int:
    from autograder.release.build import build, kept_message

    course = load_config(args.root)
    print("building the course with nbgrader (about 10 s) ...", flush=True)
    report = build(course, dest_root=args.out)
    for path in report.written:
        print(f"  wrote {path.relative_to(args.out or course.root)}")
    for generated, moved in report.kept:
        print(f"note: {kept_message(generated, moved, args.out or course.root)}")
    print(f"done in {report.seconds:.1f} s")
    return 0


def _grade(args: argparse.Namespace) -> int:
    require_grading_arguments(args.submissions, args.timeout, args.workers)
    from autograder.course.roster import load_roster
    from autograder.outputs.grades import print_summary
    from autograder.run.grade import GradeOptions, Selection, grade

    course = load_config(args.root)
    if args.db_password_file:
        _password_from_file(args.db_password_file)
    selection = Selection(frozenset(args.student or ()), frozenset(args.assignment or ()), args.force)
    report = grade(
        course,
        args.submissions,
        args.out,
        GradeOptions(
            db_url=args.db,
            timeout=args.timeout,
            sandbox=not args.no_sandbox,
            workers=args.workers,
            scheduler=args.scheduler,
            selection=selection,
            progress=lambda line: print(line, flush=True),
            verbose=args.verbose,
            bar=None if args.verbose else _progress_bar,
            roster=load_roster(args.roster),
        ),
    )
    print_summary(report)
    return 0


def _formgrader(args: argparse.Namespace) -> int:
    from autograder.outputs.formgrader import formgrader

    formgrader(args.course, args.port, args.allow_root)
    return 0


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="submission", dynamic_ncols=True)


def _password_from_file(path: Path) -> None:
    """The gradebook's password from a file only its owner can read; libpq takes it from PGPASSWORD."""
    import os
    import stat

    try:
        mode = path.stat().st_mode
        password = path.read_text().strip()
    except OSError as error:
        raise CourseError(f"cannot read the password file {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CourseError(f"{path} can be read by others: `chmod 600 {path}` first")
    os.environ["PGPASSWORD"] = password


def _check(args: argparse.Namespace) -> int:
    require_notebook_file(args.notebook)
    from attnlab.protocol import CHECK_NO_ANSWER_KEY, CHECK_NOT_PASSED, CHECK_PASSED

    try:
        course = load_config(args.root)
    except NoAnswerKey as error:  # a student without solutions/: the self-check cell says so in its own words
        print(f"error: {error}", file=sys.stderr)
        return CHECK_NO_ANSWER_KEY
    from autograder.course.notebooks import read_checkable

    nb = read_checkable(args.notebook, course.max_notebook_bytes)  # a file that is no notebook is told at once
    output = "json" if args.json else "html" if args.html else "text"
    from autograder.student.untouched import print_untouched

    if print_untouched(course, nb, args.notebook, output, []):
        return 1  # nothing written yet: told at once, nothing run
    from autograder.student.check import check, print_check  # seconds of imports: only once there is work to do

    result = check(course, args.notebook, timeout=args.timeout, sandbox=not args.no_sandbox)
    print_check(result, output=output)
    return CHECK_PASSED if result.all_passed else CHECK_NOT_PASSED


def _lab(args: argparse.Namespace) -> int:
    from autograder.course.config import find_root
    from autograder.student.lab import lab

    try:
        root = find_root(args.root)  # from work/ too: the course is found in a parent folder
    except NoAnswerKey:
        root = args.root or Path.cwd()  # a student's copy without solutions/: lab works there all the same
    lab(root, args.jupyter_args)
    return 0  # not reached: the process has become JupyterLab


def _demo(args: argparse.Namespace) -> int:
    from autograder.run.demo import demo

    return demo(load_config(args.root), args.out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    p.add_argument("--root", type=Path, help="the course repository (default: the current directory)")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser(
        "build", help="generate the student lessons and the quizzes from solutions/ (the quiz bank included)"
    )
    b.add_argument("--out", type=Path, help="write the generated files under this folder instead of the repository")
    b.set_defaults(run=_build)

    g = sub.add_parser(
        "grade", help="grade a folder of submissions laid out as SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb"
    )
    g.add_argument("submissions", type=Path)
    g.add_argument("--out", type=Path, required=True, help="where the gradebook, grades.csv and feedback/ go")
    g.add_argument("--db", help="gradebook as an SQLAlchemy URL (default: sqlite at OUT/gradebook.db)")
    g.add_argument("--timeout", type=int, help="seconds a cell may run (default: course.toml)")
    g.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student code WITHOUT the bubblewrap sandbox, with your own rights (not recommended)",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="submissions graded at once on this machine, each in its own sandbox (default: the cores)",
    )
    g.add_argument("--scheduler", help="grade on a Dask cluster: the scheduler's address, tcp://HOST:8786")
    g.add_argument("--student", action="append", help="grade only this student (repeatable)")
    g.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    g.add_argument("--force", action="store_true", help="regrade submissions whose files did not change")
    g.add_argument(
        "--roster",
        type=Path,
        help="a CSV of the class (id,first name,last name,email): names in the gradebook and the LMS files",
    )
    g.add_argument("--verbose", action="store_true", help="one line per finished submission instead of a progress bar")
    g.add_argument(
        "--db-password-file",
        type=Path,
        help="the gradebook database's password, in a file only you can read (or set PGPASSWORD)",
    )
    g.set_defaults(run=_grade)

    c = sub.add_parser("check", help="check your notebook now: a verdict per question and exercise")
    c.add_argument("notebook", type=Path)
    output = c.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the result as JSON")
    output.add_argument("--html", action="store_true", help="print the result as HTML (what the self-check cell shows)")
    c.add_argument("--timeout", type=int, help="seconds a cell may run (default: course.toml)")
    c.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the notebook without the bubblewrap sandbox (done anyway, with a note, where none can be created)",
    )
    c.set_defaults(run=_check)

    j = sub.add_parser(
        "lab", help="JupyterLab for students, on the course (other arguments go to JupyterLab: --port 9999)"
    )
    j.set_defaults(run=_lab)

    f = sub.add_parser("formgrader", help="nbgrader's Formgrader on a course folder, for the instructor (127.0.0.1)")
    f.add_argument("course", type=Path, help="the course folder: build/course, or OUT/course after grade")
    f.add_argument("--port", type=int, default=8890)
    f.add_argument("--allow-root", action="store_true", help="run as root anyway (not recommended)")
    f.set_defaults(run=_formgrader)

    d = sub.add_parser("demo", help="build the course, run every lesson, grade the bundled example submissions")
    d.add_argument("--out", type=Path, default=Path("demo-output"))
    d.set_defaults(run=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, unknown = p.parse_known_args(argv)
    if unknown and args.command != "lab":  # only `lab` passes arguments on (to JupyterLab)
        p.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.jupyter_args = unknown
    try:
        return args.run(args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return CHECK_USER_ERROR
    except ModuleNotFoundError as error:
        extra = OPTIONAL_PACKAGES.get((error.name or "").partition(".")[0])
        if extra is None:
            raise
        print(f"error: {extra[1]} needs {error.name}, which a plain install leaves out: {extra[0]}", file=sys.stderr)
        return CHECK_USER_ERROR
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
