"""Cohorts: who to contact (segments, a propensity or percentile range, feature filters),
what they are worth, a seeded holdout sized by a power calculation, and the export."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.activation.stats import holdout_size


def holdout_design(summary: dict, relative_lift: float, alpha: float = 0.05, power: float = 0.8) -> dict:
    """The holdout of a cohort sized to detect ``relative_lift`` (a fraction: 0.10 = +10%):
    ``summary`` is :func:`cohort_summary`'s (``customers``, ``expected_precision``, the
    cohort's expected purchase rate, clamped to [0.001, 0.99] as the base rate). Returns
    ``{"holdout": customers held out, "needed_per_group": n of :func:`holdout_size`,
    "relative_lift", "alpha", "power", "expected_rate"}``; the holdout is at most half the
    cohort, so ``holdout < needed_per_group`` when the cohort is too small for the lift.

    Raises ValueError as :func:`holdout_size` (a lift that would push the rate past 1)."""
    base = min(max(float(summary["expected_precision"]), 0.001), 0.99)
    need = holdout_size(base, relative_lift, alpha, power)
    return {"holdout": min(need, int(summary["customers"]) // 2), "needed_per_group": need,
            "relative_lift": relative_lift, "alpha": alpha, "power": power, "expected_rate": base}


def cohort_mask(scored: pd.DataFrame, segments: list[int] | None = None, min_propensity: float = 0.0,
                max_propensity: float = 1.0, min_percentile: float | None = None,
                max_percentile: float | None = None, deciles: list[int] | None = None) -> np.ndarray:
    """Which customers of ``scored`` (n rows) are in the cohort: bool array (n,).

    ``segments``: segment ids to keep (None: all). Propensity between ``min_propensity`` and
    ``max_propensity`` (inclusive); or, when percentiles are given, between those
    percentiles (0..100) of this table's propensity (100 = the highest score). ``deciles``:
    propensity deciles to keep on top (1 = highest, the matrix's and the playbook's bands).
    Feature filters are applied on top with :func:`feature_mask`.
    """
    p = scored["propensity"].to_numpy(float)
    m = np.ones(len(scored), dtype=bool)
    if segments is not None:
        m &= scored["segment_id"].isin(list(segments)).to_numpy()
    if min_percentile is not None or max_percentile is not None:
        pct = pd.Series(p).rank(pct=True, method="max").to_numpy() * 100
        m &= (pct >= (min_percentile or 0.0)) & (pct <= (100.0 if max_percentile is None else max_percentile))
    else:
        m &= (p >= min_propensity) & (p <= max_propensity)
    if deciles is not None:
        m &= scored["propensity_decile"].isin(list(deciles)).to_numpy()
    return m


def feature_mask(features: pd.DataFrame, filters: dict) -> np.ndarray:
    """Which rows of ``features`` (n rows) pass every feature filter: bool array (n,).

    ``filters`` maps a column to ``(low, high)`` (numeric, inclusive) or to a list of
    allowed values (categorical). A customer with the value missing fails that filter.

    Raises
    ------
    KeyError
        A filtered column is not in ``features`` (the message names it).
    """
    m = np.ones(len(features), dtype=bool)
    for col, rule in filters.items():
        if col not in features.columns:
            raise KeyError(f"column '{col}' is not among the run's features")
        v = features[col]
        if isinstance(rule, tuple) and len(rule) == 2 and not isinstance(rule[0], str):
            x = pd.to_numeric(v, errors="coerce").to_numpy(float)
            with np.errstate(invalid="ignore"):
                m &= (x >= rule[0]) & (x <= rule[1])
        elif v.dtype.kind in "fiub":  # values of a number column (a 0/1 flag) given as text or numbers
            m &= v.isin([float(r) for r in rule]).to_numpy(bool)
        else:
            m &= v.astype("string").isin([str(r) for r in rule]).fillna(False).to_numpy(bool)
    return m


def filter_control(features: pd.DataFrame, spec, column: str) -> dict:
    """How a cohort filter on ``column`` is offered, from the spec's kind (never guessed
    from the values): ``{"kind": "values", "values": [...]}`` for categorical and binary
    columns (levels as text, ``"0"``/``"1"`` for flags), ``{"kind": "whole_range", "low",
    "high"}`` (ints) for counts, ``{"kind": "range", "low", "high"}`` (floats) for every
    other numeric kind; bounds are the column's observed minimum and maximum. The rule a
    control gives goes to :func:`feature_mask`.

    Raises KeyError when ``column`` is not a spec feature.
    """
    kind = spec.column(column).kind
    v = features[column]
    if kind in ("categorical", "binary"):
        vals = v.dropna().map(lambda x: f"{x:g}" if isinstance(x, float) else str(x)).unique()
        return {"kind": "values", "values": sorted(vals)}
    lo, hi = (float(v.min()), float(v.max())) if v.notna().any() else (0.0, 0.0)
    if kind == "count":
        return {"kind": "whole_range", "low": int(np.floor(lo)), "high": int(np.ceil(hi))}
    return {"kind": "range", "low": lo, "high": hi}


def latest_snapshot(scored: pd.DataFrame, features: pd.DataFrame | None = None):
    """For a run trained on stacked snapshots (ids ``<id>@<yyyy-mm-dd>``,
    :func:`core.inputs.validation.validate`): the rows of the latest snapshot, ids without the date, so
    that a cohort holds each customer once, as of the latest cutoff; ``features`` (same rows
    and order) filtered alike. Returns ``(scored, features, date)``; a table without
    snapshot ids comes back unchanged with date None."""
    ids = scored["customer_id"].astype(str)
    parts = ids.str.rpartition("@")
    if not (parts[1] == "@").all():
        return scored, features, None
    date = parts[2].max()
    keep = (parts[2] == date).to_numpy()
    out = scored[keep].assign(customer_id=parts[0][keep].to_numpy()).reset_index(drop=True)
    if features is not None:
        features = features[keep].reset_index(drop=True)
    return out, features, date


def cohort_summary(scored: pd.DataFrame, mask: np.ndarray) -> dict:
    """The cohort's size, expected buyers (sum of calibrated propensities), expected
    precision (their mean), lift over the base rate (expected precision / mean propensity of
    all customers) and the share of all expected buyers it captures; with an
    ``expected_revenue`` column (a log-built run), the cohort's expected revenue in the
    horizon (its sum) too."""
    p = scored["propensity"].to_numpy(float)
    size = int(mask.sum())
    expected = float(p[mask].sum())
    base = float(p.mean()) if len(p) else 0.0
    precision = expected / size if size else 0.0
    out = {"customers": size, "share_of_customers": size / max(1, len(p)), "expected_buyers": expected,
           "expected_precision": precision, "lift": precision / base if base > 0 else 0.0,
           "share_of_expected_buyers": expected / p.sum() if p.sum() > 0 else 0.0}
    if "expected_revenue" in scored.columns:
        out["expected_revenue"] = float(scored["expected_revenue"].to_numpy(float)[mask].sum())
    return out


#: Decimals of the exported propensity (a probability: 0.6731) and expected revenue (money).
EXPORT_DECIMALS = {"propensity": 4, "expected_revenue": 2}


def cohort_export(scored: pd.DataFrame, mask: np.ndarray, holdout: int = 0, seed: int = 0,
                  action: str | None = None, run_id: str | None = None) -> pd.DataFrame:
    """The cohort as exported: ``customer_id``, ``segment_id``, ``persona`` (the segment's
    name), ``action`` (the playbook action it was built for, when given), ``propensity``
    (rounded to 4 decimals), ``propensity_decile``, ``reason_1..3``, ``group``
    (``contact`` or ``holdout``: ``holdout`` customers drawn at random, seeded, not to be
    contacted, so the campaign's uplift can be measured against them) and, given
    ``run_id``, the run that scored it (``run_id``: the readout joins that run, never another).

    Raises ValueError when the holdout is larger than the cohort.
    """
    cols = ["customer_id", "segment_id", "segment_name", "propensity", "propensity_decile"]
    cols += [c for c in ("expected_revenue", "reason_1", "reason_2", "reason_3") if c in scored.columns]
    out = scored.loc[mask, cols].rename(columns={"segment_name": "persona"}).reset_index(drop=True)
    out = out.round({c: d for c, d in EXPORT_DECIMALS.items() if c in out})
    if action:
        out.insert(3, "action", action)
    if holdout > len(out):
        raise ValueError(f"a holdout of {holdout:,} does not fit in a cohort of {len(out):,}")
    group = np.full(len(out), "contact", dtype=object)
    group[np.random.default_rng(seed).choice(len(out), size=holdout, replace=False)] = "holdout"
    out["group"] = group
    if run_id:
        out["run_id"] = run_id
    return out
