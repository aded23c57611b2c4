# Backbone — two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed-stamp
DBT_VENV  := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed-stamp
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' \) -print 2>/dev/null)

# Both environments install exactly these lock files (exact versions and hashes); `make lock` writes them.
TOOLS_LOCK    := requirements/tools.lock.txt
PIPELINE_LOCK := requirements/pipeline.lock.txt
DBT_PIN       := requirements/dbt-constraints.txt
DBT_LOCK      := dbt_project/requirements.lock.txt

.PHONY: demo test test-fast lint ui bench clean lock

# uv and pip, pinned by hash, go in first: uv installs and locks both environments. The venvs are
# made without ensurepip's own pip (slow, and not the locked one).
$(UV): $(TOOLS_LOCK)
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install --quiet --require-hashes --no-deps -r $(TOOLS_LOCK)
	touch $(UV)

# `uv pip sync` installs exactly the locked set and removes whatever else is installed; the project
# itself goes in editable without dependencies (they are all in the lock).
$(STAMP): $(UV) $(PIPELINE_LOCK) pyproject.toml
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes $(PIPELINE_LOCK) $(TOOLS_LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# dbt's own environment: the pipeline runs dbt as a command and never imports dbt-core (loading the
# definitions would pay for it). Its lock pins the pipeline lock's duckdb: both write the warehouse.
$(DBT_STAMP): $(UV) $(DBT_LOCK)
	$(PYTHON) -m venv --without-pip $(DBT_VENV)
	$(UV) pip sync --quiet --python $(DBT_VENV)/bin/python --require-hashes $(DBT_LOCK) $(TOOLS_LOCK)
	touch $(DBT_STAMP)

# Re-resolve the lock files from their inputs (tools.in, pyproject.toml's [test,postgres] extras,
# dbt_project/requirements.txt), keeping every pin that still fits. Upgrade one dependency:
# `make lock LOCK_ARGS='--upgrade-package duckdb'`; everything: `make lock LOCK_ARGS=--upgrade`.
# Resolved for Python 3.11 on x86_64 Linux; the hashes cover every file of each pinned version.
LOCK_ARGS ?=
COMPILE = $(UV) pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' $(LOCK_ARGS)
lock: $(UV)
	$(COMPILE) requirements/tools.in -o $(TOOLS_LOCK)
	$(COMPILE) pyproject.toml --extra test --extra postgres -o $(PIPELINE_LOCK)
	{ echo "# Written by make lock: dbt's environment gets $(PIPELINE_LOCK)'s duckdb (both write the warehouse)."; \
	  grep -o '^duckdb==[^ ]*' $(PIPELINE_LOCK); } > $(DBT_PIN)
	$(COMPILE) dbt_project/requirements.txt -c $(DBT_PIN) -o $(DBT_LOCK)

# dbt's vars (pipelines/models/dbt_vars.py) come from the agenda, the breakdowns, the schools and
# the partners' suites: the manifest is parsed again when any of them changes.
DBT_VARS_SOURCES := agenda.yml sources/schools.yml $(wildcard sources/partners/*.yml) $(wildcard expectations/*.json) \
	pipelines/core/agenda.py pipelines/models/dbt_vars.py

# Parse the dbt project once so that loading the Dagster definitions never has to.
$(MANIFEST): $(STAMP) $(DBT_STAMP) $(DBT_SOURCES) $(DBT_VARS_SOURCES)
	$(BIN)/python -m pipelines.models.project

demo: $(MANIFEST)
	$(BIN)/backbone demo

# The scorecard's browser test drives Debian's Chromium (never a browser download): install it once.
# Needs root (CI runs as root); without it the browser test is skipped outside CI and fails in CI.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	-DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

test: $(MANIFEST) $(CHROMIUM)
	$(BIN)/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# Everything but the slow tests, the demo's, the browser's, PostgreSQL's and the benchmark (markers in
# pyproject.toml): a couple of minutes, for the edit-test loop. `make test` (and CI) runs them all.
FAST := not slow and not demo and not browser and not postgres and not bench
test-fast: $(MANIFEST)
	$(BIN)/pytest -m "$(FAST)"; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# Lint, as CI runs it before the tests: ruff (lint and format), sqlfluff on the dbt SQL, the import layers.
lint: $(STAMP)
	$(BIN)/ruff check pipelines tests dbt_project/lint
	$(BIN)/ruff format --check pipelines tests dbt_project/lint
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/macros dbt_project/tests
	$(BIN)/lint-imports

ui: $(MANIFEST)
	$(BIN)/backbone ui

# The pipeline against hand-written DuckDB SQL on synthetic deliveries (goals: 10M rows, see the output).
# Long at the default size: BENCH_ROWS=500000 for a quick look.
BENCH_ROWS ?= 10000000
BENCH_JSON ?= .backbone/bench-$(BENCH_ROWS).json
bench: $(MANIFEST)
	$(BIN)/python -m pipelines.bench.cli bench --rows $(BENCH_ROWS) --json $(BENCH_JSON)

clean:
	rm -rf .backbone dbt_project/target dbt_project/logs
