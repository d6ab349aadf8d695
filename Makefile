# `make run` and `make test` create .venv (Python 3.10, pinned constraints) when it is missing or stale.
PYTHON ?= python3.10
export PYENV_VERSION ?= 3.10.13
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-serving lint clean-workspace

run: $(STAMP)
	$(VENV)/bin/kfx run

test: $(STAMP)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python -m bench.pipeline_bench
	$(VENV)/bin/python -m bench.tuning_bench
	$(VENV)/bin/python -m bench.serving_bench

bench-serving: $(STAMP)
	$(VENV)/bin/python -m bench.serving_bench

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean-workspace:
	rm -rf workspace

$(STAMP): setup.py constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1 || { \
	  echo "error: Python 3.10 not found as '$(PYTHON)'; install it (e.g. 'pyenv install 3.10.13') or pass PYTHON=/path/to/python3.10" >&2; exit 1; }
	@echo "Creating $(VENV) with $$($(PYTHON) --version) and installing pinned dependencies (takes 3-5 minutes)..."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check pip==26.3 setuptools==81.0.0 wheel==0.48.0
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@
