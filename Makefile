# Two entry points a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-quick lint format venv deps dev-deps messages bench bench-exports

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

deps: $(PY)
	$(PY) -m pip install --quiet -r requirements.txt

dev-deps: $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt

run: deps
	DJANGO_DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv -v0 2>/dev/null || true
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput -v0
	DJANGO_DEBUG=1 $(PY) manage.py load_demo
	@echo ""
	@echo "  Cerveau collectif is running."
	@echo "  Demo atelier (join as a participant): http://$(HOST):$(PORT)/a/CGNC16/"
	@echo "  Home page (join with a code):          http://$(HOST):$(PORT)/"
	@echo "  Open the demo link in two browsers to watch the board update live."
	@echo "  Facilitator side: http://$(HOST):$(PORT)/facilitate/  (login: animation / atelier-demo)"
	@echo "  Observatoire (a generated demo season): http://$(HOST):$(PORT)/observatoire/"
	@echo ""
	DJANGO_DEBUG=1 DJANGO_ALLOWED_HOSTS="$${DJANGO_ALLOWED_HOSTS:-127.0.0.1,localhost,$(HOST)}" $(PY) manage.py runserver $(HOST):$(PORT)

test: dev-deps
	scripts/test.sh

# The inner loop: SQLite + in-memory only, without browsers, servers or faults.
test-quick: dev-deps
	scripts/test.sh --quick

lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: dev-deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

messages: dev-deps
	DJANGO_DEBUG=1 $(PY) manage.py makemessages -l en --ignore=.venv --ignore=staticfiles --no-obsolete
	DJANGO_DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv

# The live room's benchmark (issue 6): ~20 minutes, results in docs/benchmarks.md.
# Needs PostgreSQL and Redis on 127.0.0.1 (uses the cerveau_bench database and Redis db 7).
.PHONY: bench
bench: dev-deps
	$(PY) -m bench --quick

# Plan exports of a large atelier (500 impossibles, 200 actions): ~1 minute.
bench-exports: dev-deps
	$(PY) -m bench.exports --runs 3
