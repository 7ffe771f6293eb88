"""The log features of :mod:`core.inputs.log` on Apache Spark: the same SQL text, run by Spark SQL.

:func:`core.inputs.log.raw_features` runs :func:`core.inputs.log.feature_sql` with DuckDB on one machine.
For a log beyond one machine the same text runs on Spark: :func:`raw_features_spark`
registers the ``events`` and ``cutoffs`` tables as Spark temporary views and runs the text
through ``spark.sql``; its result equals DuckDB's (same columns in the same order, same
rows in the same order, ``ORDER BY cutoff, customer_id``). PySpark is optional
(``pip install -r requirements-spark.txt``; it needs Java 17 or later); this module imports
without it and imports ``pyspark`` only when called.

The text is written so that both engines read it alike (``tests/inputs/test_log_spark.py``
checks the results are equal): a channel level is built with :func:`core.inputs.log.sql_literal`
(``CHR(39)`` for a quote, ``CHR(92)`` for a backslash, joined with ``||``; Spark reads
``'o''shop'`` as ``oshop`` and a backslash as an escape), and the channel shares average
integers (integer sums cast to ``DOUBLE``; ``AVG`` of the decimal literal ``1.0`` would be a rounded
``DECIMAL(6,5)`` on Spark, a ``DOUBLE`` on DuckDB). Everything else (CTEs, the non-equi join
``ev.day < c.cutoff``, ``LAG ... OVER (PARTITION BY ... ORDER BY day)``, ``STDDEV_SAMP``,
``COUNT(DISTINCT ...)``, ``COALESCE``, ``f.*``) is standard and runs under Spark's default
ANSI mode. :func:`raw_features_spark` refuses a result with any ``DECIMAL`` column, so a
decimal literal added to the text later fails loudly rather than giving rounded numbers.

Counts are ``COUNT(CASE WHEN ... THEN 1 END)`` or a ``SUM`` cast to ``BIGINT``, so both
engines type them ``BIGINT`` (``int64``); an uncast ``SUM`` of integers would be a ``BIGINT``
on Spark but a ``HUGEINT`` on DuckDB (16 bytes a value, carried by Arrow as a decimal, which
:func:`core.inputs.log.raw_features` reads as ``float64``). :mod:`core.inputs.log` casts the columns with
``astype(float)`` before use, so either result serves.

On a cluster
------------
:func:`local_session` is for one machine (tests, small logs). On a cluster, build the
session against the cluster's master, or start the job with ``spark-submit`` (which sets
the master), read the cleaned events (the columns of :func:`core.inputs.log.events`, written as
Parquet) and register them as the ``events`` view; then run the same text::

    from pyspark.sql import SparkSession
    from core.inputs import log
    from core.inputs.log import spark as log_spark
    spark = (SparkSession.builder.master("spark://host:7077")   # or leave it to spark-submit
             .appName("shopsphere-log").getOrCreate())
    ev = spark.read.parquet("s3a://bucket/events/")   # customer_id, day, amount, quantity, is_return,
                                                      # product, category, channel
    ev.createOrReplaceTempView("events")
    spark.createDataFrame([(c,) for c in cutoffs], "cutoff BIGINT").createOrReplaceTempView("cutoffs")
    out = spark.sql(log.feature_sql(spec, channels))                # a Spark DataFrame
    out.write.parquet("s3a://bucket/features/")                    # or .toArrow().to_pandas()

``day`` must be the local day number (days since 1970-01-01, as :func:`core.inputs.log.events`
computes it) and ``amount`` net of returns (negative for a return line), ``amount`` and
``quantity`` as whole ten-thousandths (:func:`core.inputs.log.fixed_point`), so the events must
have gone through the same cleaning. Give the channel levels explicitly (on one
machine, :func:`core.inputs.log.channel_names` picks the five most used on non-return lines), so
the features match those a model was trained with. Started as ``spark-submit --master
spark://host:7077 job.py`` (leave ``.master(...)`` out of the builder then), only the driver
runs this package: the work is SQL, so the executors need no Python code of the project.

Sources
-------
- Spark SQL literals (a fractional literal without a postfix is a DECIMAL; backslash
  escapes in strings; chains of string literals are joined):
  https://spark.apache.org/docs/latest/sql-ref-literals.html
- ``chr`` and ``||``: https://spark.apache.org/docs/latest/api/sql/index.html
- Decimal precision of ``avg`` (``p + 4``, ``s + 4``): ``DecimalPrecision`` in Spark's
  catalyst (sql/catalyst/.../analysis/DecimalPrecision.scala).
- ANSI mode (default in Spark 4): https://spark.apache.org/docs/latest/sql-ref-ansi-compliance.html
- ``createDataFrame`` from a ``pyarrow.Table`` and ``DataFrame.toArrow`` (Spark 4.0):
  https://spark.apache.org/docs/latest/api/python/reference/pyspark.sql/api/pyspark.sql.SparkSession.createDataFrame.html
- Temporary views and ``spark.sql``: https://spark.apache.org/docs/latest/sql-getting-started.html
- Parquet files: https://spark.apache.org/docs/latest/sql-data-sources-parquet.html
- Masters and ``spark-submit``: https://spark.apache.org/docs/latest/submitting-applications.html
- Configuration (``spark.sql.shuffle.partitions``, ``spark.ui.enabled``, driver memory):
  https://spark.apache.org/docs/latest/configuration.html
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.errors import DataError
from core.inputs import log

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

#: The events columns the SQL reads, with their Arrow and Spark types (in this order).
#: ``amount`` and ``quantity`` are whole ten-thousandths (:func:`core.inputs.log.fixed_point`), so that
#: every sum is exact and the same in any order, as on DuckDB.
EVENT_COLUMNS = (("customer_id", "string"), ("day", "int64"), ("amount", "int64"), ("quantity", "int64"),
                 ("is_return", "int8"), ("product", "string"), ("category", "string"),
                 ("channel", "string"))


def _require_java() -> str:
    """The java that PySpark will start (``$JAVA_HOME/bin/java``, else ``java`` on PATH)."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise RuntimeError("Spark needs Java 17 or later: no java found (set JAVA_HOME or put java on PATH; "
                           "on Debian: apt-get install openjdk-17-jre-headless)")
    return java


