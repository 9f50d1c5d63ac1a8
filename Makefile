# The two commands of the project: `make demo` and `make test`.
# Each one creates .venv on first use and installs the project into it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench notebook clean nginx

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m services.productinfo.demo

test: $(STAMP) nginx
	$(PY) -m pytest

# tests/services/test_nginx.py puts Debian's nginx in front of our servers. It is
# installed here when missing (CI runs as root on Debian); when it cannot be, the
# rest of the suite still runs and that test fails saying why.
NGINX := /usr/sbin/nginx
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

nginx:
	@test -x $(NGINX) || $(APT_INSTALL) nginx >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null 2>&1 && $(APT_INSTALL) nginx >/dev/null 2>&1; } \
	  || echo "make: could not install nginx (apt-get, as root); tests/services/test_nginx.py will fail"

bench: $(STAMP)
	$(PY) benchmarks/codec.py
	$(PY) benchmarks/rpc.py --quick

# The course in Jupyter (JupyterLab is installed on first use, not for the tests).
notebook: $(STAMP)
	$(PY) -m pip install --quiet jupyterlab
	$(PY) -m jupyter lab notebooks/

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
