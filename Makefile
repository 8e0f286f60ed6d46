# The two commands: `make up` runs the suite here on embedded defaults; `make test` installs everything and tests it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# requirements-dev.txt (runtime + dev) and requirements.txt (runtime, for the image) pin every package, so a fresh
# clone installs what was tested. `make lock` re-resolves them after a pyproject.toml change, keeping current pins;
# `make lock LOCK_FLAGS=--upgrade` moves everything to the newest versions the ranges allow.
LOCK_FLAGS ?=
UV_COMPILE = $(VENV)/bin/uv pip compile -q --universal --python-version 3.11 --custom-compile-command 'make lock' $(LOCK_FLAGS)

.PHONY: up test dev native lock peers lint typecheck pytest bench bench-scale bench-cost fuzz render docs clean image

# The CRI fast path in C (observe/logs/cri_native.c, loaded by cri_native.py with ctypes): plain C99 without Python
# headers, so any C compiler builds it; the image's build stage uses zig cc from PyPI (Dockerfile).
CC ?= cc
NATIVE := observe/logs/_cri_native.so

$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check || { echo "the lock misses a dependency of pyproject.toml: run make lock"; exit 1; }
	touch $(STAMP)

$(NATIVE): observe/logs/cri_native.c
	@command -v $(CC) >/dev/null || { echo "make: no C compiler '$(CC)' for $@: install one (apt-get install gcc) or set CC=..."; exit 1; }
	$(CC) -std=c99 -O2 -Wall -Wextra -shared -fPIC -o $@ $<

native: $(NATIVE)

dev: $(STAMP) $(NATIVE)

lock:
	test -x $(VENV)/bin/uv || { test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PY) -m pip install -q uv; }
	$(UV_COMPILE) --extra dev pyproject.toml -o requirements-dev.txt
	$(UV_COMPILE) pyproject.toml -c requirements-dev.txt -o requirements.txt

up: $(STAMP) $(NATIVE)
	$(VENV)/bin/observe up --logs examples/logs

peers: $(STAMP)
	$(PY) -m tests.peers install

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) $(NATIVE)
	$(VENV)/bin/pytest -q --durations=15 tests

test: peers lint typecheck pytest

# The observe image without a registry: buildah + mmdebstrap build the Debian/Python base and the Dockerfile on it
# (tests/peers/images.py); prints the image name and its docker-archive tarball.
image: $(STAMP)
	$(PY) -m tests.peers.images

bench: $(STAMP) $(NATIVE)
	$(PY) -m tests.peers install --with-bench
	$(PY) -m bench

# Issue 16: 150,000 pods in a real kube-apiserver, the cluster exporter as 4 shards and unsharded, then
# kube-state-metrics the same way (long; not in `make bench`). BENCH_SCALE_PODS=20000 make bench-scale for a
# shorter run.
bench-scale: $(STAMP)
	$(PY) -m tests.peers install kube kube_state_metrics
	$(PY) -m bench scale

# The null-sink pipeline's instructions per line at the commits before and after issues 11 and 15, counted by
# callgrind (needs valgrind; about 25 minutes). Results in bench/results/compare-instructions.json.
bench-cost: $(STAMP)
	$(PY) -m bench.compare --instructions before-renovation=5bd96db renovation=ac055cb before-exactonce=17a3b99 \
		exactonce-2-4-5=a14742a before-eo2=6810543 eo2=f7764c0

# Property tests with many more examples and a fresh seed each run (`make test` runs them bounded, seed fixed).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest -q -p no:cacheprovider tests/unit/test_input_properties.py

render: $(STAMP)
	$(VENV)/bin/observe render --out helm/observe/files

docs: $(STAMP)
	$(VENV)/bin/observe config reference > docs/configuration.md
	$(PY) -m observe.app.chart_values_reference
	$(VENV)/bin/observe export metrics-reference > docs/metrics.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(NATIVE)
