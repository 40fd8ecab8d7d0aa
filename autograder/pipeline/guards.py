"""
Exercises graded apart: a hidden test that forbids library shortcuts runs the student's answer code in
a fresh sandboxed interpreter whose library does not have those shortcuts.

An exercise declares it in its test cell, in the hidden tests (so only the instructor's source says it):

    ### BEGIN HIDDEN TESTS
    # graded without: attnlab.attribution.rollout.attention_rollout, attnlab.attribution.rollout.Rollout

Each name is a function, a class (all its methods) or a dataclass field of the library. The student's
kernel runs only the visible part of such a test cell (where the visible checks give their feedback;
RobustExecute.source_to_run). After the notebook ran there, the grader builds a
copy of the library in which each named function, and each module-private helper it calls, raises
instead of computing, and each named field cannot be read. It then runs, in a new sandboxed kernel whose
`attnlab` is that copy: the notebook's import statements, the answer cells (the student's code,
statement by statement, so a stray line does not hide the functions), and the hidden part of every
declared test cell, with the inputs that hidden part builds itself. The records of that run replace
whatever the test cell recorded in the student's kernel, and its error, if any, becomes the cell's
error. So the decision rests on code that ran where the shortcut does not exist, and nothing the
student's kernel did (switching a guard off, keeping the library's code objects) takes part in it.

The answer cells see the library copy only: an answer that calls a withheld function raises there, and
one that reads a variable of the lesson (instead of its arguments) finds none. The notebook file that
kernel can read is the submission without its hidden tests, as in the student's kernel.

A hidden test may also hand the answer inputs that only the exercise's intended route gets right: the
test of collect_patterns gives a model whose own forward pass moves what enters its first block, so
only hooks on a real forward pass see its patterns, and no loop over its blocks rebuilds them.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.preprocessors import NbGraderPreprocessor

from attnlab.protocol import RECORD_MIME
from autograder.course.notebooks import grade_id_of, is_answer, nbgrader_of
from autograder.pipeline.hidden import hidden_from, is_test_cell, withheld_names, without_hidden_tests
from autograder.pipeline.preprocessors import RobustExecute, stopped

WITHHELD = "is not available while this exercise is graded: write the exercise's code yourself"
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --- Declarations ---------------------------------------------------------------------------------


def _is_answer_cell(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and is_answer(cell)


def guarded_tests(nb: NotebookNode) -> dict[str, list[str]]:
    """grade id -> withheld names, for every test cell of nb graded apart."""
    found = {}
    for cell in nb.cells:
        if is_test_cell(cell) and grade_id_of(cell):
            names = withheld_names(cell.source)
            if names:
                found[grade_id_of(cell)] = names
    return found


# --- The library without the shortcuts ---------------------------------------------------------------


class UnknownName(ValueError):
    pass


def _module_file(library: Path, name: str) -> tuple[Path, list[str]]:
    """attnlab.a.b.f.g -> (library/a/b.py, ["f", "g"]): the longest prefix that is a module file."""
    parts = name.split(".")
    if parts[0] != library.name:
        raise UnknownName(f"{name}: not a name of the library {library.name}")
    for cut in range(len(parts) - 1, 0, -1):
        base = library.joinpath(*parts[1:cut])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if cut > 1 and candidate.is_file():
                return candidate, parts[cut:]
    raise UnknownName(f"{name}: no module of the library defines it")


def _raising(qualname: str, node: ast.AST) -> list[ast.stmt]:
    body = ast.parse(f"raise RuntimeError({f'{qualname} {WITHHELD}'!r})").body
    return [ast.copy_location(statement, node) for statement in body]


def _private_calls(function: ast.AST, private: set[str]) -> set[str]:
    return {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and n.id in private}


def _withhold(tree: ast.Module, path: list[str], name: str) -> None:
    """Change tree so that `path` (a function, class or field inside the module) is withheld."""
    scope, nodes = tree.body, []
    for depth, part in enumerate(path):
        found = next(
            (
                node
                for node in scope
                if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == part)
                or (
                    depth == len(path) - 1
                    and isinstance(node, ast.AnnAssign)
                    and isinstance(node.target, ast.Name)
                    and node.target.id == part
                )
            ),
            None,
        )
        if found is None:
            raise UnknownName(f"{name}: not defined in its module")
        nodes.append(found)
        scope = getattr(found, "body", [])
    target = nodes[-1]
    qualname = ".".join(path)
    if isinstance(target, ast.AnnAssign):  # a dataclass field: reading it raises, setting it keeps nothing
        owner = ".".join(path[:-1])
        tree.body += ast.parse(
            f"{owner}.{path[-1]} = property("
            f"lambda self: (_ for _ in ()).throw(RuntimeError({f'{qualname} {WITHHELD}'!r})), "
            "lambda self, value: None)"
        ).body
        return
    functions = (
        [node for node in ast.walk(target) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if isinstance(target, ast.ClassDef)
        else [target]
    )
    private = {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("_")
    }
    helpers = set().union(*(_private_calls(function, private) for function in functions))
    for function in functions:
        function.body = _raising(qualname, function)
    for helper in sorted(helpers):  # what the function is built from, in its own module, goes with it
        node = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == helper)
        if not (len(node.body) == 1 and isinstance(node.body[0], ast.Raise)):
            _withhold(tree, [helper], f"{name} (its helper {helper})")


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)  # the checkpoints: same bytes, no copy
    except OSError:
        shutil.copy2(source, target)


def strip_library(library: Path, names: Iterable[str], into: Path) -> Path:
    """A copy of the package folder `library` at into/<its name>, with `names` withheld. Returns it."""
    target = into / library.name
    shutil.copytree(library, target, ignore=shutil.ignore_patterns("__pycache__"), copy_function=_link_or_copy)
    by_module: dict[Path, list[tuple[list[str], str]]] = {}
    for name in names:
        module, path = _module_file(library, name)
        by_module.setdefault(module, []).append((path, name))
    for module, withheld in by_module.items():
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for path, name in withheld:
            _withhold(tree, path, name)
        copied = target / module.relative_to(library)
        copied.unlink()  # a hard link to the original: write a new file, never through the link
        copied.write_text(ast.unparse(tree) + "\n", encoding="utf-8")
    for folder in [into, *[p for p in target.rglob("*") if p.is_dir()], target]:
        folder.chmod(0o755)  # the sandbox's unprivileged uid reads it
    return target


# --- The run apart -----------------------------------------------------------------------------------

# Runs each top-level statement of a cell on its own: an answer cell's stray line (a print of a lesson
# variable, say) fails alone and the functions it defines still exist.
_RUNNER = """\
def _attnlab_statements(source):
    import ast
    for node in ast.parse(source).body:
        try:
            exec(compile(ast.Module([node], []), "<answer cell>", "exec"), globals())
        except Exception:
            pass
