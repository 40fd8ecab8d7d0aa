"""
The class report, written after every grading run (Moodle's quiz statistics report is the model):

    OUT/report.json      the numbers
    OUT/report.html      the same, self-contained, with the score histograms embedded
    OUT/grades_wide.csv  one row per student, one column per assignment and a total, for an LMS import

Per question and exercise, named by its title (the heading above it in the release, the prompt of a
quiz question) with its grade id: difficulty (the share of submissions with full marks, flagged under
half) and discrimination (the correlation of the item's score with the rest of the assignment's score,
over submissions: near 0 or negative means the item does not separate students who did well from those
who did not; it says little below about 20 submissions). For every quiz, how many chose each option.
Then every student's scores, marked where this run changed them ("6/8, was 5/8"), the submissions this
run regraded, the statuses, the most frequent messages and the submissions that had problems.

The page is rendered by templates/report.html.j2 with autoescape on: student ids, folder names and
messages reach it only as escaped text.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections import Counter
from pathlib import Path

from nbformat import NotebookNode

from autograder.course.files import spreadsheet_safe, write_atomically
from autograder.course.notebooks import graded_cell_titles, notebook_title
from autograder.course.quizbank import LETTERS
from autograder.pipeline.intake import NO_ASSIGNMENT

HARD = 0.5  # an item with full marks in fewer than this share of the submissions is flagged
RELIABLE_DISCRIMINATION = 20  # submissions below which a correlation over them means little

Previous = dict[tuple[str, str], dict[str, float]]  # (student, assignment) -> {grade id: score} of the last run


def previous_scores(results: Path) -> Previous:
    """
    The scores each submission had after the last run, from its stored result
    (OUT/results/<student>/<assignment>.json); read before a run overwrites them, so that the report
    can say what a regrade changed. A result that cannot be read is left out: its row is just not marked.
    """
    found: Previous = {}
    for path in sorted(results.glob("*/*.json")):
        try:
            verdicts = json.loads(path.read_text(encoding="utf-8"))["verdicts"]
            found[path.parent.name, path.stem] = {str(v["question"]): float(v["score"]) for v in verdicts}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def _correlation(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(sxx * syy)


def item_statistics(items, titles: dict[str, str] | None = None, prompts: dict[str, str] | None = None) -> list[dict]:
    """
    Difficulty and discrimination of every graded cell of one assignment's submissions. titles: grade id
    -> the heading above the cell in the release ("Exercise 2: ..."); prompts: grade id -> quiz question.
    """
    if not items:
        return []
    titles, prompts = titles or {}, prompts or {}
    totals = [g.score for g in items]
    stats = []
    for position, first in enumerate(items[0].verdicts):
        scores = [g.verdicts[position].score if position < len(g.verdicts) else 0.0 for g in items]
        rest = [total - score for total, score in zip(totals, scores)]
        full = sum(1 for g in items if position < len(g.verdicts) and g.verdicts[position].passed)
        stats.append(
            {
                "item": first.question,
                "title": titles.get(first.question, first.question),
                "prompt": prompts.get(first.question),
                "max_score": first.max_score,
                "difficulty": full / len(items),
                "hard": full / len(items) < HARD,
                "mean_score": sum(scores) / len(items),
                "discrimination": _correlation(scores, rest),
            }
        )
    return stats


def option_counts(items, questions, titles: dict[str, str] | None = None) -> list[dict]:
    """For each quiz question: how many chose each option, with the option texts and the key."""
    titles = titles or {}
    by_test_id = {q.test_id: q for q in questions}
    found = []
    for question in questions:
        chosen = Counter()
        for g in items:
            verdict = next((v for v in g.verdicts if v.question == question.test_id), None)
            chosen[verdict.choice if verdict and verdict.choice else "no valid answer"] += 1
        found.append(
            {
                "item": question.test_id,
                "title": titles.get(question.test_id, f"Question {question.number}"),
                "prompt": question.prompt,
                "answer": question.answer,
                "options": [
                    {"letter": letter, "text": option.text, "chosen": chosen.get(letter, 0)}
                    for letter, option in zip(LETTERS, by_test_id[question.test_id].options)
                ],
                "no_valid_answer": chosen.get("no valid answer", 0),
            }
        )
    return found


def _changes(graded, previous: Previous) -> dict:
    """
    Every submission this run graded, with its score before (None: it had no stored result) and the
    items whose score changed; and how many were kept from earlier runs.
    """
    regraded = []
    for g in graded:
        if not g.regraded or g.submission.assignment == NO_ASSIGNMENT:
            continue
        before = previous.get((g.submission.student, g.submission.assignment))
        regraded.append(
            {
                "student": g.submission.student,
                "assignment": g.submission.assignment,
                "score": g.score,
                "max_score": g.max_score,
                "was": None if before is None else sum(before.values()),
                "changed_items": [
                    {"item": v.question, "score": v.score, "was": before.get(v.question)}
                    for v in g.verdicts
                    if before is not None and before.get(v.question) != v.score
                ],
            }
        )
    kept = sum(1 for g in graded if not g.regraded and g.submission.assignment != NO_ASSIGNMENT)
    return {
        "submissions": regraded,
        "kept": kept,
        # A first run (nothing kept, nothing graded before) changed nothing: every score is new.
        "partial": kept > 0 or any(r["was"] is not None for r in regraded),
    }


def _score_rows(graded, assignments: list[str], changes: dict) -> list[dict]:
    """One row per student: their score in each assignment, what it was if this run changed it, the problems."""
    by_key = {(r["student"], r["assignment"]): r for r in changes["submissions"]}
    rows = []
    for student in sorted({g.submission.student for g in graded}):
        mine = {g.submission.assignment: g for g in graded if g.submission.student == student}
        cells = {}
        for assignment in assignments:
            g = mine.get(assignment)
            if g is None:
                continue
            change = by_key.get((student, assignment))
            cells[assignment] = {
                "score": g.score,
                "max_score": g.max_score,
                "status": g.status,
                "regraded": change is not None,
                "was": change["was"] if change else None,
            }
        problems = [g.status for g in mine.values() if g.submission.status and g.submission.assignment not in cells]
        rows.append({"student": student, "scores": cells, "other_problems": problems})
    return rows


def summarize(
    graded,
    quizzes,
    releases: dict[str, NotebookNode] | None = None,
    previous: Previous | None = None,
) -> dict:
    """
    quizzes: {quiz id: Quiz} of the bank; their assignments also get the options chosen per question.
    releases: {assignment: its release notebook}, whose headings name the items. previous: the scores
    of the last run (previous_scores), for what this run changed.
    """
    releases = releases or {}
    submissions = [g for g in graded if g.submission.assignment != NO_ASSIGNMENT]
    assignments = sorted({g.submission.assignment for g in submissions})
    changes = _changes(graded, previous or {})
    report = {
        "students": len({g.submission.student for g in graded}),
        "submissions": len(submissions),
        "regraded": changes,
        "scores": _score_rows(graded, assignments, changes),
        "assignments": {},
    }
    for assignment in assignments:
        items = [g for g in submissions if g.submission.assignment == assignment and g.verdicts]
        release = releases.get(assignment)
        titles = graded_cell_titles(release) if release is not None else {}
        quiz = quizzes.get(assignment)
        prompts = {q.test_id: q.prompt for q in quiz.questions} if quiz else {}
        entry = {
            "title": (notebook_title(release) if release is not None else None) or assignment,
            "submissions": len(items),
            "max_score": items[0].max_score if items else 0,
            "scores": sorted(g.score for g in items),
            "items": item_statistics(items, titles, prompts),
        }
        if quiz:
            entry["options"] = option_counts(items, quiz.questions, titles)
        report["assignments"][assignment] = entry
    for change in changes["submissions"]:
        titles = {i["item"]: i["title"] for i in report["assignments"][change["assignment"]]["items"]}
        for item in change["changed_items"]:
            item["title"] = titles.get(item["item"], item["item"])
    report["statuses"] = dict(Counter(s for g in graded for s in g.submission.status or ["ok"]).most_common())
    failing = Counter(v.text for g in submissions for v in g.verdicts if not v.passed and v.choice is None)
    report["frequent_messages"] = [{"message": m, "count": n} for m, n in failing.most_common(10)]
    report["problems"] = [
        {
            "student": g.submission.student,
            "assignment": g.submission.assignment,
            "status": g.status,
            "notes": g.submission.notes,
        }
        for g in graded
        if g.submission.status
    ]
    return report


def histogram_figure(scores: list[float], max_score: float, title: str):
    """The score distribution as a matplotlib figure. Both axes count whole things: integer ticks only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(4.5, 2.6), dpi=90)
    bins = [b - 0.5 for b in range(int(max_score) + 2)] if max_score <= 30 else 15
    ax.hist(scores, bins=bins, color="#4c78a8", edgecolor="white")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if max_score <= 30:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("score")
    ax.set_ylabel("submissions")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _histogram(scores: list[float], max_score: float, title: str) -> str:
    """A PNG of the score distribution, base64."""
    import matplotlib.pyplot as plt

    fig = histogram_figure(scores, max_score, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _points(score: float | None, max_score: float | None = None) -> str:
    if score is None:
        return "–"
    return f"{score:g}" if max_score is None else f"{score:g}/{max_score:g}"


def render_html(report: dict) -> str:
    """The report as a self-contained page (templates/report.html.j2; every value escaped)."""
    from autograder.outputs.feedback import TEMPLATES

    histograms = {
        assignment: _histogram(entry["scores"], entry["max_score"], f"{assignment}: score distribution")
        for assignment, entry in report["assignments"].items()
        if entry["scores"]
    }
    return (
        TEMPLATES.get_template("report.html.j2").render(
            report=report,
            histograms=histograms,
            number=_number,
            points=_points,
            hard=HARD,
            reliable=RELIABLE_DISCRIMINATION,
        )
        + "\n"
    )


def wide_csv(graded) -> str:
    """One row per student, one column per assignment and a total (maximum in the header), for an LMS import."""
    submissions = [g for g in graded if g.submission.assignment != NO_ASSIGNMENT and g.verdicts]
    assignments = sorted({g.submission.assignment for g in submissions})
    maxima = {a: next(g.max_score for g in submissions if g.submission.assignment == a) for a in assignments}
    scores = {(g.submission.student, g.submission.assignment): g.score for g in submissions}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["Student ID"] + [f"{a} ({maxima[a]:g})" for a in assignments] + [f"Total ({sum(maxima.values()):g})"]
    )
    for student in sorted({g.submission.student for g in graded}):
        row = [scores.get((student, a)) for a in assignments]
        writer.writerow(
            [spreadsheet_safe(student)]
            + ["" if s is None else f"{s:g}" for s in row]
            + [f"{sum(s or 0 for s in row):g}"]
        )
    return buffer.getvalue()


def write_report(
    out: Path,
    graded,
    quizzes,
    releases: dict[str, NotebookNode] | None = None,
    previous: Previous | None = None,
) -> dict:
    report = summarize(graded, quizzes, releases, previous)
    write_atomically(out / "report.json", json.dumps(report, indent=1))
    write_atomically(out / "report.html", render_html(report))
    write_atomically(out / "grades_wide.csv", wide_csv(graded))
    return report
