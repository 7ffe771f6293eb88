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
  above average;
* *lapsing*: days since the last purchase (the spec's ``recency_column``) at least
  :data:`TRAIT_THRESHOLD` above average.

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

from core.activation.stats import holdout_size

#: Propensity bands by decile (1 = top 10% of training scores).
BANDS = {"high": (1, 2, 3), "medium": (4, 5, 6, 7), "low": (8, 9, 10)}


#: Standardized difference above which a cell counts as deal-seeking or high-value.
TRAIT_THRESHOLD = 0.3


#: The playbook: (band, deal-seeking, high past value, lapsing, action, why); None matches
#: either. The first matching rule is the cell's action.
PLAYBOOK = (
    ("high", True, None, None, "Full-price message",
     "Likely to buy anyway and heavy discount users: show new arrivals and bestsellers, no discount."),
    ("high", None, True, None, "VIP early access",
     "Likely to buy and valuable: reward them with early access or a loyalty perk, not a discount."),
    ("high", None, None, None, "Cross-sell, no incentive",
     "Likely to buy anyway: recommend complementary categories; an incentive would be wasted."),
    ("medium", True, None, None, "Targeted discount",
     "The decision is open and they respond to deals: a time-limited discount may tip it."),
    ("medium", None, None, True, "Timely nudge",
     "The decision is open and their last purchase is further back than most: remind them before they lapse."),
    ("medium", None, None, None, "Personal reminder",
     "The decision is open: remind them of carts, wishlists and their favourite categories."),
    ("low", None, True, True, "Personal win-back",
     "Valuable in the past and drifting away: a personal win-back offer with a higher budget."),
    ("low", None, True, None, "Win-back",
     "Unlikely to buy soon but valuable in the past: a win-back offer."),
    ("low", True, None, None, "Low-cost deal reminder",
     "Unlikely to buy soon, but deals move them: a deal in the newsletter, no paid contact."),
    ("low", None, None, None, "Suppress from paid channels",
     "Unlikely to buy and low past value: newsletter only, no paid contact."),
)


def band_of(decile) -> np.ndarray:
    """``high``/``medium``/``low`` for propensity deciles 1..10 (array-like of ints), per :data:`BANDS`."""
    lookup = {d: b for b, ds in BANDS.items() for d in ds}
    return np.array([lookup[int(d)] for d in np.asarray(decile)], dtype=object)


def recommend_action(band: str, discount_z: float | None, value_z: float | None,
                     recency_z: float | None = None) -> tuple[str, str]:
    """The playbook action for one cell: ``(action, why)``.

    ``discount_z``, ``value_z`` and ``recency_z`` are the cell's standardized differences of
    discount use, past spend and days since the last purchase (None or NaN when the spec has
    no such column: the trait counts as absent). Raises ValueError for an unknown band.
    """
    if band not in BANDS:
        raise ValueError(f"unknown propensity band '{band}' (expected one of {', '.join(BANDS)})")
    deal = discount_z is not None and np.isfinite(discount_z) and discount_z >= TRAIT_THRESHOLD
    valuable = value_z is not None and np.isfinite(value_z) and value_z >= TRAIT_THRESHOLD
    lapsing = recency_z is not None and np.isfinite(recency_z) and recency_z >= TRAIT_THRESHOLD
    for rule_band, rule_deal, rule_value, rule_lapsing, action, why in PLAYBOOK:
        if rule_band == band and rule_deal in (None, deal) and rule_value in (None, valuable) \
                and rule_lapsing in (None, lapsing):
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
    standardized differences, see the module doc) and ``recency_std_diff`` (of the spec's
    ``recency_column``) when it has those columns.
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
        for role, values in (("discount", pd.to_numeric(feats[spec.discount_column], errors="coerce")
                                          if spec.discount_column in feats else None),
                             ("value", spec.spend(feats)),
                             ("recency", pd.to_numeric(feats[spec.recency_column], errors="coerce")
                              if spec.recency_column in feats else None)):
            if values is not None:
                z = _std_diff(values, [seg, dec])
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
        means = [c for c in ("mean_propensity", "segment_aov", "discount_std_diff", "value_std_diff",
                             "recency_std_diff") if c in m]
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
    actions = [recommend_action(b, r.get("discount_std_diff"), r.get("value_std_diff"), r.get("recency_std_diff"))
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
