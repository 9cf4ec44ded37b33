# lianqin: the two commands of the README, and a few helpers.
#   make demo   install into .venv and run the demo (console on http://127.0.0.1:8000)
#   make test   install what the tests need (Debian packages too) and run them

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
export YOLO_OFFLINE := 1

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,yolo]'
	touch $@

demo: $(VENV)/.core
	$(BIN)/lianqin demo $(ARGS)

test: $(VENV)/.test
	scripts/system-deps.sh
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(VENV)/.test
	$(BIN)/ruff check .

bench: $(VENV)/.test
	$(BIN)/python bench/bench_detectors.py

clean:
	rm -rf $(VENV) var .pytest_cache
