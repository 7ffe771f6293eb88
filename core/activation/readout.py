"""Campaign readout: did contacting the cohort make more customers buy than its holdout?

A cohort (:func:`core.activation.cohorts.cohort_export`, or a saved one in the activation database)
splits its customers at random into ``contact`` and ``holdout``. After the campaign window
the outcomes (a table of customer ids with a purchase flag and, optionally, revenue; or a
transaction log) are joined to it and :func:`campaign_readout` measures, for each group,
customers, buyers, conversion and revenue per customer, and between them:

- the absolute uplift of conversion (contact - holdout) with Newcombe's hybrid score 95%
  interval (Newcombe 1998, *Interval estimation for the difference between independent
  proportions*, Statistics in Medicine 17, method 10: Wilson intervals of each
  proportion combined), and the relative uplift (contact / holdout - 1) with the log
  risk-ratio interval (Katz et al. 1978);
- the uplift of revenue per customer, absolute (studentized bootstrap interval) and
  relative (bias-corrected and accelerated bootstrap, BCa: Efron 1987), seeded, each group
  resampled on its own (Efron & Tibshirani 1993);
- incremental buyers and revenue: the uplift times the contacted customers;
- the same per segment and per propensity band where both groups have at least
  :data:`MIN_GROUP` customers (otherwise the row says so);
- whether the holdout had the power it was sized for: the power of the two-sided
  two-proportion test (alpha 0.05) to detect the uplift the cohort was sized for, at the
  observed holdout conversion and the actual group sizes (Fleiss, Levin & Paik 2003,
  eq. 4.14 with unequal groups), and the smallest uplift it could detect with 80% power;
- the model's calibration on the campaign: the mean predicted propensity against the
  observed conversion, for the contacted group (as asked of a readout: the gap is the
  campaign's effect plus the model's error) and for the holdout (the model's error alone:
  its predictions are of buying without a contact).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.activation.playbook import band_of
from core.activation.stats import (
    bca_interval,
    bootstrap_t_interval,
    detectable_lift,
    newcombe,
    risk_ratio,
    two_proportion_power,
    wilson,
)
from core.errors import DataError

#: Customers each group (contact, holdout) of a segment or band needs for its own row.
MIN_GROUP = 100


GROUPS = ("contact", "holdout")


def compare(joined: pd.DataFrame, revenue: bool, n_boot: int, rng: np.random.Generator,
            alpha: float = 0.05) -> dict:
    """The two groups of ``joined`` (``group``, ``purchased``, ``revenue``) side by side:
    customers, buyers, conversion (Wilson interval) and revenue per customer per group; the
    uplifts with their intervals and the incremental buyers and revenue (module docstring).
    Raises DataError when a group is empty."""
    c, h = (joined[joined["group"] == g] for g in GROUPS)
    if len(h) == 0:
        raise DataError("the cohort has no holdout customer with an outcome: without a holdout the uplift cannot be "
                        "measured (build the cohort with a holdout)")
    if len(c) == 0:
        raise DataError("the cohort has no contacted customer with an outcome")
    xc, nc, xh, nh = int(c["purchased"].sum()), len(c), int(h["purchased"].sum()), len(h)
    out = {"groups": []}
    for name, g, x, n in (("contact", c, xc, nc), ("holdout", h, xh, nh)):
        lo, hi = wilson(x, n, alpha)
        row = {"group": name, "customers": n, "buyers": x, "conversion": x / n, "conversion_ci": [lo, hi]}
        if revenue:
            row["revenue"] = float(g["revenue"].sum())
            row["revenue_per_customer"] = float(g["revenue"].mean())
        out["groups"].append(row)
    d, lo, hi = newcombe(xc, nc, xh, nh, alpha)
    out["uplift"] = {"absolute": d, "absolute_ci": [lo, hi], "incremental_buyers": d * nc,
                     "incremental_buyers_ci": [lo * nc, hi * nc]}
    rr = risk_ratio(xc, nc, xh, nh, alpha)
    out["uplift"]["relative"] = None if rr is None else rr[0]
    out["uplift"]["relative_ci"] = None if rr is None else [rr[1], rr[2]]
    if rr is None:
        out["uplift"]["relative_note"] = "not defined: a group has no buyer"
    if revenue:
        rc, rh = c["revenue"].to_numpy(float), h["revenue"].to_numpy(float)
        mc, mh = float(rc.mean()), float(rh.mean())
        dlo, dhi, bc, bh = bootstrap_t_interval(rc, rh, n_boot, rng, alpha)
        diff = mc - mh
        rev = {"per_customer": float(diff), "per_customer_ci": [dlo, dhi],
               "incremental": float(diff * nc), "incremental_ci": [dlo * nc, dhi * nc]}
        if mh > 0 and (bh > 0).all():  # the ratio: BCa, with each customer's influence on it
            infl = np.concatenate([(rc - mc) / (nc * mh), -mc * (rh - mh) / (nh * mh * mh)])
            rlo, rhi = bca_interval(bc / bh - 1, mc / mh - 1, infl, alpha)
            rev.update(relative=float(mc / mh - 1), relative_ci=[rlo, rhi])
        else:
            rev.update(relative=None, relative_ci=None)
        out["revenue_uplift"] = rev
    return out


def campaign_readout(members: pd.DataFrame, outcomes: pd.DataFrame, sized_for: float | None = None,
                     design_power: float = 0.8, missing_as_no_purchase: bool | None = None, seed: int = 0,
                     n_boot: int = 2000, alpha: float = 0.05, min_group: int = MIN_GROUP,
                     segment_names: dict | None = None) -> dict:
    """The readout of a campaign (module docstring).

    Parameters
    ----------
    members : the cohort (:func:`core.activation.campaign_tables.cohort_members`): ``customer_id``, ``group``, and where
        present ``segment_id``, ``persona``, ``propensity``, ``propensity_decile``.
    outcomes : :func:`core.activation.campaign_tables.outcome_table` or
        :func:`core.activation.campaign_tables.outcomes_from_events`: ``customer_id``,
        ``purchased``, ``revenue`` (all NaN: revenue not measured).
    sized_for : the relative uplift the holdout was sized to detect (the cohort's design);
        None: not said, and the power is reported for the observed uplift instead.
    missing_as_no_purchase : whether a cohort customer absent from the outcomes did not buy.
        None (default): True when every outcome row is a purchase (a table of buyers
        only, or a log), else False: they are left out, and counted.
    seed, n_boot : the bootstrap's seed and resamples; ``alpha``: 1 - the intervals' level.

    Returns a JSON-safe dict: ``rows`` (cohort customers matched, left out, outcomes outside
    the cohort), ``overall`` (:func:`compare`), ``by_segment`` and ``by_band`` (one row per
    segment or band: :func:`compare` where both groups have ``min_group`` customers, else
    ``too_small`` with the sizes), ``power``, ``calibration`` and ``notes``.

    Raises
    ------
    DataError
        No holdout (or no contacted) customer with an outcome; no customer of the cohort in
        the outcomes.
    """
    rng = np.random.default_rng(seed)
    joined, rows, notes = _join(members, outcomes, missing_as_no_purchase)
    revenue = bool(joined["revenue"].notna().any())
    if not revenue and not outcomes.attrs.get("revenue_dropped"):  # a dropped revenue's note says so already
        notes.append("the outcomes have no revenue: conversion only")
    overall = compare(joined, revenue, n_boot, rng, alpha)
    groups = {r["group"]: r for r in overall["groups"]}
    if "propensity_decile" in joined.columns:
        scored_rows = joined["propensity_decile"].notna()
        joined["band"] = pd.Series(pd.NA, index=joined.index, dtype=object)
        joined.loc[scored_rows, "band"] = band_of(joined.loc[scored_rows, "propensity_decile"].astype(int))
    power = _power(groups, sized_for, design_power, alpha)
    calibration = _calibration(joined, groups, alpha)
    if "propensity" not in joined.columns:
        notes.append("the cohort has no propensity column: no calibration check")
    # the segments' rows draw from the bootstrap's generator before the bands' (a fixed order: the same readout)
    by_segment = _by(joined, "segment_id", _segment_labels(joined, segment_names), revenue, n_boot, rng, alpha,
                     min_group)
    by_band = _by(joined, "band", None, revenue, n_boot, rng, alpha, min_group)
    return _json_safe({"rows": rows, "alpha": alpha, "n_boot": n_boot, "seed": seed, "min_group": min_group,
                       "overall": overall, "by_segment": by_segment, "by_band": by_band, "power": power,
                       "calibration": calibration, "notes": notes})


def _join(members: pd.DataFrame, outcomes: pd.DataFrame,
          missing_as_no_purchase: bool | None) -> tuple[pd.DataFrame, dict, list[str]]:
    """The cohort's members joined to their outcomes (:func:`campaign_readout`'s
    parameters), the counts of ``rows`` (cohort, with an outcome, left out, counted as not
    buying, outcomes outside the cohort) and the notes so far. Raises DataError when no
    customer of the cohort is in the outcomes."""
    notes = list(outcomes.attrs.get("notes", []))
    outcomes = outcomes.drop_duplicates("customer_id")
    in_cohort = outcomes["customer_id"].isin(members["customer_id"])
    outside = int((~in_cohort).sum())
    if outside:
        notes.append(f"{outside:,} outcome rows are of customers outside the cohort: ignored")
    if missing_as_no_purchase is None:
        missing_as_no_purchase = bool(len(outcomes)) and bool((outcomes["purchased"] == 1).all())
    has_revenue = bool(outcomes["revenue"].notna().any())
    joined = members.merge(outcomes[in_cohort], on="customer_id", how="left", indicator=True)
    absent = int((joined["_merge"] == "left_only").sum())
    if absent and missing_as_no_purchase:
        joined["purchased"] = joined["purchased"].fillna(0).astype(int)
        if has_revenue:  # a buyer-only list without revenue stays without: conversion only
            joined["revenue"] = joined["revenue"].fillna(0.0)
        notes.append(f"{absent:,} cohort customers are not in the outcomes, which list buyers only: counted as not "
                     "buying")
    elif absent:
        joined = joined[joined["_merge"] == "both"].copy()
        notes.append(f"{absent:,} cohort customers have no outcome row: left out of the readout")
    if joined.empty:
        raise DataError("no customer of the cohort is in the outcomes: check that the ids are the same kind")
    joined = joined.drop(columns="_merge")
    joined["purchased"] = joined["purchased"].astype(int)
    if "segment_id" in joined.columns:  # ids that the run never scored leave it empty: integers kept
        joined["segment_id"] = pd.to_numeric(joined["segment_id"], errors="coerce").astype("Int64")
    known = [c for c in ("segment_id", "propensity", "propensity_decile") if c in joined.columns]
    unscored = int(joined[known].isna().any(axis=1).sum()) if known else 0
    if unscored:
        notes.append(f"{unscored:,} cohort customers have no score in the run (ids it never scored): in the overall "
                     "readout, not in the segment, band or calibration rows")
    rows = {"cohort": int(len(members)), "with_outcome": int(len(joined)),
            "left_out": 0 if missing_as_no_purchase else absent,
            "counted_as_no_purchase": absent if missing_as_no_purchase else 0, "outcomes_outside_cohort": outside}
    return joined, rows, notes


def _by(joined: pd.DataFrame, column: str, labels: dict | None, revenue: bool, n_boot: int,
        rng: np.random.Generator, alpha: float, min_group: int) -> list[dict]:
    """One row per value of ``column`` (a segment, a band): :func:`compare` where both
    groups have ``min_group`` customers, else ``too_small`` with the sizes; none when the
    cohort has no such column."""
    rows = []
    if column not in joined.columns:
        return rows
    for key, part in joined.groupby(column, sort=True):
        sizes = {g: int((part["group"] == g).sum()) for g in GROUPS}
        row = {"key": str(key), "name": (labels or {}).get(key, str(key)),
               **{f"{g}_customers": sizes[g] for g in GROUPS}}
        if min(sizes.values()) < min_group:
            row["too_small"] = (f"{sizes['contact']:,} contacted and {sizes['holdout']:,} held out: each group needs "
                                f"{min_group:,} customers for its own readout")
        else:
            row.update(compare(part, revenue, n_boot, rng, alpha))
        rows.append(row)
    return rows


def _segment_labels(joined: pd.DataFrame, segment_names: dict | None) -> dict:
    """``{segment id: name}``: the run's names where given, else the cohort's personas."""
    labels = dict(segment_names or {})
    if "persona" in joined.columns and "segment_id" in joined.columns:
        named = joined.dropna(subset=["segment_id"])
        labels = {**dict(zip(named["segment_id"].astype(int), named["persona"])), **labels}
    return labels


def _power(groups: dict, sized_for: float | None, design_power: float, alpha: float) -> dict:
    """The holdout's power at the uplift it was sized for (none without a design: power at
    the observed uplift would only restate the interval, Hoenig & Heisey 2001) and the
    smallest uplift these groups detect with ``design_power``."""
    c, h = groups["contact"], groups["holdout"]
    power = {"sized_for": sized_for, "design_power": design_power,
             "holdout_conversion": h["conversion"], "contact_customers": c["customers"],
             "holdout_customers": h["customers"],
             "power": None if sized_for is None else two_proportion_power(h["conversion"], sized_for, c["customers"],
                                                                          h["customers"], alpha),
             "detectable_lift": detectable_lift(h["conversion"], c["customers"], h["customers"], design_power, alpha)}
    power["enough"] = None if power["power"] is None or not np.isfinite(power["power"]) else \
        bool(power["power"] >= design_power)
    return power


def _calibration(joined: pd.DataFrame, groups: dict, alpha: float) -> dict:
    """Per group, the mean predicted propensity against the observed conversion (Wilson
    interval); empty when the cohort has no propensity column."""
    calibration = {}
    if "propensity" not in joined.columns:
        return calibration
    for g in groups:
        part = joined[(joined["group"] == g) & joined["propensity"].notna()]
        if part.empty:
            continue
        buyers, n = int(part["purchased"].sum()), len(part)
        ci = wilson(buyers, n, alpha)
        predicted = float(part["propensity"].mean())
        calibration[g] = {"predicted": predicted, "observed": buyers / n, "observed_ci": list(ci),
                          "within_interval": bool(ci[0] <= predicted <= ci[1])}
    return calibration


def _json_safe(obj):
    """``obj`` with every float that is not finite (a power or a detectable uplift that cannot
    be computed: no buyer in the holdout, say) as None, so the readout saves as strict JSON."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)) and not np.isfinite(obj):
        return None
    return obj


