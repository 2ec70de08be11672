# prefapp: `make run` starts the app with demo data, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test lint install services bench-labeling clean

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and exact: the CPU build on the machine's disk, never a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[test,dev,bench]"
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py load_demo
	$(PY) -m prefapp.run_dev

# Tests run against real PostgreSQL and Redis on 127.0.0.1 (started if not answering) and
# Debian's Chromium (installed if missing): .ci/services. Then the labelling tests run again on
# the SQLite default that `make run` uses (no servers: the ORM path of leases and judgments, the
# concurrency scenario on a file database). PYTEST_ARGS alone skips the second run;
# SQLITE_PYTEST_ARGS chooses what it runs.
SQLITE_PYTEST_ARGS ?= $(if $(PYTEST_ARGS),,tests/labeling)
test: $(STAMP) services
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(PY) -m pytest $(PYTEST_ARGS)
	$(if $(SQLITE_PYTEST_ARGS),env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest $(SQLITE_PYTEST_ARGS))

services:
	bash .ci/services

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy prefapp prefcore labeling training api

bench-labeling: $(STAMP) services
	$(PY) bench/labeling_load.py

clean:
	rm -rf $(VENV) var staticfiles test-output
