"""
`python -m autograder grade SUBMISSIONS --out OUT`: grade a class, safely, on one machine or many.

    lock OUT -> prepare the course (OUT/course, the nbgrader gradebook) -> take in the submissions (intake.py)
    -> which to grade: those asked for (--student, --assignment) whose files changed since the last run (--force: all)
    -> the instructor's records of every lesson's hidden tests (reference.py, cached)
    -> one task per submission (worker.py): the grading pipeline in a sandboxed kernel, run here, in
       a pool of local workers (--workers) or on a Dask cluster (--scheduler)
    -> as each finishes, in this process: its scores (results.py), the gradebook (gradebook.py), its
       executed notebook, its feedback page, the rows of OUT/grades.csv
    -> the class report (report.py): OUT/report.html, OUT/report.json, OUT/grades_wide.csv, and the LMS
       files (lms.py): OUT/grades_canvas.csv, OUT/grades_moodle.csv

Student code runs only inside the sandbox (sandbox.py); nothing it does can reach OUT, the gradebook,
another submission or this process. Any failure while grading one submission becomes that
submission's status; the others are graded. Every mode gives the same files.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import nbformat

from autograder import feedback, nbgrader_api
from autograder.build import prepare_course
from autograder.config import KEY_DIR, PACKAGE_DIR, CourseConfig, CourseError, require_grading_arguments
from autograder.intake import NO_ASSIGNMENT, SECRET, Submission, take_in
from autograder.lms import canvas_csv, moodle_csv
from autograder.nbgrader_api import Execution
from autograder.output import spreadsheet_safe, write_atomically
from autograder.quizbank import Question, Quiz, load_quizzes
from autograder.results import References, Totals, Verdict, execution_problems
from autograder.roster import Roster

CSV_COLUMNS = ["student_id", "assignment", "question", "score", "max_score", "status", "message"]
NO_SANDBOX_WARNING = (
    "WARNING: --no-sandbox: student code runs with your own rights and can read or change anything "
    "you can (other submissions, the gradebook, your files). Use it only for code you trust."
)
RESULTS_FORMAT = 1
MANUAL = "manual"  # a cell the instructor scored by hand
REWRITTEN = ("source", "release", "submitted")  # the folders of OUT/course each run writes anew
GRADING_FAILED = "grading_failed"


@dataclass
class Graded(Totals):
    submission: Submission
    verdicts: list[Verdict]
    seconds: float
    regraded: bool = True  # False: the stored result of an unchanged submission

    @property
    def status(self) -> str:
        return ";".join(self.submission.status) or "ok"


@dataclass
class GradeReport:
    out: Path
    graded: list[Graded]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    setup_seconds: float = 0.0  # before the first submission: course, gradebook, intake, the instructor's results
    kernel_problem: str | None = None  # why some submissions' kernels did not start, once for the run

    @property
    def regraded(self) -> list[Graded]:
        return [g for g in self.graded if g.regraded]


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


def _graded_cells(release: nbformat.NotebookNode) -> list[tuple[str, float]]:
    return [
        (c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"]["points"]))
        for c in release.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    ]


def _ungraded(release: nbformat.NotebookNode | None) -> list[Verdict]:
    if release is None:
        return []
    return [Verdict(grade_id, 0.0, points, "not graded") for grade_id, points in _graded_cells(release)]


class OutLock:
    """One grading run per OUT at a time: a second one refuses at once with a clear message."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".grading.lock"

    def __enter__(self) -> OutLock:
        self.file = self.path.open("a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise CourseError(
                f"{self.path.parent} is being graded by {holder}; wait until it finishes, "
                "or grade into another --out folder"
            ) from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"process {os.getpid()}")
        self.file.flush()
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()  # closing releases the lock


# --- Stored results: what lets a second run regrade only what changed ----------------------------


def _result_file(out: Path, submission: Submission) -> Path:
    return out / "results" / submission.student / f"{submission.assignment}.json"


