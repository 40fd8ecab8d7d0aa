"""How the course installs: a student's `pip install .` takes only what the lessons and `check` need (no Dask,
no PostgreSQL driver, no test oracle), the instructors' extras add the rest, and the lock file the tests run
with lies within every declared range."""

import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "attention-interpretability-course"
LOCK = ROOT / "requirements" / "lock.txt"
INSTRUCTORS_ONLY = {"dask", "distributed", "psycopg", "psycopg-binary", "psycopg-c"}
TEST_ONLY = {"captum", "pytest", "pytest-xdist", "ruff", "playwright"}  # (networkx comes with torch)


def _requirements(name: str, extras: frozenset[str]) -> list[Requirement]:
    """What installing `name[extras]` asks for on this machine, per its installed metadata."""
    found = []
    for line in distribution(name).requires or []:
        requirement = Requirement(line)
        wanted = requirement.marker is None or any(
            requirement.marker.evaluate({"extra": extra}) for extra in extras | {""}
        )
        if wanted:
            found.append(requirement)
    return found


def _installed_closure(extras: frozenset[str]) -> set[str]:
    """Every distribution `pip install .[extras]` brings in, from the installed packages' own metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(PACKAGE, extras)]
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in seen:
            continue
        seen.add((canonicalize_name(name), wanted))
        try:
            requirements = _requirements(name, wanted)
        except PackageNotFoundError:  # an optional dependency of a dependency, not installed here
            continue
        todo += [(requirement.name, frozenset(requirement.extras)) for requirement in requirements]
    return {name for name, _ in seen}


def _locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_a_students_install_pulls_no_dask_no_postgresql_driver_and_no_test_oracle():
    student = _installed_closure(frozenset())
    assert {"torch", "nbgrader", "jupyterlab"} <= student  # the walk does follow the dependencies
    assert not student & (INSTRUCTORS_ONLY | TEST_ONLY)
    assert {"dask", "distributed"} <= _installed_closure(frozenset({"cluster"}))
    assert {"psycopg", "psycopg-binary"} <= _installed_closure(frozenset({"postgres"}))
    assert INSTRUCTORS_ONLY - {"psycopg-c"} <= _installed_closure(frozenset({"instructor"}))


def test_the_lock_pins_every_dependency_within_its_declared_range():
    # make setup installs with the lock as constraints: a range moved without `make lock` fails here, not there
    locked = _locked()
    # no local label (+cpu): the pin must take the CPU build (PyTorch's index, a local wheel) and PyPI's alike
    assert "torch" in locked and "+" not in locked["torch"]
    for requirement in _requirements(PACKAGE, frozenset({"cluster", "postgres", "instructor", "test"})):
        name = canonicalize_name(requirement.name)
        if name == PACKAGE:
            continue
        assert name in locked, f"{requirement} is not in requirements/lock.txt: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements/lock.txt has {name}=={locked[name]}, outside {requirement}: run `make lock`"
        )
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.!]*", version) for version in locked.values()), "only exact versions"


def test_the_library_and_the_grader_import_no_test_only_or_instructors_only_package():
    """Importing every module of attnlab and autograder loads no test oracle, no pytest, and none of the
    instructors' extras (Dask, psycopg): a student's install has none of them. Nor rfc3987_syntax, which
    jsonschema would import under nbformat (its IRI parsers cost 1.2 s of every start of the grader and of
    `check`)."""
    never = ("networkx", "captum", "pytest", "xdist", "dask", "distributed", "psycopg")
    code = (
        "import importlib, pkgutil, sys, attnlab, autograder\n"
        "for package in (attnlab, autograder):\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if not module.name.endswith('__main__'):\n"
        "            importlib.import_module(module.name)\n"
        f"print(*sorted(name for name in {never!r} if name in sys.modules))\n"
        "print(sys.modules.get('rfc3987_syntax') is not None)"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    packages, iri_parsers = loaded.stdout.split("\n")[:2]
    assert packages.split() == [] and iri_parsers == "False"


def test_grading_without_an_instructors_extra_says_which_extra_to_install(tmp_path, monkeypatch, capsys):
    # as on a student's install (no Dask): `grade --scheduler` is a user mistake, told in one line
    import autograder.run.grade
    from autograder.__main__ import main

    def without_dask(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'distributed'", name="distributed")

    monkeypatch.setattr(autograder.run.grade, "grade", without_dask)
    (tmp_path / "submissions").mkdir()
    argv = ["grade", str(tmp_path / "submissions"), "--out", str(tmp_path / "out"), "--scheduler", "tls://h:8786"]
    assert main(argv) == 2
    said = capsys.readouterr().err
    assert said.startswith("error: grading on a Dask cluster") and "pip install -e '.[cluster]'" in said
