PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: venv
	MPLBACKEND=Agg $(BIN)/pss-bayes demo --out demo_output

test: venv
	MPLBACKEND=Agg $(BIN)/python -m pytest

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache tests/artifacts
