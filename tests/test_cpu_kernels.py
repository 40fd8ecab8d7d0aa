"""Another CPU teaches the same course. PyTorch picks its CPU kernels by the processor
(ATEN_CPU_CAPABILITY: default, avx2, avx512 on x86-64; default and SVE on ARM), and kernels that add
floats in another order print other last digits. Each lesson is run here as the grader runs it (the
instructor's notebook, hidden tests included, in the sandbox) under the kernels of this test run and
under another setting, and what its prose can rely on must read the same in both runs: the same words,
the same small integers (layers, heads, positions, counts of a few), every figure on the same side of
zero (so an interval holds zero in both or in neither) and every two figures of one printed line in
the same order (an estimate and its baseline, an interval and another), unless they are within one
printed digit: a tie at the printed precision.
"""

import re
from functools import cache
from itertools import combinations
from typing import NamedTuple

import nbformat
import pytest
import torch

from attnlab.zoo.kernels import capability_under
from autograder.course.assignments import assignments
from autograder.course.config import load_config
from autograder.pipeline.nbgrader_api import Execution
from autograder.pipeline.running import run_notebook
from autograder.sandbox.bwrap import bwrap_path

LESSONS = [a for a in assignments(load_config()) if not a.is_quiz]
# The last cell of every run says which kernels its sandboxed Python really used.
PROBE = "import torch\nprint('kernels:', torch.backends.cpu.get_cpu_capability().lower())"
MINUS = "\u2212"  # the typographic minus sign, printed by some formatting
NUMBER = re.compile(r"(?<![\w.])([-+\u2212]?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?")
SMALL = 20  # integers below this name things (a layer, a head, a position) or count a few: they must not move
# Below this in both runs a figure is float rounding (a conservation error of 4e-06): the prose can only
# call it zero, and its order against another such figure means nothing.
ROUNDING = 1e-4
# Timings change from run to run on any kernels: "12.3 s", "40 ms", and the column of a table headed "seconds".
TIMING = re.compile(r"\d+(?:\.\d+)?(?=\s*(?:s|ms|seconds)\b)")


def this_runs_kernels() -> str:
    return torch.backends.cpu.get_cpu_capability().lower()


@cache
def other_setting() -> str | None:
    """PyTorch's plain kernels, or the machine's own when this run already uses the plain ones."""
    if this_runs_kernels() != "default":
        return "default"
    native = capability_under(None)
    return native if native != "default" else None


