"""From a transaction log to a customer table: snapshots at cutoffs, features, labels.

A log is order lines (a customer, a time, an amount, optionally an order id, product,
category, channel, and a way returns show). A :class:`LogSpec` (TOML in ``configs/``,
``kind = "log"``) names its columns. :func:`snapshot_table` turns it into the stacked
snapshot table the rest of the product trains on:

- **Events.** Timestamps are parsed (the spec's format and time zone; values with an
  offset are converted to it) and reduced to local calendar days; amounts come from a
  column or quantity x unit price; returns show as negative amounts or quantities, as
  order ids with a cancellation prefix, or as a flag column, and net out of spend. Exact
  duplicate lines are dropped and counted.
- **Purchase days.** A customer-day with positive net spend is a purchase; a day with
  only returns is not.
- **Cutoffs.** Every ``step_days`` from ``start`` (default: three steps after the first
  event) to the last cutoff whose label window is complete, or the spec's explicit list.
- **Features** at a cutoff use only events strictly before it (:data:`FEATURE_SQL`, one SQL
  text run by DuckDB; integer day numbers and standard aggregates only, so the same text
  runs on Spark SQL); **labels** only purchase days in ``[cutoff, cutoff + horizon)``.
  A customer is in a snapshot when they made at least ``min_purchases`` purchase days
  before the cutoff.
- **BG/NBD** (:mod:`core.models.btyd`) is fitted at each cutoff on the purchase days before it
  (no labels): its exact P(at least one purchase in the horizon) is the peer column
  ``_bgnbd_p`` (evaluation only, never a model input), and its P(alive) and expected
  purchases are candidate features; the Gamma-Gamma expected spend per purchase gives the
  expected revenue.

Every feature is declared as a spec column (kind, group, label, reason template), so
segmentation, profiles, reasons, the matrix and every page work on a log-built run as on
a customer table.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError, first_line
from core.inputs.spec import ColumnSpec, DatasetSpec

RETURN_MODES = ("negative", "prefix", "flag", "none")
ATTRIBUTE_KINDS = ("categorical", "numeric", "count", "currency", "rate", "binary", "date")
#: DuckDB's memory limit for the feature SQL (``SET memory_limit``; beyond it DuckDB spills
#: to disk): https://duckdb.org/docs/stable/configuration/overview
DUCKDB_MEMORY_LIMIT = "1500MB"
#: Features judged on the validation snapshot before training (kept only when they help).
CANDIDATE_FEATURES = ("bgnbd_p_alive", "bgnbd_expected")
#: Windows (days) of the recent-activity features.
WINDOWS = (30, 90, 180, 365)
EPOCH = pd.Timestamp("1970-01-01")


@dataclass(frozen=True)
class LogSpec:
    """A transaction log's columns and snapshot settings.

    Parameters
    ----------
    name : data-set name of the runs built from it.
    customer_id, timestamp : column names (ids read as text).
    timestamp_format : ``strftime`` format; None: ISO or anything pandas parses.
    timezone : IANA zone the days are counted in; timestamps with an offset are converted
        to it, naive ones are taken as local to it. None: as written (UTC for offsets).
    amount : a money column; or ``quantity`` x ``unit_price``.
    quantity, unit_price, order_id, product, category, channel : optional columns.
    returns : ``negative`` (negative amount or quantity), ``prefix`` (order id starting
        with ``return_prefix``), ``flag`` (truthy ``return_flag`` column) or ``none``.
    delimiter : for text logs; None detects ``, ; tab |``; ``"whitespace"`` for runs of
        spaces (as CDNOW's master file).
    step_days, horizon_days : days between cutoffs; the label window in days.
    start : first cutoff (ISO date); None: three steps after the first event.
    cutoffs : explicit cutoffs (ISO dates), used instead of ``start`` and ``step_days``.
    min_purchases : purchase days before a cutoff a customer needs to be in its snapshot.
    currency : shown with money ("currency" by default).
    attributes : optional path of a customer attributes table (CSV, Parquet, Excel) joined
        by id, for profiling and as model inputs; ``attributes_id`` its id column (default:
        ``customer_id``'s name); ``attribute_kinds`` maps the columns to use to a kind
        (``categorical``, ``numeric``, ``count``, ``currency``, ``rate``, ``binary`` or
        ``date``; a date becomes the days from it to each cutoff, blank when it lies on or
        after the cutoff). None: every column but the id, categorical when text.
    """

    name: str
    customer_id: str
    timestamp: str
    timestamp_format: str | None = None
    timezone: str | None = None
    amount: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    order_id: str | None = None
    product: str | None = None
    category: str | None = None
    channel: str | None = None
    returns: str = "negative"
    return_prefix: str = "C"
    return_flag: str | None = None
    delimiter: str | None = None
    step_days: int = 30
    horizon_days: int = 30
    start: str | None = None
    cutoffs: tuple[str, ...] = ()
    min_purchases: int = 1
    currency: str = "currency"
    attributes: str | None = None
    attributes_id: str | None = None
    attribute_kinds: dict | None = None

    def __post_init__(self) -> None:
        if not self.amount and not (self.quantity and self.unit_price):
            raise DataError(f"log spec '{self.name}': give amount, or quantity and unit_price")
        if self.returns not in RETURN_MODES:
            raise DataError(f"log spec '{self.name}': returns must be one of {', '.join(RETURN_MODES)}")
        if self.returns == "prefix" and not self.order_id:
            raise DataError(f"log spec '{self.name}': returns = 'prefix' needs order_id")
        if self.returns == "flag" and not self.return_flag:
            raise DataError(f"log spec '{self.name}': returns = 'flag' needs return_flag")
        for key in ("step_days", "horizon_days", "min_purchases"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise DataError(f"log spec '{self.name}': {key} must be a whole number >= 1, got {v!r}")
        for col, kind in (self.attribute_kinds or {}).items():
            if kind not in ATTRIBUTE_KINDS:
                raise DataError(f"log spec '{self.name}': attribute '{col}' has kind '{kind}'; "
                                f"expected one of {', '.join(ATTRIBUTE_KINDS)}")
        for d in ([self.start] if self.start else []) + list(self.cutoffs):
            try:
                pd.Timestamp(str(d))
            except ValueError:
                raise DataError(f"log spec '{self.name}': '{d}' is not a date (yyyy-mm-dd)") from None

    @property
    def target(self) -> str:
        """The label's column name: ``purchased_next_<horizon>d``."""
        return f"purchased_next_{self.horizon_days}d"


def load_log_spec(path: str | Path) -> LogSpec:
    """Read a log spec TOML (top-level keys of :class:`LogSpec` and ``kind = "log"``).

    Raises DataError for a missing or bad file or an unknown key (naming the file)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"log spec {p}: not found")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"log spec {p}: not valid TOML ({exc})") from None
    if raw.pop("kind", None) != "log":
        raise DataError(f"{p}: not a log spec (it needs kind = \"log\")")
    known = {f.name for f in dataclasses.fields(LogSpec)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise DataError(f"log spec {p}: unknown key '{unknown[0]}'")
    if "cutoffs" in raw:
        raw["cutoffs"] = tuple(str(c) for c in raw["cutoffs"])
    if raw.get("attributes"):  # as the person running the command means it; kept absolute in the run
        raw["attributes"] = str(Path(raw["attributes"]).resolve())
    try:
        return LogSpec(**raw)
    except DataError as exc:
        raise DataError(f"{p}: {exc}") from None
    except TypeError as exc:
        raise DataError(f"log spec {p}: {exc}") from None


def is_log_spec(path: str | Path) -> bool:
    """True when the TOML file at ``path`` declares ``kind = "log"``."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8")).get("kind") == "log"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def read_log(path: str | Path, spec: LogSpec) -> pd.DataFrame:
    """The log as read (CSV, TSV, TXT, Parquet or a folder of Parquet parts; ids as text).

    Raises DataError for a missing, empty or unreadable file, or a missing column."""
    from core.inputs import tables

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


