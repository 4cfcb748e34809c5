# Each target sets up .venv itself: a fresh clone needs only `make demo` / `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
CONSTRAINTS := -c constraints.txt
# The CPU build of torch (a plain `torch` can pull a multi-GB CUDA build).
TORCH_SPEC ?= torch==2.13.0
PYTEST_WORKERS ?= 2

.PHONY: demo test lint bench bench-quick readme clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

# Stamps record what is installed; they are rebuilt when pyproject.toml/setup.py change.
$(VENV)/.core: $(PY) pyproject.toml setup.py constraints.txt
	$(PIP) install $(CONSTRAINTS) -e ".[examples,cli]"
	touch $@

$(VENV)/.test: $(VENV)/.core
	$(PIP) install $(CONSTRAINTS) "$(TORCH_SPEC)"
	$(PIP) install $(CONSTRAINTS) -e ".[examples,cli,test,torch,tf,checkpoint]"
	touch $@

$(VENV)/.bench: $(VENV)/.test
	$(PIP) install $(CONSTRAINTS) -e ".[examples,cli,test,torch,tf,checkpoint,bench]"
	touch $@

demo: $(VENV)/.core
	$(PY) examples/lorenz_ensemble.py

lint: $(VENV)/.test
	$(PY) -m ruff check src kernels tests benchmarks examples docs
	$(VENV)/bin/pyright

test: lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q --durations=15

bench: $(VENV)/.bench
	$(PY) -m scidiff bench

bench-quick: $(VENV)/.bench
	$(PY) -m scidiff bench --quick

readme: $(PY)
	$(PY) docs/build_readme.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