def power_text(power: dict) -> str:
    """The readout's power in one sentence (the CLI and the Cohort page say the same):
    ``power`` is :func:`campaign_readout`'s ``power`` (relative uplifts as fractions). Every
    uplift is said relative and in percentage points of the holdout's conversion."""
    need = f"{power['design_power']:.0%}"
    lift, base = power["detectable_lift"], power.get("holdout_conversion")
    smallest = (f"the smallest uplift these groups detect with {need} power is {_rise(lift, base)}"
                if lift is not None and np.isfinite(lift) else
                f"no uplift below +1000% is detectable with {need} power (or the holdout has no buyer)")
    if power["sized_for"] is None:
        return (f"The cohort does not say what uplift its holdout was sized for (give it: --sized-for); {smallest}.")
    if power["power"] is None:
        return (f"The holdout was sized for a {_rise(power['sized_for'], base)} uplift; its power cannot be computed; "
                f"{smallest}.")
    return (f"The holdout was sized for a {_rise(power['sized_for'], base)} uplift: at the observed holdout conversion "
            f"its power was {power['power']:.0%} ({'enough for' if power['enough'] else 'less than'} the {need} it "
            f"was sized for); {smallest}.")


def _rise(relative: float, base: float | None) -> str:
    """A relative uplift also in points of ``base``: ``+10% (+1.2 points, 12.0% to 13.2%)``."""
    if base is None or not np.isfinite(base) or base <= 0:
        return f"{relative:+.0%}"
    return f"{relative:+.0%} ({100 * relative * base:+.1f} points, {base:.1%} to {base * (1 + relative):.1%})"