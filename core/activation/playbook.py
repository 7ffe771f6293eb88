"""Where the two models meet: the propensity-by-segment matrix, the playbook of actions,
cohorts and holdouts.

Each matrix cell is a (segment, propensity decile) pair: the customers in it, their mean
propensity, the expected buyers (sum of calibrated propensities), the expected revenue
(expected buyers x the segment's average order value) and, on the held-out test rows, the
observed purchase rate. Deciles come from the training score distribution
(:func:`core.models.evaluation.decile_of`), so a customer's decile does not depend on the batch.

The playbook
------------
Each cell gets one recommended action from :data:`PLAYBOOK`, the first rule that matches.
A cell's *band* is its propensity decile grouped as :data:`BANDS` (high = top 30% of
scores, medium = next 40%, low = bottom 30%). Two traits come from the cell's customers,
as standardized differences (cell mean - all customers' mean) / all customers' standard
deviation, the effect size of Cohen (1988, *Statistical Power Analysis*, ch. 2):

* *deal-seeking*: discount use (the spec's ``discount_column``) at least
  :data:`TRAIT_THRESHOLD` above average;
* *high past value*: spend (the spec's ``value_column``) at least :data:`TRAIT_THRESHOLD`
  above average.

The rules encode common lifecycle-marketing practice: do not pay a discount to customers
who buy anyway (and least of all to deal-seekers, who learn to wait for one); spend
incentives where the decision is open; win back valuable lapsing customers personally;
keep low-propensity, low-value customers out of paid channels. They are a starting point
for the growth team's own playbook, and every campaign built on them should keep a holdout
(:func:`holdout_size`) to measure its uplift.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: Propensity bands by decile (1 = top 10% of training scores).
BANDS = {"high": (1, 2, 3), "medium": (4, 5, 6, 7), "low": (8, 9, 10)}

#: Standardized difference above which a cell counts as deal-seeking or high-value.
TRAIT_THRESHOLD = 0.3

#: The playbook: (band, deal-seeking, high past value, action, why); None matches either.
#: The first matching rule is the cell's action.
PLAYBOOK = (
    ("high", True, None, "Full-price message",
     "Likely to buy anyway and heavy discount users: show new arrivals and bestsellers, no discount."),
    ("high", None, None, "Cross-sell, no incentive",
     "Likely to buy anyway: recommend complementary categories; an incentive would be wasted."),
    ("medium", True, None, "Targeted discount",
     "The decision is open and they respond to deals: a time-limited discount may tip it."),
    ("medium", None, None, "Personal reminder",
     "The decision is open: remind them of carts, wishlists and their favourite categories."),
    ("low", None, True, "Win-back",
     "Unlikely to buy soon but valuable in the past: a personal win-back offer with a higher budget."),
    ("low", None, None, "Suppress from paid channels",
     "Unlikely to buy and low past value: newsletter only, no paid contact."),
)


def band_of(decile) -> np.ndarray:
    """``high``/``medium``/``low`` for propensity deciles 1..10 (array-like of ints), per :data:`BANDS`."""
    lookup = {d: b for b, ds in BANDS.items() for d in ds}
    return np.array([lookup[int(d)] for d in np.asarray(decile)], dtype=object)


def recommend_action(band: str, discount_z: float | None, value_z: float | None) -> tuple[str, str]:
    """The playbook action for one cell: ``(action, why)``.

    ``discount_z`` and ``value_z`` are the cell's standardized differences of discount use and
    past spend (None or NaN when the spec has no such column: the trait counts as absent).
    Raises ValueError for an unknown band.
    """
    if band not in BANDS:
        raise ValueError(f"unknown propensity band '{band}' (expected one of {', '.join(BANDS)})")
    deal = discount_z is not None and np.isfinite(discount_z) and discount_z >= TRAIT_THRESHOLD
    valuable = value_z is not None and np.isfinite(value_z) and value_z >= TRAIT_THRESHOLD
    for rule_band, rule_deal, rule_value, action, why in PLAYBOOK:
        if rule_band == band and rule_deal in (None, deal) and rule_value in (None, valuable):
            return action, why
    raise AssertionError("the playbook has a catch-all rule per band")  # pragma: no cover


def _std_diff(values: pd.Series, groups: list[pd.Series]) -> pd.Series:
    """Per-group standardized difference of ``values`` against all rows (NaN when constant)."""
    sd = values.std()
    means = values.groupby(groups).mean()
    return (means - values.mean()) / sd if sd and np.isfinite(sd) and sd > 0 else means * np.nan


def segment_matrix(scored: pd.DataFrame, y: np.ndarray | None = None, test_mask: np.ndarray | None = None,
                   features: pd.DataFrame | None = None, spec=None) -> pd.DataFrame:
    """Propensity-by-segment matrix in long form.

    Parameters
    ----------
    scored : DataFrame with ``segment_id``, ``segment_name``, ``propensity``,
        ``propensity_decile`` (n rows).
    y : optional 0/1 outcomes of shape (n,).
    test_mask : optional bool array (n,): rows used for the observed rate (held-out test).
    features : optional DataFrame (n rows, same order) of the spec's input columns; with
        ``spec`` it adds the revenue and playbook columns.
    spec : the :class:`~core.inputs.spec.DatasetSpec` naming ``order_value_column``,
        ``value_column`` and ``discount_column``.

    Returns
    -------
    DataFrame, one row per non-empty (segment_id, propensity_decile) cell: ``customers``,
    ``mean_propensity``, ``expected_buyers``; when ``y`` is given ``test_customers`` and
    ``observed_rate_test`` (None where the cell has no test rows); with ``features`` and a
    spec, ``segment_aov`` (mean order value of the segment's customers with one, currency)
    and ``expected_revenue`` (expected buyers x ``segment_aov``) when the spec has an
    order-value column; when ``scored`` has ``expected_revenue`` per customer (a log-built
    run: P(buy) x Gamma-Gamma expected spend, :func:`core.pipeline.scoring.scored_frame`), the cell's
    ``expected_revenue`` is its sum instead; and ``discount_std_diff`` / ``value_std_diff`` (the cell's
    standardized differences, see the module doc) when it has those columns.
    """
    df = scored[["segment_id", "segment_name", "propensity", "propensity_decile"]].copy()
    keys = ["segment_id", "segment_name", "propensity_decile"]
    out = df.groupby(keys, as_index=False).agg(customers=("propensity", "size"),
                                               mean_propensity=("propensity", "mean"),
                                               expected_buyers=("propensity", "sum"))
    if y is not None:
        mask = np.ones(len(df), bool) if test_mask is None else np.asarray(test_mask, bool)
        t = df[mask].assign(y=np.asarray(y)[mask])
        obs = t.groupby(keys, as_index=False).agg(test_customers=("y", "size"), observed_rate_test=("y", "mean"))
        out = out.merge(obs, on=keys, how="left")
        out["test_customers"] = out["test_customers"].fillna(0).astype(int)
    if features is not None and spec is not None:
        seg, dec = df["segment_id"].reset_index(drop=True), df["propensity_decile"].reset_index(drop=True)
        feats = features.reset_index(drop=True)
        if spec.order_value_column:
            aov = pd.to_numeric(feats[spec.order_value_column], errors="coerce")
            seg_aov = aov.where(aov > 0).groupby(seg).mean()  # customers with no order have no order value
            out["segment_aov"] = out["segment_id"].map(seg_aov).to_numpy(float)
            if "expected_revenue" not in scored.columns:  # else each customer's own, summed below
                out["expected_revenue"] = out["expected_buyers"] * out["segment_aov"]  # NaN: no orders
        for role, col in (("discount", spec.discount_column), ("value", spec.value_column)):
            if col:
                z = _std_diff(pd.to_numeric(feats[col], errors="coerce"), [seg, dec])
                out[f"{role}_std_diff"] = [z.get((s, d), np.nan) for s, d in
                                           zip(out["segment_id"], out["propensity_decile"])]
    if "expected_revenue" in scored.columns:  # a log-built run: each customer's P(buy) x expected spend
        rev = scored["expected_revenue"].groupby([scored["segment_id"], scored["propensity_decile"]]).sum()
        out["expected_revenue"] = [float(rev.get((s, d), np.nan)) for s, d in
                                   zip(out["segment_id"], out["propensity_decile"])]
    return out.sort_values(["segment_id", "propensity_decile"]).reset_index(drop=True)


def banded_matrix(matrix: pd.DataFrame, bands: str = "deciles", relative_lift: float = 0.10) -> pd.DataFrame:
    """The matrix by ``bands`` (``deciles`` or ``low/medium/high``), with the playbook action
    and the minimum holdout per cell.

    Cells are merged by summing ``customers``, ``expected_buyers``, ``expected_revenue``,
    ``test_customers`` and test buyers, and averaging the rest weighted by customers (exact
    for means and standardized differences). Added columns: ``band`` (the decile's band),
    ``action`` and ``why`` (:func:`recommend_action`), ``holdout_per_group`` (customers per
    group to detect ``relative_lift`` over the cell's mean propensity,
    :func:`holdout_size`; None when the rate leaves no room for it) and ``holdout_fits``
    (the cell holds both groups).

    Raises ValueError for unknown ``bands``.
    """
    if bands not in ("deciles", "low/medium/high"):
        raise ValueError(f"bands must be 'deciles' or 'low/medium/high', got '{bands}'")
    m = matrix.copy()
    m["band"] = band_of(m["propensity_decile"])
    if bands == "low/medium/high":
        w = m["customers"].to_numpy(float)
        means = [c for c in ("mean_propensity", "segment_aov", "discount_std_diff", "value_std_diff") if c in m]
        sums = [c for c in ("customers", "expected_buyers", "expected_revenue", "test_customers") if c in m]
        if "observed_rate_test" in m:
            m["_test_buyers"] = m["observed_rate_test"].fillna(0) * m["test_customers"]
            sums.append("_test_buyers")
        for c in means:
            m[c] = m[c] * w
        m = m.groupby(["segment_id", "segment_name", "band"], as_index=False)[means + sums].sum(min_count=1)
        for c in means:
            m[c] = m[c] / m["customers"]
        if "_test_buyers" in m:
            m["observed_rate_test"] = (m.pop("_test_buyers") / m["test_customers"]).where(m["test_customers"] > 0)
        m["band"] = pd.Categorical(m["band"], list(BANDS), ordered=True)
        m = m.sort_values(["segment_id", "band"]).reset_index(drop=True)
        m["band"] = m["band"].astype(str)
    actions = [recommend_action(b, r.get("discount_std_diff"), r.get("value_std_diff"))
               for b, r in zip(m["band"], m.to_dict("records"))]
    m["action"] = [a for a, _ in actions]
    m["why"] = [w for _, w in actions]
    need = []
    for rate in m["mean_propensity"]:
        try:
            need.append(holdout_size(rate, relative_lift))
        except ValueError:
            need.append(None)
    m["holdout_per_group"] = pd.array(need, dtype="Int64")
    m["holdout_fits"] = (m["customers"] >= 2 * m["holdout_per_group"]).fillna(False).astype(bool)
    return m


#: Observed test rates of cells with fewer test customers are too noisy to show.
MIN_TEST_CUSTOMERS = 30


def observed_cells(cells: pd.DataFrame, min_test_customers: int = MIN_TEST_CUSTOMERS) -> pd.DataFrame:
    """``cells`` (from :func:`banded_matrix`) with ``observed_rate_test`` blanked where a
    cell has fewer than ``min_test_customers`` test customers (after merging, so merged
    cells use all their test rows); unchanged without that column."""
    if "observed_rate_test" not in cells:
        return cells
    return cells.assign(observed_rate_test=cells["observed_rate_test"].where(
        cells["test_customers"] >= min_test_customers))


def holdout_size(base_rate: float, relative_lift: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers needed in each group (holdout and contacted) to detect a relative lift.

    Two-proportion test, two-sided, normal approximation without continuity correction
    (Fleiss, Levin & Paik 2003, *Statistical Methods for Rates and Proportions*, 3rd ed.,
    eq. 4.14): with p1 = ``base_rate`` (holdout) and p2 = p1 x (1 + ``relative_lift``),
    ``n = (z_{1-alpha/2} sqrt(2 pbar (1 - pbar)) + z_{power} sqrt(p1 (1 - p1) + p2 (1 - p2)))^2 / (p2 - p1)^2``.

    Raises ValueError when the rates are not in (0, 1) or the lift is not positive.
    """
    from scipy.stats import norm

    p1 = float(base_rate)
    p2 = p1 * (1 + float(relative_lift))
    if not (0 < p1 < 1 and 0 < p2 < 1) or relative_lift <= 0:
        raise ValueError(f"need 0 < base rate < 1 and a positive lift keeping it below 1, got {p1}, {relative_lift}")
    pbar = (p1 + p2) / 2
    za, zb = norm.ppf(1 - alpha / 2), norm.ppf(power)
    n = (za * np.sqrt(2 * pbar * (1 - pbar)) + zb * np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2
    return int(np.ceil(n))


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
                max_percentile: float | None = None) -> np.ndarray:
    """Which customers of ``scored`` (n rows) are in the cohort: bool array (n,).

    ``segments``: segment ids to keep (None: all). Propensity between ``min_propensity`` and
    ``max_propensity`` (inclusive); or, when percentiles are given, between those
    percentiles (0..100) of this table's propensity (100 = the highest score). Feature
    filters are applied on top with :func:`feature_mask`.
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
    :func:`core.inputs.tables.validate`): the rows of the latest snapshot, ids without the date, so
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


def cohort_export(scored: pd.DataFrame, mask: np.ndarray, holdout: int = 0, seed: int = 0) -> pd.DataFrame:
    """The cohort as exported: ``customer_id``, ``segment_id``, ``persona`` (the segment's
    name), ``propensity``, ``propensity_decile``, ``reason_1..3`` and ``group``
    (``contact`` or ``holdout``: ``holdout`` customers drawn at random, seeded, not to be
    contacted, so the campaign's uplift can be measured against them).

    Raises ValueError when the holdout is larger than the cohort.
    """
    cols = ["customer_id", "segment_id", "segment_name", "propensity", "propensity_decile"]
    cols += [c for c in ("expected_revenue", "reason_1", "reason_2", "reason_3") if c in scored.columns]
    out = scored.loc[mask, cols].rename(columns={"segment_name": "persona"}).reset_index(drop=True)
    if holdout > len(out):
        raise ValueError(f"a holdout of {holdout:,} does not fit in a cohort of {len(out):,}")
    group = np.full(len(out), "contact", dtype=object)
    group[np.random.default_rng(seed).choice(len(out), size=holdout, replace=False)] = "holdout"
    out["group"] = group
    return out


def segment_only_scores(scored: pd.DataFrame, target: str) -> dict:
    """How well segment membership alone predicts the target, against the classifier.

    Each segment's purchase rate on the training rows (``split == "train"``) is the score of
    every test customer in it; ROC-AUC and PR-AUC (average precision) of that score and of
    the classifier's propensity are measured on the same test rows.

    Returns ``{"segments": {"roc_auc", "pr_auc"}, "classifier": {...}, "test_rows": n}``;
    raises ValueError when the table has no train and test rows with both classes.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    if "split" not in scored or target not in scored:
        raise ValueError("the scored table has no split or target column")
    train, test = scored[scored["split"] == "train"], scored[scored["split"] == "test"]
    if train.empty or test[target].nunique() < 2:
        raise ValueError("need train rows and test rows with both classes")
    rate = train.groupby("segment_id")[target].mean()
    seg_score = test["segment_id"].map(rate).fillna(train[target].mean()).to_numpy(float)
    y = test[target].to_numpy(int)
    p = test["propensity"].to_numpy(float)
    return {"segments": {"roc_auc": float(roc_auc_score(y, seg_score)), "pr_auc": float(average_precision_score(y, seg_score))},
            "classifier": {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p))},
            "test_rows": int(len(test))}
