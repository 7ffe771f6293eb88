"""A log as read, turned into clean events (one row per line: customer, local day, net
amount, quantity, return flag, product, category, channel), and the cutoffs of its snapshots."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError, first_line
from core.inputs import tables
from core.inputs.log.spec import LogSpec

EPOCH = pd.Timestamp("1970-01-01")


def read_log(path: str | Path, spec: LogSpec) -> pd.DataFrame:
    """The log as read (CSV, TSV, TXT, Parquet or a folder of Parquet parts; ids as text).

    Raises DataError for a missing, empty or unreadable file, or a missing column."""

    path = Path(path)
    if spec.delimiter == "whitespace" and path.is_file() and path.suffix.lower() != ".parquet":
        try:
            raw = pd.read_csv(path, sep=r"\s+", dtype={spec.customer_id: str}, engine="python")
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"{path}: cannot read the log ({first_line(exc)})") from None
    else:
        raw = tables.read_table(path)
        if spec.customer_id in raw:
            raw[spec.customer_id] = raw[spec.customer_id].astype("string")
    needed = [spec.customer_id, spec.timestamp] + [c for c in (spec.amount, spec.quantity, spec.unit_price,
                                                               spec.order_id, spec.product, spec.category,
                                                               spec.channel, spec.return_flag) if c]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing log column '{missing[0]}' (the log spec's columns: {', '.join(needed)})")
    if raw.empty:
        raise DataError(f"{path}: the log has no rows")
    return raw


def first_bad(mask, values, source: str, column: str, what: str):
    i = int(np.flatnonzero(np.asarray(mask))[0])
    raise DataError(f"{source}: column '{column}': '{values.iloc[i]}' at row {i + 1} is not {what}")


def _days(ts: pd.Series, spec: LogSpec, source: str) -> tuple[np.ndarray, dict]:
    """Local calendar day numbers (days since 1970-01-01) of the timestamps, and notes."""
    notes = {}
    if pd.api.types.is_datetime64_any_dtype(ts):  # typed timestamps (Parquet): no text to parse
        if ts.isna().any():
            first_bad(ts.isna().to_numpy(), ts.astype(str), source, spec.timestamp, "a timestamp (it is empty)")
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert(spec.timezone or "UTC").dt.tz_localize(None)
        return ((ts.dt.normalize() - EPOCH) // pd.Timedelta(days=1)).to_numpy(np.int64), notes
    text = ts.astype("string")
    has_offset = text.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z)$", regex=True, na=False)
    if has_offset.any() and not has_offset[ts.notna()].all():
        with_zone = int(has_offset.sum())
        if with_zone <= int((~has_offset & ts.notna()).sum()):  # name a row of the minority form
            first_bad(has_offset, ts, source, spec.timestamp,
                       "in the same form as the others (it carries a time zone, most timestamps do not)")
        first_bad(~has_offset & ts.notna(), ts, source, spec.timestamp,
                   "in the same form as the others (some timestamps carry a time zone, this one does not)")
    try:
        parsed = pd.to_datetime(ts, format=spec.timestamp_format, errors="coerce", utc=bool(has_offset.any()))
    except (ValueError, TypeError):
        parsed = pd.to_datetime(ts.astype(str), format=spec.timestamp_format, errors="coerce",
                                utc=bool(has_offset.any()))
    bad = parsed.isna().to_numpy()
    if bad.any():
        first_bad(bad, ts, source, spec.timestamp,
                   f"a timestamp{f' ({spec.timestamp_format})' if spec.timestamp_format else ''}")
    if getattr(parsed.dt, "tz", None) is not None:
        offsets = text[has_offset].str.extract(r"([+-]\d{2}:?\d{2}|Z)$")[0].nunique()
        if offsets > 1:
            notes["time_zones_converted"] = int(offsets)
        parsed = parsed.dt.tz_convert(spec.timezone or "UTC").dt.tz_localize(None)
    days = ((parsed.dt.normalize() - EPOCH) // pd.Timedelta(days=1)).to_numpy(np.int64)
    return days, notes


def _duplicated(raw: pd.DataFrame) -> np.ndarray:
    """Rows equal in every column to an earlier row (as ``DataFrame.duplicated``), shape (n,)
    bool: each row is hashed by DuckDB (``hash`` of all columns, in row order) and only the
    rows whose hash repeats are compared, so a log of millions of lines is hashed once."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = true")
        con.register("raw", raw)
        cols = ", ".join('"' + str(c).replace('"', '""') + '"' for c in raw.columns)
        h = con.sql(f"SELECT hash({cols}) AS h FROM raw").fetchnumpy()["h"]
    finally:
        con.close()
    # rows whose hash occurs more than once (a sort of the hashes: faster than a hash table
    # of them on a large log)
    srt = np.sort(h)
    cand = np.isin(h, srt[1:][srt[1:] == srt[:-1]])
    dup = np.zeros(len(raw), dtype=bool)
    if cand.any():
        dup[np.flatnonzero(cand)] = raw[cand].duplicated().to_numpy()
    return dup


