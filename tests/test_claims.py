"""
The prose against the run: every number a lesson's markdown quotes is printed by a code cell above it
in the executed notebook, to the digits quoted, or is marked as a figure from a paper or a constant of
the course; a quoted interval [a, b] is one the run printed. `unsupported_claims(nb)` lists what is not;
tests/test_lessons.py calls it on the notebooks it has already executed (a lesson runs once), and the
tests below show it on hand-made notebooks.

What counts as a quoted number: a decimal (13.4, 0.820), a percentage (62%, 13.4%) or a number with a
sign (+3.5, -0.4, −0.4). Bare integers are layers, heads, counts, years and exercise numbers: not read.
Not read either: LaTeX ($...$), code (`...` and fenced blocks), headings' section numbers, section
references written §2.2 or "section 2.4" (write them so), arXiv ids, HTML comments.

Matching, "to the digits quoted": a quoted number with d decimals matches a printed number with at least
d decimals that rounds to it. A quoted percentage must match a printed percentage; a number quoted without
% may match either ("13.4 points" for a printed 13.4%). A quoted sign must be the printed sign; an
unsigned quote matches either sign ("falls by 7.2" for a printed -7.2%). An interval must be printed with
the same endpoints, digit for digit (the % may be left out of the quote).

Marking, in an HTML comment anywhere in the markdown cell (invisible when the notebook is rendered):

    <!-- paper: Clark et al. (2019), Table 3: 61, 77, 94.3 -->   a paper's figures, with the reference
    <!-- constant: 0.5 (chance AUC), 1e-5 -->                  numbers the course fixes, not measures

A paper comment needs a reference with a year. COURSE_CONSTANTS holds the few constants of every lesson.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import nbformat

COURSE_CONSTANTS = {
    "95%": "the level of every interval in the course",
}

_NUMBER = r"\d+(?:\.\d+)?"
# a sign counts only where a sign can stand: not in "66-73%" or "1-50 %", which are ranges
_QUOTED = re.compile(rf"(?<![\w.\-−–])([+\-−±]?)({_NUMBER})(\s?%)?(?![\w])")
_INTERVAL = re.compile(rf"\[\s*([+\-−]?{_NUMBER})\s?(%?)\s*,\s*([+\-−]?{_NUMBER})\s?(%?)\s*\]")
_MARK = re.compile(r"<!--\s*(paper|constant)\s*:(.*?)-->", re.S)
_NOT_READ = [
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"```.*?```", re.S),
    re.compile(r"`[^`]*`"),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\$[^$]*\$"),
    re.compile(rf"§\s*{_NUMBER}(?:\.\d+)*(?:\s*[–\-]\s*{_NUMBER}(?:\.\d+)*)?"),
    re.compile(rf"\b(?:[Ss]ections?|Prop\.|Table|Figure|Eq\.)\s+{_NUMBER}(?:\.\d+)*"),
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(rf"^#+\s*{_NUMBER}(?:\.\d+)*", re.M),  # a heading's section number
    re.compile(r"arXiv:\s*[\d.]+"),
]


def _sign(text: str) -> str:
    return "-" if text in ("-", "−") else "+" if text == "+" else ""


class Printed:
    """Every number and interval the code cells above a point printed."""

    def __init__(self) -> None:
        self.numbers: list[tuple[Decimal, int, bool]] = []  # (value, decimals, is a percentage)
        self.intervals: set[tuple[str, str]] = set()

    def add(self, text: str) -> None:
        text = text.replace("−", "-")
        for sign, digits, percent in re.findall(rf"(?<![\w.])([+\-]?)({_NUMBER})(\s?%)?", text):
            decimals = len(digits.split(".")[1]) if "." in digits else 0
            self.numbers.append((Decimal(sign + digits), decimals, bool(percent)))
        for low, low_percent, high, high_percent in _INTERVAL.findall(text):
            self.intervals.add((low + low_percent, high + high_percent))

    def has_number(self, sign: str, digits: str, percent: bool) -> bool:
        quoted = Decimal(digits)
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        step = Decimal(1).scaleb(-decimals)
        for value, printed_decimals, printed_percent in self.numbers:
            if printed_decimals < decimals or (percent and not printed_percent):
                continue
            if sign == "+" and value < 0 or sign == "-" and value >= 0:
                continue
            magnitude = abs(value)
            if any(magnitude.quantize(step, rounding=r) == quoted for r in (ROUND_HALF_UP, ROUND_HALF_EVEN)):
                return True
        return False

    def has_interval(self, low: str, high: str) -> bool:
        return (low, high) in self.intervals


def _outputs(cell) -> str:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output.get("text", ""))
        elif "data" in output and "text/plain" in output["data"]:
            texts.append(output["data"]["text/plain"])
    return "\n".join(texts)


def _marked(source: str) -> tuple[set[str], list[str]]:
    """Numbers exempted by the cell's comments, and the problems with the comments themselves."""
    exempt, problems = set(), []
    for kind, body in _MARK.findall(source):
        if kind == "paper" and not re.search(r"\b(19|20)\d{2}\b", body):
            problems.append(f"a paper comment without a reference and year: <!-- paper:{body}-->")
        listed = body.split(":", 1)[1] if kind == "paper" and ":" in body else body
        exempt |= {_canonical(*m) for m in _QUOTED.findall(listed.replace("−", "-"))}
    return exempt, problems


