"""The two ways to install the course pin the same versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)\s*", line.strip().strip('"').strip(","))
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_environment_yml_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["dependencies"] + project["optional-dependencies"]["test"])
    conda = _pins((ROOT / "environment.yml").read_text().splitlines())
    assert wanted and wanted == conda


def test_torch_is_pinned_to_the_cpu_wheel_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]


def test_the_library_and_the_grader_import_no_test_only_package():
    """networkx and captum are oracles of the tests only (pyproject's test extras): importing every module
    of attnlab and autograder loads neither, nor pytest. Nor rfc3987_syntax, which jsonschema would import
    under nbformat (its IRI parsers cost 1.2 s of every start of the grader and of `check`)."""
    import subprocess
    import sys

    test_only = ("networkx", "captum", "pytest", "xdist")
    code = (
        "import importlib, pkgutil, sys, attnlab, autograder\n"
        "for package in (attnlab, autograder):\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if not module.name.endswith('__main__'):\n"
        "            importlib.import_module(module.name)\n"
        f"print(*sorted(name for name in {test_only!r} if name in sys.modules))\n"
        "print(sys.modules.get('rfc3987_syntax') is not None)"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    test_packages, iri_parsers = loaded.stdout.split("\n")[:2]
    assert test_packages.split() == [] and iri_parsers == "False"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [pin for pin in project["dependencies"] if pin.split("==")[0] in test_only]
