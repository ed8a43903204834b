# Everything installs itself: a fresh clone needs only python3 (>= 3.10) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SHELL  := /bin/bash
# pip's own output is hundreds of lines: each step says what it does first, PROGRESS turns pip's
# log into a line every 25 packages (the first install takes a few minutes), and pip's warnings
# wait in .venv/pip-errors.log unless the install fails.
PIP    := $(BIN)/pip install --disable-pip-version-check --progress-bar off
PROGRESS := awk '/^Collecting/ && ++n % 25 == 0 { print "venv:   " n " packages resolved..."; fflush() } \
	/^Installing collected packages/ { print "venv:   installing " (n ? n " packages" : "the tap again") "..."; fflush() }'

.PHONY: venv demo test lint bench sandbox pg pg-stop pythons clean

$(STAMP): pyproject.toml
	@echo "venv: creating $(VENV) with $$($(PYTHON) --version)"
	@$(PYTHON) -m venv $(VENV)
	@echo "venv: installing the tap, its sandbox and the dev tools (Meltano, pytest, ruff, mypy);" \
		"a few minutes the first time"
	@set -o pipefail; $(PIP) -e '.[dev]' 2>$(VENV)/pip-errors.log | $(PROGRESS) \
		|| { grep '^ERROR' $(VENV)/pip-errors.log | cut -c1-300 | tail -n 5; \
		     echo "venv: pip failed; its whole log is $(VENV)/pip-errors.log"; exit 1; }
	@touch $(STAMP)
	@echo "venv: ready; the commands are in $(BIN)/ (tap-pinterest-ads, meltano, pytest, ...)"

venv: $(STAMP)

## make demo: sandbox API -> meltano run -> DuckDB, twice (the sandbox advances a day in between)
demo: venv
	$(BIN)/python scripts/demo.py

## make test: lint, types, and the whole test suite (starts its own sandbox and PostgreSQL)
test: venv lint
	$(BIN)/pytest -n 2 --dist loadfile

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make bench: regenerate benchmarks/README.md: the ad library, the tap against its floor, the tap
## against Airbyte's source-pinterest on the issue's whole workload, the tap's memory as the data
## grows (about 2 hours: 65 minutes against Airbyte, 3 x 500 x 5,000 at 200 and 50 ms, and 35 of
## memory; each section says how to rerun it alone)
bench: venv bench-airbyte-venv
	@mkdir -p benchmarks/.runs
	$(BIN)/python -m benchmarks.run --write benchmarks/.runs/ad-library.md --slow
	$(BIN)/python -m benchmarks.measure benchmarks/.runs/ad-library.md ad_library \
		--title "The ad library: credits, throughput, latency, pacing"
	$(BIN)/python -m benchmarks.vs_floor --profile --write benchmarks/README.md
	$(BIN)/python -m benchmarks.vs_airbyte --write benchmarks/README.md
	@$(MAKE) --no-print-directory bench-memory

## make sandbox: a local copy of both APIs to point the tap at (no key needed). Its ad-library
## rate limit is the one the Meltano `dev` environment paces to (requests_per_minute: 6000), so
## back-to-back runs never meet a 429; v5 allows 6000 a minute too, above the tap's own v5 pace
## (1000), so a second run starting while the first run's minute lasts meets none either; the
## tests check pacing against small limits. A started sandbox knows only the first v5 refresh
## token again: the dev token store, which holds the rotated one of the previous sandbox, goes.
sandbox: venv
	@rm -f "$${MELTANO_SYS_DIR_ROOT:-.meltano}/sandbox-refresh-token.json"
	$(BIN)/tap-pinterest-ads-sandbox --port 8765 --seed 42 --rate-limit 6000 --v5-rate-limit 6000

## make pg: the throwaway PostgreSQL the `dev` environment loads into (127.0.0.1:15432)
pg: venv
	@$(BIN)/python scripts/devpg.py start

pg-stop: venv
	@$(BIN)/python scripts/devpg.py stop

## make pythons: install the tap with each Python 3.10-3.13 found (pyenv), run --about and a sync
pythons: venv
	$(BIN)/python scripts/pythons.py

clean:
	@if [ -x $(BIN)/python ]; then $(BIN)/python scripts/devpg.py stop; fi
	rm -rf $(VENV) .meltano output demo.duckdb .pytest_cache .mypy_cache .ruff_cache

## make soak: seeded kill/resume, fault and quirk trials against the sandbox's truth (~15 min; not CI)
SOAK_ARGS ?= --trials 100 --fault-trials 20 --seed 1
soak: venv
	$(BIN)/python -m tests.soak $(SOAK_ARGS)

## make mutate: which bugs in tap_pinterest_ads/ the fast suite catches (MUTATE_ARGS="--all": hours)
MUTATE_ARGS ?= --sample 40 --seed 1
mutate: venv
	$(BIN)/pip install --quiet --disable-pip-version-check -r tests/mutation/requirements.txt
	$(BIN)/python -m tests.mutation.probe $(MUTATE_ARGS)

.PHONY: soak mutate

## make bench-airbyte-venv: Airbyte's source-pinterest 2.1.12 in its own Python 3.11 venv, for
## the side-by-side benchmark (its last PyPI release; it needs Python >=3.10,<3.12)
AIRBYTE_PYTHON ?= python3.11
AIRBYTE_VENV   := benchmarks/.airbyte-venv
$(AIRBYTE_VENV)/.installed-stamp:
	@echo "airbyte: creating $(AIRBYTE_VENV) with $$($(AIRBYTE_PYTHON) --version); about a minute"
	@$(AIRBYTE_PYTHON) -m venv $(AIRBYTE_VENV)
	@$(AIRBYTE_VENV)/bin/pip install --disable-pip-version-check --progress-bar off --quiet \
		airbyte-source-pinterest==2.1.12 2>$(AIRBYTE_VENV)/pip-errors.log \
		|| { tail -n 5 $(AIRBYTE_VENV)/pip-errors.log; exit 1; }
	@touch $@

bench-airbyte-venv: $(AIRBYTE_VENV)/.installed-stamp

.PHONY: bench-airbyte-venv

## make bench-memory: the tap's peak memory as the data grows (benchmarks/memory.py, the tap
## alone): the whole v5 workload at a tenth and at full size, then the daily analytics (sync
## endpoints, 89 days) and the entity streams at full and ten times the data; about 35 minutes
bench-memory: venv
	@mkdir -p benchmarks/.runs
	$(BIN)/python -m benchmarks.memory --sizes tenth full --json benchmarks/.runs/memory-workload.json
	$(BIN)/python -m benchmarks.memory --sizes full ten --streams analytics --days 89 \
		--json benchmarks/.runs/memory-analytics.json
	$(BIN)/python -m benchmarks.memory --sizes full ten --streams entities \
		--json benchmarks/.runs/memory-entities.json
	$(BIN)/python -m benchmarks.memory --render benchmarks/.runs/memory-workload.json \
		benchmarks/.runs/memory-analytics.json benchmarks/.runs/memory-entities.json \
		--write benchmarks/README.md

.PHONY: bench-memory
