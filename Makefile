# Two entry points: `make run` (the embedded default) and `make test`.
PYTHON ?= python3
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: run test setup lint bench

setup:
	./scripts/setup.sh

run: setup
	$(PYTHON) -m monitor run

test:
	./scripts/setup.sh --test
	$(PYTHON) -m pytest -q

lint: setup
	ruff check monitor tests benchmarks
	mypy monitor

bench: setup
	$(PYTHON) benchmarks/risk_core.py
