# Two commands for a newcomer:  make reproduce  and  make test.
# Both create (or reuse) the virtual environment .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Data directory: the environment variable wins; else ../shared/data when it is
# beside the clone (CI, the developers' machines); else data/ (loaders fetch).
RNNMEM_DATA_DIR ?= $(shell if [ -d ../shared/data ]; then cd ../shared/data && pwd; else echo $(CURDIR)/data; fi)
export RNNMEM_DATA_DIR
PRESET ?= default
JOBS ?= 1

.PHONY: help venv reproduce test test-fast lint format benchmarks strip browser lock

help:
	@echo "make reproduce   run every notebook at the default preset, then write results/default/REPORT.md"
	@echo "make test        run the test suite (unit tests + every notebook at the smoke preset)"
	@echo "make benchmarks  run the speed benchmarks (ratios against the naive methods)"
	@echo "make lint        ruff check and format check: library, tests, benchmarks, pilots, notebooks"

$(STAMP): pyproject.toml requirements-lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# exact versions of everything from the lock file, then the package itself
	$(BIN)/pip install --quiet -r requirements-lock.txt
	$(BIN)/pip install --quiet --no-deps -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (rnnmem)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/rnnmem run --preset $(PRESET) --jobs $(JOBS)
	$(BIN)/rnnmem report --preset $(PRESET)

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -ra

# The report's browser test drives Debian's chromium (Playwright cannot fetch its own).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	else echo "make browser: /usr/bin/chromium is missing; as root run: apt-get install -y chromium"; fi

# Rewrite the lock file from a fresh resolution of pyproject.toml's dependencies.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip && .venv-lock/bin/pip install --quiet ".[dev]"
	{ sed -n 1,3p requirements-lock.txt; .venv-lock/bin/pip freeze --exclude-editable \
	  | grep -v '^rnnmem' | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements-lock.new
	mv requirements-lock.new requirements-lock.txt && rm -rf .venv-lock

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check rnnmem_utils tests benchmarks pilots notebooks
	$(BIN)/ruff format --check rnnmem_utils tests benchmarks pilots notebooks

format: $(STAMP)
	$(BIN)/ruff format rnnmem_utils tests benchmarks pilots notebooks

benchmarks: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

strip: $(STAMP)
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb
