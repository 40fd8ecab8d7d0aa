"""
The student's first hour, in a real browser: JupyterLab as `make lab` starts it (`python -m autograder
lab`), on a temporary copy of the course, driven in Chromium by Playwright.

- JupyterLab opens on the student's workspace, work/lessons (copies of lessons/), the quizzes are
  reachable in work/quizzes, and none of nbgrader's instructor tools nor the news pop-up show (they do
  in a plain `jupyter lab`, which keeps the check honest).
- Every lesson and the quiz, opened from the file browser: the untouched notebook is not marked
  modified, nor changed on disk; Run All runs every code cell with no exercise done, each exercise
  says it is not done yet in one line, without a traceback (and no check line runs off the edge of a
  1400-pixel window), every figure is an image, and the last cell's self-check gives a verdict per
  exercise or question at once, without running the notebook.
- Lesson 00 as a student works it: a softmax over the wrong dimension gets the message that names
  it, with no line of the library; using run_with_cache gets one message, with no unittest.mock;
  a solution typed in passes its check; saved, the self-check agrees.
- The quiz with an answer written without its quotes: its check cell and the self-check say so; Run All
  does not start the self-check, running its cell on its own does.
- The quiz's own check command works as written in JupyterLab's terminal.
- The work saved in work/ survives `build` (what `make demo` runs first).
- A feedback page from a graded example reads well on a phone.

Needs Chromium from the system's packages (Debian: `apt-get install chromium`). `make test-browser`
runs it; `make test` leaves it out (marker `browser`). A failing test leaves a screenshot and the
server's log in build/browser-artifacts/.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from attnlab import settings
from autograder.course.assignments import assignments
from autograder.course.config import load_config
from autograder.release.example_submissions import SOLUTION_REGION
from autograder.student.lab import WORKSPACE, lab_command, prepare_workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = settings.chromium()
ARTIFACTS = REPO / "build" / "browser-artifacts"
NOTEBOOKS = assignments(load_config())
STARTUP = 120  # seconds for JupyterLab to answer
ACTION = 60_000  # milliseconds for one click, one page, one kernel start
RUN_ALL = 900  # seconds for a whole notebook and its self-check, on a busy 2-core machine
CHECK = 600  # seconds for one self-check (the first of a lesson also runs the instructor's notebook)
NUMBERED = re.compile(r"\[\d+\]:")


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    for folder in ("lessons", "quizzes", "solutions"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _jupyterlab(root: Path, state: Path, student: bool):
    """JupyterLab on `root`: the students' (as `make lab` starts it) or a plain one; yields its URL with a token."""
    port, token = _free_port(), secrets.token_hex(16)
    args = [
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
    ]
    if student:
        prepare_workspace(root)  # as `python -m autograder lab` does before it starts JupyterLab
    command, env = lab_command(root, args)
    if not student:
        env.pop("JUPYTER_CONFIG_PATH")
    # Settings, workspaces and runtime files of this server only: nothing of the user's, nothing left behind.
    env |= {
        "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "OMP_NUM_THREADS": "1",
    }
    # No autosave: a notebook run by one test must reach the next test as the student received it.
    docmanager = state / "settings" / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    docmanager.parent.mkdir(parents=True, exist_ok=True)
    docmanager.write_text('{"autosave": false}')
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / f"jupyterlab-{'student' if student else 'plain'}.log").open("w")
    server = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start within {STARTUP} s: see {log.name}")
                time.sleep(1)
        yield url, token
    finally:
        server.terminate()  # JupyterLab shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def lab(course_copy, tmp_path_factory):
    with _jupyterlab(course_copy, tmp_path_factory.mktemp("jupyter"), student=True) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) or set ATTNLAB_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chromium's own sandbox cannot start as root; the page is a local JupyterLab.
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"] if os.geteuid() == 0 else []
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(ACTION)
    page = context.new_page()
    page.workspace = re.sub(r"\W+", "-", request.node.name)  # a JupyterLab workspace of its own
    yield page
    context.close()


@contextmanager
def screenshot_on_failure(page, name: str):
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        raise


