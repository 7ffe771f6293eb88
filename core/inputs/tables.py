"""Reading customer tables: CSV, TSV and TXT in any common encoding and delimiter, Excel
workbooks, Parquet files and folders of Parquet parts (:func:`read_table` for a path,
:func:`read_bytes` for an upload: the one parser); mapping an upload's columns to a spec;
the hash of a table as read. Every problem raises :class:`~core.errors.DataError` with one
line naming the file and what is wrong. Validation against the spec is
:mod:`core.inputs.validation`.
"""
from __future__ import annotations

import csv
import hashlib
import io
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


def read_table(path: str | Path, spec: DatasetSpec | None = None, sheet: str | int | None = None,
               text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
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
        df = pd.concat([read_table(p, spec, text_columns=text_columns) for p in parts], ignore_index=True)
        df.attrs = {"rows": {"kind": "parquet"}}
        return df
    _check_suffix(path.name, str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return read_bytes(data, str(path), spec, sheet, text_columns)


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


def read_bytes(data: bytes, name: str, spec: DatasetSpec | None = None, sheet: str | int | None = None,
               text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
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
    text_columns : more columns read as text (customer ids of a log, a cohort or an outcome
        table; names the file lacks are ignored), so ``00021`` stays ``00021``.

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
    ids = ((spec.id_column,) if spec is not None else ()) + tuple(text_columns)
    dtype = dict.fromkeys(ids, str) or None  # ids as written: leading zeros kept, never 1.0 for a column with blanks
    encoding = None
    try:
        if suffix in PARQUET_SUFFIXES:
            df = pd.read_parquet(io.BytesIO(data))
            df.attrs["rows"] = {"kind": "parquet"}
        elif suffix in EXCEL_SUFFIXES:
            df = _read_excel(data, name, sheet, dtype)
        else:
            text, encoding = decode_text(data)
            if "\x00" in text[:65536]:  # no text table holds NUL characters: a binary file under a text name
                raise DataError(f"{name}: not a text table (it holds binary data): save it as CSV, Excel .xlsx or "
                                "Parquet")
            sep = _sniff_delimiter(text)
            shifts = _check_row_widths(text, sep, name)
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=dtype, low_memory=False)
            df.attrs["rows"] = {"kind": "text", "shifts": shifts}
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
    df.attrs["rows"] = {"kind": "excel", "sheet": df.attrs["sheet"]}
    df.attrs["sheets"] = list(names)
    return df


def _sniff_delimiter(text: str) -> str:
    lines = text[:65536].splitlines()
    sample = "\n".join(lines[:-1] if len(lines) > 1 else lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _check_row_widths(text: str, sep: str, name: str) -> list[tuple[int, int]]:
    """Raise DataError naming the first data row (by its line in the file) whose field count
    differs from the header's. Returns where the data rows leave the plain numbering (data
    row i on line i + 2): ``[(first data row, its line minus (row + 2)), ...]``, a pair each
    time a blank line or a quoted line break shifts the rest (as ``pandas.read_csv`` skips
    blank lines and reads quoted breaks as one row)."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(reader, None)
    if header is None:
        return []
    width, shifts, shift, row, start = len(header), [], 0, 0, reader.line_num + 1
    for fields in reader:
        if fields:
            if len(fields) != width:
                raise DataError(f"{name}: line {start} has {len(fields)} fields, the header has {width} "
                                "(a truncated or misquoted line)")
            if start - (row + 2) != shift:
                shift = start - (row + 2)
                shifts.append((row, shift))
            row += 1
        start = reader.line_num + 1
    return shifts


def place(values: pd.Series | pd.DataFrame, pos: int) -> str:
    """Where the row at position ``pos`` of ``values`` (a table as :func:`read_bytes` read
    it, or rows of it: filtering keeps the index and ``attrs``) is in its file, as a person
    finds it there: ``line 623`` in a text file (the header is line 1; blank lines and
    quoted line breaks counted), ``row 623 of sheet 'Orders'`` in a workbook (Excel's row
    numbers), ``row index 621`` in Parquet (0-based, as pyarrow and pandas count), and
    ``row 622`` (1-based) for a table that came from no file."""
    label = values.index[pos]
    row = int(label) if isinstance(label, (int, np.integer)) else int(pos)
    how = values.attrs.get("rows") or {}
    if how.get("kind") == "text":
        shift = 0
        for first, s in how.get("shifts", []):
            if first > row:
                break
            shift = s
        return f"line {row + 2 + shift}"
    if how.get("kind") == "excel":
        return f"row {row + 2} of sheet '{how.get('sheet')}'"
    if how.get("kind") == "parquet":
        return f"row index {row}"
    return f"row {row + 1}"


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
