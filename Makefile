# The two commands a new user needs: `make demo` and `make test`. Both create the environment when it is missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export OPSDATA_REPO_ROOT := $(CURDIR)
export OPSDATA_DATA_DIR ?= $(CURDIR)/data
export PYTHONPATH := $(CURDIR)
export RUNTIME__DLTHUB_TELEMETRY := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

BENCHES := $(patsubst bench/bench_%.py,%,$(wildcard bench/bench_*.py))

.PHONY: demo demo-ui dashboard test test-fast lint typecheck env bench clean

# uv lives in its own small venv: `uv sync` prunes packages not in the lock, so it cannot manage the venv it runs from.
$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

# Bytecode compiled at install: otherwise every fresh process (each Airflow task, each run) compiles what it imports,
# seconds of a small run's wall, and again each time where PYTHONDONTWRITEBYTECODE keeps the cache from being written.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON) --quiet --compile-bytecode
	@touch $@

env: $(VENV)/.synced

demo: env ## Run the whole job on the sandbox: extract every provider, build the tiles, post the digest to Slack.
	$(VENV)/bin/python scripts/demo.py

demo-ui: env ## The same DAGs under `airflow standalone` (UI on http://localhost:8080).
	$(VENV)/bin/python scripts/demo.py --ui

DASHBOARD_PORT ?= 8501
dashboard: env ## The ops dashboard on http://localhost:$(DASHBOARD_PORT), reading the published data/bi.duckdb (read-only).
	$(VENV)/bin/streamlit run dashboard/app.py --server.port $(DASHBOARD_PORT) --server.headless true \
		--browser.gatherUsageStats false

lint: env
	$(VENV)/bin/ruff check .

typecheck: env ## mypy on every production package and the sandbox.
	$(VENV)/bin/mypy pipelines sandbox dags notifications webhooks dashboard

# The full suite over one worker per core (pytest-xdist), whole files per worker (`--dist loadfile`: a module-scoped
# fixture such as a dbt build runs once). Every test gets its own ports, data folder and AIRFLOW_HOME, so workers never
# share state. `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= auto
test: env lint typecheck ## Lint and type-check, then every test (sandbox, pipelines, dbt on the small world, DAGs, Slack). What CI runs.
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

# The inner loop: no Airflow, no lint. Files are spread over one worker per core (pytest-xdist); `--dist loadfile` keeps
# a module's tests on one worker, so a module-scoped fixture (a dbt build) runs once. Files go out in collection order
# (`--no-loadscope-reorder`; xdist's default sends the files with most tests first), which tests/dbt/conftest.py sets:
# a reader of the shared dbt build first, the extraction-only dbt modules, the short tests, the other readers last.
# `make test-fast FAST_TESTS=tests/x`.
FAST_TESTS ?= tests/dbt tests/sandbox tests/unit
test-fast: env ## Unit, simulator and dbt tests, in parallel: under two minutes on a quiet 2-core VM. `make test` is the full suite.
	$(VENV)/bin/pytest -n auto --dist loadfile --no-loadscope-reorder $(FAST_TESTS)

bench: $(addprefix bench-,$(BENCHES)) ## Every benchmark against the sandbox, realistic latency (tens of minutes), then the report.
	$(VENV)/bin/python -m bench.report

bench-%: env ## One benchmark, e.g. `make bench-stripe`.
	$(VENV)/bin/python -m bench.bench_$*

clean:
	rm -rf data airflow_home dbt_project/target dbt_project/logs
