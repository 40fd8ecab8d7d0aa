"""
`python -m autograder grade SUBMISSIONS --out OUT`: grade a class, safely, on one machine or many.

    lock OUT (run/store.py) -> prepare the course (OUT/course, the nbgrader gradebook)
    -> take in the submissions (pipeline/intake.py)
    -> which to grade: those asked for (--student, --assignment) whose files changed since the
       last run (--force: all; run/store.py keeps the results and their fingerprints)
    -> the instructor's records of every lesson's hidden tests (pipeline/reference.py, cached)
    -> one task per submission (run/worker.py): the grading pipeline in a sandboxed kernel, run here, in
       a pool of local workers (--workers) or on a Dask cluster (--scheduler)
    -> as each finishes, in this process: its scores (pipeline/results.py), the gradebook (outputs/gradebook.py), its
       executed notebook, its feedback page, the rows of OUT/grades.csv (outputs/grades.py)
    -> the class report (outputs/report.py): OUT/report.html, OUT/report.json, OUT/grades_wide.csv, and the LMS
       files (outputs/lms.py): OUT/grades_canvas.csv, OUT/grades_moodle.csv

Student code runs only inside the sandbox (sandbox/bwrap.py); nothing it does can reach OUT, the gradebook,
another submission or this process. Any failure while grading one submission becomes that
submission's status; the others are graded. Every mode gives the same files.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import nbformat

from autograder.course.config import KEY_DIR, CourseConfig, CourseError, require_grading_arguments
from autograder.course.files import write_atomically
from autograder.course.notebooks import grade_id_of, is_graded, points_of
from autograder.course.quizbank import Question, Quiz, load_quizzes
from autograder.course.roster import Roster
from autograder.outputs import feedback
from autograder.outputs.grades import Graded, GradeReport, csv_text, in_order, write_feedback
from autograder.outputs.lms import canvas_csv, moodle_csv
from autograder.pipeline import nbgrader_api
from autograder.pipeline.intake import NO_ASSIGNMENT, Submission, take_in
from autograder.pipeline.nbgrader_api import Execution
from autograder.pipeline.results import References, Verdict, execution_problems
from autograder.release.build import prepare_course
from autograder.run import store
from autograder.run.store import GRADING_FAILED, OutLock

NO_SANDBOX_WARNING = (
    "WARNING: --no-sandbox: student code runs with your own rights and can read or change anything "
    "you can (other submissions, the gradebook, your files). Use it only for code you trust."
)
REWRITTEN = ("source", "release", "submitted")  # the folders of OUT/course each run writes anew


@dataclass(frozen=True)
class Selection:
    """Which submissions to grade this time."""

    students: frozenset[str] = frozenset()  # empty: everyone
    assignments: frozenset[str] = frozenset()  # empty: every assignment
    force: bool = False  # regrade even when nothing changed

    def wants(self, submission: Submission) -> bool:
        return (not self.students or submission.student in self.students) and (
            not self.assignments or submission.assignment in self.assignments
        )


def _silent(line: str) -> None:
    pass


@dataclass(frozen=True)
class GradeOptions:
    """How to grade (the options of `python -m autograder grade`); the defaults grade everything, sandboxed,
    one worker, into an SQLite gradebook in OUT, silently."""

    db_url: str | None = None  # the gradebook's database (default: OUT/gradebook.db)
    timeout: int | None = None  # seconds a cell may run (default: course.toml)
    sandbox: bool = True  # False (--no-sandbox): student code runs with the grader's rights
    workers: int = 1  # local worker processes
    scheduler: str | None = None  # a Dask scheduler's address: grade there instead of in local workers
    selection: Selection = Selection()
    roster: Roster | None = None  # the students' names, for the gradebook and the LMS files
    progress: Callable[[str], None] = _silent  # gets messages, and one line per finished submission when verbose
    verbose: bool = True
    bar: Callable[[int], object] | None = None  # bar(total) -> a progress bar with update(n) and close()

    @property
    def execution(self) -> Execution:
        return Execution(timeout=self.timeout, sandbox=self.sandbox)


def _graded_cells(release: nbformat.NotebookNode) -> list[tuple[str, float]]:
    return [(grade_id_of(c), points_of(c)) for c in release.cells if is_graded(c)]


def _ungraded(release: nbformat.NotebookNode | None) -> list[Verdict]:
    if release is None:
        return []
    return [Verdict(grade_id, 0.0, points, "not graded") for grade_id, points in _graded_cells(release)]


@dataclass
class Run:
    """Everything one grading run needs to finish a submission, in this process."""

    course: CourseConfig
    out: Path
    db_url: str
    execution: Execution
    releases: dict[str, nbformat.NotebookNode]
    sources: dict[str, str]  # assignment -> the instructor's notebook (hidden tests included), JSON
    quizzes: dict[str, Quiz]
    references: dict[str, References]
    settings: dict
    gradebook: object = None  # the open nbgrader Gradebook, one session for the whole run
    local: bool = True  # workers on this machine (not a Dask cluster): a kernel's failure to start can be probed here
    fingerprints: dict[int, str] = field(default_factory=dict)  # id(submission) -> what its stored result is kept by

    @cached_property
    def kernel_problem(self) -> str:
        """Why no kernel starts, in one sentence, asked once per run: bwrap's own words, or the missing path."""
        from autograder.pipeline.running import kernel_start_problem
        from autograder.run.worker import KERNEL_NOT_STARTED

        if not self.local:
            return f"{KERNEL_NOT_STARTED} on its Dask worker: run `python -m autograder check` on that machine"
        return kernel_start_problem(self.course, self.execution)

    @property
    def course_dir(self) -> Path:
        return self.out / "course"

    def questions(self, assignment: str) -> list[Question] | None:
        """The questions of a quiz assignment, None for a lesson."""
        quiz = self.quizzes.get(assignment)
        return list(quiz.questions) if quiz else None

    def task_inputs(self, assignment: str) -> str:
        """Everything besides the submission that its grade depends on (the library's code included)."""
        from autograder.pipeline.reference import fingerprint

        source = self.sources.get(assignment, "")
        library = fingerprint(nbformat.reads(source, as_version=4)) if source else ""
        return json.dumps(self.settings, sort_keys=True) + source + library

    def finish(self, submission: Submission, executed: str | None, failure: str | None) -> list[Verdict]:
        """Scores, gradebook, executed notebook and statuses of a submission whose task came back."""
        release = self.releases.get(submission.assignment)
        if submission.path is None:
            if submission.assignment != NO_ASSIGNMENT:
                from autograder.outputs.gradebook import record_student

                record_student(self.gradebook, submission.student)
            return _ungraded(release)
        if executed is None:
            from autograder.run.worker import KERNEL_NOT_STARTED

            why = self.kernel_problem if failure == KERNEL_NOT_STARTED else failure
            submission.problem(GRADING_FAILED, f"the grader could not grade this notebook ({why})")
            return _ungraded(release)
        from nbgrader.utils import parse_utc

        from autograder.outputs.gradebook import record_submission
        from autograder.pipeline.judge import judged_verdicts
        from autograder.pipeline.nbgrader_api import config_from_settings
        from autograder.pipeline.steps import judge

        nb = judge(
            nbformat.reads(executed, as_version=4),
            config_from_settings(self.settings),
            self.questions(submission.assignment),
            self.references.get(submission.assignment),
        )
        found = judged_verdicts(nb)
        if any(v.disputed for v in found):
            submission.problem(
                "score_mismatch",
                "the check run in the notebook disagreed with the grader for "
                f"{', '.join(v.question for v in found if v.disputed)}; the lower score counts",
            )
        for status, note in execution_problems(nb):
            submission.problem(status, note)
        if not self.execution.sandbox:
            submission.problem("no_sandbox", "graded without a sandbox (--no-sandbox)")
        timestamp = parse_utc((submission.path.parent / "timestamp.txt").read_text())
        scores = record_submission(
            self.gradebook,
            submission.student,
            submission.assignment,
            timestamp,
            found,
            None if self.execution.sandbox else NO_SANDBOX_WARNING,
        )
        for verdict in found:  # an instructor's manual score, if any, is what the gradebook counts
            verdict.score = scores.get(verdict.question, verdict.score)
        autograded = (
            self.course_dir
            / "autograded"
            / submission.student
            / submission.assignment
            / f"{submission.assignment}.ipynb"
        )
        write_atomically(autograded, nbformat.writes(nb))  # for nbgrader formgrader
        return found


