# kerasforge — every workflow is a make target. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/digits_cnn.yaml
SET ?=
REPOSITORY ?= artifacts/models
MODEL ?= digits_cnn
HOST ?= 127.0.0.1
REST_PORT ?= 8501
MLFLOW_PORT ?= 5000
PYTEST_ARGS ?=

SET_ARGS := $(if $(strip $(SET)),--set $(SET))
STAMP := $(VENV)/.installed

TRIALS ?= 10

.PHONY: tune test-deps help install train test test-fast serve predict mlflow-ui lint format bench clean

help: ## list every target with its one-line description
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  variables: CONFIG=$(CONFIG) SET=\"a.b=1 c.d=x\" REPOSITORY=$(REPOSITORY) MODEL=$(MODEL)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "kerasforge needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) --version 2>&1). Set PYTHON=python3.11 (or newer)."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "could not create $(VENV) with '$(PYTHON) -m venv'; on Debian/Ubuntu install python3-venv (apt-get install python3-venv), then run make again."; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install kerasforge with its dev extra (other targets do this)

train: $(STAMP) ## train the default experiment (CONFIG=..., SET="train.epochs=3 ...") and publish it
	$(BIN)/kerasforge train --config $(CONFIG) $(SET_ARGS)

tune: $(STAMP) ## search CONFIG's tune.space with Optuna (TRIALS=n); writes the best config as YAML
	$(BIN)/kerasforge tune --config $(CONFIG) --trials $(TRIALS) $(SET_ARGS)

test-deps: ## system packages the tests use: PostgreSQL for the tracking server test (root, Debian)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then echo "PostgreSQL present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "PostgreSQL missing: the PostgreSQL tracking test will skip (apt-get install postgresql)"; fi

test: $(STAMP) ## run the whole test suite, heavy end-to-end cases included
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## run the suite without the heavy (end-to-end) cases
	$(BIN)/python -m pytest -m "not heavy" $(PYTEST_ARGS)

serve: $(STAMP) ## serve REPOSITORY on $(HOST): TF Serving REST API on port $(REST_PORT)
	$(BIN)/kerasforge serve --repository $(REPOSITORY) --host $(HOST) --rest-port $(REST_PORT)

predict: $(STAMP) ## query the running server with artifacts/sample_request.json (INPUT=file.npy|json)
	$(BIN)/kerasforge predict --model $(MODEL) --url http://$(HOST):$(REST_PORT) \
		--input $(or $(INPUT),artifacts/sample_request.json)

mlflow-ui: $(STAMP) ## browse the local MLflow store at http://127.0.0.1:$(MLFLOW_PORT)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/artifacts/mlflow.db \
		--host 127.0.0.1 --port $(MLFLOW_PORT)

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## every benchmark (bench/bench_*.py) -> bench/results/latest.json (ONLY=name for one)
	$(BIN)/python bench/run.py --repository $(REPOSITORY) $(foreach m,$(ONLY),--only $(m))

clean: ## remove artifacts (MLflow store, model repository, runs), caches and .venv
	rm -rf artifacts mlruns bench/results .pytest_cache .ruff_cache $(VENV) *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
