"""A transaction log turned into the table the models train on or score: the snapshot
features (:mod:`core.inputs.log.snapshots`), the BTYD columns fitted at each cutoff
(:func:`core.models.btyd.fit_at_cutoffs`) and the customer attributes as of each cutoff."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.errors import DataError
from core.inputs.log.attributes import Attributes, customer_attributes
from core.inputs.log.columns import btyd_columns
from core.inputs.log.events import day_iso, events, read_log
from core.inputs.log.snapshots import scoring_cutoff, snapshot_features, snapshot_summary, table_spec
from core.inputs.log.spec import LogSpec
from core.inputs.spec import DatasetSpec
from core.models.btyd import fit_at_cutoffs
from core.runs import store


def snapshot_table(ev: pd.DataFrame, spec: LogSpec, cutoffs: list[int], attrs: Attributes | None = None,
                   channels: list[str] | None = None) -> tuple[pd.DataFrame, DatasetSpec, dict]:
    """The stacked snapshot table of the events at the cutoffs, its spec and a summary.

    Rows: one per (cutoff, customer who bought before it); columns ``customer_id``,
    ``snapshot_date`` (the cutoff, ISO), the features of
    :func:`core.inputs.log.snapshots.snapshot_features`, BG/NBD's P(alive) and expected
    purchases (candidate features), the label ``purchased_next_<h>d`` (a purchase day in
    ``[cutoff, cutoff + h)``), the evaluation-only ``_bgnbd_p`` (BG/NBD's P(at least one
    purchase in the horizon), fitted at that cutoff) and ``_expected_spend`` (Gamma-Gamma
    expected spend per purchase), and the attributes (as of each cutoff). The spec has
    ``snapshot_column`` set, so training splits out of time. The summary is
    :func:`core.inputs.log.snapshots.snapshot_summary` with the fits per cutoff (``btyd``).
    ``channels``: the channel levels of the channel-share features (None: the log's five
    most used; a run's own levels when scoring).

    Raises DataError when no customer is in any snapshot.
    """
    snap = snapshot_features(ev, spec, cutoffs, channels)
    out = snap.table
    btyd, fits = fit_at_cutoffs(out["frequency"].to_numpy(float), out["recency_days"].to_numpy(float),
                                out["tenure_days"].to_numpy(float), out["spend_mean"].to_numpy(float),
                                snap.cutoff_days, spec.horizon_days)
    label = out.pop(spec.target)
    for name in ("bgnbd_p_alive", "bgnbd_expected"):
        out[name] = btyd[name].to_numpy()
    out[spec.target] = label.to_numpy()
    for name in ("_bgnbd_p", "_expected_spend"):
        out[name] = btyd[name].to_numpy()
    columns = snap.columns + btyd_columns(spec)
    if attrs is not None:
        out, extra = attrs.join(out, snap.cutoff_days)
        columns = columns + extra
    summary = snapshot_summary(out, spec, cutoffs, snap.channels, attrs)
    summary["btyd"] = {day_iso(cut): fit for cut, fit in fits.items()}
    return out, table_spec(spec, columns), summary


def scoring_table(ev: pd.DataFrame, spec: LogSpec, cutoff: str | None, channels: list[str],
                  attrs: Attributes | None = None) -> tuple[pd.DataFrame, dict]:
    """The features of every customer who bought before ``cutoff`` (ISO date; None: the
    day after the last event), to score: :func:`snapshot_table` at that one cutoff with a
    run's channel levels, without the label. Events on or after the cutoff are ignored and
    counted. Returns the table (one row per customer, ``customer_id`` and
    ``snapshot_date`` first) and the notes of
    :func:`core.inputs.log.snapshots.scoring_cutoff`.

    Raises DataError for a cutoff with no event before it."""
    cut, notes = scoring_cutoff(ev, cutoff)
    table, _, _ = snapshot_table(ev[ev["day"].to_numpy() < cut], spec, [cut], attrs, channels)
    return table.drop(columns=[spec.target]), notes


def run_log_spec(run: store.Run, instead: str) -> LogSpec:
    """The :class:`~core.inputs.log.spec.LogSpec` a run built from a log was trained with
    (its manifest's source). Raises DataError for a run built from a table, saying what to
    do ``instead``."""
    src = run.manifest().source or {}
    if src.get("kind") != "log" or "log_spec" not in src:
        raise DataError(f"run {run.run_id} was trained on a table, not a log: {instead}")
    raw_spec = dict(src["log_spec"])
    raw_spec["cutoffs"] = tuple(raw_spec.get("cutoffs") or ())
    raw_spec["customer_columns"] = tuple(raw_spec.get("customer_columns") or ())
    return LogSpec(**raw_spec)


def run_scoring_table(run: store.Run, log_path: str | Path, cutoff: str | None) -> tuple[pd.DataFrame, dict, dict]:
    """The scoring table of the log ``log_path`` for a run built from a log, as of ``cutoff``
    (:func:`scoring_table` with the run's log spec, channel levels and attributes), reduced
    to the run's inputs (candidate features the run judged unhelpful are not). Returns
    ``(table, the cutoff's notes, the events' notes)``.

    Raises DataError for a run built from a table, or a bad log or cutoff."""
    src = run.manifest().source or {}
    spec = run_log_spec(run, "score it with --data")
    ev, event_notes = events(read_log(log_path, spec), spec, str(log_path))
    table, note = scoring_table(ev, spec, cutoff, src.get("channels") or [], customer_attributes(ev, spec))
    model_spec = run.spec()
    keep = {model_spec.id_column, model_spec.snapshot_column, *model_spec.feature_names, *model_spec.evaluation_columns}
    return table[[c for c in table.columns if c in keep]], note, event_notes
