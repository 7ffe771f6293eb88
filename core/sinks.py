"""Where scores and cohorts leave the product: files (CSV, Parquet).

Every file is written to a temporary name and moved into place, so a reader never sees a
half-written file and a failed write leaves the previous file.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from core.errors import DataError

#: Output suffixes the product writes.
SUFFIXES = (".csv", ".parquet", ".pq")


def check_output_path(out: str | Path) -> Path:
    """Fail fast on an output path we cannot write: wrong suffix, an existing folder.

    Raises DataError; returns the path.
    """
    out = Path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise DataError(f"{out}: output must end in .csv or .parquet")
    if out.is_dir():
        raise DataError(f"{out}: is a folder, expected a file name")
    return out


def write_table(df: pd.DataFrame, out: str | Path) -> Path:
    """Write CSV or Parquet (by suffix) to a temporary name, then move it into place.

    Raises DataError when the path is not writable; nothing is left behind on failure.
    """
    out = check_output_path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return out
