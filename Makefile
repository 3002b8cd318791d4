# srlab — make targets. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Hydra overrides for `make train`, e.g. `make train ARGS="model=srcnn_915 data.scale=2"`.
ARGS ?=

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install srlab with its dev extras (idempotent)

train: install ## train SRCNN x3 on the bundled sample images (CPU, a few minutes); checkpoint under experiments/
	$(PY) -m srlab.train experiment=quickstart $(ARGS)

# Debian's Chromium for the viewer's browser test (tests/comparison/test_viewer_browser.py skips without it).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser: ## install Chromium (Debian package) for the HTML viewer's browser test, if missing
	@if [ -x "$(CHROMIUM)" ] || command -v chromium >/dev/null 2>&1; then \
		echo "chromium present: $$(command -v chromium || echo $(CHROMIUM))"; \
	else \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; \
	fi

test: install ## run the test suite (slow tests excluded; `make test-slow` for those)
	$(PY) -m pytest -q $(ARGS)

test-slow: install ## run only the slow tests
	$(PY) -m pytest -q -m slow $(ARGS)

test-all: install ## run the whole suite, slow tests included (what CI runs; gpu tests skip without CUDA)
	$(PY) -m pytest -q -m "slow or not slow" $(ARGS)

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check srlab tests scripts
	$(VENV)/bin/ruff format --check srlab tests scripts

format: install ## ruff auto-fix and format
	$(VENV)/bin/ruff check --fix srlab tests scripts
	$(VENV)/bin/ruff format srlab tests scripts

clean: ## remove caches and build artefacts (keeps .venv and experiments/)
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

.PHONY: help install train browser test test-slow test-all lint format clean
