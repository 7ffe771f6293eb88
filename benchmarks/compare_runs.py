"""Compare two run folders file by file, timings and ids aside.

Run: ``.venv/bin/python benchmarks/compare_runs.py RUNS/A RUNS/B``. Prints, for every JSON
file of a run, ``identical`` or its differences (path to the key, both values), for every
table whether it is identical (shape, columns, values), whether the XGBoost model files are
byte-identical, and both runs' segment sizes. Left out: run ids, creation times, the data
path and settings' runs folder, every timing (``timings_s``, ``tuning_seconds``, a trial's
``seconds``) and the run format. Used to show that a refactoring leaves a run unchanged.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

IGNORED = {"tuning_seconds", "seconds", "timings_s", "created_at", "run_id", "run_format", "data_path",
           "artifacts_dir"}
JSON_FILES = ("metrics.json", "profiles.json", "continuity.json", "quality.json", "scoring.json", "manifest.json")
TABLES = ("scored", "features", "matrix", "projection", "shap_points")


def _strip(o):
    if isinstance(o, dict):
        return {k: _strip(v) for k, v in o.items() if k not in IGNORED}
    if isinstance(o, list):
        return [_strip(v) for v in o]
    return o


def _diff(x, y, path: str = "") -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        out = []
        for k in sorted(set(x) | set(y), key=str):
            if k not in x or k not in y:
                out.append(f"{path}.{k}: only in {'B' if k not in x else 'A'}")
            else:
                out += _diff(x[k], y[k], f"{path}.{k}")
        return out
    if isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            return [f"{path}: {len(x)} items in A, {len(y)} in B"]
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in _diff(u, v, f"{path}[{i}]")]
    return [] if x == y else [f"{path}: {str(x)[:70]} != {str(y)[:70]}"]


def main() -> None:
    """Command line: two run folders."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args()
    a, b = args.a, args.b
    for f in JSON_FILES:
        x, y = (_strip(json.loads((d / f).read_text(encoding="utf-8"))) for d in (a, b))
        if f == "continuity.json":  # the previous run's id differs between two runs folders
            for c in (x, y):
                c.pop("previous_run", None)
        d = _diff(x, y)
        print(f"{f}: {'identical' if not d else f'{len(d)} difference(s)'}")
        for line in d[:12]:
            print("   ", line)
    for t in TABLES:
        x, y = pd.read_parquet(a / f"{t}.parquet"), pd.read_parquet(b / f"{t}.parquet")
        print(f"{t}.parquet {x.shape}: {'identical' if x.equals(y) and list(x) == list(y) else 'DIFFERENT'}")
    x, y = pd.read_csv(a / "importance.csv"), pd.read_csv(b / "importance.csv")
    print(f"importance.csv: {'identical' if x.equals(y) else 'DIFFERENT'}")
    same = (a / "xgboost.json").read_bytes() == (b / "xgboost.json").read_bytes()
    print(f"xgboost.json: {'byte-identical' if same else 'DIFFERENT'}")
    for name, d in (("A", a), ("B", b)):
        sizes = pd.read_parquet(d / "scored.parquet")["segment_id"].value_counts().sort_index()
        print(f"segment sizes {name}: {sizes.to_dict()}")


if __name__ == "__main__":
    main()