@lru_cache(maxsize=4)
def grader_digest(package: Path = PACKAGE_DIR) -> str:
    """The grader's own code and templates: a change to how grades are made regrades everything."""
    digest = hashlib.sha256()
    for path in sorted([*package.glob("*.py"), *package.glob("templates/**/*")]):
        if path.is_file():
            digest.update(f"{path.relative_to(package)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _fingerprint(submission: Submission, task_inputs: str) -> str:
    """What a submission's grade depends on: its clean copy, its timestamp, the course, the settings and the
    grader's own code."""
    digest = hashlib.sha256(
        f"{RESULTS_FORMAT}\n{grader_digest()}\n{task_inputs}\n{submission.status}\n{submission.notes}".encode()
    )
    if submission.path is not None:
        digest.update(submission.path.read_bytes())
        digest.update((submission.path.parent / "timestamp.txt").read_bytes())
    return digest.hexdigest()


def _store(out: Path, item: Graded, fingerprint: str) -> None:
    data = {
        "fingerprint": fingerprint,
        "status": item.submission.status,
        "notes": item.submission.notes,
        "seconds": item.seconds,
        "verdicts": [asdict(v) for v in item.verdicts],
    }
    write_atomically(_result_file(out, item.submission), json.dumps(data, indent=1))


def _stored(out: Path, submission: Submission, fingerprint: str) -> Graded | None:
    try:
        data = json.loads(_result_file(out, submission).read_text(encoding="utf-8"))
        # A grading failure is the grader's, not the submission's: it is never kept, whatever the fingerprint.
        if data["fingerprint"] != fingerprint or GRADING_FAILED in data["status"]:
            return None
        submission.status, submission.notes = list(data["status"]), list(data["notes"])
        return Graded(submission, [Verdict(**v) for v in data["verdicts"]], float(data["seconds"]), regraded=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- Grading ---------------------------------------------------------------------------------------


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

    @cached_property
    def kernel_problem(self) -> str:
        """Why no kernel starts, in one sentence, asked once per run: bwrap's own words, or the missing path."""
        from autograder.check import kernel_start_problem
        from autograder.worker import KERNEL_NOT_STARTED

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
        from autograder.reference import fingerprint

        source = self.sources.get(assignment, "")
        library = fingerprint(nbformat.reads(source, as_version=4)) if source else ""
        return json.dumps(self.settings, sort_keys=True) + source + library

    def finish(self, submission: Submission, executed: str | None, failure: str | None) -> list[Verdict]:
        """Scores, gradebook, executed notebook and statuses of a submission whose task came back."""
        release = self.releases.get(submission.assignment)
        if submission.path is None:
            if submission.assignment != NO_ASSIGNMENT:
                from autograder.gradebook import record_student

                record_student(self.gradebook, submission.student)
            return _ungraded(release)
        if executed is None:
            from autograder.worker import KERNEL_NOT_STARTED

            why = self.kernel_problem if failure == KERNEL_NOT_STARTED else failure
            submission.problem("grading_failed", f"the grader could not grade this notebook ({why})")
            return _ungraded(release)
        from nbgrader.utils import parse_utc

        from autograder.gradebook import record_submission
        from autograder.judge import judged_verdicts
        from autograder.nbgrader_api import config_from_settings
        from autograder.pipeline import judge

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


def grade(
    course: CourseConfig,
    submissions: Path,
    out: Path,
    db_url: str | None = None,
    timeout: int | None = None,
    sandbox: bool = True,
    workers: int = 1,
    scheduler: str | None = None,
    selection: Selection = Selection(),
    progress: Callable[[str], None] = lambda line: None,
    verbose: bool = True,
    bar: Callable[[int], object] | None = None,
    roster: Roster | None = None,
) -> GradeReport:
    """
    Grade SUBMISSIONS into OUT. progress gets messages (and, when verbose, one line per finished
    submission); bar(total), if given, makes a progress bar with update(n) and close().
    """
    start = time.perf_counter()
    require_grading_arguments(submissions, timeout, workers)
    if sandbox:
        from autograder.sandbox import require_bwrap

        require_bwrap()
    else:
        progress(NO_SANDBOX_WARNING)
    rewritten = [out / "course" / folder for folder in REWRITTEN]
    if any(submissions.resolve().is_relative_to(folder.resolve()) for folder in rewritten):
        raise CourseError(
            f"{submissions} is inside {out / 'course'}, whose {', '.join(REWRITTEN)} folders each grading run "
            "writes anew: grade into another --out folder (an nbgrader course's own submitted/ folder is fine "
            "as SUBMISSIONS)"
        )
    out.mkdir(parents=True, exist_ok=True)
    with OutLock(out):
        report = _grade_locked(
            course,
            submissions,
            out,
            db_url,
            Execution(timeout=timeout, sandbox=sandbox),
            workers,
            scheduler,
            selection,
            progress,
            verbose,
            bar,
            roster or {},
        )
    report.seconds = time.perf_counter() - start
    return report


def _lesson_references(
    course: CourseConfig,
    course_dir: Path,
    assignments,
    wanted: set[str],
    execution: Execution,
    progress: Callable[[str], None],
) -> dict[str, References]:
    from autograder.check import references_cache
    from autograder.key import save_records
    from autograder.reference import as_references, instructor_payloads

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


def _grade_locked(
    course, submissions, out, db_url, execution, workers, scheduler, selection, progress, verbose, bar, roster
) -> GradeReport:
    from autograder.worker import Task, run_all

    started = time.perf_counter()
    course_dir = out / "course"
    db_url = db_url or nbgrader_api.sqlite_url(out / "gradebook.db")
    for stale in REWRITTEN:
        shutil.rmtree(course_dir / stale, ignore_errors=True)
    progress("preparing the course and its gradebook ...")
    assignments = prepare_course(course, course_dir, db_url, {}, only=_assignment_folders(submissions))
    releases = {a.id: nbformat.read(course_dir / "release" / a.id / a.notebook_name, as_version=4) for a in assignments}
    sources = {a.id: (course_dir / "source" / a.id / a.notebook_name).read_text(encoding="utf-8") for a in assignments}
    taken, warnings = take_in(submissions, course_dir / "submitted", releases, course.max_notebook_bytes)
    for warning in warnings:
        progress(f"warning: {warning}")
    wanted = [s for s in taken if selection.wants(s)]
    references = _lesson_references(
        course, course_dir, assignments, {s.assignment for s in wanted if s.path is not None}, execution, progress
    )
    settings = nbgrader_api.pipeline_settings(course, execution)
    run = Run(
        course,
        out,
        db_url,
        execution,
        releases,
        sources,
        load_quizzes(course.quiz_bank, course.shuffle_seed),
        references,
        settings,
        local=scheduler is None,
    )

    done: dict[tuple[str, str], Graded] = {}
    fingerprints = {}
    inputs = {a: run.task_inputs(a) for a in releases}
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course.course_id) as gradebook:
        in_gradebook = _gradebook_scores(gradebook)
    for submission in taken:  # unchanged, or not asked for: the stored result stands
        fingerprints[id(submission)] = _fingerprint(submission, inputs.get(submission.assignment, ""))
        stored = _stored(out, submission, fingerprints[id(submission)])
        if stored is not None and not _agrees(stored, in_gradebook):
            progress(
                f"note: the gradebook's scores of {submission.student}/{submission.assignment} were changed "
                "outside this command (an Autograde in the Formgrader?); it is graded again"
            )
            stored = None
        if stored is not None and (not selection.wants(submission) or not selection.force):
            done[submission.student, submission.assignment] = stored
    todo = [s for s in wanted if (s.student, s.assignment) not in done]
    progress(
        f"grading {_count(len(todo), 'submission')}"
        + (f" ({len(wanted) - len(todo)} unchanged, kept)" if len(wanted) > len(todo) else "")
        + (f" on the Dask cluster at {scheduler}" if scheduler else f" with {workers} worker(s)")
        + " ..."
    )

    setup_seconds = time.perf_counter() - started
    counter = bar(len(todo)) if bar else None
    by_key = {f"{s.student}/{s.assignment}": s for s in todo}
    tasks = [
        Task(key, submission.path.read_text(encoding="utf-8"), sources[submission.assignment], settings)
        for key, submission in by_key.items()
        if submission.path is not None
    ]
    finished = 0

    def finish(submission: Submission, executed: str | None, failure: str | None, seconds: float) -> None:
        nonlocal finished
        try:
            found = run.finish(submission, executed, failure)
        except Exception as error:  # contained: this submission's status, never the end of the batch
            run.gradebook.db.rollback()  # whatever it half-wrote, the next submission starts clean
            submission.problem("grading_failed", f"the grader could not grade this notebook ({type(error).__name__})")
            found = _ungraded(releases.get(submission.assignment))
        item = Graded(submission, found, seconds)
        done[submission.student, submission.assignment] = item
        _store(out, item, fingerprints[id(submission)])
        if submission.assignment in releases:
            page = feedback.render(
                submission.student,
                submission.assignment,
                found,
                submission.notes,
                run.questions(submission.assignment),
                releases[submission.assignment],
            )
            _write_feedback(out, submission, page)
        write_atomically(out / "grades.csv", csv_text(_in_order(done)))
        finished += 1
        if verbose:
            progress(
                f"  [{finished}/{len(todo)}] {submission.student:<12} {submission.assignment:<30} "
                f"{item.score:g}/{item.max_score:g}  {item.status}  ({item.seconds:.1f} s)"
            )
        if counter is not None:
            counter.update(1)

    from autograder.report import previous_scores, write_report

    previous = previous_scores(out / "results")  # before this run overwrites them: the report says what changed
    with Gradebook(db_url, course.course_id) as run.gradebook:
        for student in roster.values():  # names, so the Formgrader lists students by name
            run.gradebook.update_or_create_student(
                student.id, first_name=student.first_name, last_name=student.last_name, email=student.email
            )
        run.gradebook.db.commit()
        for submission in todo:
            if submission.path is None:
                finish(submission, None, None, 0.0)
        for outcome in run_all(tasks, workers, scheduler):
            finish(by_key[outcome.key], outcome.executed, outcome.failure, outcome.seconds)
    if counter is not None:
        counter.close()
    graded = _in_order(done)
    write_atomically(out / "grades.csv", csv_text(graded))
    write_report(out, graded, run.quizzes, releases, previous)
    write_atomically(out / "grades_canvas.csv", canvas_csv(graded, releases, roster))
    write_atomically(out / "grades_moodle.csv", moodle_csv(graded, releases, roster))
    kernel_problem = vars(run).get("kernel_problem")  # asked only when a kernel did not start
    return GradeReport(out, graded, warnings, setup_seconds=setup_seconds, kernel_problem=kernel_problem)


def _write_feedback(out: Path, submission: Submission, page: str) -> None:
    """
    OUT/feedback/<student>/<assignment>/<assignment>.html, and the same page where nbgrader's
    release_feedback looks for it (OUT/course/feedback/...), beside the submission's timestamp.txt and
    submission_secret.txt, so `nbgrader release_feedback` returns it through the exchange.
    """
    name = f"{submission.assignment}.html"
    write_atomically(out / "feedback" / submission.student / submission.assignment / name, page)
    if submission.path is None:
        return
    exchange = out / "course" / "feedback" / submission.student / submission.assignment
    write_atomically(exchange / name, page)
    for kept in ("timestamp.txt", SECRET):
        if (submission.path.parent / kept).is_file():
            shutil.copyfile(submission.path.parent / kept, exchange / kept)


def _gradebook_scores(gradebook) -> dict[tuple[str, str], dict[str, float | str | None]]:
    """(student, assignment) -> {graded cell: its automatic score, or MANUAL} of every submission in the gradebook."""
    from nbgrader.api import SubmittedAssignment

    found: dict[tuple[str, str], dict[str, float | str | None]] = {}
    for submitted in gradebook.db.query(SubmittedAssignment):
        cells = found.setdefault((submitted.student_id, submitted.assignment.name), {})
        for notebook in submitted.notebooks:
            for cell in notebook.grades:
                # A cell an instructor scored by hand counts that score, whatever the automatic one: not compared.
                cells[cell.name] = cell.auto_score if cell.manual_score is None else MANUAL
    return found


def _agrees(stored: Graded, in_gradebook: dict[tuple[str, str], dict[str, float | str | None]]) -> bool:
    """Whether the gradebook still counts the scores this command stored for the submission."""
    if stored.submission.path is None:
        return True  # nothing of it was written to the gradebook
    scores = in_gradebook.get((stored.submission.student, stored.submission.assignment), {})
    return all(scores.get(v.question) in (v.score, MANUAL) for v in stored.verdicts)


def _assignment_folders(submissions: Path) -> set[str]:
    """The names of the assignment folders in SUBMISSIONS (no link followed): only those are released."""
    names = set()
    for student in submissions.iterdir():
        if student.is_dir() and not student.is_symlink():
            names.update(p.name for p in student.iterdir())
    return names


def _in_order(done: dict[tuple[str, str], Graded]) -> list[Graded]:
    return [done[key] for key in sorted(done)]


def csv_text(graded: list[Graded]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for item in graded:
        rows = item.verdicts or [Verdict(NO_ASSIGNMENT, 0.0, 0.0, "")]
        for v in rows:
            message = "; ".join(filter(None, [v.text] + item.submission.notes))
            writer.writerow(
                [
                    spreadsheet_safe(str(x))
                    for x in (
                        item.submission.student,
                        item.submission.assignment,
                        v.question,
                        f"{v.score:g}",
                        f"{v.max_score:g}",
                        item.status,
                        message,
                    )
                ]
            )
    return buffer.getvalue()


def class_table(report: GradeReport) -> str:
    """Students down, assignments across: score/max, with a mark where the submission had problems."""
    assignments = sorted({g.submission.assignment for g in report.graded})
    students = sorted({g.submission.student for g in report.graded})
    cell = {(g.submission.student, g.submission.assignment): g for g in report.graded}
    width = max([len("student")] + [len(s) for s in students]) + 2
    cols = [max(len(a), 9) + 2 for a in assignments]
    lines = ["student".ljust(width) + "".join(a.ljust(w) for a, w in zip(assignments, cols)) + "problems"]
    for student in students:
        row, problems = student.ljust(width), []
        for a, w in zip(assignments, cols):
            g = cell.get((student, a))
            row += (f"{g.score:g}/{g.max_score:g}" + ("*" if g.submission.status else "") if g else "-").ljust(w)
            if g and g.submission.status:
                problems.append(f"{a}: {g.status}")
        lines.append(row + "; ".join(problems))
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def print_summary(report: GradeReport) -> None:
    print()
    print(class_table(report))
    print("\n* = graded with a problem (see the status and message columns of grades.csv)")
    if report.kernel_problem:
        print(f"not graded, the grader's fault, not the students': {report.kernel_problem}")
    kept = len(report.graded) - len(report.regraded)
    print(
        f"{_count(len(report.regraded), 'submission')} graded in {report.seconds:.1f} s"
        + (f"; {kept} unchanged, kept" if kept else "")
    )
    if kept and report.regraded:  # a partial regrade: say which ones (the report marks what changed)
        names = [f"{g.submission.student}/{g.submission.assignment}" for g in report.regraded]
        print("regraded: " + ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else ""))
    print(f"gradebook and course: {report.out / 'course'} (nbgrader_config.py inside)")
    print(f"grades:   {report.out / 'grades.csv'} (a row per question), {report.out / 'grades_wide.csv'} (per student)")
    print(f"LMS:      {report.out / 'grades_canvas.csv'} (Canvas), {report.out / 'grades_moodle.csv'} (Moodle)")
    print(f"feedback: {report.out / 'feedback'}/<student>/<assignment>/<notebook>.html")
    print(f"report:   {report.out / 'report.html'}")
