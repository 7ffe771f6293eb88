"""From a transaction log to a customer table: snapshots at cutoffs, features, labels.

A log is order lines (a customer, a time, an amount, optionally an order id, product,
category, channel, and a way returns show). A :class:`LogSpec` (TOML in ``configs/``,
``kind = "log"``) names its columns. :func:`core.pipeline.log_table.snapshot_table` turns it
into the stacked snapshot table the rest of the product trains on:

- **Events.** Timestamps are parsed (the spec's format and time zone; values with an
  offset are converted to it) and reduced to local calendar days; amounts come from a
  column or quantity x unit price; returns show as negative amounts or quantities, as
  order ids with a cancellation prefix, or as a flag column, and net out of spend. Exact
  duplicate lines are dropped and counted.
- **Purchase days.** A customer-day with positive net spend is a purchase; a day with
  only returns is not.
- **Cutoffs.** Every ``step_days`` from ``start`` (default: three steps after the first
  event) to the last cutoff whose label window is complete, or the spec's explicit list.
- **Features** at a cutoff use only events strictly before it (:data:`~core.inputs.log.sql.FEATURE_SQL`, one SQL
  text run by DuckDB; integer day numbers and standard aggregates only, so the same text
  runs on Spark SQL); **labels** only purchase days in ``[cutoff, cutoff + horizon)``.
  A customer is in a snapshot when they made at least ``min_purchases`` purchase days
  before the cutoff.
- **BG/NBD** (:func:`core.models.btyd.fit_at_cutoffs`, called by the pipeline: nothing here
  fits a model) is fitted at each cutoff on the purchase days before it
  (no labels): its exact P(at least one purchase in the horizon) is the peer column
  ``_bgnbd_p`` (evaluation only, never a model input), and its P(alive) and expected
  purchases are candidate features; the Gamma-Gamma expected spend per purchase gives the
  expected revenue.

Every feature is declared as a spec column (kind, group, label, reason template), so
segmentation, profiles, reasons, the matrix and every page work on a log-built run as on
a customer table.


The modules: :mod:`.spec` (the log spec), :mod:`.events` (reading, events, cutoffs),
:mod:`.sql` (the feature SQL on DuckDB), :mod:`.spark` (the same SQL on Spark),
:mod:`.columns` (the features' spec columns), :mod:`.snapshots` (the snapshot features and
the table's spec), :mod:`.attributes` (customer attributes: a table beside the log, and
the log's own columns that hold one value per customer). Their public names are
importable from this package.
"""
from core.inputs.log.attributes import Attributes, channel_as_attribute, customer_attributes, read_attributes
from core.inputs.log.columns import CANDIDATE_FEATURES, btyd_columns, feature_columns
from core.inputs.log.events import EPOCH, categorical, check_windows, cutoff_days, day_iso, events, read_log
from core.inputs.log.snapshots import SnapshotFeatures, scoring_cutoff, snapshot_features, snapshot_summary, table_spec
from core.inputs.log.spec import ATTRIBUTE_KINDS, RETURN_MODES, LogSpec, is_log_spec, load_log_spec
from core.inputs.log.sql import (
                                 DUCKDB_MEMORY_LIMIT,
                                 FEATURE_SQL,
                                 FEATURE_STAGES,
                                 FIXED_POINT,
                                 WINDOWS,
                                 channel_names,
                                 feature_sql,
                                 feature_stages,
                                 fixed_point,
                                 raw_features,
                                 sql_literal,
)

__all__ = ["ATTRIBUTE_KINDS", "Attributes", "CANDIDATE_FEATURES", "channel_as_attribute", "customer_attributes", "DUCKDB_MEMORY_LIMIT", "EPOCH", "FEATURE_SQL",
           "FEATURE_STAGES", "FIXED_POINT", "LogSpec", "RETURN_MODES", "SnapshotFeatures", "WINDOWS", "btyd_columns",
           "categorical", "channel_names", "check_windows", "cutoff_days", "day_iso", "events", "feature_columns",
           "feature_sql", "feature_stages", "fixed_point", "is_log_spec", "load_log_spec", "raw_features",
           "read_attributes", "read_log", "scoring_cutoff", "snapshot_features", "snapshot_summary", "sql_literal",
           "table_spec"]
