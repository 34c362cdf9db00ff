# The two commands of the README: `make serve` and `make test`. Each sets itself up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck check bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

serve: $(STAMP)
	$(BIN)/memfold serve

# Two pytest workers (the CI machine has two cores); the slowest tests are listed at the end.
test: $(STAMP)
	$(BIN)/ruff check memfold tests bench examples
	$(BIN)/ruff format --check memfold tests bench examples
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --durations=15

lint: $(STAMP)
	$(BIN)/ruff check memfold tests bench examples
	$(BIN)/ruff format --check memfold tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
