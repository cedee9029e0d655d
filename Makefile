# The README's two set-up commands are `make book` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# The CPU build of torch (2.13.0+cpu, pinned in constraints.txt) lives on PyTorch's CPU index;
# `make TORCH_INDEX=` skips that index (e.g. where a local wheel or mirror provides it).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PIP_INSTALL := $(PY) -m pip install --quiet -c constraints.txt

.PHONY: book teacher test test-kernels execute bench lint mutate clean help

help:
	@echo "make book     build the book into _build/html (creates .venv, executes chapters, cached)"
	@echo "make teacher  the teacher's edition without exercise solutions, _build/teacher/_build/html"
	@echo "make test     library tests, nbval on every chapter (twice: here and under other CPU kernels),"
	@echo "              book build and browser checks"
	@echo "make test-kernels  only the second nbval pass, under tests/other_kernels.env"
	@echo "make execute  re-execute every chapter with default parameters, storing outputs"
	@echo "make bench    run the benchmarks and print their ratios"
	@echo "make lint     ruff"
	@echo "make mutate   mutation testing of the library (not part of test; ~1 h on 2 cores)"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP_INSTALL) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) torch
	$(PIP_INSTALL) -e ".[book,test,sweep]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

book: $(STAMP)
	$(PY) -m stelib build

teacher: $(STAMP)
	$(PY) -m stelib build --teacher

# The chapters once more under other CPU kernels (tests/other_kernels.env): nbval fails on any
# shown digit that depends on the machine's summation order.
OTHER_KERNELS := $(shell grep -v '^\#' tests/other_kernels.env)

test: $(STAMP)
	$(PY) -m ruff check stelib tests benchmarks tools
	$(PY) -m pytest
	env $(OTHER_KERNELS) $(PY) -m pytest -p no:cacheprovider chapters

test-kernels: $(STAMP)
	env $(OTHER_KERNELS) $(PY) -m pytest -p no:cacheprovider chapters

execute: $(STAMP)
	$(PY) -m stelib execute

bench: $(STAMP)
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_montecarlo.py

lint: $(STAMP)
	$(PY) -m ruff check stelib tests benchmarks tools

# A sample of one-operator mutants per module against the tests that cover it (tools/mutate.py;
# MODULES="ste gaussian" PER_MODULE=0 for every mutant of two modules).
MODULES    ?=
PER_MODULE ?= 40
mutate: $(STAMP)
	$(PY) tools/mutate.py --per-module $(PER_MODULE) $(if $(MODULES),--modules $(MODULES))

clean:
	rm -rf _build .jupyter_cache runs
