# Klankbord. `make run` and `make test` work on a fresh clone; everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SRC := platform tests benchmarks

.PHONY: run test venv lint typecheck test-sqlite test-postgres test-browser bench messages clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

var/secrets.env:
	mkdir -p var
	umask 077 && printf 'KLANKBORD_SECRET_KEY=%s\n' "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))')" > $@

## The product on the embedded default (SQLite under var/, local files), with demo data.
run: $(STAMP) var/secrets.env
	set -a && . ./var/secrets.env && set +a && \
	$(BIN)/klankbord migrate --quiet && \
	$(BIN)/klankbord seed-demo && \
	$(BIN)/klankbord serve

## Lint, types, the suite on SQLite and on PostgreSQL, then the browser tests.
test: $(STAMP)
	$(MAKE) --no-print-directory lint typecheck test-sqlite test-postgres test-browser

lint: $(STAMP)
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)

typecheck: $(STAMP)
	$(BIN)/mypy

test-sqlite: $(STAMP)
	KLANKBORD_TEST_BACKEND=sqlite $(BIN)/pytest -m "not browser" --ignore=tests/e2e

test-postgres: $(STAMP)
	KLANKBORD_TEST_BACKEND=postgres $(BIN)/pytest -m "not browser" --ignore=tests/e2e

test-browser: $(STAMP)
	KLANKBORD_TEST_BACKEND=sqlite $(BIN)/pytest tests/e2e

## Benchmarks (not part of `make test`): value, anchor and ratio per pair, as a table and JSON.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

## Extract translatable strings into the catalogs (then translate nl and fr).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o frontend/locales/messages.pot --no-location --sort-output .
	for lang in nl en fr; do \
	  $(BIN)/pybabel update -i frontend/locales/messages.pot -d frontend/locales -l $$lang --init-missing --no-fuzzy-matching --ignore-obsolete || exit 1; \
	done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
