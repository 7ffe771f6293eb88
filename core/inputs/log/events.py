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

#: The events' columns that carry a customer column of the log (``customer_columns``).
ATTRIBUTE_PREFIX = "attr:"


def read_log(path: str | Path, spec: LogSpec) -> pd.DataFrame:
    """The log as read (CSV, TSV, TXT, Parquet or a folder of Parquet parts; ids as text).

    Raises DataError for a missing, empty or unreadable file, or a missing column."""

    path = Path(path)
    if spec.delimiter == "whitespace" and path.is_file() and path.suffix.lower() != ".parquet":
        try:
            raw = pd.read_csv(path, sep=r"\s+", dtype={spec.customer_id: str}, engine="python")
            raw.attrs["rows"] = {"kind": "text"}  # blank lines are rare in such exports; taken as none
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"{path}: cannot read the log ({first_line(exc)})") from None
    else:
        raw = tables.read_table(path, text_columns=(spec.customer_id,))
        if spec.customer_id in raw:
            raw[spec.customer_id] = raw[spec.customer_id].astype("string")
    needed = [spec.customer_id, spec.timestamp] + [c for c in (spec.amount, spec.quantity, spec.unit_price,
                                                               spec.order_id, spec.product, spec.category,
                                                               spec.channel, spec.return_flag) if c]
    needed += list(spec.customer_columns)
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing log column '{missing[0]}' (the log spec's columns: {', '.join(needed)})")
    if raw.empty:
        raise DataError(f"{path}: the log has no rows")
    return raw


def first_bad(mask, values: pd.Series, source: str, column: str, what: str):
    """Raise DataError for the first row where ``mask`` (shape (n,) bool) is set, naming the
    column, the value and the row's place in the file (:func:`core.inputs.tables.place`)."""
    i = int(np.flatnonzero(np.asarray(mask))[0])
    value = values.iloc[i]
    shown = "an empty value" if pd.isna(value) or str(value) in ("nan", "<NA>", "None") else f"'{value}'"
    raise DataError(f"{source}: column '{column}': {shown} at {tables.place(values, i)} is not {what}")


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
    ``quantity`` (float, 1 without a column), ``is_return`` (0/1), ``product``,
    ``category``, ``channel`` (text or None), and ``attr:<name>`` for each of the spec's
    ``customer_columns``. The text columns are pandas Categoricals with
    sorted categories (:func:`categorical`); the order id has served its purposes (duplicate
    lines, cancellation prefixes) and is not kept.

    Returns ``(events, notes)``; notes count duplicated lines (dropped when the log has
    order ids, where a repeated line is a re-export; kept and counted without them, where it
    may be a second purchase), lines without a customer id (guest checkouts: left out with
    ``missing_customer = "drop"``, :func:`guest_summary`), customers with only returns and
    time zones converted. Row numbers in messages are the file's own
    (:func:`core.inputs.tables.place`), before and after duplicate lines are dropped.

    Raises
    ------
    DataError
        An empty id (with ``missing_customer = "refuse"``, or on every line), an unparseable timestamp or amount (naming the column and row), or a
        mixture of timestamps with and without a time zone.
    """
    notes: dict = {}
    dup = _duplicated(raw)
    ids = raw[spec.customer_id]
    guest = (ids.isna() | (ids.astype("string").str.strip() == "")).to_numpy(bool)
    counted = dup & ~guest  # guest lines are said apart: two guest orders alike are no repeat of a customer's
    if dup.any():  # with an order id a repeated line is a re-export; without one it may be a real purchase
        if spec.order_id:
            raw, ids, guest = raw[~dup], ids[~dup], guest[~dup]
            if counted.any():
                notes["duplicate_lines_dropped"] = int(counted.sum())
        elif counted.any():
            notes["identical_lines_kept"] = int(counted.sum())
    if guest.any() and spec.missing_customer == "refuse":
        first_bad(guest, ids, source, spec.customer_id,
                  "an id (it is empty; the log spec's missing_customer = 'drop' leaves such lines out and counts them)")
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
    is_ret = _returns(raw, spec, amount, qty)
    amount = np.where(is_ret, -np.abs(amount), amount)
    if guest.any():  # guest checkouts and anonymous lines: nobody to score; left out and said
        notes["lines_without_customer"] = guest_summary(guest, days, amount, is_ret)
        keep = ~guest
        raw, ids, days, amount, qty, is_ret = raw[keep], ids[keep], days[keep], amount[keep], qty[keep], is_ret[keep]
        if not len(raw):
            raise DataError(f"{source}: column '{spec.customer_id}' is empty on every line: no customer to learn from")
    # text as Categoricals (Arrow's dictionary encoding): 10 million lines of ids take 40 MB
    # of codes, not 10 million strings, and DuckDB groups integers
    customers = categorical(ids)
    text = lambda c: categorical(raw[c]) if c else None  # noqa: E731
    ev = pd.DataFrame({"customer_id": customers, "day": days, "amount": amount,
                       "quantity": np.abs(qty), "is_return": is_ret.astype(np.int8),
                       "product": text(spec.product), "category": text(spec.category),
                       "channel": text(spec.channel)})
    for c in spec.customer_columns:  # one value per customer: read as an attribute, not a line feature
        ev[f"{ATTRIBUTE_PREFIX}{c}"] = text(c)
    codes = customers.codes
    lines = np.bincount(codes, minlength=len(customers.categories))
    sales = np.bincount(codes, weights=1 - ev["is_return"].to_numpy(), minlength=len(customers.categories))
    only_returns = int(((lines > 0) & (sales == 0)).sum())
    if only_returns:
        notes["customers_with_only_returns"] = only_returns
    return ev, notes


def _returns(raw: pd.DataFrame, spec: LogSpec, amount: np.ndarray, qty: np.ndarray) -> np.ndarray:
    """Which lines are returns (shape (n,) bool), by the spec's ``returns`` mode."""
    if spec.returns == "negative":
        return (amount < 0) | (qty < 0)
    if spec.returns == "prefix":
        return raw[spec.order_id].astype("string").str.startswith(spec.return_prefix, na=False).to_numpy()
    if spec.returns == "flag":
        flag = raw[spec.return_flag].astype("string").str.strip().str.lower()
        return flag.isin(["1", "true", "yes", "y", "t"]).fillna(False).to_numpy()
    return np.zeros(len(raw), dtype=bool)


def guest_summary(guest: np.ndarray, days: np.ndarray, amount: np.ndarray, is_ret: np.ndarray) -> dict:
    """What the lines without a customer id (``guest``, shape (n,) bool) held: their count,
    their share of the lines, their share of the log's sales (money of lines that are not
    returns) and the first and last day they occur on (ISO dates)."""
    sales = np.where(is_ret, 0.0, np.maximum(amount, 0.0))
    total = float(sales.sum())
    return {"lines": int(guest.sum()), "share_of_lines": float(guest.mean()),
            "share_of_sales": float(sales[guest].sum() / total) if total > 0 else 0.0,
            "first_day": day_iso(int(days[guest].min())), "last_day": day_iso(int(days[guest].max()))}


def guest_note(summary: dict, currency_word: str = "sales") -> str:
    """The one line that says what :func:`guest_summary` found."""
    return (f"{summary['lines']:,} lines ({summary['share_of_lines']:.1%}) have no customer id (guest checkouts or "
            f"anonymous orders, {summary['first_day']} to {summary['last_day']}): left out, "
            f"{summary['share_of_sales']:.1%} of the log's {currency_word}")


def note_lines(notes: dict) -> list[str]:
    """The notes of :func:`events` (and of the snapshots) as plain lines, one per note, for
    the run's notes, the Admin page's log check and a scoring of a log."""
    out = []
    for key, value in notes.items():
        if key == "lines_without_customer":
            out.append(guest_note(value))
        elif key == "customers_with_only_returns":
            out.append(f"{value:,} customers only returned goods: they made no purchase, so they are not scored")
        elif key == "duplicate_lines_dropped":
            out.append(f"{value:,} lines repeat an earlier line exactly (same order id): dropped as re-exported copies")
        elif key == "identical_lines_kept":
            out.append(f"{value:,} lines repeat an earlier line exactly; without an order id they may be second "
                       "purchases, so they are kept")
        elif key == "channel_is_customer_attribute":
            out.append(f"column '{value['column']}' holds one value for {value['share']:.1%} of the customers with "
                       "several lines: used as a customer attribute, not as channel shares")
        elif key == "bgnbd_flat_cutoffs":
            out.append(f"at {len(value)} of the cutoffs ({', '.join(value[:3])}{'...' if len(value) > 3 else ''}) no "
                       "customer had bought twice: BG/NBD cannot tell buying rates apart there, so its figures are "
                       "flat and its peer scores rank nobody")
        elif key == "time_zones_converted":
            out.append(f"timestamps carry {value:,} different time-zone offsets: converted to one zone")
        else:
            out.append(f"{key.replace('_', ' ')}: {value:,}" if isinstance(value, (int, float)) else
                       f"{key.replace('_', ' ')}: {value}")
    return out


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
