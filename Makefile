# ChargeCars partner integrations. `make run` to start everything, `make test` for the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The environment's PORT, else PORT= in .env, else 8000.
PORT ?= $(or $(shell sed -n 's/^[[:space:]]*PORT[[:space:]]*=[[:space:]]*//p' .env 2>/dev/null | tail -n 1),8000)
export PORT
# Where the sandbox partner calls our API (honcho gives each process its own PORT).
export CHARGECARS_URL ?= http://127.0.0.1:$(PORT)

.PHONY: run test lint format bench bench-api bench-outbound bench-sync fuzz install install-dev clean .env
# .env is phony: write_env.py runs every time and only fills in missing or empty keys.

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

.env:
	$(PY) scripts/write_env.py

# honcho -e /dev/null: settings.py reads .env itself so that the real environment wins;
# honcho's own .env loading would override the environment of web, worker and beat.
run: install .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_example_partners --if-empty
	$(PY) manage.py ensure_admin --url http://127.0.0.1:$(PORT)/admin/
	@echo "Starting web (http://127.0.0.1:$(PORT)/admin/), worker, beat and the sandbox partner. Ctrl-C stops all four."
	$(VENV)/bin/honcho start -f Procfile -e /dev/null

test: install-dev .env
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Schema-based fuzzing of the partner API (also part of `make test`).
fuzz: install-dev .env
	$(PY) -m pytest tests/integrations/test_api_fuzz.py -p no:randomly

clean:
	rm -rf var

# Both benchmarks, one after the other; each prints its figures and its ratio to a floor.
bench: bench-api bench-outbound bench-sync

# Partner API under gunicorn (2 workers) + PostgreSQL against a bare Django floor view.
# BENCH_DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/bench (recreated).
bench-api: install-dev .env
	@command -v wrk >/dev/null || (echo "installing Debian's wrk (load generator)"; \
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(PY) bench/api_bench.py

# Scheduled sync: 10,000 and 100,000 orders from the sandbox partner into PostgreSQL, the
# unchanged sync, and the ratio to the partner API's creates/s (gunicorn + wrk).
# BENCH_DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/bench_sync (recreated).
bench-sync: install-dev .env
	@command -v wrk >/dev/null || (echo "installing Debian's wrk (load generator)"; \
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(PY) bench/sync_bench.py

# Outbound webhooks: one worker process against a local sink vs a plain signed-post loop.
bench-outbound: install-dev .env
	$(PY) bench/outbound_bench.py