def run_lesson(course, lesson, setting: str, folder, monkeypatch) -> list[str]:
    """The lesson's instructor notebook run in the sandbox under `setting`: the text each code cell printed."""
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", setting)
    source = nbformat.read(lesson.source, as_version=4)
    nb = nbformat.read(lesson.source, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    executed = run_notebook(course, nb, source, folder, Execution())
    printed = [_text(cell) for cell in executed.cells if cell.cell_type == "code"]
    assert printed[-1].strip() == f"kernels: {setting}", f"the lesson ran on {printed[-1]!r}, not {setting}"
    return printed[:-1]


def _text(cell) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stdout":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts)


def without_timings(text: str) -> str:
    lines, in_timed_table = [], False
    for line in text.splitlines():
        if in_timed_table and line.strip():
            line = re.sub(r"\d+(?:\.\d+)?(?=\s*$)", "(time)", line)  # the last column
        in_timed_table = line.rstrip().endswith("seconds") or (in_timed_table and bool(line.strip()))
        lines.append(TIMING.sub("(time)", line))
    return "\n".join(lines)


class Figure(NamedTuple):
    value: float
    unit: float  # one unit of its last printed digit
    integer: bool
    signed: bool  # printed with its sign, "+36.5%": a difference, never compared with a level ("39.3%")


def numbers(text: str) -> tuple[str, list[Figure]]:
    """(the text with every number replaced by # and its spacing by one space, its figures); timings are left out."""
    text = without_timings(text)
    found = []
    for match in NUMBER.finditer(text):
        sign, whole, fraction, exponent = match.groups()
        value = float(f"{'-' if sign == MINUS else sign}{whole}.{fraction or '0'}e{exponent or '0'}")
        unit = 10.0 ** (int(exponent or 0) - len(fraction or ""))
        found.append(Figure(value, unit, fraction is None and exponent is None, bool(sign)))
    return " ".join(NUMBER.sub("#", text).split()), found  # aligned columns widen with their numbers


def what_moved(cell: int, base: str, other: str) -> list[str]:
    """Every way the prose could read `other` differently from `base` (one cell's printed text)."""
    base_words, base_numbers = numbers(base)
    other_words, other_numbers = numbers(other)
    if base_words != other_words:
        lines = [(a, b) for a, b in zip(base.splitlines(), other.splitlines()) if numbers(a)[0] != numbers(b)[0]]
        return [f"cell {cell} prints other words: {lines[:1] or 'another number of lines'}"]
    problems = []
    pairs = list(zip(base_numbers, other_numbers))
    for (b, unit, integer, _), (o, *_) in pairs:
        if integer and abs(b) < SMALL and b != o:
            problems.append(f"cell {cell}: {b:g} became {o:g}")
        elif max(abs(b), abs(o)) < ROUNDING:
            continue
        elif b * o < 0 and max(abs(b), abs(o)) > 1.5 * unit:  # two printed digits or more
            problems.append(f"cell {cell}: {b:g} changed sign ({o:g})")
    # A line compares its figures (an estimate, its interval, a baseline, a difference); figures of
    # different lines of a table are often unrelated, and close ones may swap within their noise.
    for base_line, other_line in zip(without_timings(base).splitlines(), without_timings(other).splitlines()):
        in_line = list(zip(numbers(base_line)[1], numbers(other_line)[1]))
        for ((b1, u1, _, signed1), (o1, *_)), ((b2, u2, _, signed2), (o2, *_)) in combinations(in_line, 2):
            if max(abs(b1), abs(b2), abs(o1), abs(o2)) < ROUNDING:
                continue
            # Figures printed alike are of one kind (shares, AUCs, differences, intervals of them).
            if (
                (u1, signed1) == (u2, signed2)
                and (b1 - b2) * (o1 - o2) < 0
                and max(abs(b1 - b2), abs(o1 - o2)) > 1.5 * u1
            ):
                problems.append(
                    f"cell {cell}: {b1:g} against {b2:g} turned around ({o1:g}, {o2:g}) in "
                    f"{' '.join(base_line.split())!r} -> {' '.join(other_line.split())!r}"
                )
    return problems


def largest_move(base: list[str], other: list[str]) -> float:
    """The largest change of a printed figure, in units of its last printed digit."""
    moves = [
        abs(b - o) / unit
        for one, two in zip(base, other)
        for (b, unit, *_), (o, *_) in zip(numbers(one)[1], numbers(two)[1])
    ]
    return max(moves, default=0.0)


def test_reading_numbers_off_a_printed_line():
    words, found = numbers("AUC 0.413 [-0.02, +1.5e-3]; head (2, 1); 51.2% \u22120.062")
    assert words == "AUC # [#, #]; head (#, #); #% #"
    values = [figure.value for figure in found]
    assert values == [0.413, -0.02, 0.0015, 2, 1, 51.2, -0.062]
    assert [figure.unit for figure in found][:3] == [0.001, 0.01, 0.0001]  # 1.5e-3 is printed to 1e-4
    assert [figure.integer for figure in found] == [False, False, False, True, True, False, False]
    assert [figure.signed for figure in found] == [False, True, True, False, False, False, True]


@pytest.mark.parametrize(
    "base, other, moved",
    [
        ("gap 0.413 vs 0.402", "gap 0.415 vs 0.401", False),  # last digits only
        ("gap 0.413 vs 0.412", "gap 0.412 vs 0.413", False),  # a tie at the printed precision
        ("gap 0.413 vs 0.402", "gap 0.399 vs 0.402", True),  # the order the prose states turned around
        ("mean +0.012 [+0.004, +0.020]", "mean +0.010 [-0.002, +0.022]", True),  # the interval now holds 0
        ("best head (2, 1)", "best head (1, 3)", True),
        ("the interval excludes 0", "the interval includes 0", True),
        ("12.5% flipped", "12.7% flipped", False),
        ("error 4e-06 and 2e-06", "error 2e-06 and 3e-06", False),  # float rounding, zero to the prose
        ("flow   0.952   12.58\nrollout   0.941    0.03", "flow   0.952    8.96\nrollout   0.941    0.04", False),
        (
            "method   AUC   seconds\nflow   0.952   0.58\nrollout   0.941   0.03",
            "method   AUC   seconds\nflow   0.952   0.02\nrollout   0.941   0.03",
            False,
        ),
        ("trained in 12.3 s, then 0.5 s", "trained in 9.1 s, then 0.7 s", False),
        ("layer 1  39.5%\nlayer 2  39.3%", "layer 1  39.5%\nlayer 2  40.1%", False),  # rows: within their noise
        ("layer 1  39.5%  random 35.1%", "layer 1  39.5%  random 40.1%", True),  # a row's comparison
        (
            "control 39.3% [36.4%, 42.1%] +36.5% [+32.5%, +40.5%]",
            "control 40.1% [37.2%, 43.0%] +35.7% [+31.7%, +39.6%]",
            False,
        ),
    ],
)
def test_what_the_prose_relies_on_is_told_from_last_digits(base, other, moved):
    assert bool(what_moved(0, base, other)) == moved


@pytest.mark.slow
@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")
def test_a_sandboxed_kernel_computes_with_the_setting_the_grader_runs_under(course, tmp_path, monkeypatch):
    settings = [this_runs_kernels()] + ([other_setting()] if other_setting() else [])
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PROBE)]
    for setting in settings:
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", setting)
        executed = run_notebook(course, nb, nb, tmp_path, Execution())
        assert _text(executed.cells[0]).strip() == f"kernels: {setting}"


@pytest.mark.slow
@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda a: a.id)
def test_each_lesson_reads_the_same_under_other_cpu_kernels(course, lesson, tmp_path, monkeypatch):
    other = other_setting()
    if other is None:
        pytest.skip("this CPU offers PyTorch no kernels but the plain ones")
    monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path / "cache"))  # the runs' grader cache, not the user's
    base = run_lesson(course, lesson, this_runs_kernels(), tmp_path, monkeypatch)
    changed = run_lesson(course, lesson, other, tmp_path, monkeypatch)
    problems = [problem for cell, pair in enumerate(zip(base, changed)) for problem in what_moved(cell, *pair)]
    moved = largest_move(base, changed)
    print(f"{lesson.id}: {this_runs_kernels()} against {other}: the largest change is {moved:g} printed digits")
    assert not problems, f"under {other} kernels against {this_runs_kernels()}: " + "; ".join(problems[:12])
