# Two entry points: `make run` (the embedded default) and `make test`; both install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: run test setup lint bench

setup:
	./scripts/setup.sh

run: setup
	$(PY) -m monitor run

test:
	./scripts/setup.sh --test
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check monitor tests benchmarks
	$(VENV)/bin/mypy monitor tests benchmarks

bench: setup
	$(PY) benchmarks/risk_core.py
