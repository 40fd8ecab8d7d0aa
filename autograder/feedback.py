"""
The feedback page a student gets back: per question right or wrong, the explanation of the option
chosen (quiz), the message of each exercise check. Built from verdicts only, never from cell sources,
so no hidden test (and no answer key) can appear in it.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from autograder.quizbank import Question
from autograder.results import Verdict

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; } td, th { padding: .45rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; text-align: left; }
.ok { color: #1a7f37; font-weight: 600; } .no { color: #b42318; font-weight: 600; }
.why { color: #555; font-size: .92em; margin-top: .3rem; } .notes { background: #fff6e5; padding: .6rem 1rem; border-radius: 6px; }
"""


def _row(verdict: Verdict, question: Question | None) -> str:
    mark = '<span class="ok">✓</span>' if verdict.passed else '<span class="no">✗</span>'
    what = escape(question.prompt) if question else escape(verdict.question)
    detail = escape(verdict.message)
    if verdict.explanation:
        detail += f'<div class="why">{escape(verdict.explanation)}</div>'
    return (f"<tr><td>{mark}</td><td><b>{escape(verdict.question)}</b><br>{what}</td>"
            f"<td>{verdict.score:g} / {verdict.max_score:g}</td><td>{detail}</td></tr>")


def render(student: str, assignment: str, verdicts: list[Verdict], notes: list[str],
           questions: list[Question] | None = None) -> str:
    by_test_id = {q.test_id: q for q in questions or []}
    score = sum(v.score for v in verdicts)
    total = sum(v.max_score for v in verdicts)
    notes_html = ""
    if notes:
        items = "".join(f"<li>{escape(note)}</li>" for note in notes)
        notes_html = f'<div class="notes"><b>About your submission</b><ul>{items}</ul></div>'
    rows = "".join(_row(v, by_test_id.get(v.question)) for v in verdicts)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(assignment)}: {escape(student)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{escape(assignment)}</h1><p>Student: <b>{escape(student)}</b> &middot; score <b>{score:g} / {total:g}</b></p>"
        f"{notes_html}<table><tr><th></th><th>question</th><th>score</th><th>feedback</th></tr>{rows}</table>"
        "</body></html>\n"
    )


def write(path: Path, page: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
