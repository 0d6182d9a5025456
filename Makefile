# hwfit — the two commands of a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1:8000

.PHONY: run serve test setup setup-dev browser migrate fixtures accuracy bench worker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The web app needs requirements.txt; the tests also need the engine (torch) and test tools.
$(VENV)/.installed-run: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-engine.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed-run

setup: $(VENV)/.installed-run
setup-dev: $(VENV)/.installed-dev

migrate: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_catalog

run: migrate
	$(BIN)/python manage.py runserver $(HOST)

# Production server: gunicorn (WEB_CONCURRENCY processes, hwfit/gunicorn_conf.py) with static
# files collected for WhiteNoise; settings come from the environment (README, "Production").
# One BLAS thread per process: the workers already use every core.
serve: migrate
	$(BIN)/python manage.py collectstatic --noinput -v0
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
		$(BIN)/gunicorn -c hwfit/gunicorn_conf.py hwfit.wsgi:application

# The browser tests drive Debian's chromium through chromium-driver: installed here when missing
# and we can (root with apt), otherwise stop naming the packages. Nothing downloads a browser build.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else \
		echo "The browser tests need chromium and chromium-driver: run 'sudo apt-get install chromium chromium-driver'." >&2; \
		exit 1; \
	fi

# The suite runs on PostgreSQL and Redis when they answer locally (as CI does); without them the
# tests that need one are skipped, naming the variable to set.
test: setup-dev browser
	$(BIN)/python manage.py makemigrations --check --dry-run
	@if [ -z "$$DATABASE_URL" ] && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then \
		export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test; fi; \
	if [ -z "$$CELERY_BROKER_URL" ] && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then \
		export CELERY_BROKER_URL=redis://127.0.0.1:6379/0; fi; \
	echo "tests on $${DATABASE_URL:-SQLite}, broker $${CELERY_BROKER_URL:-none (in-process)}"; \
	$(BIN)/python -m pytest

# Re-import the sourced CSVs (fixtures/sources, or HWFIT_SHARED_DATA) into a scratch database
# and rewrite fixtures/catalog.json from it.
fixtures: setup
	rm -f fixtures/.build.sqlite3
	DATABASE_URL=sqlite:///fixtures/.build.sqlite3 $(BIN)/python manage.py migrate --noinput -v0
	DATABASE_URL=sqlite:///fixtures/.build.sqlite3 $(BIN)/python manage.py import_catalog
	DATABASE_URL=sqlite:///fixtures/.build.sqlite3 $(BIN)/python manage.py dumpdata models_catalog devices --indent 1 -o fixtures/catalog.json
	rm -f fixtures/.build.sqlite3

accuracy: setup
	$(BIN)/python manage.py accuracy_report

bench: setup
	$(BIN)/python -m bench.matrix

# A calibration worker: it probes its device, registers it and consumes `calibrate.<device slug>`
# (add -Q to consume more queues, e.g. `celery -A hwfit worker -Q celery`). Needs CELERY_BROKER_URL.
worker: setup-dev
	$(BIN)/celery -A hwfit worker --loglevel=INFO --concurrency=1

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
