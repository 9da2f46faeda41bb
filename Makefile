# Two commands matter: `make run` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := $(shell sed -n '/^name = "uv"$$/{n;s/version = "\(.*\)"/\1/p}' uv.lock)
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
# Runs a command with DAGSTER_HOME and Dagster's event settings defaulted (orchestration/instance.py
# holds the defaults) and the project's instance settings installed there.
WITH_DAGSTER := $(BIN)/python -m orchestration.instance
SCALE ?= full

.PHONY: run rebuild test lint dev sql report fetch bench clean distclean setup demo-dumps dbt-missing

run: setup ## Ingest everything in the raw folder, build the marts, print a summary
	$(BIN)/python -m orchestration.run $(if $(DUMPS),--dumps "$(DUMPS)")

rebuild: setup ## Build a new warehouse from everything in raw/ beside the current one, then swap it in
	$(BIN)/python -m orchestration.rebuild

test: setup ## pytest (incl. dbt build with its tests and unit tests), ruff, mypy, sqlfluff
	$(WITH_DAGSTER) $(BIN)/pytest
	$(MAKE) --no-print-directory lint

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests dbt_project/macros

dev: setup ## Dagster UI on http://127.0.0.1:3000 with the sensor and the schedule running
	@$(BIN)/python -m orchestration.run --check
	$(WITH_DAGSTER) $(BIN)/dagster dev --host $${DAGSTER_HOST:-127.0.0.1} --port $${DAGSTER_PORT:-3000} -w workspace.yaml

sql: setup ## Read-only SQL prompt on the published snapshot; never blocks the pipeline
	@snapshot=$$($(BIN)/python -c 'from orchestration.settings import Settings; print(Settings.from_env().read_snapshot)'); \
	test -f "$$snapshot" || { echo "No snapshot at $$snapshot yet: run 'make run' first." >&2; exit 1; }; \
	$(BIN)/duckdb -readonly "$$snapshot"

report: setup ## Print the path of the HTML report that every run rebuilds next to the read snapshot
	@$(BIN)/python -m orchestration.report

fetch: setup ## Save recent days from the Hugging Face API into the raw folder; DAYS=30 or DATE=2026-03-10
	$(BIN)/python -m orchestration.fetch $(if $(DAYS),--days "$(DAYS)") $(if $(DATE),--date "$(DATE)")

bench: setup ## Benchmarks; SCALE=small for a quick run, ONLY=backfill,queries to re-measure some figures
	$(WITH_DAGSTER) $(BIN)/python -m benchmarks.run --scale $(SCALE) $(if $(ONLY),--only $(ONLY))

demo-dumps: setup ## Regenerate the synthetic demo dumps in raw/ (refuses to overwrite different files)
	$(BIN)/python -m tests.synthetic raw --days 7 --papers-per-day 12 --seed 7 --start 2026-03-09 --format mixed

clean: ## Remove generated state (warehouse, Dagster home, dbt target); never touches raw/
	rm -rf warehouse .dagster_home dbt_project/target dbt_project/logs logs artifacts \
		.pytest_cache .mypy_cache .ruff_cache .hypothesis benchmarks/work

distclean: clean
	rm -rf $(VENV)

setup: $(VENV)/.synced

# dbt gets an environment of its own, .venv/dbt (the lock's `dbt` group), so that no Dagster process
# imports dbt-core (see orchestration/defs/dbt_project.py). Bytecode is compiled once here: with
# PYTHONDONTWRITEBYTECODE set, every Dagster and dbt process would otherwise compile ~2,600 modules
# at start-up (about 4.5 s each time on a 2-core machine).
# Remade when the lock or the Makefile changed, or when dbt's environment is gone.
$(VENV)/.synced: pyproject.toml uv.lock Makefile $(if $(wildcard $(VENV)/dbt/bin/dbt),,dbt-missing)
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"; }
	$(BIN)/uv sync --frozen --quiet --compile-bytecode
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(VENV)/dbt $(BIN)/uv sync --frozen --quiet --compile-bytecode --only-group dbt --python $(BIN)/python
	@touch $@

dbt-missing:
