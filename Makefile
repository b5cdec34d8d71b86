# Everything a fresh machine needs is installed from here into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint unit package deploy bench mutate clean baseline reference score report grade screenshot screenshot-hard

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

## make baseline|reference|score|report ARGS="--start ISO --end ISO ...": grade an AI (docs/grading.md)
baseline reference score report: $(VENV)/.runtime
	$(BIN)/python lambda/evaluate.py $@ $(ARGS)

## make grade ARGS="--scenario incidents --days 30" [FINDINGS=file]: generate with history, baseline
## (or the AI's FINDINGS), score, report, all in out/grade/ (README, docs/grading.md)
grade: $(VENV)/.runtime
	$(BIN)/python lambda/evaluate.py grade $(if $(FINDINGS),--findings $(FINDINGS)) $(ARGS)

## make screenshot: regenerate docs/report.png (README) from a week of SCENARIO=incidents; needs chromium
SHOT := out/screenshot
CHROMIUM ?= chromium
screenshot: $(VENV)/.runtime
	$(BIN)/python lambda/evaluate.py grade --scenario incidents --merchants 6 --seed 1729 --end 2026-11-08 --days 7 \
		--output-dir $(SHOT)
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
		--disable-sync --no-first-run --user-data-dir=$(SHOT)/profile --hide-scrollbars --window-size=1200,1760 \
		--screenshot=docs/report.png file://$(CURDIR)/$(SHOT)/report.html

## make screenshot-hard: regenerate docs/report-hard.png from a week of SCENARIO=hard, 6 merchants, with the
## reference solver's findings (its 4 weeks of history generated first); needs chromium
SHOT_HARD := out/screenshot-hard
HARD_CONFIG := --scenario hard --merchants 6 --seed 1729
HARD_RANGE := --start 2026-11-01T00:00:00Z --end 2026-11-08T00:00:00Z
screenshot-hard: $(VENV)/.runtime
	mkdir -p $(SHOT_HARD)
	$(BIN)/python lambda/data_generator.py $(HARD_CONFIG) --start 2026-10-02T00:00:00Z --end 2026-11-08T00:00:00Z \
		--output $(SHOT_HARD)/data.ndjson
	$(BIN)/python lambda/evaluate.py reference $(HARD_CONFIG) $(HARD_RANGE) --input $(SHOT_HARD)/data.ndjson \
		--output $(SHOT_HARD)/reference.jsonl
	$(BIN)/python lambda/evaluate.py report $(HARD_CONFIG) $(HARD_RANGE) --input $(SHOT_HARD)/data.ndjson \
		--findings $(SHOT_HARD)/reference.jsonl --output $(SHOT_HARD)/report.html
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
		--disable-sync --no-first-run --user-data-dir=$(SHOT_HARD)/profile --hide-scrollbars --window-size=1200,1760 \
		--screenshot=docs/report-hard.png file://$(CURDIR)/$(SHOT_HARD)/report.html

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

## make mutate: mutation testing (docs/mutation.md) of config, es and generator with the fast
## tests; not part of make test or CI. mutmut goes in its own .venv-mutate.
MUTATE_VENV := .venv-mutate
MUTATE_DIR := build/mutate
$(MUTATE_VENV)/.stamp: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(MUTATE_VENV)
	$(MUTATE_VENV)/bin/pip install --quiet mutmut==3.8.1 -r requirements-dev.txt
	touch $@

mutate: $(MUTATE_VENV)/.stamp
	rm -rf $(MUTATE_DIR) && mkdir -p $(MUTATE_DIR)
	cp -r lambda $(MUTATE_DIR)/src
	cp -r tests $(MUTATE_DIR)/tests
	cp mutate.cfg $(MUTATE_DIR)/setup.cfg
	sed 's/^pythonpath = lambda tests$$/pythonpath = src tests/' pytest.ini > $(MUTATE_DIR)/pytest.ini
	cd $(MUTATE_DIR) && PATH="$(CURDIR)/$(MUTATE_VENV)/bin:$$PATH" mutmut run --max-children 2 >/dev/null; \
		PATH="$(CURDIR)/$(MUTATE_VENV)/bin:$$PATH" mutmut results --all true | \
		awk '{n[$$NF]++} END {for (s in n) print s, n[s]}'
	@echo "survivors: cd $(MUTATE_DIR) && ../../$(MUTATE_VENV)/bin/mutmut results; ... mutmut show NAME"

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(MUTATE_VENV) build deployment lambda-deployment.zip out .pytest_cache
