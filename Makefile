# BuildWatch — `make run` serves everything locally; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
FAKE_PORT ?= 8100
FAKE_SPEED ?= 1
FAKE_SCENARIO ?= default

# The first interpreter that is Python >= 3.12: python3.13, python3.12, then python3.
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	echo $$p; break; fi; done)

# An explicit BUILDWATCH_SYNAPSE_VENV (an existing Synapse virtualenv) is used as it is, never rebuilt.
SYNAPSE_VENV ?= $(or $(BUILDWATCH_SYNAPSE_VENV),var/synapse-venv)
SYNAPSE_VERSION ?= 1.163.2

# `make test QUICK=1` leaves out what needs programs from outside Python (Chromium, Node, Synapse).
QUICK ?=
quick := $(filter-out 0,$(QUICK))

.PHONY: run test test-deps test-tools demo lint install migrate bench clean check-python synapse \
	synapse-check matrix-dev

check-python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "BuildWatch needs Python >= 3.12 (Django 6.1). Tried python3.13, python3.12 and python3;" >&2; \
	  echo "install one (e.g. 'pyenv install 3.13') or run 'make PYTHON=/path/to/python3.12 ...'." >&2; \
	  exit 1; fi

$(VENV)/.installed: pyproject.toml | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

migrate: install
	@mkdir -p var
	$(PY) manage.py migrate --noinput

# Web (runserver), poller (a Celery worker and a separate Celery beat on a filesystem broker) and mail to the
# console. Beat runs as its own process: a worker with embedded beat (--beat) could hang on SIGTERM after
# "beat: Shutting down…". Ctrl-C or SIGTERM to make stops every process (STOP_PROCESSES).
STOP_PROCESSES = trap 'trap - EXIT INT TERM; kill $$(jobs -p) 2>/dev/null; wait' EXIT INT TERM
POLLER = $(BIN)/celery -A buildwatch worker --loglevel=INFO --concurrency=2 & \
	$(BIN)/celery -A buildwatch beat --loglevel=INFO --schedule=var/celerybeat-schedule &

run: migrate
	@echo "BuildWatch on http://$(HOST):$(PORT)/  (Ctrl-C stops web and poller)"
	@$(STOP_PROCESSES); \
	$(POLLER) \
	$(PY) manage.py runserver $(HOST):$(PORT) & wait

# The same, with the fake Treeherder on :$(FAKE_PORT) and the app pointed at it. FAKE_PULSE=amqp://… (a
# RabbitMQ of yours) also has the fake publish its tasks' messages there and runs the Pulse listener on it.
demo: migrate
	@echo "Fake Treeherder on http://127.0.0.1:$(FAKE_PORT)/, BuildWatch on http://$(HOST):$(PORT)/"
	@$(STOP_PROCESSES); export TREEHERDER_URL=http://127.0.0.1:$(FAKE_PORT) TASKCLUSTER_ROOT_URL=http://127.0.0.1:$(FAKE_PORT) \
	$(if $(FAKE_PULSE),PULSE_URL='$(FAKE_PULSE)'); \
	$(PY) manage.py fake_treeherder --port $(FAKE_PORT) --speed $(FAKE_SPEED) --scenario $(FAKE_SCENARIO) $(if $(FAKE_PULSE),--pulse '$(FAKE_PULSE)') & \
	$(POLLER) \
	$(if $(FAKE_PULSE),$(PY) manage.py listen_pulse &) \
	$(PY) manage.py runserver $(HOST):$(PORT) & wait

# Synapse for the Matrix tests and a local bot, in its own virtualenv: its pins never touch the app's.
$(SYNAPSE_VENV)/.installed: Makefile | check-python
	@test -x $(SYNAPSE_VENV)/bin/python || $(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SYNAPSE_VENV)/bin/python -m pip install --quiet 'matrix-synapse==$(SYNAPSE_VERSION)'
	@touch $@

synapse: $(SYNAPSE_VENV)/.installed

# What the Matrix tests and `make matrix-dev` use: var/synapse-venv, built; or BUILDWATCH_SYNAPSE_VENV, checked.
SYNAPSE_DEP := $(if $(BUILDWATCH_SYNAPSE_VENV),synapse-check,synapse)

# A local homeserver on :8008 with a bot and a user; prints the MATRIX_* variables for `make demo`.
matrix-dev: install $(SYNAPSE_DEP)
	BUILDWATCH_SYNAPSE_VENV=$(SYNAPSE_VENV) $(PY) -m tests.synapse --port 8008 --data var/synapse-dev

# What `make test` needs from the system: Debian's Chromium at the path the browser tests launch
# (tests/browser/conftest.py), and Node.js with npm for the sign-in tests' OpenID provider.
# `make test-deps` installs the missing ones with apt-get (as root: `sudo make test-deps`).
MISSING_TEST_PACKAGES = $$(test -x /usr/bin/chromium || echo chromium; \
	command -v node >/dev/null 2>&1 || echo nodejs; command -v npm >/dev/null 2>&1 || echo npm)

test-deps:
	@missing="$(MISSING_TEST_PACKAGES)"; missing=$$(echo $$missing); \
	if [ -z "$$missing" ]; then echo "Chromium, Node.js and npm are installed."; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make test-deps installs Debian packages with apt-get, and there is no apt-get here." >&2; \
	  echo "Install these with your system's package manager: $$missing (Chromium at /usr/bin/chromium)." >&2; \
	  exit 1; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "make test-deps runs apt-get: run it as root: sudo make test-deps" >&2; exit 1; fi; \
	echo "== apt-get install $$missing (for the browser and sign-in tests)"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null

# Before any test runs: install the missing system packages when this user can (root with apt-get),
# else stop and name the one command that does; never run a suite that would skip the browser tests.
test-tools:
	@missing="$(MISSING_TEST_PACKAGES)"; missing=$$(echo $$missing); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then $(MAKE) --no-print-directory test-deps; exit $$?; fi; \
	echo "make test: no test was run: the browser and sign-in tests need $$missing." >&2; \
	if command -v apt-get >/dev/null 2>&1; then echo "Install them with:  sudo make test-deps" >&2; \
	else echo "Install them with your system's package manager (Chromium at /usr/bin/chromium)." >&2; fi; \
	echo "(Or run every other test: make test QUICK=1)" >&2; \
	exit 1

# An existing virtualenv named by BUILDWATCH_SYNAPSE_VENV: check it has Synapse, never install into it.
synapse-check:
	@$(SYNAPSE_VENV)/bin/python -c 'import synapse' 2>/dev/null || { \
	  echo "make test: no test was run: BUILDWATCH_SYNAPSE_VENV=$(SYNAPSE_VENV) has no Synapse." >&2; \
	  echo "Unset it (make test then builds var/synapse-venv) or point it at a virtualenv with matrix-synapse." >&2; \
	  exit 1; }

# The sign-in tests' real OpenID provider (npm oidc-provider, run by Node); test-tools made sure of npm.
tests/oidc/node_modules/.installed: tests/oidc/package-lock.json | test-tools
	npm ci --prefix tests/oidc --no-audit --no-fund --silent
	@touch $@

ifeq ($(quick),)
TEST_NEEDS := test-tools $(SYNAPSE_DEP) tests/oidc/node_modules/.installed
TEST_ENV := BUILDWATCH_SYNAPSE_VENV=$(abspath $(SYNAPSE_VENV))
else
TEST_NEEDS :=
TEST_ENV := BUILDWATCH_QUICK=1
endif

test: install $(TEST_NEEDS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

bench: install
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) var/*.sqlite3 var/broker var/celerybeat-schedule*
