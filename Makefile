# The README's two set-up commands are `make book` and `make test`.
#
# Which Python: by default a virtual environment .venv, created and installed from the exact lock
# (constraints.txt). `make VENV= book` (or any target) uses the Python on PATH instead, as it is,
# installing nothing: e.g. inside the conda environment of environment.yml, which is detected
# (CONDA_DEFAULT_ENV=stelib-book) and used without being asked. `make VENV= PY=/path/python ...`
# names another interpreter.
PYTHON ?= python3.11
ifeq ($(CONDA_DEFAULT_ENV),stelib-book)
VENV   ?=
else
VENV   ?= .venv
endif
ifneq ($(strip $(VENV)),)
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
else
PY     ?= python
STAMP  :=
endif
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# The CPU build of torch (2.13.0+cpu, pinned in constraints.txt) lives on PyTorch's CPU index.
# It is asked only when the indexes pip is configured with lack that build (a local wheel or
# mirror is used first); `make TORCH_INDEX=` never asks it.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# --no-compile: a module's bytecode is written when it is first imported, not all of them at install
# (torch alone: 37 s against 15 s on 2 cores)
PIP_INSTALL := $(PY) -m pip install --quiet --no-compile -c constraints.txt

# `make test-py313`: the library tests under Python 3.13 in a fresh virtual environment resolved
# from pyproject.toml's ranges alone (no constraints.txt: the newest releases; PyPI's torch, the
# large CUDA build, which pip caches after the first time). Outside the checkout, recreated on
# every run. Not part of `make test` (see the README).
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
VENV313   ?= $(HOME)/.cache/stelib/venv-py313

.PHONY: book student teacher test test-kernels test-chapters test-py313 execute bench gpu-wheels lint mutate clean help

help:
	@echo "make book     build the book into _build/html (creates .venv, executes chapters, cached)"
	@echo "make student  the student's edition, to hand out: no solutions in pages, search, sources;"
	@echo "              PDF handouts too; _build/student/_build/{html,pdf} (make book: the teacher's)"
	@echo "make test     library tests, book build and browser checks, and nbval on every chapter under"
	@echo "              other CPU kernels; on every core (JOBS=auto; JOBS=1: one process)"
	@echo "make test-kernels  only the chapters, under tests/other_kernels.env"
	@echo "make test-chapters nbval on every chapter under this machine's own kernels (not in make test)"
	@echo "make test-py313    library tests (no chapters, no browser) under Python 3.13 in a fresh venv"
	@echo "              resolved from pyproject.toml's ranges alone ($(VENV313); PYTHON313=...)"
	@echo "make execute  re-execute every chapter with default parameters, storing outputs"
	@echo "make bench    run the benchmarks and print their ratios"
	@echo "make gpu-wheels  download into .whl/ the notebook stack tools/gpu_check.py needs on an"
	@echo "              offline GPU machine with Python $(GPU_PYTHON) (see that file's docstring)"
	@echo "make lint     ruff"
	@echo "make mutate   mutation testing of the library (not part of test; ~1 h on 2 cores)"
	@echo ""
	@echo "Every target uses .venv (created from constraints.txt) unless VENV is empty:"
	@echo "  make VENV= book              the active environment's python, nothing installed"
	@echo "  make VENV= PY=/path/python test   another interpreter"
	@echo "Inside the conda environment of environment.yml (stelib-book) VENV is empty by default."
	@echo "Now: PY=$(PY)"

ifneq ($(STAMP),)
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@# torch from the indexes pip already knows (a local wheel or mirror) when they have the pinned
	@# build; PyTorch's index only otherwise (asking an unreachable one costs seconds per package)
	$(PIP_INSTALL) torch 2>/dev/null || $(PIP_INSTALL) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) torch
	$(PIP_INSTALL) -e ".[rerun,book,sweep,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)
endif

book: $(STAMP)
	$(PY) -m stelib build

student: $(STAMP)
	$(PY) -m stelib build --student --pdf

teacher: student  # deprecated name of `student` (it never was the teacher's edition)

