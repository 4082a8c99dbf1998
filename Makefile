# The two commands of the README: `make demo` and `make test`. Each sets up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench setup clean-venv browser-deps

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m stavis_lib demo

test: $(STAMP) browser-deps
	$(PY) -m pytest tests

# Debian's Chromium drives the JupyterLab browser test (Playwright never downloads a browser here).
# Best effort: without it (no root, no apt) the browser test skips and says why.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium not installed: the browser test will be skipped"

bench: $(STAMP)
	$(PY) benchmarks/bench_inference.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_memory.py

clean-venv:
	rm -rf $(VENV)
