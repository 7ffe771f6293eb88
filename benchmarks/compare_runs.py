"""Compare two run folders file by file, timings and ids aside.

Run: ``python -m benchmarks.compare_runs RUNS/A RUNS/B``. Prints every difference
:func:`core.runs.compare.run_differences` finds (a JSON value with its path and both values, a
table that is not identical, an XGBoost model file that is not byte-identical, a model
part (skops pipeline, ``.npz`` arrays) whose content differs), or that the runs match, then both runs' segment sizes. Left
out: :data:`core.runs.compare.RUN_VARIABLE_KEYS` (run ids, creation times, paths, timings, the
run format, the previous run's id). Used to show that a refactoring leaves a run unchanged.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from core.runs.compare import run_differences


def main() -> None:
    """Command line: two run folders."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args()
    diffs = run_differences(args.a, args.b)
    print("the runs match" if not diffs else f"{len(diffs)} difference(s):")
    for line in diffs:
        print("   ", line)
    for name, d in (("A", args.a), ("B", args.b)):
        sizes = pd.read_parquet(d / "scored.parquet")["segment_id"].value_counts().sort_index()
        print(f"segment sizes {name}: {sizes.to_dict()}")


if __name__ == "__main__":
    main()