def _first_bad(mask, values, source: str, column: str, what: str):
    i = int(np.flatnonzero(np.asarray(mask))[0])
    raise DataError(f"{source}: column '{column}': '{values.iloc[i]}' at row {i + 1} is not {what}")


def _days(ts: pd.Series, spec: LogSpec, source: str) -> tuple[np.ndarray, dict]:
    """Local calendar day numbers (days since 1970-01-01) of the timestamps, and notes."""
    notes = {}
    if pd.api.types.is_datetime64_any_dtype(ts):  # typed timestamps (Parquet): no text to parse
        if ts.isna().any():
            _first_bad(ts.isna().to_numpy(), ts.astype(str), source, spec.timestamp, "a timestamp (it is empty)")
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert(spec.timezone or "UTC").dt.tz_localize(None)
        return ((ts.dt.normalize() - EPOCH) // pd.Timedelta(days=1)).to_numpy(np.int64), notes
    text = ts.astype("string")
    has_offset = text.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z)$", regex=True, na=False)
    if has_offset.any() and not has_offset[ts.notna()].all():
        with_zone = int(has_offset.sum())
        if with_zone <= int((~has_offset & ts.notna()).sum()):  # name a row of the minority form
            _first_bad(has_offset, ts, source, spec.timestamp,
                       "in the same form as the others (it carries a time zone, most timestamps do not)")
        _first_bad(~has_offset & ts.notna(), ts, source, spec.timestamp,
                   "in the same form as the others (some timestamps carry a time zone, this one does not)")
    try:
        parsed = pd.to_datetime(ts, format=spec.timestamp_format, errors="coerce", utc=bool(has_offset.any()))
    except (ValueError, TypeError):
        parsed = pd.to_datetime(ts.astype(str), format=spec.timestamp_format, errors="coerce",
                                utc=bool(has_offset.any()))
    bad = parsed.isna().to_numpy()
    if bad.any():
        _first_bad(bad, ts, source, spec.timestamp,
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
    # of 10 million of them)
    srt = np.sort(h)
    cand = np.isin(h, srt[1:][srt[1:] == srt[:-1]])
    dup = np.zeros(len(raw), dtype=bool)
    if cand.any():
        dup[np.flatnonzero(cand)] = raw[cand].duplicated().to_numpy()
    return dup



def _categorical(values: pd.Series) -> pd.Categorical:
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
    sorted categories (:func:`_categorical`); the order id has served its purposes (duplicate
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
        _first_bad(ids.isna().to_numpy(), ids.astype(str), source, spec.customer_id, "an id (it is empty)")
    days, tz_notes = _days(raw[spec.timestamp], spec, source)
    notes.update(tz_notes)

    def number(col):
        v = pd.to_numeric(raw[col], errors="coerce")
        bad = (v.isna() & raw[col].notna()).to_numpy() | ~np.isfinite(v.fillna(0).to_numpy(float))
        if bad.any():
            _first_bad(bad, raw[col], source, col, "a number")
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
    customers = _categorical(ids)
    text = lambda c: _categorical(raw[c]) if c else None  # noqa: E731
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


#: Features at each cutoff from the events strictly before it, and labels from the purchase
#: days in [cutoff, cutoff + horizon). Tables: ``events`` (as :func:`events` returns them)
#: and ``cutoffs`` (one column ``cutoff``, day numbers). Placeholders: ``{horizon}``,
#: ``{min_purchases}``, ``{windows}`` (the recent-window columns), ``{channel_days}`` and
#: ``{channels}`` (the channel-share sums and columns).
#:
#: Everything that does not depend on the cutoff is computed once, on the events: the
#: customer-days (``d0``: net spend, units, lines; a day lies wholly before a cutoff or not,
#: since cutoffs are day numbers), on each day the products, categories and channels the
#: customer bought for the first time (``np``, ``nc``, ``nh``: a distinct count before a
#: cutoff is the sum of those before it) and the gap since the previous purchase day (the
#: same at every later cutoff). Then one aggregation over the customer-days joined to the
#: cutoffs gives every feature, so the join meets customer-days, not lines.
FEATURE_STAGES = (
    ("d0", """
    SELECT customer_id, day, CAST(SUM(amount) AS BIGINT) AS net, CAST(SUM(quantity) AS BIGINT) AS units,
               COUNT(*) AS lines,
               COUNT(CASE WHEN is_return = 1 THEN 1 END) AS return_lines,
               COUNT(CASE WHEN is_return = 0 THEN 1 END) AS sale_lines {channel_days}
        FROM events GROUP BY customer_id, day
"""),
    ("np", """
    SELECT customer_id, day, COUNT(*) AS n FROM (
               SELECT customer_id, MIN(day) AS day FROM events WHERE is_return = 0 AND product IS NOT NULL
               GROUP BY customer_id, product) fp GROUP BY customer_id, day
"""),
    ("nc", """
    SELECT customer_id, day, COUNT(*) AS n FROM (
               SELECT customer_id, MIN(day) AS day FROM events WHERE is_return = 0 AND category IS NOT NULL
               GROUP BY customer_id, category) fc GROUP BY customer_id, day
"""),
    ("nh", """
    SELECT customer_id, day, COUNT(*) AS n FROM (
               SELECT customer_id, MIN(day) AS day FROM events WHERE is_return = 0 AND channel IS NOT NULL
               GROUP BY customer_id, channel) fh GROUP BY customer_id, day
"""),
    ("d", """
    SELECT d0.*, COALESCE(np.n, 0) AS new_products, COALESCE(nc.n, 0) AS new_categories,
               COALESCE(nh.n, 0) AS new_channels,
               CASE WHEN d0.net > 0 THEN d0.day - LAG(d0.day) OVER (PARTITION BY d0.customer_id, d0.net > 0
                                                                    ORDER BY d0.day) END AS gap
        FROM d0
        LEFT JOIN np ON d0.customer_id = np.customer_id AND d0.day = np.day
        LEFT JOIN nc ON d0.customer_id = nc.customer_id AND d0.day = nc.day
        LEFT JOIN nh ON d0.customer_id = nh.customer_id AND d0.day = nh.day
"""),
    ("f", """
    SELECT c.cutoff, d.customer_id,
               COUNT(CASE WHEN d.net > 0 THEN 1 END) AS frequency,
               MIN(CASE WHEN d.net > 0 THEN d.day END) AS first_day, MAX(CASE WHEN d.net > 0 THEN d.day END) AS last_day,
               CAST(SUM(CASE WHEN d.net > 0 THEN d.net END) AS DOUBLE)
                   / NULLIF(COUNT(CASE WHEN d.net > 0 THEN 1 END), 0) / {scale} AS spend_mean,
               CAST(MAX(CASE WHEN d.net > 0 THEN d.net END) AS DOUBLE) / {scale} AS spend_max,
               CAST(SUM(CASE WHEN d.net > 0 THEN d.units END) AS DOUBLE)
                   / NULLIF(COUNT(CASE WHEN d.net > 0 THEN 1 END), 0) / {scale} AS units_per_purchase,
               AVG(CASE WHEN d.net > 0 THEN d.lines END) AS lines_per_purchase,
               AVG(d.gap) AS gap_mean,
               CASE WHEN COUNT(d.gap) > 1 THEN SQRT(CAST(COUNT(d.gap) * SUM(d.gap * d.gap) - SUM(d.gap) * SUM(d.gap)
                   AS DOUBLE) / (COUNT(d.gap) * (COUNT(d.gap) - 1))) END AS gap_sd {windows},
               CAST(SUM(d.net) AS DOUBLE) / {scale} AS spend_total, CAST(SUM(d.return_lines) AS BIGINT) AS return_lines,
               CAST(SUM(d.lines) AS BIGINT) AS lines, CAST(SUM(d.sale_lines) AS BIGINT) AS sale_lines,
               CAST(SUM(d.new_products) AS BIGINT) AS distinct_products,
               CAST(SUM(d.new_categories) AS BIGINT) AS distinct_categories,
               CAST(SUM(d.new_channels) AS BIGINT) AS distinct_channels {channels}
        FROM d JOIN cutoffs c ON d.day < c.cutoff
        GROUP BY c.cutoff, d.customer_id
"""),
    ("lab", """
    SELECT c.cutoff, d0.customer_id, MAX(CASE WHEN d0.net > 0 THEN 1 ELSE 0 END) AS label
        FROM d0 JOIN cutoffs c ON d0.day >= c.cutoff AND d0.day < c.cutoff + {horizon}
        GROUP BY c.cutoff, d0.customer_id
"""),
    ("features", """
SELECT f.* {channel_cols}, COALESCE(lab.label, 0) AS label
FROM f LEFT JOIN lab ON f.cutoff = lab.cutoff AND f.customer_id = lab.customer_id
WHERE f.frequency >= {min_purchases}
ORDER BY f.cutoff, f.customer_id
"""),
)
#: The same stages as one SQL text: the stages before the last as common table
#: expressions (``WITH d0 AS (...), ...``), the last as its query; Spark runs this text.
FEATURE_SQL = "WITH " + ",\n".join(f"{name} AS ({sql.strip()})" for name, sql in FEATURE_STAGES[:-1]) + "\n" + \
    FEATURE_STAGES[-1][1].strip() + "\n"


#: Amounts and quantities reach the feature SQL as whole multiples of 1/FIXED_POINT (a
#: ten-thousandth of a currency unit or of a unit), so that every sum of them is a sum of
#: integers: exact, and the same in any order. A sum of doubles is not: DuckDB adds a
#: group's values in the order its threads reach them, which changes with the machine's
#: load, and the last bits of the spend features moved from one training to the next on one
#: machine (CDNOW, 2026-12-06), and with them the model. Averages are integer sums over
#: counts; the spread of the gaps comes from integer sums too (n sum(x^2) - (sum x)^2), not
#: from a streaming variance.
FIXED_POINT = 10_000


def fixed_point(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` (money or quantities, float) as int64 multiples of ``1 / FIXED_POINT``,
    rounded to the nearest. Raises DataError when a value is beyond 10^14 (the sums must
    stay within int64)."""
    v = np.asarray(values, dtype=np.float64)
    big = np.abs(v) >= 1e14
    if big.any():
        raise DataError(f"the log's {what} holds {v[big][0]:g}, beyond 10^14: not an amount this product reads")
    return np.round(v * FIXED_POINT).astype(np.int64)


def _channel_names(ev: pd.DataFrame, most: int = 5) -> list[str]:
    if ev["channel"].isna().all():
        return []
    counts = ev.loc[ev["is_return"] == 0, "channel"].value_counts()
    counts = counts[counts > 0]  # a Categorical counts its unused levels too
    return [str(c) for c in sorted(counts.index, key=lambda c: (-counts[c], str(c)))[:most]]


def sql_literal(text: str) -> str:
    """A SQL expression for the string ``text`` that DuckDB and Spark SQL read alike.

    The engines read quotes and backslashes in literals differently (Spark has no doubled
    quote, ``'o''shop'`` is ``oshop`` there, and reads a backslash as an escape), so those
    become ``CHR(39)`` and ``CHR(92)`` joined with ``||``: ``"o'shop"`` ->
    ``('o' || CHR(39) || 'shop')``; other text is one plain literal (``'web'``). Sources:
    https://spark.apache.org/docs/latest/sql-ref-literals.html, DuckDB's literal docs."""
    pieces = [f"CHR({ord(p)})" if p in ("'", "\\") else f"'{p}'" for p in re.split(r"(['\\])", text) if p]
    if len(pieces) <= 1:
        return pieces[0] if pieces else "''"
    return "(" + " || ".join(pieces) + ")"


def feature_sql(spec: LogSpec, channels: list[str]) -> str:
    """The SQL of :data:`FEATURE_SQL` for this spec and these channel levels: the same text
    runs on DuckDB and on Spark SQL (:mod:`core.inputs.log.spark`), channel levels written with
    :func:`sql_literal` and shares as a DOUBLE over integer sums (a decimal literal such as
    ``1.0`` would make Spark round an average to a DECIMAL, where DuckDB keeps a DOUBLE)."""
    return FEATURE_SQL.format(**_placeholders(spec, channels))


def feature_stages(spec: LogSpec, channels: list[str]) -> list[tuple[str, str]]:
    """:data:`FEATURE_STAGES` for this spec and these channel levels: ``(name, query)``
    pairs, each query reading the tables the earlier stages named (DuckDB runs them one by
    one into temporary tables, so no stage is computed twice)."""
    values = _placeholders(spec, channels)
    return [(name, sql.format(**values)) for name, sql in FEATURE_STAGES]


def _placeholders(spec: LogSpec, channels: list[str]) -> dict:
    windows = "".join(f", COUNT(CASE WHEN d.net > 0 AND d.day >= c.cutoff - {w} THEN 1 END) AS purchases_{w}d"
                      f", CAST(SUM(CASE WHEN d.net > 0 AND d.day >= c.cutoff - {w} THEN d.net ELSE 0 END) AS DOUBLE)"
                      f" / {FIXED_POINT} AS spend_{w}d"
                      for w in WINDOWS)
    channel_days = "".join(f", COUNT(CASE WHEN is_return = 0 AND channel = {sql_literal(c)} THEN 1 END) "
                           f"AS ch_{i}" for i, c in enumerate(channels))
    chan = "".join(f", CAST(SUM(d.ch_{i}) AS BIGINT) AS ch_{i}" for i in range(len(channels)))
    chan_cols = "".join(f", CAST(f.ch_{i} AS DOUBLE) / NULLIF(f.sale_lines, 0) AS channel_share_{i}"
                        for i in range(len(channels)))
    return {"horizon": spec.horizon_days, "min_purchases": spec.min_purchases, "windows": windows,
            "channel_days": channel_days, "channels": chan, "channel_cols": chan_cols, "scale": FIXED_POINT}


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (int32, -1 for missing) and categories of a text column (a Categorical
    as :func:`events` returns it, or text, encoded by :func:`_categorical`)."""
    cat = values.array if isinstance(values.dtype, pd.CategoricalDtype) else _categorical(values)
    return np.asarray(cat.codes, dtype=np.int32), cat.categories


def _events_for_sql(ev: pd.DataFrame):
    """The events as the pyarrow Table the feature SQL reads on DuckDB: ``customer_id``,
    ``product`` and ``category`` as int32 codes (null for missing; DuckDB groups and joins
    integers several times faster than text), ``channel`` as a dictionary array (text to
    the SQL, which compares it with literals), numbers as they are (no copy). Returns
    ``(table, customer categories)``: code ``i`` is customer ``categories[i]``, and the codes
    order the customers as their ids sort."""
    import pyarrow as pa

    cust, categories = _codes(ev["customer_id"])

    def coded(col):  # an all-missing column is all null
        codes, _ = _codes(ev[col])
        return pa.array(codes, mask=codes < 0)

    ch_codes, ch_levels = _codes(ev["channel"])
    channel = pa.DictionaryArray.from_arrays(pa.array(ch_codes, mask=ch_codes < 0),
                                             pa.array(list(ch_levels), type=pa.string()))
    table = pa.table({"customer_id": pa.array(cust), "day": pa.array(ev["day"].to_numpy(np.int64)),
                      "amount": pa.array(fixed_point(ev["amount"].to_numpy(np.float64), "amount")),
                      "quantity": pa.array(fixed_point(ev["quantity"].to_numpy(np.float64), "quantity")),
                      "is_return": pa.array(ev["is_return"].to_numpy(np.int8)),
                      "product": coded("product"), "category": coded("category"), "channel": channel})
    return table, categories


def raw_features(ev: pd.DataFrame, spec: LogSpec, cutoffs: list[int],
                 channels: list[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """:func:`feature_stages` run by DuckDB on the events: one row per (cutoff, customer)
    with the aggregates and the label, ordered by cutoff then customer id; and the channel
    levels used (given, or the log's five most used).

    ``ev`` as :func:`events` returns it. DuckDB reads integer codes for the ids
    (:func:`_events_for_sql`), runs the stages that do not depend on the cutoff once into
    temporary tables (dropping each once the later stages have read it), then the features
    stage (``f``) and the final query one cutoff at a time, so it holds one snapshot's
    aggregates at a time. Memory: DuckDB keeps to :data:`DUCKDB_MEMORY_LIMIT` and spills
    the rest to the system's temporary folder; the result is one array per column
    (``customer_id`` text, counts int64, the rest float64). Drop the log
    as read before calling: its memory is handed back to the system here."""
    import tempfile

    import duckdb
    import pyarrow as pa

    channels = _channel_names(ev) if channels is None else list(channels)
    table, customers = _events_for_sql(ev)
    # Arrow's allocator keeps freed memory for reuse: what the log as read held (1.6 GB at
    # 10 million lines, freed by the caller once it has its events) goes back to the system
    # before DuckDB takes its share (pyarrow.MemoryPool.release_unused)
    pa.default_memory_pool().release_unused()
    stages = dict(feature_stages(spec, channels))
    final = stages.pop("features")
    per_cutoff = stages.pop("f")  # the stage that depends on the cutoff
    # last reader of each once-computed stage: it is dropped after that
    drop_after = {"d": ("np", "nc", "nh"), "lab": ("d0",)}
    pieces: dict[str, list[np.ndarray]] = {}
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        # DuckDB keeps to this much memory and spills the rest to a temporary folder
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/shopsphere-duckdb'")
        con.execute("SET preserve_insertion_order = false")  # the SQL orders its result itself
        con.register("events", table)
        con.register("cutoffs", pa.table({"cutoff": pa.array(np.asarray(cutoffs, dtype=np.int64))}))
        for name, sql in stages.items():  # d0, np, nc, nh, d, lab: in the order they read each other
            con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
            for done in drop_after.get(name, ()):
                con.execute(f"DROP TABLE {done}")
        con.unregister("events")
        for cut in sorted(set(int(c) for c in cutoffs)):
            con.register("cutoffs", pa.table({"cutoff": pa.array([cut], type=pa.int64())}))
            part = con.sql(f"WITH f AS ({per_cutoff}) {final}").to_arrow_table()
            for name in part.column_names:
                col = part.column(name)
                # DuckDB's SUM of integers is a HUGEINT, which Arrow carries as decimal128:
                # as float64, not one Python Decimal per value
                if pa.types.is_decimal(col.type):
                    col = col.cast(pa.float64())
                pieces.setdefault(name, []).append(col.to_numpy())
            del part, col
    finally:
        con.close()
    columns = {}
    for name in list(pieces):  # one column at a time, freeing the per-cutoff pieces as it goes
        columns[name] = np.concatenate(pieces.pop(name))
    if "customer_id" not in columns:  # no cutoff: the columns of an empty result
        return pd.DataFrame(columns=["cutoff", "customer_id"]), channels
    columns["customer_id"] = customers.take(columns["customer_id"].astype(np.int64))
    return pd.DataFrame(columns, copy=False), channels


def _col(name, kind, group, label, reason, unit="", high="", low="", lo=None, hi=None):
    return ColumnSpec(name, kind, group, unit=unit, label=label, high_name=high, low_name=low, min=lo, max=hi,
                      reason=reason)


def feature_columns(spec: LogSpec, channels: list[str], has_products: bool, has_categories: bool,
                    has_quantity: bool) -> tuple[ColumnSpec, ...]:
    """The spec columns of the log features (kinds, groups, labels, persona words, reasons)."""
    cur = spec.currency
    cols = [
        _col("recency_days", "duration", "behavioral", "days since the last purchase", "Last purchase {value} days ago",
             "days", "Lapsed", "Recent", lo=0),
        _col("tenure_days", "duration", "tenure", "days since the first purchase",
             "First purchase {value} days ago", "days", "Long-standing", "New", lo=0),
        _col("frequency", "count", "transactional", "purchase days", "Bought on {value} days", "",
             "Loyal frequent buyers", "One-time buyers", lo=0),
        _col("spend_total", "currency", "transactional", "net spend, all time", "Spent {value} in all", cur,
             "Big spenders", "Low spenders"),
        _col("spend_mean", "currency", "transactional", "mean spend per purchase day",
             "Spends {value} per purchase", cur, "Big-basket", "Small-basket"),
        _col("spend_max", "currency", "other", "largest purchase day", "Largest purchase {value}", cur),
    ]
    for w in WINDOWS:
        cols.append(_col(f"purchases_{w}d", "count", "activity", f"purchase days in the last {w} days",
                         f"Bought on {{value}} days in the last {w} days", "", lo=0))
        cols.append(_col(f"spend_{w}d", "currency", "activity", f"net spend in the last {w} days",
                         f"Spent {{value}} in the last {w} days", cur))
    cols += [
        _col("gap_mean", "duration", "behavioral", "mean days between purchases", "Buys every {value} days on average",
             "days", "Slow-cycle", "Fast-cycle", lo=0),
        _col("gap_sd", "duration", "behavioral", "spread of the days between purchases",
             "Gaps between purchases vary by {value} days", "days", "Irregular", "Regular", lo=0),
        _col("overdue_ratio", "numeric", "behavioral", "days since the last purchase / mean gap",
             "Last purchase {value} x their usual gap ago", "", "Overdue", "On schedule", lo=0),
        _col("trend", "numeric", "activity", "recent vs earlier purchases (-1..1)",
             "Trend of purchases {value} (-1 slowing, +1 growing)", "", "Growing", "Slowing", lo=-1, hi=1),
        _col("return_share", "rate", "support", "share of lines returned", "Returned {value} of lines", "share",
             "Returners", "", lo=0, hi=1),
        _col("lines_per_purchase", "count", "other", "lines per purchase day", "{value} lines per purchase",
             "", lo=0),
    ]
    if has_quantity:
        cols.append(_col("units_per_purchase", "count", "other", "units per purchase day",
                         "{value} units per purchase", "", "Bulk buyers", "", lo=0))
    if has_products:
        cols.append(_col("distinct_products", "count", "transactional", "distinct products bought",
                         "Bought {value} different products", "", "Broad-range", "Narrow-range", lo=0))
    if has_categories:
        cols.append(_col("distinct_categories", "count", "transactional", "distinct categories bought",
                         "Bought in {value} categories", "", "Multi-category", "Single-category", lo=0))
    for i, c in enumerate(channels):
        # group "other": model inputs and profiles, but not segmentation inputs (near-binary
        # shares would split customers by channel before behaviour)
        cols.append(_col(f"channel_share_{i}", "rate", "other", f"share of lines bought via {c}",
                         f"Bought {{value}} of lines via {c}", "share", f"{c}-first", "", lo=0, hi=1))
    cols += [
        _col("bgnbd_p_alive", "rate", "activity", "BG/NBD probability of being still active",
             "BG/NBD: {value} likely still active", "share", "Active", "Dormant", lo=0, hi=1),
        _col("bgnbd_expected", "numeric", "activity", f"BG/NBD expected purchases in {spec.horizon_days} days",
             f"BG/NBD expects {{value}} purchases in {spec.horizon_days} days", "", lo=0),
    ]
    return tuple(cols)


#: The most customers BG/NBD and Gamma-Gamma are fitted on at one cutoff: a seeded random
#: sample beyond that (their four and three parameters are population figures; the standard
#: errors at 100,000 customers are about 1% of the values). Scoring uses every customer.
MAX_FIT_CUSTOMERS = 100_000


def _fit_rows(mask: np.ndarray, cutoff: int) -> np.ndarray:
    """Indices of the rows of ``mask`` to fit on: all, or :data:`MAX_FIT_CUSTOMERS` drawn
    at random with the cutoff's day number as the seed (the same rows on every run)."""
    rows = np.flatnonzero(mask)
    if len(rows) <= MAX_FIT_CUSTOMERS:
        return rows
    return np.sort(np.random.default_rng(cutoff).choice(rows, MAX_FIT_CUSTOMERS, replace=False))


def snapshot_table(ev: pd.DataFrame, spec: LogSpec, cutoffs: list[int], attrs: "Attributes | None" = None,
                   channels: list[str] | None = None) -> tuple[pd.DataFrame, DatasetSpec, dict]:
    """The stacked snapshot table of the events at the cutoffs, its spec and a summary.

    Rows: one per (cutoff, customer who bought before it); columns ``customer_id``,
    ``snapshot_date`` (the cutoff, ISO), the features of :func:`feature_columns`, the
    attributes (:func:`read_attributes`, as of each cutoff), the label
    ``purchased_next_<h>d`` (a purchase day in ``[cutoff, cutoff + h)``), and the
    evaluation-only ``_bgnbd_p`` (BG/NBD's P(at least one purchase in the horizon), fitted
    at that cutoff) and ``_expected_spend`` (Gamma-Gamma expected spend per purchase).
    The spec has ``snapshot_column`` set, so training splits out of time. ``channels``:
    the channel levels of the channel-share features (None: the log's five most used; a
    run's own levels when scoring).

    Raises DataError when no customer is in any snapshot.
    """
    from core.models.btyd import BGNBD, GammaGamma

    f, channels = raw_features(ev, spec, cutoffs, channels)
    if f.empty:
        raise DataError("no customer bought before any cutoff: nothing to learn from")
    # arrays used below; every feature column then moves from f to out (popped, so the
    # table is held once, not twice)
    cut_day = f["cutoff"].to_numpy()
    c = cut_day.astype(float)
    freq = f["frequency"].to_numpy(float)
    first, last = f["first_day"].to_numpy(float), f["last_day"].to_numpy(float)
    p90, p180 = f["purchases_90d"].to_numpy(float), f["purchases_180d"].to_numpy(float)
    lines, ret_lines = f["lines"].to_numpy(float), f["return_lines"].to_numpy(float)
    label = f["label"].to_numpy(int)
    def take(k, frame=f):
        return frame.pop(k).to_numpy(float)

    out = pd.DataFrame({"customer_id": f.pop("customer_id").astype(str),
                        "snapshot_date": f["cutoff"].map({d: day_iso(d) for d in set(cut_day)}).astype(str)})
    out["recency_days"] = c - last
    out["tenure_days"] = c - first
    out["frequency"] = freq
    out["spend_total"] = np.clip(take("spend_total"), 0, None)
    out["spend_mean"] = take("spend_mean")
    out["spend_max"] = take("spend_max")
    for w in WINDOWS:
        out[f"purchases_{w}d"] = take(f"purchases_{w}d")
        out[f"spend_{w}d"] = take(f"spend_{w}d")
    out["gap_mean"] = take("gap_mean")
    out["gap_sd"] = take("gap_sd")
    with np.errstate(divide="ignore", invalid="ignore"):
        gm = out["gap_mean"].to_numpy()
        out["overdue_ratio"] = np.where(gm > 0, out["recency_days"].to_numpy() / gm, np.nan)
        earlier = p180 - p90
        out["trend"] = np.where(p90 + earlier > 0, (p90 - earlier) / (p90 + earlier), np.nan)
        out["return_share"] = np.where(lines > 0, ret_lines / lines, 0.0)
    out["lines_per_purchase"] = take("lines_per_purchase")
    has_qty = bool(spec.quantity)
    if has_qty:
        out["units_per_purchase"] = take("units_per_purchase")
    has_products, has_categories = ev["product"].notna().any(), ev["category"].notna().any()
    if has_products:
        out["distinct_products"] = take("distinct_products")
    if has_categories:
        out["distinct_categories"] = take("distinct_categories")
    for i in range(len(channels)):
        out[f"channel_share_{i}"] = take(f"channel_share_{i}")
    del f, take
    # BG/NBD and Gamma-Gamma at each cutoff, on the histories before it (no labels)
    x, t_x, T = freq - 1, last - first, c - first
    p_alive, expected, p_buy, spend = (np.full(len(out), np.nan) for _ in range(4))
    fits, start = {}, (1.0, 1.0, 1.0, 1.0)
    spend_mean = out["spend_mean"].to_numpy(float)
    for cut in sorted(set(cut_day)):
        m = cut_day == cut
        fit = _fit_rows(m, int(cut))
        bg = BGNBD.fit(x[fit], t_x[fit], T[fit], start=start)  # started where the previous cutoff ended
        start = (bg.r, bg.alpha, bg.a, bg.b)
        p_alive[m] = bg.p_alive(x[m], t_x[m], T[m])
        expected[m] = bg.expected_purchases(x[m], t_x[m], T[m], spec.horizon_days)
        p_buy[m] = bg.p_buy(x[m], t_x[m], T[m], spec.horizon_days)
        try:
            gg = GammaGamma.fit(x[fit], spend_mean[fit])
            spend[m] = gg.expected_spend(x[m], spend_mean[m])
        except ValueError:
            gg = None
            spend[m] = spend_mean[m]
        fits[day_iso(cut)] = {"bgnbd": dataclasses.asdict(bg), "gamma_gamma": None if gg is None else dataclasses.asdict(gg)}
    out["bgnbd_p_alive"] = p_alive
    out["bgnbd_expected"] = expected
    out[spec.target] = label
    out["_bgnbd_p"] = p_buy
    out["_expected_spend"] = spend
    columns = feature_columns(spec, channels, bool(has_products), bool(has_categories), has_qty)
    if attrs is not None:
        out, extra = attrs.join(out, c)
        columns = columns + extra
    ds = DatasetSpec(
        name=spec.name, id_column="customer_id", target=spec.target, columns=columns,
        segmentation_groups=("behavioral", "transactional", "tenure"),
        evaluation_columns=("_bgnbd_p", "_expected_spend"),
        target_label=f"bought in the next {spec.horizon_days} days", value_column="spend_total",
        recency_column="recency_days", snapshot_column="snapshot_date", order_value_column="spend_mean")
    per = out.groupby("snapshot_date")[spec.target].agg(["size", "mean"])
    summary = {"cutoffs": [day_iso(d) for d in cutoffs], "horizon_days": spec.horizon_days,
               "attributes": None if attrs is None else attrs.summary(),
               "step_days": spec.step_days, "channels": channels, "btyd": fits,
               "snapshots": [{"cutoff": k, "customers": int(v["size"]), "positive_rate": float(v["mean"])}
                             for k, v in per.iterrows()]}
    return out, ds, summary


def scoring_table(ev: pd.DataFrame, spec: LogSpec, cutoff: str | None, channels: list[str],
                  attrs: Attributes | None = None) -> tuple[pd.DataFrame, dict]:
    """The features of every customer who bought before ``cutoff`` (ISO date; None: the
    day after the last event), to score: :func:`snapshot_table` at that one cutoff with a
    run's channel levels, without the label. Events on or after the cutoff are ignored and
    counted. Returns the table (one row per customer, ``customer_id`` and
    ``snapshot_date`` first) and notes (``cutoff``, ``events_after_cutoff_ignored``, and
    ``days_after_the_log_ends`` for a cutoff later than the day after the last event).

    Raises DataError for a cutoff with no event before it."""
    first, last = int(ev["day"].min()), int(ev["day"].max())
    try:
        cut = last + 1 if cutoff is None else int((pd.Timestamp(str(cutoff)) - EPOCH).days)
    except ValueError:
        raise DataError(f"--cutoff '{cutoff}' is not a date (yyyy-mm-dd)") from None
    if cut <= first:
        raise DataError(f"cutoff {day_iso(cut)} lies before the log's first event ({day_iso(first)}): nothing to "
                        "build features from")
    after = int((ev["day"].to_numpy() >= cut).sum())
    table, _, _ = snapshot_table(ev[ev["day"].to_numpy() < cut], spec, [cut], attrs, channels)
    notes = {"cutoff": day_iso(cut), "events_after_cutoff_ignored": after}
    if cut > last + 1:  # allowed (scoring as of a later day), but said
        notes["days_after_the_log_ends"] = cut - last - 1
    return table.drop(columns=[spec.target]), notes


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


@dataclass
class Attributes:
    """A customer attributes table read for a log (:func:`read_attributes`): ``table`` has
    ``customer_id`` (text) and one column per attribute (text for categorical, float
    otherwise, day numbers for dates); ``kinds`` maps each attribute to its kind."""

    table: pd.DataFrame
    kinds: dict
    path: str

    def join(self, snap: pd.DataFrame, cutoff: np.ndarray) -> tuple[pd.DataFrame, tuple[ColumnSpec, ...]]:
        """``snap`` (rows of a snapshot table, ``customer_id`` column) with the attributes
        left-joined by id, and their spec columns (group ``demographics``). A date becomes
        ``<name>_days``, the days from it to the row's cutoff (``cutoff``, day numbers of
        shape (n,)), blank when it lies on or after the cutoff: a date not yet known then.
        Customers without a row stay blank. Raises DataError when an attribute's name is a
        log feature's."""
        clash = [c for c in self.kinds if c in snap.columns or f"{c}_days" in snap.columns]
        if clash:
            raise DataError(f"{self.path}: attribute '{clash[0]}' has the name of a log feature; rename it")
        joined = snap[["customer_id"]].merge(self.table, on="customer_id", how="left")
        out, cols = snap.copy(), []
        for c, kind in self.kinds.items():
            label = c.replace("_", " ")
            if kind == "date":
                days = cutoff - joined[c].to_numpy(float)
                out[f"{c}_days"] = np.where(days > 0, days, np.nan)
                cols.append(_col(f"{c}_days", "duration", "demographics", f"days since {label}",
                                 f"{label.capitalize()} {{value}} days ago", "days", lo=0))
            elif kind == "categorical":
                out[c] = joined[c].to_numpy(dtype=object)
                cols.append(_col(c, "categorical", "demographics", label, f"{label.capitalize()}: {{value}}"))
            else:
                out[c] = joined[c].to_numpy(float)
                cols.append(_col(c, kind, "demographics", label, f"{label.capitalize()}: {{value}}"))
        return out, tuple(cols)

    def summary(self) -> dict:
        """Path, rows and kinds, for the run's source."""
        return {"path": self.path, "rows": int(len(self.table)), "kinds": dict(self.kinds)}


def read_attributes(spec: LogSpec) -> Attributes | None:
    """The spec's customer attributes table (``spec.attributes``), or None without one.

    Raises
    ------
    DataError
        The file is missing or unreadable, lacks the id or a named column, has an empty or
        repeated id, or a value that is not of its kind (naming the file, column and row).
    """
    from core.inputs import tables

    if not spec.attributes:
        return None
    path = str(spec.attributes)
    raw = tables.read_table(path)
    idc = spec.attributes_id or spec.customer_id
    if idc not in raw.columns:
        raise DataError(f"{path}: missing the id column '{idc}' of the attributes table (attributes_id in the log spec)")
    kinds = dict(spec.attribute_kinds) if spec.attribute_kinds else {
        c: ("numeric" if pd.api.types.is_numeric_dtype(raw[c]) else "categorical") for c in raw.columns if c != idc}
    missing = [c for c in kinds if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing attribute column '{missing[0]}' (attribute_kinds in the log spec)")
    ids = raw[idc].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any():
        _first_bad((ids.isna() | (ids == "")).to_numpy(), raw[idc].astype(str), path, idc, "an id (it is empty)")
    dup = ids.duplicated().to_numpy()
    if dup.any():
        _first_bad(dup, ids, path, idc, "a unique id (it appears twice)")
    table = pd.DataFrame({"customer_id": ids.astype(str).to_numpy()})
    for c, kind in kinds.items():
        v = raw[c]
        if kind == "date":
            d = pd.to_datetime(v, errors="coerce")
            bad = (d.isna() & v.notna()).to_numpy()
            if bad.any():
                _first_bad(bad, v, path, c, "a date")
            table[c] = ((d.dt.normalize() - EPOCH) / pd.Timedelta(days=1)).to_numpy(float)
        elif kind == "categorical":
            table[c] = v.astype("string").to_numpy(dtype=object, na_value=None)
        else:
            n = pd.to_numeric(v, errors="coerce")
            bad = (n.isna() & v.notna()).to_numpy()
            if bad.any():
                _first_bad(bad, v, path, c, "a number")
            table[c] = n.to_numpy(float)
    return Attributes(table, kinds, path)
