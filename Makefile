# The course's commands. Every target creates or reuses .venv by itself, so a fresh clone needs nothing else.
#   make demo   the main job: build the course, run every lesson headless, grade the example submissions
#   make test       the linter, then the whole test suite (what CI runs)
#   make test-fast  the unit tests only (no notebooks, no nbgrader, no sandbox): the edit-test loop
#   make test-browser   the student's path through JupyterLab and the class report, in Chromium (CI runs it after make test)
#   make test-checkpoints  retrain all 19 shipped models and compare (make test retrains two; CI runs it)
#   make lint       ruff: formatting and lint rules (pyproject.toml)
#   make lab        JupyterLab for students, on their own copies in work/ (PORT=, NO_BROWSER=1), no instructor menus
#   make checkpoints  retrain every model the lessons use and replace the shipped ones (attnlab/checkpoints/)
#   make bands  retrain every model over seeds and CPU kernel settings; write the bands the retraining test uses
#   make lock   write requirements/lock.txt, the exact tested set, from .venv (after changing pyproject.toml)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
# PyTorch, pinned in the lock: PyPI's Linux torch is the CUDA build, gigabytes the course never uses. Where
# pip does not already find the CPU wheel (a wheel folder in pip's configuration, say), take the CPU build
# from PyTorch's own index: make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu (the same version:
# pip prefers its local label, 2.13.0+cpu).
TORCH_INDEX ?=
PIP := $(BIN)/pip install --disable-pip-version-check --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
# nbgrader shells out to `alembic`, and notebooks must find the venv's kernel: the venv's bin goes first.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup sandbox demo lab lint test test-fast test-browser test-checkpoints build checkpoints bands lock clean

setup: $(STAMP) sandbox

# Student code is only ever run inside bubblewrap. Installed here when missing and we may (root, or
# sudo without a password); otherwise the commands that run student code say how to install it.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap; \
	  else echo "note: bubblewrap (bwrap) is not installed; grading and checking need it: sudo apt-get install bubblewrap"; fi; }

# The course, its test tools and the instructors' extras (Dask, PostgreSQL), at the versions of the lock.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PIP) --constraint $(LOCK) -e '.[test]'
	touch $@

# After changing a range in pyproject.toml (or upgrading a package in .venv): install within the ranges,
# keeping what already fits, and write what is installed as the new tested set; then run make test.
# The CPU build's local label (+cpu) is dropped: `torch==2.13.0` takes the CPU wheel and PyPI's alike.
lock:
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[test]'
	{ echo "# The exact set of packages the course is tested with: make setup, CI (.ci/run) and environment.yml"; \
	  echo "# install with it as constraints. Written by make lock from .venv (pip freeze); never edit by hand."; \
	  $(BIN)/pip freeze --exclude-editable --disable-pip-version-check | sed 's/+cpu$$//'; } > $(LOCK)
	touch $(STAMP)

demo: setup
	$(BIN)/python -m autograder demo

build: setup
	$(BIN)/python -m autograder build

# make lab PORT=9999 NO_BROWSER=1: JupyterLab on that port, without opening a browser (a remote or shared machine).
lab: setup
	$(BIN)/python -m autograder lab $(if $(PORT),--port $(PORT)) $(if $(NO_BROWSER),--no-browser)

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# Three workers on two cores, one torch thread each: a third worker runs while another waits (for a
# hung kernel's timeout, a sleeping attacker, a server starting); more only compete for the two cores
# (benchmarks/RESULTS.md). A test module's fixtures (a graded class, say) are built once per worker that runs it:
# --dist loadscope keeps each module's (or test class's) tests on one worker, so a class is graded once;
# --no-loadscope-reorder hands them out in the order tests/conftest.py gives them, longest first.
test: setup lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 3 --dist loadscope --no-loadscope-reorder

test-fast: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -m "not slow and not browser"

# Needs Chromium from the system's packages (Debian: apt-get install chromium; .ci/run installs it).
test-browser: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m browser tests/

test-checkpoints: setup
	ATTNLAB_RETRAIN=all OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 tests/test_checkpoints.py

checkpoints: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m attnlab.zoo --regenerate

# 8 model families x 3 seeds retrained under each kernel setting, one setting after the other: slow.
bands: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m attnlab.zoo --measure-bands

clean:
	rm -rf build demo-output .pytest_cache