# The chapters under other CPU kernels (tests/other_kernels.env) than the ones `make execute` stored
# their outputs with: nbval fails on any shown digit that depends on the machine's summation order.
# The settings go to the chapters' kernels alone (tests/conftest.py writes a kernel spec with them),
# so one pytest run holds the library tests, on this machine's own kernels, and the chapters.
# `make test-chapters` runs the chapters under this machine's own kernels (not part of make test:
# CI's 15 minutes on a slow 2-core machine do not hold a second pass).
KERNEL_ENV := --chapter-kernel-env tests/other_kernels.env
# pytest-xdist: one worker per core; --dist loadfile keeps each notebook (and the book's browser
# checks, which share one build) on one worker; the longest files go first (tests/conftest.py).
# JOBS=1 runs everything in this process.
JOBS ?= auto
XDIST = $(if $(filter 1,$(JOBS)),,-n $(JOBS) --dist loadfile --no-loadscope-reorder)

test: $(STAMP)
	$(PY) -m ruff check stelib tests benchmarks tools
	$(PY) -m pytest $(XDIST) $(KERNEL_ENV)

test-kernels: $(STAMP)
	$(PY) -m pytest $(XDIST) -p no:cacheprovider $(KERNEL_ENV) -m nbval

test-chapters: $(STAMP)
	$(PY) -m pytest $(XDIST) -p no:cacheprovider -m nbval

execute: $(STAMP)
	$(PY) -m stelib execute

# The notebook stack that tools/gpu_check.py needs (papermill, a kernel, myst-nb's glue, plotly; pytest for
# the CUDA-only tests of tools/gpu_session.sh),
# at the lock's versions, as wheels for another machine's Python: for a GPU machine without a
# network whose image has PyTorch, numba and SciPy but not Jupyter (about 51 MB, 85 wheels).
GPU_PYTHON ?= 3.12
# aiohttp: papermill needs it on Python 3.12 only, and pip download judges markers by this Python
GPU_WHEELS  = papermill ipykernel myst-nb plotly aiohttp pytest
gpu-wheels: $(STAMP)
	$(PY) -m pip download --quiet --only-binary=:all: --implementation cp \
	  --python-version $(GPU_PYTHON) --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 --platform any -c constraints.txt -d .whl $(GPU_WHEELS)
	@echo "$$(ls .whl | wc -l) wheels in .whl ($$(du -sh .whl | cut -f1)); on the GPU machine:"
	@echo "  python3 -m pip install -q --no-index --find-links .whl $(GPU_WHEELS)"
	@echo "  PYTHONPATH=\$$PWD python3 tools/gpu_check.py --cpu-baseline"
	@echo "or all GPU measurements in one call (about 8 min): OUT=/some/dir tools/gpu_session.sh"

bench: $(STAMP)
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_montecarlo.py
	$(PY) benchmarks/bench_bignets.py
	$(PY) benchmarks/bench_checks.py
	$(PY) benchmarks/bench_steps.py

lint: $(STAMP)
	$(PY) -m ruff check stelib tests benchmarks tools

test-py313:
	@test -n "$(PYTHON313)" || { echo "no Python 3.13 found: make test-py313 PYTHON313=/path/to/python3.13"; exit 2; }
	$(PYTHON313) -m venv --clear $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet -e ".[rerun,book,sweep,test]"
	$(VENV313)/bin/python -m pip freeze --exclude-editable > $(VENV313)/freeze.txt
	@grep -iE "^(torch|numpy|scipy|matplotlib|numba|pandas|seaborn)==" $(VENV313)/freeze.txt | tr '\n' ' '; echo
	$(VENV313)/bin/python -m pytest -p no:cacheprovider -p no:nbval -o addopts=-ra -m "not nbval and not book" tests

# A sample of one-operator mutants per module against the tests that cover it (tools/mutate.py;
# MODULES="ste gaussian" PER_MODULE=0 for every mutant of two modules).
MODULES    ?=
PER_MODULE ?= 40
mutate: $(STAMP)
	$(PY) tools/mutate.py --per-module $(PER_MODULE) $(if $(MODULES),--modules $(MODULES))

clean:
	rm -rf _build .jupyter_cache runs
