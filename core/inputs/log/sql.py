"""The log features as SQL: the feature stages DuckDB runs one by one (:func:`raw_features`),
and the same stages as one text that Spark SQL runs (:mod:`core.inputs.log.spark`)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from core.errors import DataError
from core.inputs.log.events import categorical
from core.inputs.log.spec import LogSpec

#: DuckDB's memory limit for the feature SQL (``SET memory_limit``; beyond it DuckDB spills
#: to disk): https://duckdb.org/docs/stable/configuration/overview
DUCKDB_MEMORY_LIMIT = "1500MB"


#: Windows (days) of the recent-activity features.
WINDOWS = (30, 90, 180, 365)


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
#: machine (on CDNOW), and with them the model. Averages are integer sums over
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


def channel_names(ev: pd.DataFrame, most: int = 5) -> list[str]:
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
    as :func:`events` returns it, or text, encoded by :func:`categorical`)."""
    cat = values.array if isinstance(values.dtype, pd.CategoricalDtype) else categorical(values)
    return np.asarray(cat.codes, dtype=np.int32), cat.categories


def _events_for_sql(ev: pd.DataFrame):
    """The events as the pyarrow Table the feature SQL reads on DuckDB: ``customer_id``,
    ``product`` and ``category`` as int32 codes (null for missing; DuckDB groups and joins
    integers far faster than text), ``channel`` as a dictionary array (text to
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

    channels = channel_names(ev) if channels is None else list(channels)
    table, customers = _events_for_sql(ev)
    # Arrow's allocator keeps freed memory for reuse: what the log as read held (much, for a
    # large log; freed by the caller once it has its events) goes back to the system
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
