"""Reading customer tables and validating them against a spec.

:func:`read_table` reads CSV or Parquet; :func:`validate` checks a table against a
:class:`~core.inputs.spec.DatasetSpec` and returns a clean, typed copy plus a data-quality
summary. Every problem raises :class:`~core.errors.DataError` with one line naming the
file, the column and the first bad row (1-based data row, header not counted) or value.

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

import csv
import hashlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError, first_line
from core.inputs.spec import DatasetSpec


TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
#: Text encodings tried in order: UTF-8 (with or without a byte-order mark), then
#: Windows-1252 (what Excel on Windows writes as "CSV"; it leaves 5 byte values undefined),
#: then Latin-1 (ISO-8859-1), which decodes every byte. Sources: the WHATWG Encoding
#: Standard (windows-1252), Python's codecs documentation.
#: A file that starts with a UTF-16 byte-order mark (Excel's "Unicode Text" export) is read as
#: UTF-16 first.
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252", "latin-1": "Latin-1 (ISO-8859-1)",
                  "utf-16": "UTF-16"}


def read_table(path: str | Path, spec: DatasetSpec | None = None, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a delimited text file (``.csv``, ``.txt``, ``.tsv``), an Excel workbook
    (``.xlsx``: the first sheet, or ``sheet``), a Parquet file, or a folder of Parquet parts
    (a partitioned data set, parts concatenated in name order).

    Checks the path, then parses the file's bytes with :func:`read_bytes` (the same parser
    the app uses for uploads).

    Raises
    ------
    DataError
        File not found, a folder without Parquet parts, an unsupported type, empty, or as
        :func:`read_bytes`.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():  # a partitioned data set: every .parquet part, in name order
        parts = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not parts:
            raise DataError(f"{path}: is a folder without .parquet parts, expected a CSV or Parquet file or a folder "
                            "of Parquet parts")
        return pd.concat([read_table(p, spec) for p in parts], ignore_index=True)
    _check_suffix(path.name, str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return read_bytes(data, str(path), spec, sheet)


def _check_suffix(name: str, source: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in TEXT_SUFFIXES + PARQUET_SUFFIXES + EXCEL_SUFFIXES:
        raise DataError(f"{source}: unsupported file type '{suffix or '(none)'}' "
                        "(expected .csv, .txt, .tsv, .xlsx or .parquet)")
    return suffix


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a file's bytes and the encoding it was read with: the first of
    :data:`ENCODINGS` that decodes every byte (so a file is never refused for one
    non-UTF-8 byte). Returns ``(text, encoding)``; ``encoding`` is a key of
    :data:`ENCODING_NAMES`. A UTF-16 byte-order mark (``FF FE`` or ``FE FF``) means UTF-16."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    for enc in ENCODINGS:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def read_bytes(data: bytes, name: str, spec: DatasetSpec | None = None, sheet: str | int | None = None) -> pd.DataFrame:
    """Parse a table from the bytes of a file called ``name`` (its suffix picks the format).

    Text: UTF-8 (a byte-order mark is allowed), else Windows-1252, else Latin-1
    (:func:`decode_text`; the encoding used is kept in ``df.attrs["encoding"]`` for the
    quality notes); the delimiter is detected from the first 64 KiB (``csv.Sniffer``, among
    ``, ; tab |``); every row must have as many fields as the header (a short row is an
    error, never silently filled with blanks). Excel: the first sheet, or ``sheet`` (a name
    or a 0-based position), read with openpyxl through ``pandas.read_excel``. Parquet: read
    with pyarrow.

    Parameters
    ----------
    data : the file's bytes, read once by the caller.
    name : file name or path, used for the format and in messages.
    spec : optional; its id column is read as text so leading zeros are kept.
    sheet : Excel only: the sheet to read (default the first).

    Returns
    -------
    DataFrame as read, without any cleaning.

    Raises
    ------
    DataError
        Unsupported type, empty (0 bytes or no data rows), a row with the wrong number of
        fields, a sheet that is not in the workbook, or unreadable.
    """
    suffix = _check_suffix(name, name)
    if len(data) == 0:
        raise DataError(f"{name}: file is empty")
    if sheet is not None and suffix not in EXCEL_SUFFIXES:
        raise DataError(f"{name}: is not an Excel workbook: --sheet goes with .xlsx files")
    dtype = {spec.id_column: str} if spec is not None else None
    encoding = None
    try:
        if suffix in PARQUET_SUFFIXES:
            df = pd.read_parquet(io.BytesIO(data))
        elif suffix in EXCEL_SUFFIXES:
            df = _read_excel(data, name, sheet, dtype)
        else:
            text, encoding = decode_text(data)
            if "\x00" in text[:65536]:  # no text table holds NUL characters: a binary file under a text name
                raise DataError(f"{name}: not a text table (it holds binary data): save it as CSV, Excel .xlsx or "
                                "Parquet")
            sep = _sniff_delimiter(text)
            _check_row_widths(text, sep, name)
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=dtype, low_memory=False)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError, csv.Error, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{name}: cannot read the file ({first_line(exc)})") from None
    if len(df) == 0:
        raise DataError(f"{name}: file has a header but no data rows")
    if spec is not None and spec.id_column in df.columns and not str(df[spec.id_column].dtype).startswith(("str", "object")):
        df[spec.id_column] = df[spec.id_column].astype(str)
    if encoding is not None:
        df.attrs["encoding"] = ENCODING_NAMES[encoding]
    return df


def _read_excel(data: bytes, name: str, sheet, dtype) -> pd.DataFrame:
    """The first sheet (or ``sheet``) of an Excel workbook; DataError for a missing sheet."""
    try:
        import openpyxl  # noqa: F401  (pandas' engine for .xlsx)
    except ImportError:
        raise DataError(f"{name}: reading Excel files needs openpyxl (pip install openpyxl)") from None
    book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
    names = book.sheet_names
    if sheet is None:
        sheet = 0
    elif isinstance(sheet, str) and sheet not in names:
        if sheet.isdigit() and int(sheet) < len(names):
            sheet = int(sheet)
        else:
            raise DataError(f"{name}: no sheet '{sheet}' (the workbook has {', '.join(repr(n) for n in names)})")
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        raise DataError(f"{name}: no sheet {sheet} (the workbook has {len(names)}: {', '.join(repr(n) for n in names)})")
    df = pd.read_excel(book, sheet_name=sheet, dtype=dtype)
    df.attrs["sheet"] = names[sheet] if isinstance(sheet, int) else sheet
    df.attrs["sheets"] = list(names)
    return df


def _sniff_delimiter(text: str) -> str:
    lines = text[:65536].splitlines()
    sample = "\n".join(lines[:-1] if len(lines) > 1 else lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _check_row_widths(text: str, sep: str, name: str) -> None:
    """Raise DataError naming the first data row whose field count differs from the header's."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(reader, None)
    if header is None:
        return
    width = len(header)
    for i, row in enumerate(reader, start=1):
        if row and len(row) != width:
            raise DataError(f"{name}: data row {i} has {len(row)} fields, the header has {width} "
                            "(a truncated or misquoted line)")


