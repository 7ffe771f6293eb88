"""Where scores and cohorts leave the product: files (CSV, Parquet).

Every file is written to a temporary name and moved into place, so a reader never sees a
half-written file and a failed write leaves the previous file.

Every CSV (and Excel) the product writes goes through :func:`neutralise`: a text cell
that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return) is written with a leading apostrophe, which spreadsheets show
as text. Numbers, and text that is a plain number (``-12.5``), are left as they are.
Source: OWASP, "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from core.errors import DataError

#: Output suffixes the product writes.
SUFFIXES = (".csv", ".parquet", ".pq")


#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def runs_as_formula(v) -> bool:
    """Whether a spreadsheet would run cell value ``v`` as a formula: text starting with one
    of :data:`FORMULA_STARTS` that is not a plain number written as text (``-12.5``)."""
    return isinstance(v, str) and v.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(v)


def _safe_cell(v):
    return "'" + v if runs_as_formula(v) else v


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` (same shape) whose text cells cannot run as spreadsheet formulas:
    a cell starting with one of :data:`FORMULA_STARTS` gets a leading ``'``, unless it is a
    plain number written as text. Numeric columns and the column names' order are
    unchanged; a column name that starts like a formula is neutralised too."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype.kind in "biufcmM" or isinstance(s.dtype, pd.BooleanDtype):
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        out[c] = s.map(_safe_cell)
    out.columns = [_safe_cell(c) for c in out.columns]
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV bytes (no index), cells neutralised (:func:`neutralise`): what
    the app's download buttons serve."""
    return neutralise(df).to_csv(index=False).encode("utf-8")


def check_output_path(out: str | Path, suffixes: tuple[str, ...] = SUFFIXES) -> Path:
    """Fail fast on an output path we cannot write: wrong suffix, an existing folder.

    Raises DataError; returns the path.
    """
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        raise DataError(f"{out}: output must end in {' or '.join(x for x in suffixes if x != '.pq')}")
    if out.is_dir():
        raise DataError(f"{out}: is a folder, expected a file name")
    return out


def write_table(df: pd.DataFrame, out: str | Path) -> Path:
    """Write CSV (cells neutralised, :func:`neutralise`) or Parquet (by suffix) to a
    temporary name, then move it into place.

    Raises DataError when the path is not writable; nothing is left behind on failure.
    """
    out = check_output_path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            neutralise(df).to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return out