def _canonical(sign: str, digits: str, percent: str) -> str:
    return f"{_sign(sign)}{digits}{'%' if percent else ''}"


def unsupported_claims(nb: nbformat.NotebookNode) -> list[str]:
    """One line per quoted number or interval of a markdown cell that no code cell above it printed."""
    printed, problems = Printed(), []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            printed.add(_outputs(cell))
            continue
        if cell.cell_type != "markdown":
            continue
        exempt, comment_problems = _marked(cell.source)
        problems += [f"cell {index}: {p}" for p in comment_problems]
        text = cell.source
        for pattern in _NOT_READ:
            text = pattern.sub(" ", text)
        text = text.replace("−", "-")
        for low, low_pct, high, high_pct in _INTERVAL.findall(text):
            if not (
                printed.has_interval(low + low_pct, high + high_pct) or printed.has_interval(low + "%", high + "%")
            ):
                problems.append(
                    f"cell {index}: the interval [{low}{low_pct}, {high}{high_pct}] is not printed above it"
                )
        for sign, digits, percent in _QUOTED.findall(text):
            if "." not in digits and not percent and _sign(sign) == "":
                continue  # a bare integer
            token = _canonical(sign, digits, percent)
            if token in exempt or token.lstrip("+-") in exempt or token in COURSE_CONSTANTS:
                continue
            if not printed.has_number(_sign(sign), digits, bool(percent)):
                problems.append(f"cell {index}: {token} is not printed by any code cell above it")
    return problems


# --- the checker on hand-made notebooks ------------------------------------------------------------


def _notebook(*cells: tuple[str, str, str]) -> nbformat.NotebookNode:
    """cells: (kind, source, printed output)."""
    nb = nbformat.v4.new_notebook()
    for kind, source, output in cells:
        if kind == "code":
            cell = nbformat.v4.new_code_cell(source)
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
        else:
            cell = nbformat.v4.new_markdown_cell(source)
        nb.cells.append(cell)
    return nb


RUN = "accuracy 13.4% [12.1%, 14.8%], AUC 0.8196, difference -7.2% [-11.6%, -2.9%]\n"


def _prose(text: str) -> list[str]:
    return unsupported_claims(_notebook(("code", "print(...)", RUN), ("markdown", text, "")))


def test_numbers_and_intervals_printed_above_are_supported() -> None:
    assert _prose("Accuracy is 13.4% [12.1%, 14.8%]; AUC 0.820 or 0.82; it falls by 7.2 points, -7.2%.") == []
    assert _prose("The interval [-11.6, -2.9] may leave out the % sign; layer 2 of 3 heads, 500 sentences.") == []


def test_a_quoted_number_changed_by_one_in_its_last_digit_fails_with_the_cell_and_the_number() -> None:
    for changed, number in (("13.5%", "13.5%"), ("0.821", "0.821"), ("0.83", "0.83"), ("-7.3%", "-7.3%")):
        problems = _prose(f"The run gives {changed}.")
        assert problems == [f"cell 1: {number} is not printed by any code cell above it"]


def test_a_quoted_interval_must_be_the_printed_one() -> None:
    assert _prose("Accuracy 13.4% [12.1%, 14.9%].") == [
        "cell 1: the interval [12.1%, 14.9%] is not printed above it",
        "cell 1: 14.9% is not printed by any code cell above it",
    ]
    assert _prose("difference [-11.6%, -3.0%]")[0] == "cell 1: the interval [-11.6%, -3.0%] is not printed above it"


def test_signs_percentages_and_order_are_checked() -> None:
    assert _prose("a gain of +7.2%") == ["cell 1: +7.2% is not printed by any code cell above it"]
    assert _prose("AUC 81.96%") == ["cell 1: 81.96% is not printed by any code cell above it"]  # printed 0.8196, no %
    below = unsupported_claims(_notebook(("markdown", "expect 13.4%", ""), ("code", "print(...)", RUN)))
    assert below == ["cell 0: 13.4% is not printed by any code cell above it"]  # printed only below the prose


def test_paper_figures_and_constants_are_marked_in_the_cell() -> None:
    marked = (
        "Clark et al. report 94.3 and 65.1%; chance is 0.5.\n"
        "<!-- paper: Clark et al. (2019): 94.3, 65.1% -->\n<!-- constant: 0.5 -->"
    )
    assert _prose(marked) == []
    assert _prose("Clark et al. report 94.3.\n<!-- paper: Clark et al.: 94.3 -->") == [
        "cell 1: a paper comment without a reference and year: <!-- paper: Clark et al.: 94.3 -->"
    ]
    assert _prose("Clark et al. report 94.3.") == ["cell 1: 94.3 is not printed by any code cell above it"]


def test_code_math_and_section_references_are_not_read() -> None:
    assert (
        _prose("Run `probe(lr=0.05)`, see §2.2–2.3 and section 2.4; $\\hat A = 0.5 A + 0.5 I$; a 1-50 % range.") == []
    )
