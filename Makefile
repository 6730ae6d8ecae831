# Worldgate developer commands. `make run` and `make test` do all set-up on a fresh machine:
# `make install` installs the package editable with its `dev` extra (which pulls `server`).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: install run test lint types docs docs-serve unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/worldgate serve

lint: install
	$(BIN)/ruff check app tests benchmarks docs/examples
	$(BIN)/lint-imports

types: install
	$(BIN)/mypy

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir var/site

# The docs preview listens on 8001, beside `make run` on 8000.
DOCS_PORT ?= 8001
docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

unit: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

test: lint types docs unit

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) var/site
