# Quick start: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test bench lint mutation clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	scripts/ensure-system-packages
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/andelstal serve

demo: $(STAMP)
	$(BIN)/andelstal demo

# the database tests also run on a throwaway PostgreSQL server (scripts/with-postgres); SQLite always
# mypy checks solver/ first (its settings are in pyproject.toml); the page tests drive Debian's Chromium
# (scripts/ensure-chromium installs it when missing) and leave screenshots in test-artifacts/pages
test: $(STAMP)
	$(BIN)/mypy
	scripts/ensure-chromium
	scripts/with-postgres $(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# mutation testing of the checker, the apportionment and the exact core (not part of make test: about an hour on
# 2 cores); the report, with every survivor and its reason, goes to benchmarks/mutation.md
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet "mutmut>=3.8"
	rm -rf mutants
	ANDELSTAL_ORACLE_EXAMPLES=40 $(BIN)/python -m mutmut run
	$(BIN)/python scripts/mutation_report.py > benchmarks/mutation.md
	head -8 benchmarks/mutation.md

lint: $(STAMP)
	$(BIN)/ruff check solver service tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
