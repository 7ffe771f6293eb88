# Set-up in two commands: `make run` (dashboard) and `make test` (test suite).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.requirements-installed
PORT    ?= 8501

.PHONY: run test test-fast test-spark install train data bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Reinstall only when requirements.txt changed.
$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@# compile umap-learn's numba code into its on-disk cache once, so no training pays for it
	$(BIN)/python -c "from core.models.segmentation.reducers import warm_jit_cache; warm_jit_cache()"
	touch $(STAMP)

install: $(STAMP)

data: $(STAMP)
	@test -f data/shopsphere.parquet || $(BIN)/python -m core generate

train: data
	@test -f artifacts/CURRENT || $(BIN)/python -m core train

run: train
	$(BIN)/streamlit run app.py --server.address localhost --server.port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The suite without the tests that train a run or drive a browser (pytest marker "slow").
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The optional Spark backend of the log features (requirements-spark.txt; Java 17+) and its test.
test-spark: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-spark.txt
	$(BIN)/python -m pytest -q tests/test_log_spark.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

clean:
	rm -rf artifacts data .pytest_cache
