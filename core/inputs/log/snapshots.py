"""The stacked snapshot table of a log: features strictly before each cutoff, the label in
the window after it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError
from core.inputs.log.attributes import Attributes
from core.inputs.log.columns import feature_columns
from core.inputs.log.events import EPOCH, day_iso
from core.inputs.log.spec import LogSpec
from core.inputs.log.sql import WINDOWS, raw_features
from core.inputs.spec import ColumnSpec, DatasetSpec


@dataclass
class SnapshotFeatures:
    """The features of a log's snapshots (:func:`snapshot_features`): ``table`` (one row per
    cutoff and customer who bought before it: ``customer_id``, ``snapshot_date`` (ISO), the
    features, the label ``purchased_next_<h>d``), their spec ``columns``, the ``channels``
    whose shares are features, and ``cutoff_days``, each row's cutoff as a day number
    (float, shape (n,))."""

    table: pd.DataFrame
    columns: tuple[ColumnSpec, ...]
    channels: list[str]
    cutoff_days: np.ndarray


def snapshot_features(ev: pd.DataFrame, spec: LogSpec, cutoffs: list[int],
                      channels: list[str] | None = None) -> SnapshotFeatures:
    """The features at each cutoff from the events strictly before it, and the label from
    the purchase days in ``[cutoff, cutoff + h)`` (:func:`core.inputs.log.sql.raw_features`),
    as the columns of :func:`core.inputs.log.columns.feature_columns`. ``channels``: the
    channel levels of the channel-share features (None: the log's five most used; a run's
    own levels when scoring). Fits nothing: the BTYD columns and the attributes are added
    by :func:`core.pipeline.log_table.snapshot_table`.

    Raises DataError when no customer is in any snapshot.
    """
    f, channels = raw_features(ev, spec, cutoffs, channels)
    if f.empty:
        raise DataError("no customer bought before any cutoff: nothing to learn from")
    # arrays used below; every feature column then moves from f to out (popped, so the
    # table is held once, not twice)
    cut_day = f["cutoff"].to_numpy()
    c = cut_day.astype(float)
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
    out["frequency"] = f["frequency"].to_numpy(float)
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
    out[spec.target] = label
    columns = feature_columns(spec, channels, bool(has_products), bool(has_categories), has_qty)
    return SnapshotFeatures(out, columns, channels, c)


def table_spec(spec: LogSpec, columns: tuple[ColumnSpec, ...]) -> DatasetSpec:
    """The :class:`~core.inputs.spec.DatasetSpec` of a log's snapshot table with these
    ``columns``: the out-of-time split on ``snapshot_date``, BG/NBD's ``_bgnbd_p`` and the
    Gamma-Gamma ``_expected_spend`` as evaluation-only columns."""
    return DatasetSpec(
        name=spec.name, id_column="customer_id", target=spec.target, columns=columns,
        segmentation_groups=("behavioral", "transactional", "tenure"),
        evaluation_columns=("_bgnbd_p", "_expected_spend"),
        target_label=f"bought in the next {spec.horizon_days} days", value_column="spend_total",
        recency_column="recency_days", snapshot_column="snapshot_date", order_value_column="spend_mean")


def snapshot_summary(table: pd.DataFrame, spec: LogSpec, cutoffs: list[int], channels: list[str],
                     attrs: Attributes | None) -> dict:
    """The cutoffs (ISO), horizon and step (days), attributes, channels and, per snapshot,
    its customers and positive rate: what a run built from a log records of its source."""
    per = table.groupby("snapshot_date")[spec.target].agg(["size", "mean"])
    return {"cutoffs": [day_iso(d) for d in cutoffs], "horizon_days": spec.horizon_days,
            "attributes": None if attrs is None else attrs.summary(),
            "step_days": spec.step_days, "channels": channels,
            "snapshots": [{"cutoff": k, "customers": int(v["size"]), "positive_rate": float(v["mean"])}
                          for k, v in per.iterrows()]}


def scoring_cutoff(ev: pd.DataFrame, cutoff: str | None) -> tuple[int, dict]:
    """The day number of ``cutoff`` (ISO date; None: the day after the last event) for
    scoring a log, and notes: ``cutoff``, ``events_after_cutoff_ignored``, and
    ``days_after_the_log_ends`` for a cutoff later than the day after the last event.

    Raises DataError for a cutoff that is not a date or has no event before it."""
    first, last = int(ev["day"].min()), int(ev["day"].max())
    try:
        cut = last + 1 if cutoff is None else int((pd.Timestamp(str(cutoff)) - EPOCH).days)
    except ValueError:
        raise DataError(f"--cutoff '{cutoff}' is not a date (yyyy-mm-dd)") from None
    if cut <= first:
        raise DataError(f"cutoff {day_iso(cut)} lies before the log's first event ({day_iso(first)}): nothing to "
                        "build features from")
    notes = {"cutoff": day_iso(cut), "events_after_cutoff_ignored": int((ev["day"].to_numpy() >= cut).sum())}
    if cut > last + 1:  # allowed (scoring as of a later day), but said
        notes["days_after_the_log_ends"] = cut - last - 1
    return cut, notes
