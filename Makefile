# Every target bootstraps .venv itself: a fresh clone needs nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit docs bench reliability clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cli,dev,redis,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/b2b-async demo

test: lint typecheck unit docs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -q
	$(BIN)/coverage report

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

reliability: $(STAMP)
	$(BIN)/pytest -q tests/reliability
	$(BIN)/python -m bench.reliability_report

clean:
	rm -rf $(VENV) docs/_build .coverage .mypy_cache .ruff_cache
