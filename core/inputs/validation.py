"""Validating a table against its spec (:func:`validate`): a clean, typed copy and a
data-quality summary, and the summary's plain-language notes (:func:`quality_notes`).
Every problem raises :class:`~core.errors.DataError` with one line naming the file, the
column and the first bad row (1-based data row, header not counted) or value.

Cleaning rules (counted per column in the quality summary):

- ``inf`` / ``-inf`` in a numeric column -> missing (a ratio with a zero denominator is not
  a huge number).
- values outside the column's ``[min, max]`` -> missing or clipped, per the spec's
  ``out_of_range`` rule.
- date columns -> days before the reference date (float, unit days).
- categorical columns -> text (whatever dtype pandas read them as: object or pandas 3's
  ``str``); blanks stay missing.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError
from core.inputs.spec import DatasetSpec
from core.inputs.tables import place, read_table


def _first_bad(mask: np.ndarray, values: pd.Series) -> tuple[str, object]:
    """The place in the file (``line 7``, :func:`core.inputs.tables.place`) and the value of
    the first row where ``mask`` is set."""
    i = int(np.flatnonzero(mask)[0])
    return place(values, i), values.iloc[i]


#: Two-valued answers as people write them (any case, surrounding spaces ignored).
BINARY_WORDS = {"1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "y": 1, "n": 0,
                "t": 1, "f": 0}


def binary_numbers(values: pd.Series) -> pd.Series:
    """The values (shape (n,)) as 0/1 where they are booleans or words of
    :data:`BINARY_WORDS` (any case, spaces ignored); missing values stay missing and any
    other value is left as it is, for the caller to name. Returns an object Series of the
    same index; raises nothing."""
    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return v
        if isinstance(v, (bool, np.bool_)):
            return int(v)
        return BINARY_WORDS.get(str(v).strip().lower(), v)
    return values.astype(object).map(one)


#: A number as exported with a currency sign or thousands separators: ``$56.66``,
#: ``1,234.50``, ``€ 1,200``, ``-£3``, ``12.5 €``.
_NUMBER_TEXT = re.compile(r"^(?P<sign>[-+]?)\s*[$€£¥₹]?\s*(?P<sign2>[-+]?)(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
                          r"\s*[$€£¥₹]?$")


def to_number(values: pd.Series) -> tuple[pd.Series, int]:
    """Numbers from a column as read: ``pd.to_numeric``, then text written with a currency
    sign or thousands separators (:data:`_NUMBER_TEXT`) read as the number it shows.
    Returns ``(numbers as float, with NaN where the value is missing or not a number;
    how many values needed the second reading)``."""
    num = pd.to_numeric(values, errors="coerce")
    rest = (num.isna() & values.notna()).to_numpy()
    if not rest.any() or values.dtype.kind in "biuf":
        return num, 0
    text = values[rest].astype(str).str.strip()
    m = text.str.extract(_NUMBER_TEXT)
    ok = m["num"].notna()
    if not ok.any():
        return num, 0
    neg = (m["sign"] == "-") | (m["sign2"] == "-")
    parsed = m.loc[ok, "num"].str.replace(",", "", regex=False).astype(float)
    parsed[neg[ok]] = -parsed[neg[ok]]
    num = num.astype(float).copy()
    num.iloc[np.flatnonzero(rest)[ok.to_numpy()]] = parsed.to_numpy()
    return num, int(ok.sum())


def validate(df: pd.DataFrame, spec: DatasetSpec, *, require_target: bool, source: str = "table",
             reference_date: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Check a table against a spec and return a clean typed copy and a quality summary.

    Parameters
    ----------
    df : DataFrame as read (n rows); not modified.
    spec : the table's spec.
    require_target : True for training (target must be present, binary, both classes);
        False for scoring (a target column, if any, is ignored).
    source : name used in messages (usually the file path).
    reference_date : ISO date for date columns; default ``spec.reference_date``, else
        the latest date in the table.

    Returns
    -------
    clean : DataFrame of shape (n, k)
        ``spec.id_column`` (str; ``"<id>@<yyyy-mm-dd>"`` when training with a spec that names a
        ``snapshot_column``, as a snapshot table holds a customer once per snapshot), every
        spec feature (float64, or object text for categoricals), the target (int8) when
        ``require_target``, the snapshot date column (datetime) when training with a spec
        that names one, and any evaluation-only
        columns present. Extra columns are dropped.
    quality : dict
        ``rows``, ``missing_share`` per feature, ``inf_to_missing``, ``out_of_range``
        (counts per column), ``duplicate_feature_rows`` (rows whose features repeat an
        earlier row's), ``extra_columns`` (ignored), ``reference_date``.

    Raises
    ------
    DataError
        Missing required column, text in a numeric column, unparseable date, target not
        binary or a single class, empty or duplicate ids.
    """
    if require_target and not spec.target:
        raise DataError(f"{source}: spec '{spec.name}' names no target column: cannot train")
    id_from_row = spec.id_from_row and spec.id_column not in df.columns
    if id_from_row:  # no id in the file: the 1-based row number, as written (header not counted)
        df = df.assign(**{spec.id_column: np.arange(1, len(df) + 1).astype(str)})
    _check_columns(df, spec, require_target, source)
    df, without_id = _rows_without_id(df, spec, source)
    ids, snapshot = _checked_ids(df, spec, require_target, source)
    out = {spec.id_column: ids.to_numpy()}
    quality = {"rows": int(len(df)), "inf_to_missing": {}, "out_of_range": {}, "missing_share": {},
               "text_numbers": {}, "id_from_row": bool(id_from_row), "encoding": df.attrs.get("encoding"),
               "rows_without_id": without_id}
    ref = reference_date or spec.reference_date
    for col in spec.columns:
        out[col.name], ref = _clean_column(col, df[col.name], ref, source, quality)
    if require_target:  # scoring ignores a target column, whatever it holds
        out[spec.target] = _checked_target(df[spec.target], spec.target, source)
    for c in spec.evaluation_columns:
        if c in df.columns:
            out[c] = df[c].to_numpy()
    if snapshot is not None:
        out[spec.snapshot_column] = snapshot.to_numpy()
    feats = pd.DataFrame({c: out[c] for c in spec.feature_names})
    quality["duplicate_feature_rows"] = int(pd.util.hash_pandas_object(feats, index=False).duplicated().sum())
    known = {spec.id_column, spec.target, *spec.feature_names, *spec.ignore, *spec.evaluation_columns,
             *([spec.snapshot_column] if spec.snapshot_column else [])}
    quality["extra_columns"] = [str(c) for c in df.columns if c not in known]
    quality["reference_date"] = ref
    return pd.DataFrame(out), quality


