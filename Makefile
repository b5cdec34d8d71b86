# Everything a fresh machine needs is installed from here into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint unit package deploy bench clean baseline score report screenshot

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

## make baseline|score|report ARGS="--start ISO --end ISO ...": grade an AI (docs/grading.md)
baseline score report: $(VENV)/.runtime
	$(BIN)/python lambda/evaluate.py $@ $(ARGS)

## make screenshot: regenerate docs/report.png (README) from a week of SCENARIO=incidents; needs chromium
SHOT := out/screenshot
SHOT_CONFIG := --scenario incidents --merchants 6 --seed 1729
SHOT_RANGE := --start 2026-11-01T00:00:00Z --end 2026-11-08T00:00:00Z
CHROMIUM ?= chromium
screenshot: $(VENV)/.runtime
	mkdir -p $(SHOT)
	$(BIN)/python lambda/data_generator.py $(SHOT_CONFIG) --start 2026-10-25T00:00:00Z --end 2026-11-08T00:00:00Z \
		--output $(SHOT)/data.ndjson
	$(BIN)/python lambda/evaluate.py baseline $(SHOT_CONFIG) $(SHOT_RANGE) --input $(SHOT)/data.ndjson \
		--output $(SHOT)/baseline.jsonl
	$(BIN)/python lambda/evaluate.py report $(SHOT_CONFIG) $(SHOT_RANGE) --input $(SHOT)/data.ndjson \
		--findings $(SHOT)/baseline.jsonl --output $(SHOT)/report.html
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
		--disable-sync --no-first-run --user-data-dir=$(SHOT)/profile --hide-scrollbars --window-size=1200,1250 \
		--screenshot=docs/report.png file://$(CURDIR)/$(SHOT)/report.html

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