"""


def _imports(cells: list[NotebookNode]) -> str:
    """The top-level import statements of the notebook's other code cells, as one source."""
    lines = []
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines)


def _hidden_only(source: str) -> str:
    """The hidden part of a test cell, at its own line numbers (the visible part left as empty comments:
    IPython drops a cell's leading blank lines, which would shift them)."""
    start = hidden_from(source) or 0
    lines = source.splitlines()
    return "#\n" * start + "\n".join(lines[start:])


def apart_notebook(nb: NotebookNode, graded: Iterable[str]) -> NotebookNode:
    """What runs apart: the imports, the answer cells, then the hidden part of each test in `graded`."""
    graded = set(graded)
    others = [c for c in nb.cells if c.cell_type == "code" and not is_test_cell(c) and not _is_answer_cell(c)]
    cells = [new_code_cell(_RUNNER), new_code_cell(f"_attnlab_statements({_imports(others)!r})")]
    cells += [new_code_cell(f"_attnlab_statements({c.source!r})") for c in nb.cells if _is_answer_cell(c)]
    for cell in nb.cells:
        if is_test_cell(cell) and grade_id_of(cell) in graded:
            test = new_code_cell(_hidden_only(cell.source))
            test.metadata["nbgrader"] = copy.deepcopy(nbgrader_of(cell))
            cells.append(test)
    apart = new_notebook(cells=cells)
    apart.metadata = copy.deepcopy(nb.metadata)
    return apart


