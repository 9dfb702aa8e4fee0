# Two commands do all the set-up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

LINTED := app models tests examples bench scripts

.PHONY: serve test lint format install clean container-check bench-perf-quick bench-quality bench-load

# `make serve` and `make test` started together must not build .venv twice at once: the stamp
# is made under a lock (flock, util-linux), by a second make that checks it again once it holds
# the lock, so whoever waited finds it fresh and installs nothing
ifdef HOLDS_VENV_LOCK
$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 14), "rarewatch needs Python 3.11-3.13"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@
else
$(STAMP): pyproject.toml
	@mkdir -p $(VENV)
	flock $(VENV)/.install-lock $(MAKE) --no-print-directory HOLDS_VENV_LOCK=1 $(STAMP)
endif

install: $(STAMP)

## serve the API on 127.0.0.1:8000, training the demo model first if there is none
serve: $(STAMP)
	$(BIN)/rarewatch serve --demo

## run the test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## the gates CI runs (and .pre-commit-config.yaml before each commit): ruff, its format, mypy strict
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy app models

## rewrite the code the way `make lint` wants it (ruff's safe fixes and its formatting)
format: $(STAMP)
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

## build, run and check the serve image with podman (no Docker engine needed)
container-check: $(STAMP)
	scripts/container-check

## the performance benchmark in its quick mode (keeps the script working; wrk comes from apt)
bench-perf-quick: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python -m bench.perf.run --quick >/dev/null
	$(BIN)/python -m bench.perf.breakdown >/dev/null
	$(BIN)/python -m bench.perf.unroll --quick >/dev/null
	$(BIN)/python -m bench.perf.ab --baseline . --seconds 1 --rounds 1 >/dev/null
	$(BIN)/python -m bench.perf.framework --seconds 1 --rounds 1 --layers >/dev/null
	$(BIN)/python -m bench.perf.levers --quick >/dev/null

## the detection-quality benchmark (../shared/EVALUATION.md): all four protocols, rewriting
## docs/benchmarks.md's quality section; about 25 minutes on 2 cores. QUICK=1: seconds, no meaning
QUALITY_DATA ?= ../shared/data
bench-quality: $(STAMP)
	$(BIN)/python -m bench.quality.run_all $(QUALITY_DATA) $(if $(QUICK),--quick)

## a bounded load run (a minute at most) at twice the measured capacity; writes docs/reliability.md
bench-load: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python -m bench.load.run --write docs/reliability.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
