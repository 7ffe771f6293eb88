"""The log features on Spark (core.inputs.log.spark) equal DuckDB's (core.inputs.log.raw_features).

The Spark tests need PySpark (requirements-spark.txt) and Java: without them they are
skipped on a developer's machine, and fail under CI (environment variable CI set), where
.ci/run installs PySpark.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.inputs import log
from core.inputs.log import spark as log_spark

CUTOFFS = ("2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01")
SPEC = log.LogSpec(name="spark", customer_id="cid", timestamp="ts", amount="amount", quantity="qty",
                   order_id="order", product="sku", category="cat", channel="channel", horizon_days=30,
                   cutoffs=CUTOFFS)
#: (horizon_days, min_purchases, drop): the log as generated; a longer horizon with two
#: purchase days needed; no channel and no product at all (all-None text columns, no shares).
CASES = {"base": (30, 1, ()), "h45_min2": (45, 2, ()), "no_channel_no_product": (30, 1, ("channel", "sku"))}
#: Customers with only returns (never in a snapshot).
ONLY_RETURNS = [f"c{i:02d}" for i in range(45, 50)]


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    """Skip, or under CI fail (CI installs PySpark and has Java, so a missing one is a fault)."""
    if _ci():
        pytest.fail(f"{reason}, and CI is set: .ci/run installs requirements-spark.txt, so this fails rather than skips")
    pytest.skip(reason)


def _raw_log(seed: int = 11) -> pd.DataFrame:
    """About 350 order lines of 50 customers over Jan-Jul 2024: six channels (one with a
    quote and one with a backslash in its name, one too rare for the five shares, some
    lines without one), 20
    products (15% of lines without one), four categories, returns (some the same day as
    the purchase, netting it to zero), several lines on one day, and five customers with
    only returns."""
    rng = np.random.default_rng(seed)
    channels = np.array(["web", "app", "store", "o'shop", "tv\\shop", "fax"], dtype=object)
    weights = np.array([0.37, 0.25, 0.15, 0.1, 0.1, 0.03])
    start = pd.Timestamp("2024-01-01")
    rows, n = [], 0

    def line(cid, day, amount, qty, sku, cat, chan, minute=0):
        nonlocal n
        n += 1
        ts = (start + pd.Timedelta(days=int(day), minutes=int(9 * 60 + minute))).strftime("%Y-%m-%d %H:%M")
        rows.append((cid, ts, round(float(amount), 2), float(qty), f"o{n}", sku, cat, chan))

    for i in range(45):
        cid = f"c{i:02d}"
        first = int(rng.integers(0, 150))
        for _ in range(int(rng.integers(1, 10))):
            day = int(rng.integers(first, 212))
            sku = None if rng.random() < 0.15 else f"p{int(rng.integers(20)):02d}"
            cat = f"k{int(rng.integers(4))}"
            chan = None if rng.random() < 0.05 else str(rng.choice(channels, p=weights))
            qty = float(rng.integers(1, 4))
            amount = qty * rng.gamma(2.0, 12.5)
            line(cid, day, amount, qty, sku, cat, chan, minute=int(rng.integers(0, 600)))
            if rng.random() < 0.3:  # a second line the same day
                line(cid, day, rng.gamma(2.0, 5.0), 1, sku, cat, chan, minute=601)
            if rng.random() < 0.12:  # a return: the same day (nets the day to its second line or zero) or later
                later = min(211, day + int(rng.integers(0, 20)))
                line(cid, later, -amount, -qty, sku, cat, chan, minute=700)
    for cid in ONLY_RETURNS:
        for _ in range(2):
            line(cid, int(rng.integers(0, 212)), -rng.gamma(2.0, 10.0), -1, f"p{int(rng.integers(20)):02d}", "k0",
                 "web", minute=int(rng.integers(0, 600)))
    line("c00", 211, 10.0, 1, "p00", "k0", "web")  # the log runs to the end of July
    return pd.DataFrame(rows, columns=["cid", "ts", "amount", "qty", "order", "sku", "cat", "channel"])


def _inputs(case: str):
    horizon, min_purchases, drop = CASES[case]
    raw = _raw_log()
    for col in drop:
        raw[col] = None
    spec = dataclasses.replace(SPEC, horizon_days=horizon, min_purchases=min_purchases)
    ev, notes = log.events(raw, spec, "spark.csv")
    cuts = log.cutoff_days(spec, int(ev["day"].min()), int(ev["day"].max()))
    return ev, spec, cuts, notes


def _integer_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])]


def _assert_same(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    """``spark`` has the columns and rows of ``duck`` in the same order: integers exactly
    (the columns that ``spark`` holds as integers), customer ids exactly, floats to a
    relative 1e-9 (NaN where the other has NaN)."""
    assert list(spark.columns) == list(duck.columns)
    assert len(spark) == len(duck)
    ints = _integer_columns(spark)
    # DuckDB's SUM of integers is HUGEINT, read by pandas as float64: integral values, no NaN
    for c in ints:
        assert duck[c].notna().all() and (duck[c] == np.round(duck[c])).all(), c
    pd.testing.assert_frame_equal(spark[ints].astype("int64").reset_index(drop=True),
                                  duck[ints].astype("int64").reset_index(drop=True), check_exact=True)
    assert spark["customer_id"].astype(str).tolist() == duck["customer_id"].astype(str).tolist()
    floats = [c for c in duck.columns if c not in ints and c != "customer_id"]
    pd.testing.assert_frame_equal(spark[floats].astype("float64").reset_index(drop=True),
                                  duck[floats].astype("float64").reset_index(drop=True),
                                  check_exact=False, rtol=1e-9)


def test_the_generated_log_has_what_the_comparison_needs():
    ev, spec, cuts, notes = _inputs("base")
    assert 250 <= len(ev) <= 500 and ev["customer_id"].nunique() == 50 and len(cuts) == 4
    assert notes["customers_with_only_returns"] == len(ONLY_RETURNS)
    assert ev["product"].isna().any() and ev["product"].notna().any() and ev["channel"].isna().any()
    assert ev["is_return"].sum() > 10
    channels = log.channel_names(ev)
    assert len(channels) == 5 and {"o'shop", "tv\\shop"} <= set(channels) and "fax" not in channels
    f, _ = log.raw_features(ev, spec, cuts)
    assert sorted(set(f["cutoff"])) == cuts and not set(ONLY_RETURNS) & set(f["customer_id"])
    assert f["gap_sd"].isna().any() and f["gap_sd"].notna().any()
    # shares that five decimal places cannot hold (what Spark's DECIMAL(6,5) average would round)
    share = f["channel_share_0"].to_numpy(float)
    assert (np.abs(share - np.round(share, 5)) > 1e-9).any()
    # the quoted and the backslashed channels have lines, so a literal Spark misreads shows
    for c in ("o'shop", "tv\\shop"):
        assert f[f"channel_share_{channels.index(c)}"].gt(0).any()


TRICKY = ["web", "o'shop", "tv\\shop", "'", "\\", "''", "a'b\\c'", "caf\u00e9 \u2615"]


def test_sql_literal_reads_back_on_duckdb():
    import duckdb

    con = duckdb.connect()
    try:
        got = [con.execute(f"SELECT {log.sql_literal(t)}").fetchone()[0] for t in TRICKY]
    finally:
        con.close()
    assert got == TRICKY
    assert log.sql_literal("o'shop") == "('o' || CHR(39) || 'shop')"


def test_the_feature_text_has_no_decimal_literal():
    ev, spec, cuts, _ = _inputs("base")
    text = log.feature_sql(spec, log.channel_names(ev))
    assert "1.0" not in text and "0.0" not in text and "''" not in text


def test_missing_events_column_is_named():
    ev, spec, cuts, _ = _inputs("base")
    with pytest.raises(DataError, match="missing column 'channel'"):
        log_spark.raw_features_spark(None, ev.drop(columns="channel"), spec, cuts, [])
    bad = ev.assign(day=ev["day"] + 0.5)
    with pytest.raises(DataError, match="column 'day' is not int64"):
        log_spark.raw_features_spark(None, bad, spec, cuts, [])


def test_local_session_refuses_zero_cores():
    with pytest.raises(ValueError, match="cores must be a whole number >= 1"):
        log_spark.local_session(cores=0)


@pytest.fixture(scope="module")
def spark():
    """One local Spark session (2 threads) for this module's Spark tests, stopped at the end."""
    if _ci():
        try:
            import pyspark  # noqa: F401
        except ImportError:
            _unavailable("pyspark is not installed")
    else:
        pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -r requirements-spark.txt)")
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))):
        _unavailable("java is not on PATH (Spark needs Java 17 or later)")
    t0 = time.perf_counter()
    session = log_spark.local_session(cores=2)
    print(f"\nSpark {session.version} local session started in {time.perf_counter() - t0:.1f} s")
    yield session
    session.stop()


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_spark_features_equal_duckdb(spark, case):
    ev, spec, cuts, _ = _inputs(case)
    duck, channels = log.raw_features(ev, spec, cuts)
    assert channels == log.channel_names(ev)
    t0 = time.perf_counter()
    out = log_spark.raw_features_spark(spark, ev, spec, cuts, channels)
    print(f"\n{case}: Spark {len(out)} rows x {out.shape[1]} columns in {time.perf_counter() - t0:.1f} s "
          f"(DuckDB {len(duck)} rows)")
    assert len(duck) > 50
    _assert_same(duck, out)
    assert not spark.catalog.tableExists("events") and not spark.catalog.tableExists("cutoffs")


@pytest.mark.slow
def test_sql_literal_reads_back_on_spark(spark):
    row = spark.sql("SELECT " + ", ".join(f"{log.sql_literal(t)} AS c{i}"
                                          for i, t in enumerate(TRICKY))).collect()[0]
    assert list(row) == TRICKY
    # why it is needed: Spark joins 'o''shop' into oshop and reads a backslash as an escape
    assert list(spark.sql("SELECT 'o''shop', 'tv\\shop'").collect()[0]) == ["oshop", "tvshop"]
