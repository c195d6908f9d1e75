# kerasforge — every workflow is a make target. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/digits_cnn.yaml
SET ?=
REPOSITORY ?= artifacts/models
MODEL ?=
HOST ?= 127.0.0.1
REST_PORT ?= 8501
MLFLOW_PORT ?= 5000
GRPC_PORT ?= 8500
MODEL_CONFIG ?=
COMPOSE := docker compose --file docker/compose.yml --env-file docker/.env
PYTEST_ARGS ?=
# Test processes (pytest-xdist): the suite waits on subprocesses, servers and
# single-threaded TensorFlow start-ups half the time, so two workers use two cores
# better than one. Tests of one module stay together (their module fixtures build once),
# handed out in collection order (tests/conftest.py puts the heavy modules first; xdist's
# default reorders by test count, which left a heavy module to run alone at the end).
# tests/timings.py records a whole-suite run's time in bench/results/test_times.json.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder \
	-p tests.timings
RECORD = $(if $(strip $(PYTEST_ARGS)),,KERASFORGE_TEST_RECORD=$@)

SET_ARGS := $(if $(strip $(SET)),--set $(SET))
STAMP := $(VENV)/.installed

.PHONY: help install train test test-fast test-timings serve predict mlflow-ui lint format bench clean
.PHONY: stack-up stack-train stack-down k8s-train-manifests
.PHONY: example-data monitor-recipe
.PHONY: tune test-deps transfer-comparison docs-figures

# `make tune` searches the shipped space unless CONFIG is given on the command line;
# TRIALS=n overrides the config's tune.trials (of the whole study); WORKERS=n local
# processes share one study, which needs STORAGE=postgresql+psycopg2://... (or a
# PostgreSQL tracking.uri / tune.storage in the config).
TUNE_CONFIG ?= $(if $(filter command line,$(origin CONFIG)),$(CONFIG),configs/digits_cnn_tune.yaml)
TRIALS ?=
WORKERS ?=
STORAGE ?=
# Only the options given, so that the command make echoes is the one a user would type.
TUNE_ARGS = $(if $(strip $(TRIALS)), --trials $(TRIALS))$(if $(strip $(WORKERS)), --workers $(WORKERS))$(if \
	$(strip $(STORAGE)), --storage $(STORAGE))$(if $(SET_ARGS), $(SET_ARGS))

help: ## list every target with its one-line description
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {name[++n] = $$1; text[n] = $$2; \
		if (length($$1) > width) width = length($$1)} \
		END {for (i = 1; i <= n; i++) printf "  \033[36m%-" width "s\033[0m  %s\n", name[i], text[i]}' \
		$(MAKEFILE_LIST)
	@echo "  variables: CONFIG=$(CONFIG) SET=\"a.b=1 c.d=x\" REPOSITORY=$(REPOSITORY) MODEL=$(or $(MODEL),<trained last>)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "kerasforge needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) --version 2>&1). Set PYTHON=python3.11 (or newer)."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "could not create $(VENV) with '$(PYTHON) -m venv'; on Debian/Ubuntu install python3-venv (apt-get install python3-venv), then run make again."; exit 1; }
	@echo "installing kerasforge with TensorFlow, Keras, MLflow and the dev tools into $(VENV)" \
		"(about 4 minutes and 3.4 GB on a fresh machine; pip's progress follows)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# pip's own lines (Collecting ..., a download bar for the large wheels) are the sign of life
	@# during those minutes: no --quiet here, where it would leave the terminal still.
	@# setuptools' editable install of a package-dir layout ends with an information-only box
	@# ("folders named like your package may take precedence"): kerasforge/ is that package's
	@# own folder, so the note has nothing to warn of here and is not shown.
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install kerasforge with its dev extra (other targets do this)

train: $(STAMP) ## train the default experiment (CONFIG=..., SET="train.epochs=3 ...", WORKERS=n local workers) and publish it
	$(BIN)/kerasforge train --config $(CONFIG) $(SET_ARGS) $(if $(strip $(WORKERS)),--workers $(WORKERS))

