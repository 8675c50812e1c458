# The commands people type. CI (.ci/run) calls `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run setup test lint format worker web bench bench-tiny clean

## run: install everything, prepare the embedded database and demo content, start web + worker
## (the demo models are trained in the background, with their progress on the home page)
run: setup
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py create_demo_users
	$(BIN)/python manage.py setup_demo_queues
	scripts/fetch-datasets.sh
	$(BIN)/python manage.py load_demo_content --spamassassin var/datasets/spam-assassin --limit 600
	$(BIN)/python manage.py prepare_demo --background
	@cat var/demo_credentials.txt
	@echo "Open http://127.0.0.1:8000/ and sign in with the credentials above (also in var/demo_credentials.txt)."
	$(BIN)/honcho start

## setup: create the virtual environment and install the pinned requirements
## (with uv, bootstrapped by pip and given pip's index settings by scripts/install_with_uv.py: several times faster
## than pip on a busy machine; if anything about uv fails, with pip as before)
## (--no-deps: requirements.txt is the whole lock, which leaves out the CUDA wheels a CPU-only torch never loads;
## check_requirements.py then runs pip check and names anything the lock misses)
setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt requirements-uv.txt scripts/install_with_uv.py scripts/check_requirements.py
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-uv.txt && $(BIN)/python scripts/install_with_uv.py \
	  || { echo "make setup: installing with uv failed (see above); installing with pip instead" >&2; \
	       $(BIN)/python -m pip install --quiet --no-deps -r requirements.txt -r requirements-nodeps.txt; }
	$(BIN)/python scripts/check_requirements.py
	touch $(STAMP)

## test: lint, then the whole suite (on PostgreSQL and Redis when they are installed here)
test: setup lint
	$(BIN)/python manage.py prepare_inference_models --text-only
	scripts/with-services.sh $(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

web: setup
	$(BIN)/gunicorn moderation_site.wsgi -b 127.0.0.1:8000 --workers 2

worker: setup
	$(BIN)/celery -A moderation_site worker -Q inference,training,default --concurrency 1 --without-mingle --without-gossip --loglevel INFO

bench: setup
	scripts/with-services.sh $(BIN)/python bench/ingest.py

## bench-tiny: every benchmark in bench/ in its tiny configuration (tests/bench; `make test` runs them too)
bench-tiny: setup
	scripts/with-services.sh $(BIN)/pytest tests/bench $(PYTEST_ARGS)

clean:
	rm -rf var
