# Everything a fresh machine needs is installed from here into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint unit package deploy bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when a requirements file changes.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

## make run ARGS="--start 2026-11-01 --end 2026-11-02": generate (see README)
run: $(VENV)/.runtime
	$(BIN)/python lambda/data_generator.py $(ARGS)

## make test: the whole suite, as CI runs it
test: lint unit

lint: $(VENV)/.dev
	$(BIN)/cfn-lint cloudformation.yml
	$(BIN)/shellcheck deploy.sh

unit: $(VENV)/.dev
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

package:
	./deploy.sh --package-only

deploy:
	./deploy.sh $(ARGS)

## make bench: benchmarks (bench/README.md); elasticsearch-faker goes in its own .venv-bench
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.stamp:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet elasticsearch-faker==0.3.0
	touch $@

bench: $(VENV)/.dev $(BENCH_VENV)/.stamp
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) deployment lambda-deployment.zip out .pytest_cache