def _check_columns(df: pd.DataFrame, spec: DatasetSpec, require_target: bool, source: str) -> None:
    """Raise DataError naming the first column the spec needs that ``df`` lacks."""
    missing = [c for c in [spec.id_column, *spec.feature_names] if c not in df.columns]
    if require_target and spec.target not in df.columns:
        missing.insert(0, spec.target)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        hint = f"; is '{spec.name}' the right spec for this file (--spec)?" if len(missing) > len(spec.feature_names) // 2 else ""
        raise DataError(f"{source}: missing required column '{missing[0]}'{more}{hint}")


def _rows_without_id(df: pd.DataFrame, spec: DatasetSpec, source: str) -> tuple[pd.DataFrame, dict | None]:
    """``df`` without its rows whose id is empty or blank, and what was left out (``rows``,
    the ``first`` one's place in the file, the ``column``; None when every row has an id).
    Raises DataError naming the first such row with ``missing_id = "refuse"``, or when no
    row has an id."""
    ids = df[spec.id_column]
    blank = (ids.isna() | (ids.astype("string").str.strip() == "")).to_numpy(bool)
    if not blank.any():
        return df, None
    first, _ = _first_bad(blank, ids)
    if spec.missing_id == "refuse":
        raise DataError(f"{source}: column '{spec.id_column}': empty id at {first} (the spec's missing_id = 'drop' "
                        "leaves such rows out and counts them)")
    if blank.all():
        raise DataError(f"{source}: column '{spec.id_column}' is empty in every row: no customer to read")
    return df[~blank], {"rows": int(blank.sum()), "first": first, "column": str(spec.id_column)}