tune: $(STAMP) ## Optuna search over configs/digits_cnn_tune.yaml (CONFIG=, TRIALS=n, WORKERS=n STORAGE=url); prints the best
	$(BIN)/kerasforge tune --config $(TUNE_CONFIG)$(TUNE_ARGS)

test-deps: ## system packages the tests use: PostgreSQL for the tracking server test (root, Debian)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then echo "PostgreSQL present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "PostgreSQL missing: the PostgreSQL tracking test will skip (apt-get install postgresql)"; fi

test: $(STAMP) ## run the whole test suite, heavy end-to-end cases included (TEST_WORKERS=2)
	$(RECORD) $(PYTEST) $(PYTEST_ARGS)

test-fast: $(STAMP) ## run the suite without the heavy (end-to-end) cases
	$(RECORD) $(PYTEST) -m "not heavy" $(PYTEST_ARGS)

test-timings: $(STAMP) ## run test-fast then test (on a quiet machine) and rewrite the README's test-time line
	$(MAKE) --no-print-directory test-fast PYTEST_ARGS=
	$(MAKE) --no-print-directory test PYTEST_ARGS=
	$(BIN)/python -m tests.timings

serve: $(STAMP) ## serve REPOSITORY (its models.config, or MODEL_CONFIG) on 127.0.0.1:8501 (HOST=, REST_PORT=): TF Serving in Docker, else embedded
	@REPOSITORY=$(REPOSITORY) HOST=$(HOST) REST_PORT=$(REST_PORT) GRPC_PORT=$(GRPC_PORT) \
		MODEL_CONFIG=$(MODEL_CONFIG) MONITORING_CONFIG=$(MONITORING_CONFIG) \
		KERASFORGE=$(BIN)/kerasforge bash docker/serve.sh

predict: $(STAMP) ## query the running server: the model trained last, with its sample (MODEL=, INPUT=)
	$(BIN)/kerasforge predict$(if $(MODEL), --model $(MODEL)) --url http://$(HOST):$(REST_PORT)$(if $(INPUT), --input $(INPUT))

# MLflow's and uvicorn's log lines are hidden (kerasforge.cli.quiet) unless KERASFORGE_VERBOSE=1.
MLFLOW_STORE := sqlite:///$(CURDIR)/artifacts/mlflow.db
QUIET := $(BIN)/python -m kerasforge.cli.quiet
VERBOSE_SET := $(filter 1 true yes on,$(KERASFORGE_VERBOSE))

mlflow-ui: $(STAMP) ## browse the local MLflow store at http://127.0.0.1:5000 (MLFLOW_PORT=)
	@echo "MLflow UI starting: it answers at http://127.0.0.1:$(MLFLOW_PORT) in ~30 s (Ctrl-C stops it; KERASFORGE_VERBOSE=1 shows its logs)"
	@# One worker and no job runner: MLflow's job runner (GenAI judge jobs, unused here) starts
	@# eight more Python processes, which slowed the start on 2 cores from about 15 s to over a
	@# minute and each printed a KeyboardInterrupt traceback on Ctrl-C.
	@MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(QUIET) $(BIN)/mlflow ui \
		--backend-store-uri $(MLFLOW_STORE) --registry-store-uri $(MLFLOW_STORE) \
		--host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1 $(if $(VERBOSE_SET),,--uvicorn-opts "--log-level warning")

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## every benchmark (bench/bench_*.py) -> bench/results/latest.json (ONLY=name for one)
	$(QUIET) $(BIN)/python bench/run.py --repository $(REPOSITORY) $(foreach m,$(ONLY),--only $(m))

docs-figures: $(STAMP) ## train the configs the docs quote (cheapest first), record docs/figures.json, rewrite the figures (ONLY=job)
	$(BIN)/python bench/figures.py $(foreach m,$(ONLY),--only $(m))