def grade(course: CourseConfig, submissions: Path, out: Path, options: GradeOptions = GradeOptions()) -> GradeReport:
    """Grade SUBMISSIONS into OUT, as `options` say."""
    start = time.perf_counter()
    require_grading_arguments(submissions, options.timeout, options.workers)
    if options.sandbox:
        from autograder.sandbox.bwrap import require_bwrap

        require_bwrap()
    else:
        options.progress(NO_SANDBOX_WARNING)
    _refuse_submissions_in_rewritten_folders(submissions, out)
    out.mkdir(parents=True, exist_ok=True)
    with OutLock(out):
        report = _grade_locked(course, submissions, out, options)
    report.seconds = time.perf_counter() - start
    return report


def _refuse_submissions_in_rewritten_folders(submissions: Path, out: Path) -> None:
    rewritten = [out / "course" / folder for folder in REWRITTEN]
    if any(submissions.resolve().is_relative_to(folder.resolve()) for folder in rewritten):
        raise CourseError(
            f"{submissions} is inside {out / 'course'}, whose {', '.join(REWRITTEN)} folders each grading run "
            "writes anew: grade into another --out folder (an nbgrader course's own submitted/ folder is fine "
            "as SUBMISSIONS)"
        )


def _grade_locked(course: CourseConfig, submissions: Path, out: Path, options: GradeOptions) -> GradeReport:
    """prepare -> select -> dispatch -> write the class's files."""
    from autograder.outputs.report import previous_scores

    started = time.perf_counter()
    run, taken, warnings = _prepare(course, submissions, out, options)
    done, todo = _select(run, taken, options)
    setup_seconds = time.perf_counter() - started
    previous = previous_scores(out / "results")  # before this run overwrites them: the report says what changed
    _dispatch(run, todo, done, options)
    graded = in_order(done)
    _write_class_files(run, graded, previous, options.roster or {})
    kernel_problem = vars(run).get("kernel_problem")  # asked only when a kernel did not start
    return GradeReport(out, graded, warnings, setup_seconds=setup_seconds, kernel_problem=kernel_problem)


