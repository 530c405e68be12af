# BuildWatch — `make run` serves everything locally; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
FAKE_PORT ?= 8100
FAKE_SPEED ?= 1

# The first interpreter that is Python >= 3.12: python3.13, python3.12, then python3.
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	echo $$p; break; fi; done)

SYNAPSE_VENV ?= var/synapse-venv
SYNAPSE_VERSION ?= 1.163.2

.PHONY: run test demo lint install migrate bench clean check-python synapse matrix-dev

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
	$(PY) manage.py fake_treeherder --port $(FAKE_PORT) --speed $(FAKE_SPEED) $(if $(FAKE_PULSE),--pulse '$(FAKE_PULSE)') & \
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

# A local homeserver on :8008 with a bot and a user; prints the MATRIX_* variables for `make demo`.
matrix-dev: install synapse
	BUILDWATCH_SYNAPSE_VENV=$(SYNAPSE_VENV) $(PY) -m tests.synapse --port 8008 --data var/synapse-dev

# The sign-in tests' real OpenID provider (npm oidc-provider, run by Node); without npm those tests skip.
tests/oidc/node_modules/.installed: tests/oidc/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/oidc --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the sign-in tests against a real OpenID provider will skip"; fi

test: install tests/oidc/node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

bench: install
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) var/*.sqlite3 var/broker var/celerybeat-schedule*