def keep_view(locator, name: str) -> None:
    """A picture of what a student sees, kept in build/browser-artifacts/views/ for whoever reviews a change
    to it (an element's screenshot: the cell with its output)."""
    (ARTIFACTS / "views").mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(ARTIFACTS / "views" / f"{name}.png"))


# --- Driving JupyterLab as a student does ----------------------------------------------------------


def open_lab(page, lab, where: str = f"{WORKSPACE}/lessons"):
    url, token = lab
    page.goto(f"{url}/lab/workspaces/{page.workspace}/tree/{where}?reset&token={token}")
    page.locator(".jp-DirListing-item").first.wait_for()


def open_from_file_browser(page, path: str):
    """Double-click the folders of `path` from the top of the file browser, then the notebook."""
    page.locator(".jp-BreadCrumbs-home").click()
    *folders, name = path.split("/")
    for part in folders + [name]:
        page.locator(
            ".jp-DirListing-item",
            has=page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(part)}$")),
        ).dblclick()
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
    return panel


def wait_for_cells(panel, count: int):
    """Until the notebook shows all its cells (it starts with one empty cell while the file loads)."""
    wait_until(lambda: cells(panel).count() == count, ACTION / 1000, f"the notebook's {count} cells")


def notebook_tab(page, name: str):
    return page.locator(".lm-TabBar-tab[data-type='document-title']", has_text=name)


def is_dirty(page, name: str) -> bool:
    return "jp-mod-dirty" in (notebook_tab(page, name).get_attribute("class") or "")


def menu(page, top: str, item: str):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def run_all(page, panel, what: str) -> None:
    """Run > Run All Cells, and wait until every cell has run and the kernel is idle."""
    menu(page, "Run", "Run All Cells")
    wait_until(
        lambda: (
            all(NUMBERED.fullmatch(p) for p in prompts(panel))
            and panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count()
        ),
        RUN_ALL,
        f"Run All to reach the end of {what}",
    )


def wait_until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:g} s for {what}")
        time.sleep(1)


def prompts(panel) -> list[str]:
    # textContent, not innerText: JupyterLab does not lay out cells scrolled out of view.
    return [p.strip() for p in panel.locator(".jp-CodeCell .jp-InputArea-prompt").all_text_contents()]


def cells(panel):
    return panel.locator(".jp-Notebook .jp-Cell")


def output_text(cell) -> str:
    return "\n".join(cell.locator(".jp-OutputArea-output").all_text_contents())


def run_cell(page, panel, index: int, seconds: float = 120):
    """Select cell `index` and run it (Shift+Enter), then wait for its new execution count."""
    cell = cells(panel).nth(index)
    cell.locator(".jp-InputArea-prompt").click()  # selects the cell in command mode
    before = cell.locator(".jp-InputArea-prompt").text_content()
    page.keyboard.press("Shift+Enter")
    wait_until(
        lambda: (
            NUMBERED.fullmatch(cell.locator(".jp-InputArea-prompt").text_content().strip() or "")
            and cell.locator(".jp-InputArea-prompt").text_content() != before
        ),
        seconds,
        f"cell {index} to run",
    )
    return cell


