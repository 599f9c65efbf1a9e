# `make test` builds everything the tests need from nothing: Debian's InfluxDB engine, the .venv, then lint (ruff,
# mypy) + pytest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROVIDER := $(VENV)/.provider-installed

.PHONY: test lint unit integration engine browser venv demo bench clean run stop screenshot

test: engine browser venv lint
	PYTHONPATH=$(CURDIR) $(BIN)/pytest

unit: venv
	PYTHONPATH=$(CURDIR) $(BIN)/pytest tests/unit

integration: engine browser venv
	PYTHONPATH=$(CURDIR) $(BIN)/pytest tests/integration

# ruff (lint + format), then mypy --strict on include/ (pyproject.toml's [tool.mypy]).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=$(CURDIR) $(BIN)/mypy

engine:
	@command -v influxd >/dev/null 2>&1 || { \
		echo "installing Debian's influxdb engine for the tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null; }

# Debian's headless chromium, which the connection-form test drives (browser downloads are not needed).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the UI test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

venv: $(STAMP) $(PROVIDER)

# The whole pipeline on this machine (local S3 with demo logs, InfluxDB, Airflow on SQLite); `make stop` stops it.
run: engine $(STAMP) $(PROVIDER)
	PYTHONPATH=$(CURDIR) $(BIN)/python -m local_run run

stop:
	PYTHONPATH=$(CURDIR) $(PYTHON) -m local_run stop

# docs/connection-form*.png: the UI's form for the `lyve_influxdb` type, filled in by headless chromium (the test).
screenshot: engine browser venv
	LYVE_SCREENSHOT_DIR=$(CURDIR)/docs PYTHONPATH=$(CURDIR) $(BIN)/pytest -q tests/integration/test_connection_form.py

# This package's Airflow provider (the `lyve_influxdb` connection type), installed like any other distribution.
$(PROVIDER): pyproject.toml setup.py $(wildcard lyve_audit_provider/*.py) $(STAMP)
	$(BIN)/pip install -q .
	touch $(PROVIDER)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

# A benchmark, not a test (several minutes): floors, parse + encode, naive, sink, end to end, peak RSS; one table.
bench: engine venv
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench

demo: venv
	$(BIN)/python -m include.lyve_audit generate --out demo-logs --start $$(date -u -d '-6 hours' +%Y-%m-%dT%H:00:00Z) --hours 6 --incidents

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
