"""
The class report, written after every grading run (Moodle's quiz statistics report is the model):

    OUT/report.json      the numbers
    OUT/report.html      the same, self-contained, with the score histograms embedded
    OUT/grades_wide.csv  one row per student, one column per assignment and a total, for an LMS import

Per question and exercise: difficulty (the share of submissions with full marks) and discrimination
(the correlation of the item's score with the rest of the assignment's score, over submissions: near
0 or negative means the item does not separate students who did well from those who did not). For
every quiz, how many chose each option. Then the statuses, the most frequent messages and the students
whose submissions had problems.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections import Counter
from html import escape
from pathlib import Path

from autograder.intake import NO_ASSIGNMENT
from autograder.output import spreadsheet_safe, write_atomically
from autograder.quizbank import LETTERS


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


def item_statistics(items) -> list[dict]:
    """Difficulty and discrimination of every graded cell of one assignment's submissions."""
    if not items:
        return []
    totals = [g.score for g in items]
    stats = []
    for position, first in enumerate(items[0].verdicts):
        scores = [g.verdicts[position].score if position < len(g.verdicts) else 0.0 for g in items]
        rest = [total - score for total, score in zip(totals, scores)]
        full = sum(1 for g in items if position < len(g.verdicts) and g.verdicts[position].passed)
        stats.append(
            {
                "item": first.question,
                "max_score": first.max_score,
                "difficulty": full / len(items),
                "mean_score": sum(scores) / len(items),
                "discrimination": _correlation(scores, rest),
            }
        )
    return stats


def option_counts(items, questions) -> list[dict]:
    """For each quiz question: how many chose each option, with the option texts and the key."""
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


def summarize(graded, quizzes) -> dict:
    """quizzes: {quiz id: Quiz} of the bank; their assignments also get the options chosen per question."""
    submissions = [g for g in graded if g.submission.assignment != NO_ASSIGNMENT]
    assignments = sorted({g.submission.assignment for g in submissions})
    report = {
        "students": len({g.submission.student for g in graded}),
        "submissions": len(submissions),
        "assignments": {},
    }
    for assignment in assignments:
        items = [g for g in submissions if g.submission.assignment == assignment and g.verdicts]
        entry = {
            "submissions": len(items),
            "max_score": items[0].max_score if items else 0,
            "scores": sorted(g.score for g in items),
            "items": item_statistics(items),
        }
        if assignment in quizzes:
            entry["options"] = option_counts(items, quizzes[assignment].questions)
        report["assignments"][assignment] = entry
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


def _histogram(scores: list[float], max_score: float, title: str) -> str:
    """A PNG of the score distribution, base64."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 2.6), dpi=90)
    bins = [b - 0.5 for b in range(int(max_score) + 2)] if max_score <= 30 else 15
    ax.hist(scores, bins=bins, color="#4c78a8", edgecolor="white")
    ax.set_xlabel("score")
    ax.set_ylabel("submissions")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render_html(report: dict) -> str:
    parts = [f"<h1>Class report</h1><p>{report['students']} students, {report['submissions']} submissions.</p>"]
    for assignment, entry in report["assignments"].items():
        parts.append(
            f"<h2>{escape(assignment)}</h2><p>{entry['submissions']} submissions, out of {entry['max_score']:g}.</p>"
        )
        if entry["scores"]:
            image = _histogram(entry["scores"], entry["max_score"], f"{assignment}: score distribution")
            parts.append(f'<img alt="score distribution of {escape(assignment)}" src="data:image/png;base64,{image}">')
        rows = "".join(
            f"<tr><td>{escape(i['item'])}</td><td>{i['max_score']:g}</td><td>{i['difficulty']:.0%}</td>"
            f"<td>{_number(i['mean_score'])}</td><td>{_number(i['discrimination'])}</td></tr>"
            for i in entry["items"]
        )
        parts.append(
            "<table><tr><th>item</th><th>points</th><th>full marks</th><th>mean</th>"
            f"<th>discrimination</th></tr>{rows}</table>"
        )
        for question in entry.get("options", []):
            options = "".join(
                f"<tr><td>{'✓' if o['letter'] == question['answer'] else ''}</td>"
                f"<td>{o['letter']}) {escape(o['text'])}</td>"
                f"<td>{o['chosen']}</td></tr>"
                for o in question["options"]
            )
            parts.append(
                f"<h3>{escape(question['item'])}: {escape(question['prompt'])}</h3><table>{options}"
                f"<tr><td></td><td>no valid answer</td><td>{question['no_valid_answer']}</td></tr></table>"
            )
    statuses = "".join(f"<tr><td>{escape(s)}</td><td>{n}</td></tr>" for s, n in report["statuses"].items())
    parts.append(f"<h2>Statuses</h2><table><tr><th>status</th><th>submissions</th></tr>{statuses}</table>")
    messages = "".join(
        f"<tr><td>{m['count']}</td><td>{escape(m['message'])}</td></tr>" for m in report["frequent_messages"]
    )
    parts.append(f"<h2>Most frequent messages</h2><table><tr><th>times</th><th>message</th></tr>{messages}</table>")
    problems = "".join(
        f"<tr><td>{escape(p['student'])}</td><td>{escape(p['assignment'])}</td><td>{escape(p['status'])}</td>"
        f"<td>{escape('; '.join(p['notes']))}</td></tr>"
        for p in report["problems"]
    )
    parts.append(
        "<h2>Submissions with problems</h2><table><tr><th>student</th><th>assignment</th><th>status</th>"
        f"<th>what happened</th></tr>{problems}</table>"
    )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;"
        "text-align:left;vertical-align:top}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, "
        f"initial-scale=1'><title>Class report</title><style>{style}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
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


def write_report(out: Path, graded, quizzes) -> dict:
    report = summarize(graded, quizzes)
    write_atomically(out / "report.json", json.dumps(report, indent=1))
    write_atomically(out / "report.html", render_html(report))
    write_atomically(out / "grades_wide.csv", wide_csv(graded))
    return report
