# Everything installs itself: a fresh clone needs only python3 (>= 3.10) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test lint bench sandbox clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

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

## make bench: regenerate benchmarks/README.md
bench: venv
	$(BIN)/python benchmarks/run.py --write benchmarks/README.md --slow

## make sandbox: a local API to point the tap at (no key needed)
sandbox: venv
	$(BIN)/tap-pinterest-ads-sandbox --port 8765 --seed 42

clean:
	rm -rf $(VENV) .meltano output demo.duckdb .pytest_cache .mypy_cache .ruff_cache