def guess_mapping(columns, spec: DatasetSpec) -> dict[str, str | None]:
    """A first column mapping for an uploaded table: ``{spec column: file column or None}``
    for the id, the target and every feature, matching names case-insensitively and
    ignoring spaces, dashes and underscores."""
    def norm(x) -> str:
        return "".join(ch for ch in str(x).lower() if ch.isalnum())

    found = {norm(c): str(c) for c in columns}
    wanted = [spec.id_column] + ([spec.target] if spec.target else []) + spec.feature_names
    return {name: found.get(norm(name)) for name in wanted}


def map_columns(df: pd.DataFrame, mapping: dict[str, str | None], spec: DatasetSpec, source: str = "table") -> pd.DataFrame:
    """Rename the columns of an uploaded table to the spec's names.

    Parameters
    ----------
    df : the table as read (n rows).
    mapping : ``{spec column: column of df, or None when the file lacks it}``.

    Returns
    -------
    DataFrame (n rows): the mapped columns under the spec's names (the id as text), plus
    the unmapped columns of ``df`` whose names do not clash (reported later as extra).

    Raises
    ------
    DataError
        A spec column is mapped to a column ``df`` does not have, or one column of ``df`` is
        mapped to two spec columns.
    """
    used = [c for c in mapping.values() if c is not None]
    for spec_col, col in mapping.items():
        if col is not None and col not in df.columns:
            raise DataError(f"{source}: column '{col}' (mapped to '{spec_col}') is not in the file")
    dup = sorted({c for c in used if used.count(c) > 1})
    if dup:
        targets = [k for k, v in mapping.items() if v == dup[0]]
        raise DataError(f"{source}: column '{dup[0]}' is mapped to more than one spec column ({', '.join(targets)})")
    out = df[[c for c in df.columns if c not in used and c not in mapping]].copy()
    for spec_col, col in mapping.items():
        if col is not None:
            out[spec_col] = df[col].to_numpy()
    if spec.id_column in out:
        out[spec.id_column] = out[spec.id_column].astype(str)
    return out


