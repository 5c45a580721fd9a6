# Quick start: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/andelstal serve

demo: $(STAMP)
	$(BIN)/andelstal demo

# the database tests also run on a throwaway PostgreSQL server (scripts/with-postgres); SQLite always
# mypy checks solver/ first (its settings are in pyproject.toml)
test: $(STAMP)
	$(BIN)/mypy
	scripts/with-postgres $(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/ruff check solver service tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