def _import_pyspark():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError:
        raise ImportError("PySpark is not installed: pip install -r requirements-spark.txt") from None
    return SparkSession


def local_session(app_name: str = "shopsphere-log", cores: int = 2, memory: str = "1g",
                  conf: dict[str, str] | None = None) -> "SparkSession":
    """A local-mode SparkSession sized for one small machine.

    Parameters
    ----------
    app_name : the application's name.
    cores : worker threads (``local[cores]``), >= 1.
    memory : driver memory (``"1g"``); in local mode the executors run in the driver's JVM.
    conf : further Spark settings, applied last (so they override the ones below).

    Returns the session (``getOrCreate``: an active session is reused, with its settings).
    Settings: 4 shuffle partitions (the default 200 is meant for clusters); adaptive query
    execution off (on a small log its extra query stages make every query slower, the first
    one most); the JVM's quick (C1) JIT compiler only (``-XX:TieredStopAtLevel=1``: short
    jobs start faster; give ``conf={"spark.driver.extraJavaOptions": ""}`` for a long local
    job); no web UI, no console progress bars; driver bound to 127.0.0.1; the (unused)
    warehouse folder in the system's temporary folder, not ``./spark-warehouse``; log level
    ERROR (after start-up: the JVM's first lines still print). Stop it with ``spark.stop()``.

    Raises
    ------
    ValueError
        ``cores`` below 1.
    ImportError
        PySpark is not installed.
    RuntimeError
        No Java found.
    """
    if not isinstance(cores, int) or isinstance(cores, bool) or cores < 1:
        raise ValueError(f"cores must be a whole number >= 1, got {cores!r}")
    SparkSession = _import_pyspark()
    _require_java()
    settings = {"spark.driver.memory": memory, "spark.sql.shuffle.partitions": "4",
                "spark.sql.adaptive.enabled": "false", "spark.default.parallelism": str(cores),
                "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1", "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false", "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                "spark.sql.warehouse.dir": os.path.join(tempfile.gettempdir(), "shopsphere-spark-warehouse"),
                **(conf or {})}
    builder = SparkSession.builder.master(f"local[{cores}]").appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _events_arrow(ev: pd.DataFrame):
    """The events as a pyarrow Table with the types of :data:`EVENT_COLUMNS` (None/NaN -> null)."""
    import pyarrow as pa

    missing = [c for c, _ in EVENT_COLUMNS if c not in ev.columns]
    if missing:
        raise DataError(f"events: missing column '{missing[0]}' (expected {', '.join(c for c, _ in EVENT_COLUMNS)}, "
                        f"as core.inputs.log.events returns them)")
    arrays = []
    for col, kind in EVENT_COLUMNS:
        values = ev[col]
        if kind == "string":
            values = values.astype(object).where(values.notna(), None)
        elif col in ("amount", "quantity"):
            values = pd.Series(log.fixed_point(values.to_numpy(float), col))
        try:
            arrays.append(pa.array(values.to_numpy(), type=pa.type_for_alias(kind), from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(f"events: column '{col}' is not {kind} ({exc})") from None
    return pa.Table.from_arrays(arrays, names=[c for c, _ in EVENT_COLUMNS])


def _spark_schema():
    from pyspark.sql.types import ByteType, DoubleType, LongType, StringType, StructField, StructType

    types = {"string": StringType(), "int64": LongType(), "double": DoubleType(), "int8": ByteType()}
    return StructType([StructField(c, types[k], True) for c, k in EVENT_COLUMNS])


def raw_features_spark(spark: "SparkSession", ev: pd.DataFrame, spec: log.LogSpec, cutoffs: list[int],
                       channels: list[str]) -> pd.DataFrame:
    """:func:`core.inputs.log.feature_sql` run by Spark on the events: what :func:`core.inputs.log.raw_features`
    returns (its first element), computed by Spark.

    Parameters
    ----------
    spark : a SparkSession (:func:`local_session`, or one on a cluster).
    ev : DataFrame of shape (n_lines, >= 8), as :func:`core.inputs.log.events` returns it:
        ``customer_id`` (text or a Categorical of text), ``day`` (int, days since
        1970-01-01), ``amount``, ``quantity`` (float), ``is_return`` (0/1), ``product``,
        ``category``, ``channel`` (text or None; a column may be all None). Other columns
        are ignored.
    spec : the log spec (its ``horizon_days`` and ``min_purchases``).
    cutoffs : cutoff day numbers.
    channels : the channel levels of the ``channel_share_<i>`` columns (the list
        :func:`core.inputs.log.raw_features` returns, or :func:`core.inputs.log.channel_names` of ``ev``).

    Returns
    -------
    DataFrame of shape (n_snapshot_rows, n_features) (26 + len(channels) columns for the
    current text): one row per (cutoff, customer
    with at least ``min_purchases`` purchase days before it), ordered by cutoff then
    customer_id, with DuckDB's columns in DuckDB's order and types; ``customer_id`` is text.

    Side effects: replaces, then drops, the session's temporary views ``events`` and
    ``cutoffs`` (so do not run two calls at once on one session).

    Raises
    ------
    DataError
        ``ev`` lacks a column, or a column's values do not fit its type.
    RuntimeError
        Spark typed a result column as DECIMAL (a decimal literal in the SQL text: its
        values would be rounded; write the literal as an integer or ``CAST(... AS DOUBLE)``).
    """
    import pyarrow as pa

    table = _events_arrow(ev)
    cut = pa.table({"cutoff": pa.array(np.asarray(list(cutoffs), dtype=np.int64))})
    try:
        spark.createDataFrame(table, schema=_spark_schema()).createOrReplaceTempView("events")
        spark.createDataFrame(cut, schema="cutoff BIGINT").createOrReplaceTempView("cutoffs")
        df = spark.sql(log.feature_sql(spec, channels))
        decimals = [f.name for f in df.schema.fields if f.dataType.typeName() == "decimal"]
        if decimals:
            raise RuntimeError(f"Spark typed {', '.join(decimals)} as DECIMAL: the SQL text has a decimal literal "
                               "whose values Spark rounds; write it as an integer or CAST(... AS DOUBLE)")
        out = df.toArrow().to_pandas()
    finally:
        spark.catalog.dropTempView("events")
        spark.catalog.dropTempView("cutoffs")
    return out