def categorical(values: pd.Series) -> pd.Categorical:
    """Text values as a Categorical whose categories are sorted (missing values stay
    missing), shape (n,). Built with Arrow's dictionary encoding
    (``pyarrow.compute.dictionary_encode``) and the dictionary then sorted by bytes
    (``pyarrow.compute.array_sort_indices``), so the codes order the rows as the text orders
    them in DuckDB and Spark SQL (both compare strings by their UTF-8 bytes)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:  # Arrow-backed text (as Parquet and pandas' "str" give it) is taken as it is, not copied
        arr = pa.array(values.array, from_pandas=True)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            raise TypeError(arr.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # numbers, mixed objects: as pandas writes them
        arr = pa.array(values.astype("str").array, type=pa.string(), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    enc = pc.dictionary_encode(arr)
    order = pc.array_sort_indices(enc.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    idx = enc.indices.fill_null(-1).to_numpy().astype(np.int32)
    codes = np.where(idx >= 0, rank[np.maximum(idx, 0)], -1).astype(np.int32) if len(rank) else idx
    categories = pd.Index(enc.dictionary.take(pa.array(order)).to_pandas(), dtype="str")
    return pd.Categorical.from_codes(codes, categories=categories)


def events(raw: pd.DataFrame, spec: LogSpec, source: str = "log") -> tuple[pd.DataFrame, dict]:
    """Clean events from the log as read: one row per line, ``customer_id`` (text), ``day``
    (int, local days since 1970-01-01), ``amount`` (net money: returns negative),
    ``quantity`` (float, 1 without a column), ``is_return`` (0/1), and ``product``,
    ``category``, ``channel`` (text or None). The text columns are pandas Categoricals with
    sorted categories (:func:`categorical`); the order id has served its purposes (duplicate
    lines, cancellation prefixes) and is not kept.

    Returns ``(events, notes)``; notes count duplicated lines (dropped when the log has
    order ids, where a repeated line is a re-export; kept and counted without them, where it
    may be a second purchase), customers with only returns and time zones converted.

    Raises
    ------
    DataError
        An empty id, an unparseable timestamp or amount (naming the column and row), or a
        mixture of timestamps with and without a time zone.
    """
    notes: dict = {}
    dup = _duplicated(raw)
    if dup.any():  # with an order id a repeated line is a re-export; without one it may be a real purchase
        if spec.order_id:
            notes["duplicate_lines_dropped"] = int(dup.sum())
            raw = raw[~dup]
        else:
            notes["identical_lines_kept"] = int(dup.sum())
    ids = raw[spec.customer_id]
    if ids.isna().any():
        first_bad(ids.isna().to_numpy(), ids.astype(str), source, spec.customer_id, "an id (it is empty)")
    days, tz_notes = _days(raw[spec.timestamp], spec, source)
    notes.update(tz_notes)

    def number(col):
        v = pd.to_numeric(raw[col], errors="coerce")
        bad = (v.isna() & raw[col].notna()).to_numpy() | ~np.isfinite(v.fillna(0).to_numpy(float))
        if bad.any():
            first_bad(bad, raw[col], source, col, "a number")
        return v.fillna(0).to_numpy(float)

    qty = number(spec.quantity) if spec.quantity else np.ones(len(raw))
    amount = number(spec.amount) if spec.amount else qty * number(spec.unit_price)
    if spec.returns == "negative":
        is_ret = (amount < 0) | (qty < 0)
        amount = np.where(is_ret, -np.abs(amount), amount)
    elif spec.returns == "prefix":
        is_ret = raw[spec.order_id].astype("string").str.startswith(spec.return_prefix, na=False).to_numpy()
        amount = np.where(is_ret, -np.abs(amount), amount)
    elif spec.returns == "flag":
        flag = raw[spec.return_flag]
        is_ret = flag.astype("string").str.strip().str.lower().isin(["1", "true", "yes", "y", "t"]).fillna(False).to_numpy()
        amount = np.where(is_ret, -np.abs(amount), amount)
    else:
        is_ret = np.zeros(len(raw), dtype=bool)
    # text as Categoricals (Arrow's dictionary encoding): 10 million lines of ids take 40 MB
    # of codes, not 10 million strings, and DuckDB groups integers
    customers = categorical(ids)
    text = lambda c: categorical(raw[c]) if c else None  # noqa: E731
    ev = pd.DataFrame({"customer_id": customers, "day": days, "amount": amount,
                       "quantity": np.abs(qty), "is_return": is_ret.astype(np.int8),
                       "product": text(spec.product), "category": text(spec.category),
                       "channel": text(spec.channel)})
    codes = customers.codes
    lines = np.bincount(codes, minlength=len(customers.categories))
    sales = np.bincount(codes, weights=1 - ev["is_return"].to_numpy(), minlength=len(customers.categories))
    only_returns = int(((lines > 0) & (sales == 0)).sum())
    if only_returns:
        notes["customers_with_only_returns"] = only_returns
    return ev, notes


def cutoff_days(spec: LogSpec, first_day: int, last_day: int) -> list[int]:
    """The cutoffs (day numbers) of the log spanning ``first_day``..``last_day``.

    A cutoff needs history before it and a complete label window:
    ``first_day < cutoff`` and ``cutoff + horizon_days <= last_day + 1``.

    Raises
    ------
    DataError
        The log spans less than three horizons (naming the minimum), an explicit cutoff
        lies outside the log, or no cutoff fits.
    """
    h = spec.horizon_days
    span = last_day - first_day + 1
    if span < 3 * h:
        raise DataError(f"the log spans {span} days, less than three label windows ({3 * h} days at a horizon of "
                        f"{h} days): too short to train and test out of time")
    last_ok = last_day + 1 - h
    if spec.cutoffs:
        out = sorted({int((pd.Timestamp(c) - EPOCH).days) for c in spec.cutoffs})
        for c in out:
            if not first_day < c <= last_ok:
                raise DataError(f"cutoff {day_iso(c)} lies outside the log: cutoffs need events before them and a "
                                f"complete {h}-day window after them, so between {day_iso(first_day + 1)} and "
                                f"{day_iso(last_ok)}")
        return out
    start = int((pd.Timestamp(spec.start) - EPOCH).days) if spec.start else first_day + 3 * spec.step_days
    if not first_day < start <= last_ok:
        raise DataError(f"start {day_iso(start)} lies outside the log (between {day_iso(first_day + 1)} and "
                        f"{day_iso(last_ok)})")
    return list(range(start, last_ok + 1, spec.step_days))


def day_iso(day: int) -> str:
    """ISO date of a day number."""
    return str((EPOCH + pd.Timedelta(days=int(day))).date())


def check_windows(cutoffs: list[int], horizon: int) -> list[str]:
    """The label windows, one line each (``train``/``validation``/``test``), after checking
    that no earlier window reaches the test cutoff (the latest).

    Raises DataError naming the first window that does."""
    test = max(cutoffs)
    rest = sorted(c for c in cutoffs if c != test)
    lines = []
    for i, c in enumerate(rest + [test]):
        role = "test" if c == test else "validation" if i == len(rest) - 1 and len(rest) >= 2 else "train"
        if c != test and c + horizon > test:
            raise DataError(f"the {role} label window [{day_iso(c)}, {day_iso(c + horizon)}) reaches the test cutoff "
                            f"{day_iso(test)}: space the cutoffs at least {horizon} days apart")
        lines.append(f"{role} cutoff {day_iso(c)}: features before it, label in [{day_iso(c)}, {day_iso(c + horizon)})")
    return lines
