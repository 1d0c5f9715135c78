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
# Stage commands run `python`: it must be the project's (see README, "Why the venv on PATH").
export PATH := $(BIN):$(PATH)

.PHONY: help setup run params adopt check-params test test-fast lint format benchmark benchmark-quality clean-venv

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --quiet
	@touch $@

setup: $(VENV)/.synced ## create .venv from the lock file (uv.lock) if it is missing or stale

run: setup ## run the pipeline on the default data and print the test metrics
	tabpipe config sync
	dvc repro
	@tabpipe metrics

params: setup ## rewrite params.yaml from conf/ (discards edits made to params.yaml)
	tabpipe config compose

adopt: setup ## write params.yaml's values (e.g. after `dvc exp apply`) into conf/
	tabpipe config adopt

check-params: setup ## fail when params.yaml is not the composition of conf/
	tabpipe config check

test: setup ## run the tests (unit and end-to-end through DVC)
	pytest

test-fast: setup ## run the tests that do not run DVC end to end
	pytest -m "not slow"

lint: setup ## ruff lint and format check, and the params.yaml drift check
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	tabpipe config check

format: setup ## format the code with ruff
	ruff format src tests benchmarks
	ruff check --fix src tests benchmarks

benchmark: setup ## time cold, no-op and model-change runs (writes benchmarks/results/speed.json)
	python benchmarks/pipeline_speed.py

benchmark-quality: setup ## test metrics of tune=bayesian, twice, and the 3x2 sweep at -j 1 / -j 2
	python benchmarks/quality.py --sweep

clean-venv: ## remove .venv (make setup recreates it from uv.lock)
	rm -rf $(VENV) .tools