# What the compose targets need, checked first so that each missing piece is one line
# naming the target and the fix, not Docker's own "unknown flag: --file".
define stack_preflight
	@docker info >/dev/null 2>&1 || { echo "$@: no Docker engine ('docker info' failed); 'make serve' runs the embedded server instead"; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "$@: the Docker Compose plugin is missing ('docker compose version' failed): install it (Debian/Ubuntu: apt-get install docker-compose-plugin)"; exit 1; }
	@test -f docker/.env || { echo "$@: docker/.env is missing: cp docker/.env.example docker/.env and set its passwords"; exit 1; }
endef

stack-up: $(STAMP) ## start the compose stack (TF Serving, MLflow on PostgreSQL + MinIO); needs docker/.env
	$(stack_preflight)
	$(BIN)/python docker/check_repository.py --config docker/serving/models.config --repository artifacts/models
	$(COMPOSE) up --detach --build --wait
	@echo "TF Serving: http://127.0.0.1:$(REST_PORT) (gRPC 127.0.0.1:$(GRPC_PORT)); MLflow: http://127.0.0.1:$(MLFLOW_PORT)"

stack-train: ## train in the trainer image, logged to the stack's MLflow (CONFIG inside the image)
	@test -f docker/.env || { echo "stack-train: docker/.env is missing: cp docker/.env.example docker/.env"; exit 1; }
	mkdir -p artifacts
	KERASFORGE_UID=$$(id -u) KERASFORGE_GID=$$(id -g) $(COMPOSE) --profile train run --rm --build trainer \
		--config /opt/kerasforge/$(CONFIG) $(SET_ARGS)

k8s-train-manifests: $(STAMP) ## render docker/k8s/train/ for WORKERS=n (default 2), CONFIG, IMAGE -> artifacts/k8s/train.yaml
	mkdir -p artifacts/k8s
	$(BIN)/python docker/k8s/train/render.py --workers $(or $(strip $(WORKERS)),2) --config $(CONFIG) \
		$(if $(strip $(IMAGE)),--image $(IMAGE)) $(SET_ARGS) > artifacts/k8s/train.yaml
	@echo "wrote artifacts/k8s/train.yaml: kubectl apply -f artifacts/k8s/train.yaml"

stack-down: ## stop the compose stack (volumes kept; `docker compose ... down -v` drops them)
	$(stack_preflight)
	$(COMPOSE) --profile train down

TRANSFER_DIR := artifacts/transfer
PRETRAINED := $(TRANSFER_DIR)/digits04_vgg16.weights.h5
TRANSFER_SET := output_dir=$(TRANSFER_DIR) 'data.classes=[5,6,7,8,9]' model.options.weights=$(PRETRAINED)

transfer-comparison: $(STAMP) ## pretrain VGG16 on digits 0-4, then feature extraction vs gradual unfreezing on 5-9 (~7 min)
	mkdir -p $(TRANSFER_DIR)
	set -o pipefail; $(BIN)/kerasforge train --config configs/digits_transfer_pretrain.yaml | tee $(TRANSFER_DIR).log
	$(BIN)/kerasforge backbone "$$(sed -n 's/^run_dir: //p' $(TRANSFER_DIR).log)/checkpoints/best.keras" $(PRETRAINED)
	set -o pipefail; for mode in feature_extraction gradual; do \
		$(BIN)/kerasforge train --config configs/digits_transfer_$$mode.yaml \
			--set $(TRANSFER_SET) export.model_name=digits59_$$mode | tee -a $(TRANSFER_DIR).log || exit 1; \
	done
	@grep -E '^(experiment|test accuracy)' $(TRANSFER_DIR).log

monitor-recipe: $(STAMP) ## the monitoring loop on digits: drift alert, labelled live data, retrain, clear (~5 min) -> bench/results/monitor_recipe.json
	docs/monitoring_recipe.sh

example-data: $(STAMP) ## write configs/data/ (CSV, NumPy, image folder, TFRecord); the first run that reads it does too
	$(QUIET) $(BIN)/python -m kerasforge.pipelines.data.example_data configs/data

clean: ## remove everything the project generates: artifacts, example data, caches, .venv
	rm -rf artifacts mlruns bench/results configs/data .pytest_cache .ruff_cache .hypothesis \
		build dist mlflow.db $(VENV) *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
