# The two commands of the project: `make demo` and `make test`.
# Each one creates .venv on first use and installs the project into it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench notebook clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m services.productinfo.demo

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/codec.py
	$(PY) benchmarks/rpc.py --quick

# The course in Jupyter (JupyterLab is installed on first use, not for the tests).
notebook: $(STAMP)
	$(PY) -m pip install --quiet jupyterlab
	$(PY) -m jupyter lab notebooks/

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
