# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install chainrule, run the main job on built-in data
#   make test   create .venv with the test extras, run lint, types and the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-train: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[train]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed-train

demo: $(VENV)/.installed-train
	$(BIN)/chainrule demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

# Benchmarks against PyTorch 2.13.0 CPU and micrograd, in their own environment.
bench: | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
