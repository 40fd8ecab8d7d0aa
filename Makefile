# The course's commands. Every target creates or reuses .venv by itself, so a fresh clone needs nothing else.
#   make demo   the main job: build the course, run every lesson headless, grade the example submissions
#   make test       the linter, then the whole test suite (what CI runs)
#   make test-fast  the unit tests only (no notebooks, no nbgrader, no sandbox): the edit-test loop
#   make test-browser   the student's path through JupyterLab and the class report, in Chromium (CI runs it after make test)
#   make test-checkpoints  retrain all 18 shipped models and compare (make test retrains two; CI runs it)
#   make lint       ruff: formatting and lint rules (pyproject.toml)
#   make lab        JupyterLab for students, on their own copies in work/ (PORT=, NO_BROWSER=1), no instructor menus
#   make checkpoints  retrain every model the lessons use and replace the shipped ones (attnlab/checkpoints/)
#   make bands  retrain every model over seeds and CPU kernel settings; write the bands the retraining test uses
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader shells out to `alembic`, and notebooks must find the venv's kernel: the venv's bin goes first.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup sandbox demo lab lint test test-fast test-browser test-checkpoints build checkpoints bands clean

setup: $(STAMP) sandbox

# Student code is only ever run inside bubblewrap. Installed here when missing and we may (root, or
# sudo without a password); otherwise the commands that run student code say how to install it.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap; \
	  else echo "note: bubblewrap (bwrap) is not installed; grading and checking need it: sudo apt-get install bubblewrap"; fi; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch is pinned to 2.13.0 in pyproject.toml: unpinned, pip would fetch a multi-GB CUDA build.
	$(BIN)/pip install --disable-pip-version-check --quiet -e '.[test]'
	touch $@

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
# hung kernel's timeout, a sleeping attacker, a server starting): the same suite took 5 min 8 s against 5 min 54 s; four
# were slower. A test module's fixtures (a graded class, say) are built once per worker that runs it:
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
	OMP_NUM_THREADS=1 $(BIN)/python -m attnlab.course_models --regenerate

# About 8 minutes of CPU per kernel setting (8 model families x 3 seeds), one setting after the other.
bands: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m attnlab.course_models --measure-bands

clean:
	rm -rf build demo-output .pytest_cache
