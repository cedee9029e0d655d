# The README's two set-up commands are `make book` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test execute bench lint mutate clean help

help:
	@echo "make book     build the book into _build/html (creates .venv, executes chapters, cached)"
	@echo "make test     library tests, nbval on every chapter, book build and browser checks"
	@echo "make execute  re-execute every chapter with default parameters, storing outputs"
	@echo "make bench    run the benchmarks and print their ratios"
	@echo "make lint     ruff"
	@echo "make mutate   mutation testing of the library (not part of test; ~1 h on 2 cores)"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

book: $(STAMP)
	$(PY) -m stelib.book build

test: $(STAMP)
	$(PY) -m ruff check stelib tests benchmarks
	$(PY) -m pytest

execute: $(STAMP)
	$(PY) -m stelib.book execute

bench: $(STAMP)
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_montecarlo.py

lint: $(STAMP)
	$(PY) -m ruff check stelib tests benchmarks

# A sample of one-operator mutants per module against the tests that cover it (tools/mutate.py;
# MODULES="ste gaussian" PER_MODULE=0 for every mutant of two modules).
MODULES    ?=
PER_MODULE ?= 40
mutate: $(STAMP)
	$(PY) tools/mutate.py --per-module $(PER_MODULE) $(if $(MODULES),--modules $(MODULES))

clean:
	rm -rf _build .jupyter_cache runs