def replace_code(page, cell, code: str):
    """Replace a cell's code as a paste would (typing would meet the editor's auto-indent)."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)
    page.keyboard.press("Escape")


def graded(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


def index_of(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def verdict_rows(cell) -> list[str]:
    return [row.text_content() for row in cell.locator(".verdicts .rows tr").all()[1:]]


# --- The tests -----------------------------------------------------------------------------------


def test_lab_opens_on_the_lessons_without_the_instructor_tools(page, lab, course_copy, tmp_path):
    with screenshot_on_failure(page, "lab-opens"):
        url, token = lab
        page.goto(f"{url}/?token={token}")  # where `make lab` sends the browser
        listing = page.locator(".jp-DirListing-itemText")
        listing.first.wait_for()
        assert page.locator(".jp-BreadCrumbs").text_content().replace(" ", "").strip("/") == f"{WORKSPACE}/lessons"
        assert listing.all_text_contents() == sorted(p.name for p in (course_copy / "lessons").glob("*.ipynb"))
        page.locator(".jp-BreadCrumbs-home").click()
        page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{WORKSPACE}$")).dblclick()
        page.locator(".jp-DirListing-itemText", has_text=re.compile("^quizzes$")).wait_for()
        time.sleep(5)  # the news question, when enabled, comes a moment after the page
        student_view = (
            page.locator(".lm-MenuBar-itemLabel").all_text_contents(),
            page.locator(".Toastify__toast").count(),
        )
        # The same JupyterLab without the students' configuration, on a fresh profile: the tools are there.
        with _jupyterlab(course_copy, tmp_path, student=False) as (plain, plain_token):
            page.goto(f"{plain}/lab?reset&token={plain_token}")
            page.locator(".jp-DirListing-itemText").first.wait_for()
            time.sleep(5)
            plain_view = (
                page.locator(".lm-MenuBar-itemLabel").all_text_contents(),
                page.locator(".Toastify__toast").count(),
            )
        assert "Nbgrader" in plain_view[0] and plain_view[1] == 1  # the menu, and "Would you like ... Jupyter news?"
        assert "Nbgrader" not in student_view[0] and student_view[1] == 0


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda a: a.id)
def test_run_all_reaches_the_end_of_every_notebook_with_nothing_done(page, lab, course_copy, notebook):
    path = f"{WORKSPACE}/{notebook.student_version.as_posix()}"
    nb = nbformat.read(course_copy / path, as_version=4)
    on_disk = (course_copy / path).read_bytes()
    with screenshot_on_failure(page, f"run-all-{notebook.id}"):
        open_lab(page, lab)
        open_from_file_browser(page, path)
        time.sleep(3)  # JupyterLab writes the kernel's metadata into the notebook once connected
        assert not is_dirty(page, notebook.notebook_name), "an untouched notebook is marked modified"
        assert page.get_by_role("button", name="Validate").count() == 0  # nbgrader's, for instructors
        notebook_tab(page, notebook.notebook_name).locator(".lm-TabBar-tabCloseIcon").click()
        time.sleep(2)
        assert page.locator(".jp-Dialog").count() == 0, "closing an untouched notebook asks to save it"
        assert (course_copy / path).read_bytes() == on_disk

        panel = open_from_file_browser(page, path)
        wait_for_cells(panel, len(nb.cells))
        run_all(page, panel, str(path))

        shown = cells(panel)
        assert shown.count() == len(nb.cells)
        # Exercise and check cells, and cells that use an exercise's answer: tagged so Run All goes on past them.
        exercise_cells = {i for i, c in enumerate(nb.cells) if "raises-exception" in c.metadata.get("tags", [])}
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            errors = shown.nth(i).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            if i not in exercise_cells:
                assert errors.count() == 0, f"cell {i} failed: {output_text(shown.nth(i))[-500:]}"
            if "plt.show(" in cell.source:
                image = shown.nth(i).locator(".jp-OutputArea-output img").first
                image.scroll_into_view_if_needed()
                assert image.evaluate("img => img.complete && img.naturalWidth > 0"), f"cell {i}: no figure"
        for i in graded(nb):  # each unfinished exercise says so, in words
            shown.nth(i).scroll_into_view_if_needed()
            page.wait_for_timeout(200)  # cells scrolled into view are laid out on the next frame
            assert shown.nth(i).locator(".cm-scroller").evaluate("e => e.scrollWidth <= e.clientWidth + 1"), (
                f"cell {i}: a check line runs off the right edge"
            )
            said = output_text(shown.nth(i))
            if notebook.is_quiz:
                assert "must be one letter in quotes" in said, said[-300:]
            else:  # one line: "✗ Exercise 1: ... (`name`) is not done yet: ...", no traceback
                assert re.search(r"^✗ .*not done yet", said, re.I | re.M) and "Traceback" not in said, said[-300:]
                assert said.strip().count("\n") == 0, said[-300:]
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and shown.nth(i).locator(".jp-OutputArea-output table").count():
                keep_view(shown.nth(i), f"{notebook.id}-table")
                break
        if graded(nb):
            keep_view(shown.nth(graded(nb)[0]), f"{notebook.id}-first-check-untouched")

        self_check = output_text(shown.nth(len(nb.cells) - 1))  # the self-check, run by Run All like any cell
        assert "the notebook was not run: the verdict is at once" in self_check, self_check[-300:]
        rows = verdict_rows(shown.nth(len(nb.cells) - 1))
        assert len(rows) == len(graded(nb))
        assert all("✗" in row and ("not answered" if notebook.is_quiz else "not done yet") in row for row in rows), rows


def test_a_student_works_an_exercise_of_lesson_00(page, lab, course_copy):
    path = f"{WORKSPACE}/lessons/00_tiny_transformer.ipynb"
    nb = nbformat.read(course_copy / path, as_version=4)
    source = nbformat.read(course_copy / "solutions" / "00_tiny_transformer.ipynb", as_version=4)
    solution = SOLUTION_REGION.sub(
        lambda m: m.group(1), source.cells[index_of(source, "ex_attention_probabilities")].source
    )
    exercise, its_check = index_of(nb, "ex_attention_probabilities"), index_of(nb, "test_attention_probabilities")
    second, second_check = index_of(nb, "ex_collect_patterns"), index_of(nb, "test_collect_patterns")
    with screenshot_on_failure(page, "lesson-00-exercise"):
        open_lab(page, lab)
        panel = open_from_file_browser(page, path)
        wait_for_cells(panel, len(nb.cells))
        for i, cell in enumerate(nb.cells[:exercise]):  # the lesson up to the exercise
            if cell.cell_type == "code":
                run_cell(page, panel, i)

        # The mistake of issue 14: a softmax over the queries. The first message names it.
        replace_code(page, cells(panel).nth(exercise), solution.replace("dim=-1", "dim=-2"))
        run_cell(page, panel, exercise)
        said = output_text(run_cell(page, panel, its_check))
        assert "the row sums contains NaN or infinite values" in said and "softmax over the last dimension" in said
        assert "checks.py" not in said and said.count("Cell In[") == 1, said  # the student's line, then the message

        replace_code(page, cells(panel).nth(exercise), solution)
        run_cell(page, panel, exercise)
        assert "✓ attention_probabilities: all visible checks passed." in output_text(run_cell(page, panel, its_check))

        # run_with_cache is off limits in exercise 2: one message, no frames of unittest.mock.
        replace_code(
            page,
            cells(panel).nth(second),
            "def collect_patterns(model, tokens):\n"
            "    _, cache = model.run_with_cache(tokens)\n"
            "    return torch.stack([cache[f'blocks.{l}.attn.hook_pattern'] for l in range(model.cfg.n_layers)])\n",
        )
        run_cell(page, panel, second)
        said = output_text(run_cell(page, panel, second_check))
        assert "CheckFailed: use model.hooks, not run_with_cache" in said
        assert "mock" not in said and "<switched off>" not in said, said

        page.keyboard.press("Control+s")
        wait_until(lambda: not is_dirty(page, "00_tiny_transformer.ipynb"), 60, "the notebook to be saved")
        rows = verdict_rows(run_cell(page, panel, len(nb.cells) - 1, seconds=CHECK))
        assert len(rows) == 2
        assert "✓" in rows[0] and "Exercise 1: attention from queries and keys" in rows[0] and "2 / 2" in rows[0]
        assert "✗" in rows[1] and "use model.hooks, not run_with_cache" in rows[1], rows
        keep_view(cells(panel).nth(len(nb.cells) - 1), "lesson-00-self-check-verdicts")


def test_a_quiz_answer_without_quotes_and_the_self_check_only_when_asked(page, lab, course_copy):
    path = f"{WORKSPACE}/quizzes/quiz.ipynb"
    nb = nbformat.read(course_copy / path, as_version=4)
    answer, its_check = index_of(nb, "answer_7"), index_of(nb, "q7")
    missing_quotes = 'ANSWER_7 is not set: did you forget the quotes? Write ANSWER_7 = "D"'
    with screenshot_on_failure(page, "quiz-missing-quotes"):
        open_lab(page, lab, f"{WORKSPACE}/quizzes")
        panel = open_from_file_browser(page, path)
        wait_for_cells(panel, len(nb.cells))
        replace_code(page, cells(panel).nth(answer), "ANSWER_7 = D")
        page.keyboard.press("Control+s")
        wait_until(lambda: not is_dirty(page, "quiz.ipynb"), 60, "the quiz to be saved")
        run_all(page, panel, "the quiz")
        assert missing_quotes in output_text(cells(panel).nth(its_check))
        keep_view(cells(panel).nth(its_check), "quiz-missing-quotes")
        last = cells(panel).nth(len(nb.cells) - 1)
        assert "not started as part of Run All" in output_text(last) and not verdict_rows(last)
        keep_view(last, "quiz-self-check-on-run-all")
        rows = verdict_rows(run_cell(page, panel, len(nb.cells) - 1, seconds=CHECK))  # on its own
        assert len(rows) == len(graded(nb))
        assert "Question 7" in rows[6] and missing_quotes in rows[6], rows[6]
        page.screenshot(path=str(ARTIFACTS / "quiz-missing-quotes-and-self-check.png"), full_page=False)


def test_the_work_saved_in_the_workspace_survives_build(course_copy):
    work = sorted((course_copy / WORKSPACE).glob("*/*.ipynb"))
    before = {path: path.read_bytes() for path in work}
    changed = [
        path
        for path in work
        if path.read_bytes() != (course_copy / path.relative_to(course_copy / WORKSPACE)).read_bytes()
    ]
    assert changed, "the tests before this one saved work in the workspace"
    built = subprocess.run(
        [sys.executable, "-m", "autograder", "--root", str(course_copy), "build"], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    assert {path: path.read_bytes() for path in sorted((course_copy / WORKSPACE).glob("*/*.ipynb"))} == before


def test_the_quiz_check_command_works_in_the_terminal(page, lab, course_copy):
    quiz = nbformat.read(course_copy / "quizzes" / "quiz.ipynb", as_version=4)
    command = re.search(r"`(python -m autograder check [^`]+)`", "\n".join(c.source for c in quiz.cells)).group(1)
    status = course_copy / "terminal-check-status.txt"
    printed = course_copy / "terminal-check-output.txt"
    with screenshot_on_failure(page, "terminal"):
        open_lab(page, lab)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^File$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile("^New$")).hover()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Terminal$")).click()
        terminal = page.locator(".jp-Terminal:not(.lm-mod-hidden) .xterm")
        terminal.click()
        page.keyboard.type(f'{command} > {printed.name} 2>&1; echo "exit status $?" > {status.name}\n')
        wait_until(status.exists, CHECK, f"`{command}` to finish in the terminal")
        time.sleep(1)
        # 1: it ran and found the unanswered questions wrong (2 would be an error, such as "no such notebook").
        assert status.read_text().strip() == "exit status 1", printed.read_text()
        # ... and by the course's own Python: another one would say "No module named autograder", also status 1.
        assert "Question 8  0/1  not answered" in printed.read_text()


def test_a_feedback_page_reads_well_on_a_phone(browser, course_copy, tmp_path):
    from autograder.outputs import feedback
    from autograder.student.check import check

    course = load_config(REPO)
    result = check(course, course.examples_dir / "ben" / "quiz" / "quiz.ipynb")
    release = nbformat.read(course_copy / "quizzes" / "quiz.ipynb", as_version=4)
    page_file = tmp_path / "quiz.html"
    page_file.write_text(
        feedback.render("ben", "quiz", result.verdicts, ["a note <about> the notebook"], result.questions, release),
        encoding="utf-8",
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    with screenshot_on_failure(page, "feedback-page"):
        page.goto(page_file.as_uri())
        assert page.title() == "Quiz: attention interpretability: feedback for ben"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
        assert page.locator(".rows tr").count() == 1 + len(result.verdicts)
        assert page.locator(".rows tr", has_text="Question 1").count() == 1
        assert page.locator(".notes li").text_content() == "a note <about> the notebook"
        wrong = page.locator(".rows tr", has=page.locator(".no")).first
        assert wrong.locator(".why").bounding_box()["y"] > wrong.locator("td").nth(3).bounding_box()["y"]
    context.close()
