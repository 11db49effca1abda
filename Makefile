# mdserver: `make run` serves the app on the embedded default; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test worker beat lint format bench migrate seed chromium clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo
	$(PY) manage.py resume_jobs

run: seed
	@echo ""
	@echo "  mdserver is starting on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	@echo ""
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) mdserver.asgi:application

# Debian's Chromium drives the browser tests (never a downloaded browser build).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: install chromium
	$(PY) -m pytest $(PYTEST_ARGS)

worker: install
	$(VENV)/bin/celery -A mdserver worker --loglevel=INFO --queues=default,sessions

beat: install
	$(VENV)/bin/celery -A mdserver beat --loglevel=INFO

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

$(VENV)/.bench-installed: requirements-bench.txt requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

# The benchmarks measure PostgreSQL; they create and drop their own test database.
bench: install $(VENV)/.bench-installed
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mdserver} \
	DJANGO_SETTINGS_MODULE=mdserver.settings $(PY) -m bench.run

clean:
	rm -rf $(VENV) node_modules staticfiles var
