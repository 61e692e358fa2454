# The two commands a new user needs: `make run` (kumo on the embedded default: SQLite, a file
# object store under ./kumo-data, a local runner, http://127.0.0.1:8080) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/kumo serve

demo: $(STAMP)
	$(BIN)/python -m engine.demo

test: lint
	$(BIN)/python -m pytest -q

# The static checks alone (the code is formatted by hand to ruff's line length, not by
# `ruff format`).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

# Benchmarks need the bench extra (PyTorch CPU as the peer); never part of `make test`.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/engine_mlp.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/engine_cnn.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/serve_predict.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
