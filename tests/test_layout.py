"""The plan of the houses: the grader's rooms import only the rooms their docstrings allow, with no circle
between rooms nor between the modules of a room, and the library's metric modules never import training code."""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GRADER = REPO / "autograder"
ROOMS = sorted(p.parent.name for p in GRADER.glob("*/__init__.py"))


def imported_modules(path: Path, old_addresses: bool = True, package: str | None = None) -> set[str]:
    """Every module path imported anywhere in the file, inside functions too (a lazy import is an arrow all
    the same: it only hides it from a reader). Relative imports are resolved when the file's package is given.
    old_addresses=False leaves out a module's `__getattr__`, which only resolves names that moved away for
    notebooks written before they moved (attnlab.faithfulness's trained variants)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not old_addresses:
        tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name == "__getattr__")]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module
            elif package is not None:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                continue
            if module:
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "autograder" and parts[1] in ROOMS else None


def room_arrows(grader: Path = GRADER) -> dict[str, set[str]]:
    """room -> the other rooms its modules import."""
    arrows: dict[str, set[str]] = {room: set() for room in ROOMS}
    for room in ROOMS:
        for path in (grader / room).rglob("*.py"):
            if "examples" in path.relative_to(grader / room).parts:
                continue
            arrows[room] |= {r for m in imported_modules(path) if (r := room_of(m)) and r != room}
    return arrows


def room_modules(room: str, grader: Path = GRADER) -> dict[str, Path]:
    """autograder.<room>.<module> -> its file (the room's __init__ as autograder.<room>), examples left out."""
    modules = {}
    for path in (grader / room).rglob("*.py"):
        parts = path.relative_to(grader).with_suffix("").parts
        if "examples" in parts:
            continue
        modules[".".join(("autograder", *parts[: -1 if parts[-1] == "__init__" else None]))] = path
    return modules


def module_arrows(room: str, grader: Path = GRADER) -> dict[str, set[str]]:
    """module -> the other modules of the same room it imports (lazily or not)."""
    modules = room_modules(room, grader)
    arrows = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        arrows[name] = {m for m in imported_modules(path, package=package) if m in modules and m != name}
    return arrows


def allowed(room: str) -> set[str]:
    """The rooms the room's __init__ docstring says it may import ("May import: a, b." or "nothing")."""
    doc = ast.get_docstring(ast.parse((GRADER / room / "__init__.py").read_text(encoding="utf-8"))) or ""
    line = re.search(r"^May import: ([^.(]*)", doc, re.M)
    assert line, f"autograder/{room}/__init__.py must say what it may import ('May import: ...')"
    return {name for name in re.split(r"[,\s]+", line.group(1)) if name in ROOMS}


def circles(arrows: dict[str, set[str]]) -> list[list[str]]:
    """Every room (or module) that can reach itself, with the path it takes."""
    found = []
    for start in arrows:
        stack = [(start, [start])]
        seen = set()
        while stack:
            room, path = stack.pop()
            for nxt in arrows.get(room, ()):
                if nxt == start:
                    found.append([*path, start])
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return found


def test_the_grader_is_in_rooms_and_no_module_is_left_on_the_landing():
    loose = sorted(p.name for p in GRADER.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py"]
    assert {"course", "sandbox", "pipeline", "outputs", "student", "release", "run"} <= set(ROOMS)


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_the_rooms_its_docstring_allows(room):
    assert room_arrows()[room] <= allowed(room), f"autograder/{room} imports rooms its __init__ does not allow"


def test_no_circle_between_rooms():
    assert circles(room_arrows()) == []


@pytest.mark.parametrize("room", ROOMS)
def test_no_circle_between_the_modules_of_a_room(room):
    # A module that needs a module that needs it back has no place on the plan; a lazy import only hides it.
    assert circles(module_arrows(room)) == []


def test_the_module_check_finds_a_circle_through_a_lazy_or_relative_import(tmp_path):
    room = tmp_path / "pipeline"
    room.mkdir()
    for name, body in {
        "__init__": '"""May import: nothing."""\n',
        "judge": "from autograder.pipeline.key import load\n",
        "key": "def load():\n    from . import steps\n",  # lazy and relative: an arrow all the same
        "steps": "import autograder.pipeline.judge\nfrom autograder.course import config\n",
        "lower": "from autograder.pipeline import judge\n",  # into the circle (and the package), not part of it
    }.items():
        (room / f"{name}.py").write_text(body)
    prefix = "autograder.pipeline."
    arrows = {
        name.removeprefix(prefix): {m.removeprefix(prefix) for m in to}
        for name, to in module_arrows("pipeline", tmp_path).items()
    }
    assert arrows == {
        "autograder.pipeline": set(),
        "judge": {"key"},
        "key": {"autograder.pipeline", "steps"},
        "steps": {"judge"},
        "lower": {"autograder.pipeline", "judge"},
    }
    found = {tuple(c) for c in circles(arrows)}
    assert found == {
        ("judge", "key", "steps", "judge"),
        ("key", "steps", "judge", "key"),
        ("steps", "judge", "key", "steps"),
    }


def test_the_checks_find_a_circle_and_a_forbidden_import(tmp_path):
    # The same functions on a made-up grader where course imports run and run imports course.
    for room, body in {
        "course": "from autograder.run.grade import x\n",
        "run": "import autograder.course.config\n",
    }.items():
        (tmp_path / room).mkdir()
        (tmp_path / room / "__init__.py").write_text('"""May import: nothing."""\n')
        (tmp_path / room / "m.py").write_text(f"def f():\n    {body}")
    arrows = room_arrows(tmp_path)
    assert arrows["course"] == {"run"} and arrows["run"] == {"course"}
    assert circles(arrows) == [["course", "run", "course"], ["run", "course", "run"]]
    assert "run" not in allowed("course")


METRICS = ["faithfulness", "attribution", "probing", "patching"]
TRAINING = {"attnlab.train", "attnlab.zoo"}


@pytest.mark.parametrize("package", METRICS)
def test_no_metric_module_imports_training_code(package):
    for path in (REPO / "attnlab" / package).rglob("*.py"):
        imported = imported_modules(path, old_addresses=False)
        training = {m for m in imported if any(m == t or m.startswith(t + ".") for t in TRAINING)}
        assert not training, f"{path.relative_to(REPO)} imports training code: {sorted(training)}"


def test_a_lesson_copied_before_the_zoo_still_imports_its_models_from_their_old_address():
    # A student's work/ copy is never replaced by `make lab`: its import cell must keep working.
    import attnlab.zoo
    from attnlab.faithfulness import deceptive_model, uniform_attention_model
    from attnlab.train import multihop_model, rationale_model, toy_language_model

    assert (rationale_model, toy_language_model, multihop_model) == (
        attnlab.zoo.rationale_model,
        attnlab.zoo.toy_language_model,
        attnlab.zoo.multihop_model,
    )
    assert (deceptive_model, uniform_attention_model) == (
        attnlab.zoo.deceptive_model,
        attnlab.zoo.uniform_attention_model,
    )
    with pytest.raises(ImportError):
        exec("from attnlab.train import no_such_recipe")
