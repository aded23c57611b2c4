# Backbone — two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DBT_VENV  := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed-stamp
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' \) -print 2>/dev/null)

.PHONY: demo test test-fast ui bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

# dbt's own environment: the pipeline runs dbt as a command and never imports dbt-core (loading the
# definitions would pay for it). Its duckdb is the main environment's version: both write the warehouse.
$(DBT_STAMP): dbt_project/requirements.txt $(STAMP)
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/pip install --quiet -r dbt_project/requirements.txt \
		"duckdb==$$($(BIN)/python -c 'import duckdb; print(duckdb.__version__)')"
	touch $(DBT_STAMP)

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
