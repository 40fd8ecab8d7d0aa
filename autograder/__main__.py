"""`python -m autograder ...`: the command line. User mistakes print a message, never a traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.config import CourseError, load_config


def _build(args: argparse.Namespace) -> int:
    from autograder.build import build

    course = load_config(args.root)
    print("building the course with nbgrader (about 10 s) ...", flush=True)
    report = build(course, dest_root=args.out)
    for path in report.written:
        print(f"  wrote {path.relative_to(args.out or course.root)}")
    print(f"done in {report.seconds:.1f} s")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from autograder.grade import grade, print_summary

    course = load_config(args.root)
    report = grade(course, args.submissions, args.out, db_url=args.db, timeout=args.timeout,
                   sandbox=not args.no_sandbox, progress=lambda line: print(line, flush=True))
    print_summary(report)
    return 0


def _check(args: argparse.Namespace) -> int:
    from autograder.check import check, print_check

    course = load_config(args.root)
    result = check(course, args.notebook, timeout=args.timeout, sandbox=not args.no_sandbox)
    print_check(result, as_json=args.json)
    return 0 if result.all_passed else 1


def _demo(args: argparse.Namespace) -> int:
    from autograder.demo import demo

    return demo(load_config(args.root), args.out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    p.add_argument("--root", type=Path, help="the course repository (default: the current directory)")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="generate the student lessons and the quiz from solutions/ and quizzes/bank.toml")
    b.add_argument("--out", type=Path, help="write the generated files under this folder instead of the repository")
    b.set_defaults(run=_build)

    g = sub.add_parser("grade", help="grade a folder of submissions laid out as SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb")
    g.add_argument("submissions", type=Path)
    g.add_argument("--out", type=Path, required=True, help="where the gradebook, grades.csv and feedback/ go")
    g.add_argument("--db", help="gradebook as an SQLAlchemy URL (default: sqlite at OUT/gradebook.db)")
    g.add_argument("--timeout", type=int, help="seconds a cell may run (default: course.toml)")
    g.add_argument("--no-sandbox", action="store_true",
                   help="run student code WITHOUT the bubblewrap sandbox, with your own rights (not recommended)")
    g.set_defaults(run=_grade)

    c = sub.add_parser("check", help="check your notebook now: a verdict per question and exercise")
    c.add_argument("notebook", type=Path)
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--timeout", type=int, help="seconds a cell may run (default: course.toml)")
    c.add_argument("--no-sandbox", action="store_true",
                   help="run the notebook without the bubblewrap sandbox (where bwrap cannot be installed)")
    c.set_defaults(run=_check)

    d = sub.add_parser("demo", help="build the course, run every lesson, grade the bundled example submissions")
    d.add_argument("--out", type=Path, default=Path("demo-output"))
    d.set_defaults(run=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