def frame_hash(df: pd.DataFrame) -> str:
    """SHA-256 (hex, first 16 characters) of a table's values and column names; stable across runs."""
    h = hashlib.sha256()
    h.update("|".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _first_bad(mask: np.ndarray, values: pd.Series) -> tuple[int, object]:
    i = int(np.flatnonzero(mask)[0])
    return i + 1, values.iloc[i]



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
    missing = [c for c in [spec.id_column, *spec.feature_names] if c not in df.columns]
    if require_target and spec.target not in df.columns:
        missing.insert(0, spec.target)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        hint = f"; is '{spec.name}' the right spec for this file (--spec)?" if len(missing) > len(spec.feature_names) // 2 else ""
        raise DataError(f"{source}: missing required column '{missing[0]}'{more}{hint}")

    ids = df[spec.id_column]
    if ids.isna().any():
        row, _ = _first_bad(ids.isna().to_numpy(), ids)
        raise DataError(f"{source}: column '{spec.id_column}': empty id at row {row}")
    ids = ids.astype(str)
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
            raise DataError(f"{source}: snapshot column '{spec.snapshot_column}': {shown} at row {row} is not a date")
        # a snapshot table holds a customer once per snapshot: a row is a customer at a date
        ids = ids + "@" + snapshot.dt.strftime("%Y-%m-%d")
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids[dup].iloc[0]
        rows = (np.flatnonzero(ids.to_numpy() == first)[:2] + 1).tolist()
        what = "id and snapshot" if snapshot is not None else "id"
        raise DataError(f"{source}: column '{spec.id_column}': duplicate {what} '{first}' at rows {rows[0]} and {rows[1]}")

    out = {spec.id_column: ids.to_numpy()}
    quality = {"rows": int(len(df)), "inf_to_missing": {}, "out_of_range": {}, "missing_share": {},
               "text_numbers": {}, "id_from_row": bool(id_from_row), "encoding": df.attrs.get("encoding")}
    ref = reference_date or spec.reference_date
    for col in spec.columns:
        s = df[col.name]
        if col.is_categorical:
            vals = s.astype(object).where(s.notna(), None)
            vals = vals.map(lambda v: v if v is None else str(v).strip() or None)
            out[col.name] = vals.to_numpy(dtype=object)
            quality["missing_share"][col.name] = float(pd.isna(out[col.name]).mean())
            continue
        if col.kind == "date":
            parsed = pd.to_datetime(s, format=col.date_format, errors="coerce")
            bad = (parsed.isna() & s.notna()).to_numpy()
            if bad.any():
                row, val = _first_bad(bad, s)
                fmt = col.date_format or "ISO yyyy-mm-dd"
                raise DataError(f"{source}: column '{col.name}': '{val}' at row {row} is not a date ({fmt})")
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
                raise DataError(f"{source}: column '{col.name}': text '{val}' at row {row} (expected a number)")
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
        out[col.name] = arr
        quality["missing_share"][col.name] = float(np.isnan(arr).mean())

    if require_target:  # scoring ignores a target column, whatever it holds
        t = df[spec.target]
        if t.isna().any():
            row, _ = _first_bad(t.isna().to_numpy(), t)
            raise DataError(f"{source}: target '{spec.target}': empty value at row {row}")
        tn = pd.to_numeric(binary_numbers(t), errors="coerce")
        bad = ~tn.isin([0, 1]).to_numpy()
        if bad.any():
            found = ", ".join(repr(str(v)) for v in pd.unique(t.astype(str))[:6])
            row, val = _first_bad(bad, t)
            raise DataError(f"{source}: target '{spec.target}' is not binary: value '{val}' at row {row} (values found: "
                            f"{found}; expected 0/1, true/false, yes/no or y/n)")
        if tn.nunique() < 2:
            raise DataError(f"{source}: target '{spec.target}' has a single class ({int(tn.iloc[0])}): cannot train")
        out[spec.target] = tn.to_numpy(dtype=np.int8)
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
    clean = pd.DataFrame(out)
    return clean, quality


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