def _prepare(
    course: CourseConfig, submissions: Path, out: Path, options: GradeOptions
) -> tuple[Run, list[Submission], list[str]]:
    """The course folder and its gradebook released anew, the submissions taken in, the instructor's records
    of the lessons wanted: a Run, every submission taken in, and the intake's warnings."""
    course_dir = out / "course"
    db_url = options.db_url or nbgrader_api.sqlite_url(out / "gradebook.db")
    for stale in REWRITTEN:
        shutil.rmtree(course_dir / stale, ignore_errors=True)
    options.progress("preparing the course and its gradebook ...")
    assignments = prepare_course(course, course_dir, db_url, {}, only=_assignment_folders(submissions))
    releases = {a.id: nbformat.read(course_dir / "release" / a.id / a.notebook_name, as_version=4) for a in assignments}
    sources = {a.id: (course_dir / "source" / a.id / a.notebook_name).read_text(encoding="utf-8") for a in assignments}
    taken, warnings = take_in(submissions, course_dir / "submitted", releases, course.max_notebook_bytes)
    for warning in warnings:
        options.progress(f"warning: {warning}")
    lessons = {s.assignment for s in taken if options.selection.wants(s) and s.path is not None}
    references = _lesson_references(course, course_dir, assignments, lessons, options.execution, options.progress)
    run = Run(
        course,
        out,
        db_url,
        options.execution,
        releases,
        sources,
        load_quizzes(course.quiz_bank, course.shuffle_seed),
        references,
        nbgrader_api.pipeline_settings(course, options.execution),
        local=options.scheduler is None,
    )
    return run, taken, warnings


def _select(run: Run, taken: list[Submission], options: GradeOptions) -> tuple[dict, list[Submission]]:
    """({(student, assignment): the stored result that stands}, the submissions to grade now): a stored
    result stands for a submission not asked for, or unchanged and not forced, if the gradebook still
    counts its scores."""
    from nbgrader.api import Gradebook

    with Gradebook(run.db_url, run.course.course_id) as gradebook:
        in_gradebook = store.gradebook_scores(gradebook)
    inputs = {a: run.task_inputs(a) for a in run.releases}
    done: dict[tuple[str, str], Graded] = {}
    for submission in taken:
        run.fingerprints[id(submission)] = store.fingerprint(submission, inputs.get(submission.assignment, ""))
        kept = store.stored(run.out, submission, run.fingerprints[id(submission)])
        if kept is not None and not store.agrees(kept, in_gradebook):
            options.progress(
                f"note: the gradebook's scores of {submission.student}/{submission.assignment} were changed "
                "outside this command (an Autograde in the Formgrader?); it is graded again"
            )
            kept = None
        if kept is not None and (not options.selection.wants(submission) or not options.selection.force):
            done[submission.student, submission.assignment] = kept
    wanted = [s for s in taken if options.selection.wants(s)]
    todo = [s for s in wanted if (s.student, s.assignment) not in done]
    where = (
        f" on the Dask cluster at {options.scheduler}" if options.scheduler else f" with {options.workers} worker(s)"
    )
    unchanged = f" ({len(wanted) - len(todo)} unchanged, kept)" if len(wanted) > len(todo) else ""
    options.progress(f"grading {_count(len(todo), 'submission')}{unchanged}{where} ...")
    return done, todo