def _checked_ids(df: pd.DataFrame, spec: DatasetSpec, require_target: bool,
                 source: str) -> tuple[pd.Series, pd.Series | None]:
    """The ids as text (``"<id>@<yyyy-mm-dd>"`` when training on a snapshot table) and the
    snapshot dates (None without a snapshot column); rows without an id are already out
    (:func:`_rows_without_id`). Raises DataError for a snapshot that is not a date, or a
    repeated id (and snapshot), naming the rows."""
    ids = df[spec.id_column].astype(str)
    snapshot = None
    if require_target and spec.snapshot_column:  # the out-of-time split needs it
        if spec.snapshot_column not in df.columns:
            raise DataError(f"{source}: missing snapshot column '{spec.snapshot_column}' (the spec's snapshot_column)")
        snap = df[spec.snapshot_column]
        snapshot = pd.to_datetime(snap, errors="coerce")
        bad = snapshot.isna().to_numpy()
        if bad.any():
            row, val = _first_bad(bad, snap)
            shown = "an empty value" if pd.isna(val) else f"'{val}'"
            raise DataError(f"{source}: snapshot column '{spec.snapshot_column}': {shown} at {row} is not a date")
        # a snapshot table holds a customer once per snapshot: a row is a customer at a date
        ids = ids + "@" + snapshot.dt.strftime("%Y-%m-%d")
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids[dup].iloc[0]
        a, b = (place(df, int(i)) for i in np.flatnonzero(ids.to_numpy() == first)[:2])
        what = "id and snapshot" if snapshot is not None else "id"
        raise DataError(f"{source}: column '{spec.id_column}': duplicate {what} '{first}' at {a} and {b}")
    return ids, snapshot


def _clean_column(col, s: pd.Series, ref: str | None, source: str, quality: dict) -> tuple[np.ndarray, str | None]:
    """One spec column of the table, cleaned (categorical: text or None; date: days before
    the reference date; else float), and the reference date (set from this column's latest
    date when it was None). Counts what cleaning did in ``quality``. Raises DataError for a
    value that is not of the column's kind, naming the row."""
    if col.is_categorical:
        vals = s.astype(object).where(s.notna(), None)
        vals = vals.map(lambda v: v if v is None else str(v).strip() or None).to_numpy(dtype=object)
        quality["missing_share"][col.name] = float(pd.isna(vals).mean())
        return vals, ref
    if col.kind == "date":
        parsed = pd.to_datetime(s, format=col.date_format, errors="coerce")
        bad = (parsed.isna() & s.notna()).to_numpy()
        if bad.any():
            row, val = _first_bad(bad, s)
            fmt = col.date_format or "ISO yyyy-mm-dd"
            raise DataError(f"{source}: column '{col.name}': '{val}' at {row} is not a date ({fmt})")
        if ref is None:
            ref = str(parsed.max().date())
        num = (pd.Timestamp(ref) - parsed).dt.days.astype(float)
    else:
        if s.dtype == bool or str(s.dtype) == "boolean":
            s = s.astype("Float64")
        if col.kind == "binary":
            s = binary_numbers(s)
        num, converted = to_number(s)
        bad = (num.isna() & s.notna()).to_numpy()
        if bad.any():
            row, val = _first_bad(bad, s)
            raise DataError(f"{source}: column '{col.name}': text '{val}' at {row} (expected a number)")
        if converted:
            quality["text_numbers"][col.name] = converted
        num = num.astype(float)
    arr = num.to_numpy(dtype=float, na_value=np.nan).copy()
    with np.errstate(invalid="ignore"):  # beyond float32 (how XGBoost stores inputs) is infinite too
        inf = np.isinf(arr) | (np.abs(arr) > np.finfo(np.float32).max)
    if inf.any():
        arr[inf] = np.nan
        quality["inf_to_missing"][col.name] = int(inf.sum())
    lo = -np.inf if col.min is None else col.min
    hi = np.inf if col.max is None else col.max
    with np.errstate(invalid="ignore"):
        oor = (arr < lo) | (arr > hi)
    if oor.any():
        arr[oor] = np.clip(arr[oor], lo, hi) if col.out_of_range == "clip" else np.nan
        quality["out_of_range"][col.name] = {"count": int(oor.sum()), "rule": col.out_of_range}
    quality["missing_share"][col.name] = float(np.isnan(arr).mean())
    return arr, ref


