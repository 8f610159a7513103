# FamilyHub: `make demo` runs everything on generated data; `make test` runs the test suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo
HOUSEHOLDS ?= 2000

.PHONY: install demo test lint bench airflow web clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

demo: install
	rm -rf $(DEMO)
	$(BIN)/familyhub generate $(DEMO) --households $(HOUSEHOLDS) --seed 7
	$(BIN)/familyhub db upgrade --warehouse duckdb:///$(DEMO)/familyhub.duckdb
	$(BIN)/familyhub run --landing $(DEMO)/landing --warehouse duckdb:///$(DEMO)/familyhub.duckdb \
		--as-of 2026-11-01 --programme tf2015 --programme sf2022 --programme tf2012
	for role in keyworker coordinator manager datateam; do echo "familyhub-demo-$$role" | $(BIN)/familyhub user add \
		demo_$$role --role $$role --password-stdin --warehouse duckdb:///$(DEMO)/familyhub.duckdb; done
	@echo "Web front end: run 'make web', open http://127.0.0.1:8000/ and sign in as demo_keyworker,"
	@echo "demo_coordinator, demo_manager or demo_datateam (password: familyhub-demo-<role>, demo only)."

test: install
	scripts/ensure-postgres.sh
	scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/pytest -n 2 --dist loadgroup -q --durations=20

airflow: install
	scripts/airflow-local.sh

web: install  # the demo warehouse over plain http on this machine only (no Secure cookies)
	FAMILYHUB_WEB_SECURE_COOKIES=0 $(BIN)/familyhub serve --warehouse duckdb:///$(DEMO)/familyhub.duckdb

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python benchmarks/ingest.py --rows 1000000
	$(BIN)/python benchmarks/linkage.py
	$(BIN)/python benchmarks/cohort.py --households 150000

clean:
	rm -rf $(DEMO) .pytest_cache artifacts