def _dispatch(run: Run, todo: list[Submission], done: dict, options: GradeOptions) -> None:
    """Grade `todo` into `done`: the submissions without a notebook first (nothing to run), then each task as
    it comes back from the workers, one at a time in this process, the gradebook open throughout."""
    from nbgrader.api import Gradebook

    from autograder.run.worker import Task, run_all

    counter = options.bar(len(todo)) if options.bar else None
    by_key = {f"{s.student}/{s.assignment}": s for s in todo}
    tasks = [
        Task(key, submission.path.read_text(encoding="utf-8"), run.sources[submission.assignment], run.settings)
        for key, submission in by_key.items()
        if submission.path is not None
    ]
    finished = 0

    def report(item: Graded) -> None:
        nonlocal finished
        finished += 1
        if options.verbose:
            options.progress(
                f"  [{finished}/{len(todo)}] {item.submission.student:<12} {item.submission.assignment:<30} "
                f"{item.score:g}/{item.max_score:g}  {item.status}  ({item.seconds:.1f} s)"
            )
        if counter is not None:
            counter.update(1)

    with Gradebook(run.db_url, run.course.course_id) as run.gradebook:
        _record_names(run.gradebook, options.roster or {})
        for submission in todo:
            if submission.path is None:
                report(_conclude(run, done, submission, None, None, 0.0))
        for outcome in run_all(tasks, options.workers, options.scheduler):
            report(_conclude(run, done, by_key[outcome.key], outcome.executed, outcome.failure, outcome.seconds))
    if counter is not None:
        counter.close()


def _record_names(gradebook, roster: Roster) -> None:
    """The students' names, so the Formgrader lists students by name."""
    for student in roster.values():
        gradebook.update_or_create_student(
            student.id, first_name=student.first_name, last_name=student.last_name, email=student.email
        )
    gradebook.db.commit()


def _conclude(
    run: Run, done: dict, submission: Submission, executed: str | None, failure: str | None, seconds: float
) -> Graded:
    """A submission whose task came back: its verdicts, stored result, feedback page and grades.csv rows."""
    try:
        found = run.finish(submission, executed, failure)
    except Exception as error:  # contained: this submission's status, never the end of the batch
        run.gradebook.db.rollback()  # whatever it half-wrote, the next submission starts clean
        submission.problem(GRADING_FAILED, f"the grader could not grade this notebook ({type(error).__name__})")
        found = _ungraded(run.releases.get(submission.assignment))
    item = Graded(submission, found, seconds)
    done[submission.student, submission.assignment] = item
    store.store(run.out, item, run.fingerprints[id(submission)])
    if submission.assignment in run.releases:
        page = feedback.render(
            submission.student,
            submission.assignment,
            found,
            submission.notes,
            run.questions(submission.assignment),
            run.releases[submission.assignment],
        )
        write_feedback(run.out, submission, page)
    write_atomically(run.out / "grades.csv", csv_text(in_order(done)))
    return item


def _write_class_files(run: Run, graded: list[Graded], previous, roster: Roster) -> None:
    """grades.csv, the class report (report.html, report.json, grades_wide.csv) and the LMS files."""
    from autograder.outputs.report import write_report

    write_atomically(run.out / "grades.csv", csv_text(graded))
    write_report(run.out, graded, run.quizzes, run.releases, previous)
    write_atomically(run.out / "grades_canvas.csv", canvas_csv(graded, run.releases, roster))
    write_atomically(run.out / "grades_moodle.csv", moodle_csv(graded, run.releases, roster))


def _lesson_references(
    course: CourseConfig,
    course_dir: Path,
    assignments,
    wanted: set[str],
    execution: Execution,
    progress: Callable[[str], None],
) -> dict[str, References]:
    from autograder.pipeline.key import save_records
    from autograder.pipeline.reference import as_references, instructor_payloads, references_cache

    found = {}
    for assignment in assignments:
        if assignment.id in wanted and not assignment.is_quiz:
            progress(f"the instructor's results for {assignment.id} (cached after the first run) ...")
            payloads = instructor_payloads(course, assignment.source, references_cache(course), execution)
            found[assignment.id] = as_references(payloads)
            # nbgrader's own Autograde (CLI or Formgrader) in the course folder finds them there.
            source_copy = nbformat.read(course_dir / "source" / assignment.id / assignment.notebook_name, as_version=4)
            save_records(course_dir / KEY_DIR, assignment.id, source_copy, payloads)
    return found


def _assignment_folders(submissions: Path) -> set[str]:
    """The names of the assignment folders in SUBMISSIONS (no link followed): only those are released."""
    names = set()
    for student in submissions.iterdir():
        if student.is_dir() and not student.is_symlink():
            names.update(p.name for p in student.iterdir())
    return names


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
