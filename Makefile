# Worldgate developer commands. `make run` and `make test` do all set-up on a fresh machine:
# `make install` installs the package editable with its `dev` extra (which pulls `server`).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: install run test lint types docs docs-serve unit bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/worldgate serve

lint: install
	$(BIN)/ruff check app tests benchmarks docs/examples scripts
	$(BIN)/lint-imports

types: install
	$(BIN)/mypy

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir var/site

# The docs preview listens on 8001, beside `make run` on 8000.
DOCS_PORT ?= 8001
docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

# Browser tests run in a pytest process of their own (see tests/browser_support.py).
unit: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not browser"
	$(BIN)/pytest -m browser -p no:xdist

test: lint types docs unit

# The browser tests drive Debian's Chromium (Playwright never downloads one). Needs root;
# `.ci/run` calls it, and it installs nothing that is already there. The font packages are
# named so pages render text even on a minimal image: DejaVu for Latin, Nanum for the Korean
# documentation (installed only when no font of the machine covers Korean).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends chromium fonts-dejavu-core; \
	fi
	@if [ -z "$$(fc-list :lang=ko 2>/dev/null)" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends fonts-nanum; \
	fi

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) var/site
