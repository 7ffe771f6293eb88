"""How two run folders differ, timings and ids aside (``benchmarks/compare_runs.py``; the
reproducibility tests)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from core.runs import safeformat

#: What two trainings of the same data, seed and library versions may differ in: run ids,
#: creation times, paths, timings (``timings_s``, ``tuning_seconds``, a trial's
#: ``seconds``), the run format and, in ``continuity.json``, the previous run's id.
RUN_VARIABLE_KEYS = frozenset({"tuning_seconds", "seconds", "timings_s", "created_at", "run_id", "run_format",
                               "data_path", "artifacts_dir", "previous_run"})


def _strip(o):
    if isinstance(o, dict):
        return {k: _strip(v) for k, v in o.items() if k not in RUN_VARIABLE_KEYS}
    if isinstance(o, list):
        return [_strip(v) for v in o]
    return o


def _diff(x, y, path: str, rel_tol: float = 0.0) -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        out = []
        for k in sorted(set(x) | set(y), key=str):
            if k not in x or k not in y:
                out.append(f"{path}.{k}: only in {'B' if k not in x else 'A'}")
            else:
                out += _diff(x[k], y[k], f"{path}.{k}", rel_tol)
        return out
    if isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            return [f"{path}: {len(x)} items in A, {len(y)} in B"]
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in _diff(u, v, f"{path}[{i}]", rel_tol)]
    if rel_tol and isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, rel_tol=rel_tol):
        return []
    return [] if x == y else [f"{path}: {str(x)[:70]} != {str(y)[:70]}"]


def _same_table(x: pd.DataFrame, y: pd.DataFrame, rel_tol: float) -> bool:
    """Identical tables, or with ``rel_tol`` > 0 float columns within that relative tolerance."""
    if not rel_tol:
        return x.equals(y)
    try:
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=rel_tol, atol=0.0)
    except AssertionError:
        return False
    return True


def _same_content(x, y) -> bool:
    """Equal content, object identity aside: dicts, lists, arrays (NaN equal to NaN),
    tables, and objects by their attributes."""
    if type(x) is not type(y):
        return False
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_same_content(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(_same_content(u, v) for u, v in zip(x, y))
    if isinstance(x, np.ndarray):
        return x.dtype == y.dtype and x.shape == y.shape and (
            np.array_equal(x, y, equal_nan=True) if x.dtype.kind in "fc" else
            all(_same_content(u, v) for u, v in zip(x.ravel(), y.ravel())) if x.dtype == object else
            np.array_equal(x, y))
    if isinstance(x, (pd.DataFrame, pd.Series)):
        return x.equals(y) and list(getattr(x, "columns", [])) == list(getattr(y, "columns", []))
    if isinstance(x, float) and np.isnan(x):
        return np.isnan(y)
    if hasattr(x, "__dict__") and not isinstance(x, type):
        return _same_content(vars(x), vars(y))
    return x == y


def run_differences(a: Path, b: Path, rel_tol: float = 0.0) -> list[str]:
    """How two run folders differ, :data:`RUN_VARIABLE_KEYS` aside: one line per JSON value
    that differs (``metrics.json.xgboost.roc_auc: 0.88 != 0.89``), per table that is not
    identical (Parquet and CSV: columns, dtypes and values), for an XGBoost model file that
    is not byte-identical, and for a model part (``.skops`` pipeline, ``.npz`` arrays) whose
    content differs: those are loaded (:mod:`core.runs.safeformat`, no code runs) and compared by
    content (:func:`_same_content`), since a zip's bytes also hold its members' times.
    Empty when the runs match. Raises FileNotFoundError when one folder lacks a file the
    other has, DataError for a part that is not what this product writes.

    ``rel_tol`` > 0 counts floats (JSON values, table cells) within that relative tolerance
    as equal: for comparing runs of two machines, whose numpy and BLAS round some sums in
    their own order (see :mod:`core.models.segmentation.neighbours`); labels, counts and strings
    must still match exactly."""
    a, b = Path(a), Path(b)
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    out = []
    for name in names:
        x, y = a / name, b / name
        if not (x.is_file() and y.is_file()):
            raise FileNotFoundError(f"{name} is in only one of {a} and {b}")
        if name.endswith(".json") and name != "xgboost.json":
            out += _diff(_strip(json.loads(x.read_text(encoding="utf-8"))),
                         _strip(json.loads(y.read_text(encoding="utf-8"))), name, rel_tol)
        elif name.endswith((".parquet", ".csv")):
            read = pd.read_parquet if name.endswith(".parquet") else pd.read_csv
            if not _same_table(read(x), read(y), rel_tol):
                out.append(f"{name}: the tables differ")
        elif name.endswith(".skops"):
            if not _same_content(safeformat.load_pipeline(x, str(x)), safeformat.load_pipeline(y, str(y))):
                out.append(f"{name}: the fitted objects differ")
        elif name.endswith(".npz"):
            if not _same_content(safeformat.load_arrays(x, str(x)), safeformat.load_arrays(y, str(y))):
                out.append(f"{name}: the arrays differ")
        elif x.read_bytes() != y.read_bytes():
            out.append(f"{name}: the files differ")
    return out
