# The two commands: `make up` runs the suite here on embedded defaults; `make test` installs everything and tests it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up test dev peers lint typecheck pytest bench fuzz render docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)

up: $(STAMP)
	$(VENV)/bin/observe up --logs examples/logs

peers: $(STAMP)
	$(PY) -m tests.peers install

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest -q tests

test: peers lint typecheck pytest

bench: $(STAMP)
	$(PY) -m tests.peers install --with-bench
	$(PY) -m bench

# Property tests with many more examples and a fresh seed each run (`make test` runs them bounded, seed fixed).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest -q -p no:cacheprovider tests/unit/test_input_properties.py

render: $(STAMP)
	$(VENV)/bin/observe render --out helm/observe/files

docs: $(STAMP)
	$(VENV)/bin/observe config reference > docs/configuration.md
	$(PY) -m observe.chart_values_reference
	$(VENV)/bin/observe export metrics-reference > docs/metrics.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
