# The two commands of README.md. Both bootstrap .venv on first use and are fast afterwards.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deepgep-installed
BUILD := _build
export NUMBA_CACHE_DIR := $(CURDIR)/$(BUILD)/numba_cache
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test bench clean venv paper test-browser references chromium

# `make paper CHAPTER=4 [SCHEDULER=ADDRESS]`: a chapter with recorded tables runs (resumes) its sweeps
# on Dask, then stores its notebook executed from them; other chapters run their paper preset by
# papermill into _build/paper/.
CHAPTER ?=
# The browser test drives Debian's Chromium; `make test` runs it only if this file exists.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

venv: $(STAMP)

# The exact versions of every package (constraints.txt, pip included) within the ranges of
# pyproject.toml: the environment the book's outputs were computed in.
CONSTRAINTS := constraints.txt
EXTRAS := book,test

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# Executions come from jupyter-cache (_build/.jupyter_cache, `execute_notebooks: cache`): a chapter
# runs only if its code cells changed, if the library changed (book/_ext/execution_cache.py
# empties the cache) or if it is not cached yet; `make test` caches every notebook that nbval
# reproduced (tests/conftest.py). --all gives Sphinx a fresh environment: every page is read and
# every warning checked again at every build (Sphinx's own incremental build would not repeat the
# warnings of an unchanged page); reading the cached pages takes seconds.
book: $(STAMP)
	$(BIN)/jupyter-book build . --all -W -n --keep-going
	@test -f $(BUILD)/html/index.html && echo "book written to $(BUILD)/html/index.html"

test: $(STAMP)
	$(BIN)/python -m pytest

paper: $(STAMP)
	@test -n "$(CHAPTER)" || { echo "usage: make paper CHAPTER=4 [SCHEDULER=tcp://host:8786]" >&2; exit 2; }
	$(BIN)/deepgep run --chapter $(CHAPTER) --store $(if $(SCHEDULER),--scheduler $(SCHEDULER),)

# Debian's Chromium (about 80 MB with its libraries) for the browser test, if it is missing.
# .ci/run calls it before `make test`: under CI=true a missing browser fails the browser test.
chromium:
	test -x $(CHROMIUM) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }

# The browser test alone (book built from the stored outputs, served on 127.0.0.1, every page
# opened in headless Chromium); installs Chromium with apt first if it is missing.
test-browser: $(STAMP) chromium
	$(BIN)/python -m pytest tests/test_browser.py

# Rewrite tests/reference/*.json from the current library (review `git diff tests/reference`).
references: $(STAMP)
	$(BIN)/python -m pytest tests -m reference --update-references

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(BUILD) .pytest_cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
