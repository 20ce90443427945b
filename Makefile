# Every target bootstraps .venv itself: a fresh clone needs nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit docs bench coldstart reliability matrix dist verifytypes clean

# The oldest Python the package runs on, as pyproject.toml's requires-python says.
SUPPORTED := import sys; sys.exit(sys.version_info < (3, 11))

# The development tools are PEP 735 dependency groups, which pip installs from version 25.1 on.
# A .venv an older Python made (an earlier run with another PYTHON) is made anew.
$(STAMP): pyproject.toml
	@$(PYTHON) -c '$(SUPPORTED)' || { echo "b2b-async needs Python 3.11 or newer, and $(PYTHON)" \
	  "is $$($(PYTHON) -V 2>&1); name a newer one: make demo PYTHON=python3.12" >&2; exit 1; }
	$(BIN)/python -c '$(SUPPORTED)' 2>/dev/null || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet -e '.[cli,redis]' --group dev
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

coldstart: $(STAMP)
	$(BIN)/python -m bench.coldstart $(BENCH_ARGS)

reliability: $(STAMP)
	$(BIN)/pytest -q tests/reliability
	$(BIN)/python -m bench.reliability_report

# The suite on Python 3.11, 3.12 and 3.13, at the dependency floors and at the newest releases.
matrix: $(STAMP)
	$(BIN)/nox $(NOX_ARGS)

# The sdist and the wheel, checked by twine, each carrying the licence.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python -m zipfile -l dist/*.whl | grep -q 'dist-info/licenses/LICENSE'
	tar -tzf dist/*.tar.gz | grep -q '^b2b_async-[^/]*/LICENSE$$'

# The wheel's public types as a user's type checker sees them: installed on its own, pyright
# scores their completeness and fails the target unless every exported symbol is known,
# then checks the documented model constructor calls (tests/typecheck) against the wheel,
# from a folder outside the source tree, whose b2b_async would otherwise be the one checked.
verifytypes: dist
	rm -rf .verifytypes
	$(PYTHON) -m venv .verifytypes
	.verifytypes/bin/python -m pip install --quiet "$$(ls dist/*.whl)[cli,redis,otel]" pyright
	PATH="$$PWD/.verifytypes/bin:$$PATH" pyright --verifytypes b2b_async --ignoreexternal
	checked=$$(mktemp -d) && cp tests/typecheck/constructors.py "$$checked" && \
		cd "$$checked" && PATH="$(CURDIR)/.verifytypes/bin:$$PATH" \
		pyright --pythonpath "$(CURDIR)/.verifytypes/bin/python" constructors.py

clean:
	rm -rf $(VENV) .nox dist docs/_build .coverage .mypy_cache .ruff_cache .verifytypes
