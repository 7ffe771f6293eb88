# Set-up in two commands: `make run` (dashboard) and `make test` (test suite).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.requirements-installed
PORT    ?= 8501

.PHONY: run test test-fast test-spark install train data bench performance clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Reinstall only when the dependencies or the package's metadata changed. The project is
# installed editable (pyproject.toml), so `core` imports from this folder wherever a
# command, a benchmark or a background job runs.
$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
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

# The optional Spark backend of the log features (the "spark" extra; Java 17+) and its test.
test-spark: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-spark.txt
	$(BIN)/python -m pytest -q tests/inputs/test_log_spark.py

# The training and scoring benchmark (a record under benchmarks/results/), then docs/performance.md.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_pipeline
	$(BIN)/python -m benchmarks.render

# docs/performance.md rendered again from the latest records (no benchmark is run).
performance: $(STAMP)
	$(BIN)/python -m benchmarks.render

clean:
	rm -rf artifacts data .pytest_cache