def _checked_target(t: pd.Series, name: str, source: str) -> np.ndarray:
    """The target as int8 0/1 (shape (n,)). Raises DataError for an empty or non-binary
    value (naming the row and the values found) or a single class."""
    if t.isna().any():
        row, _ = _first_bad(t.isna().to_numpy(), t)
        raise DataError(f"{source}: target '{name}': empty value at {row}")
    tn = pd.to_numeric(binary_numbers(t), errors="coerce")
    bad = ~tn.isin([0, 1]).to_numpy()
    if bad.any():
        found = ", ".join(repr(str(v)) for v in pd.unique(t.astype(str))[:6])
        row, val = _first_bad(bad, t)
        raise DataError(f"{source}: target '{name}' is not binary: value '{val}' at {row} (values found: "
                        f"{found}; expected 0/1, true/false, yes/no or y/n)")
    if tn.nunique() < 2:
        raise DataError(f"{source}: target '{name}' has a single class ({int(tn.iloc[0])}): cannot train")
    return tn.to_numpy(dtype=np.int8)


def load(path: str | Path, spec: DatasetSpec, *, require_target: bool,
         reference_date: str | None = None) -> tuple[pd.DataFrame, dict]:
    """:func:`read_table` then :func:`validate`; messages name the file. Raises DataError."""
    return validate(read_table(path, spec), spec, require_target=require_target, source=str(path),
                    reference_date=reference_date)


def quality_notes(quality: dict, unseen: dict, training: bool = False) -> list[str]:
    """One plain line per cleaning action the data needed (for the CLI and the app);
    ``training`` adds the notes that only matter for a training table."""
    notes = []
    if quality.get("encoding") and quality["encoding"] != "UTF-8":
        notes.append(f"the file is not UTF-8: read as {quality['encoding']} text (check accented letters)")
    if quality.get("rows_without_id"):
        w = quality["rows_without_id"]
        notes.append(f"{w['rows']:,} rows have no id in column '{w['column']}' (the first at {w['first']}): left out, "
                     "as nobody can be contacted or scored without one")
    if quality.get("id_from_row"):
        notes.append("the table has no id column: the row number (1-based, header not counted) is the customer id "
                     "in every export")
    for col, n in quality.get("text_numbers", {}).items():
        notes.append(f"column '{col}': {n:,} value(s) written with a currency sign or thousands separators read as numbers")
    if quality.get("extra_columns"):
        notes.append(f"ignored columns not in the spec: {', '.join(quality['extra_columns'])}")
    empty = [c for c, share in quality.get("missing_share", {}).items() if share >= 1.0]
    if empty:
        notes.append(f"column{'s' if len(empty) > 1 else ''} {', '.join(repr(c) for c in empty)} "
                     f"{'are' if len(empty) > 1 else 'is'} empty in every row: scored as missing throughout"
                     + ("" if training else " (scores may differ from customers whose values are known)"))
    for col, n in quality.get("inf_to_missing", {}).items():
        notes.append(f"column '{col}': {n} infinite or too large value(s) treated as missing")
    for col, d in quality.get("out_of_range", {}).items():
        action = "set missing" if d["rule"] == "missing" else "clipped to the valid range"
        notes.append(f"column '{col}': {d['count']} value(s) outside the valid range {action}")
    for col, n in unseen.items():
        notes.append(f"column '{col}': {n} value(s) of a category not seen in training scored as missing")
    dup, rows = quality.get("duplicate_feature_rows", 0), quality.get("rows", 0)
    if training and rows and dup / rows >= 0.05:
        notes.append(f"{dup:,} of {rows:,} rows ({dup / rows:.0%}) repeat another row's features: copies can land in "
                     "both the training and the test rows, so test metrics may be optimistic")
    for col, n in quality.get("filled_empty_columns", {}).items():
        notes.append(f"column '{col}' was empty in the training table; its {n} value(s) now are ignored "
                     "by the model until a retrain")
    return notes