def _execute_apart(
    nb: NotebookNode, library: Path, folder: Path, config, shown: NotebookNode | None = None
) -> NotebookNode:
    """nb run by RobustExecute (its settings from config) in a kernel whose attnlab is `library`; the
    notebook file that kernel can read is `shown` without its hidden tests (nb itself holds the hidden
    parts it runs, without their start marker: it is never shown)."""

    class ApartExecute(RobustExecute):
        def create_kernel_manager(self):
            km = super().create_kernel_manager()
            km.library = library
            return km

        def shown_notebook(self) -> NotebookNode:
            return without_hidden_tests(shown if shown is not None else new_notebook())

        def source_to_run(self, cell: NotebookNode) -> str:
            return cell.source  # the hidden parts that run here are the point of this kernel

    executed, _ = ApartExecute(config=config).preprocess(nb, {"metadata": {"path": str(folder)}})
    return executed


def _library() -> Path:
    import attnlab

    return Path(attnlab.__file__).resolve().parent


def _is_record(output: NotebookNode) -> bool:
    return output.get("output_type") in ("display_data", "execute_result") and RECORD_MIME in output.get("data", {})


def _raised_in_hidden_part(output: NotebookNode, start: int) -> bool:
    for frame in output.get("traceback", []):
        match = _CELL_LINE.search(_ANSI.sub("", str(frame)))
        if match:
            return int(match.group(1)) > start
    return True


def take_over(cell: NotebookNode, apart: NotebookNode) -> None:
    """The test cell keeps its visible part's outputs; its records and hidden-part error come from apart."""
    start = hidden_from(cell.source) or 0
    if stopped(cell) is None:
        cell.outputs = [
            o
            for o in cell.get("outputs", [])
            if not _is_record(o) and not (o.get("output_type") == "error" and _raised_in_hidden_part(o, start))
        ]
        cell.outputs += [o for o in apart.get("outputs", []) if _is_record(o) or o.get("output_type") == "error"]
        stop = stopped(apart)
        if stop is not None:
            cell.metadata.setdefault("autograder", {})["stopped"] = stop
    else:  # the grader stopped the cell in the student's kernel: that is its verdict, with no record
        cell.outputs = [o for o in cell.get("outputs", []) if not _is_record(o)]


class GradeApart(NbGraderPreprocessor):
    """
    The pipeline step that grades apart every test cell that declares `# graded without: ...`; it goes
    right after RobustExecute (it needs the executed notebook and runs with RobustExecute's settings).
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        guarded = guarded_tests(nb)
        if not guarded:
            return nb, resources
        names = sorted({name for withheld in guarded.values() for name in withheld})
        with tempfile.TemporaryDirectory(prefix="attnlab-apart-") as folder:
            build = Path(folder) / "build"
            build.mkdir()
            library = strip_library(_library(), names, build)
            work = Path(folder) / "work"  # the kernel's folder without the sandbox: no attnlab beside it
            work.mkdir()
            apart = _execute_apart(apart_notebook(nb, guarded), library, work, self.config, shown=nb)
        ran = {grade_id_of(c): c for c in apart.cells if grade_id_of(c)}
        for cell in nb.cells:
            if is_test_cell(cell) and grade_id_of(cell) in guarded:
                take_over(cell, ran[grade_id_of(cell)])
        return nb, resources
