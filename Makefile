# The two commands a newcomer runs are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv

.PHONY: run test bench install lint

install:
	bash scripts/install.sh

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

bench: install
	$(VENV)/bin/python -m benchmarks

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
