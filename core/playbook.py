"""Where the two models meet: the propensity-by-segment matrix.

Each cell is a (segment, propensity decile) pair: the customers in it, their mean
propensity, the expected buyers (sum of propensities) and, on the held-out test rows, the
observed purchase rate. Deciles come from the training score distribution
(:func:`core.evaluation.decile_of`), so a customer's decile does not depend on the batch.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def segment_matrix(scored: pd.DataFrame, y: np.ndarray | None = None, test_mask: np.ndarray | None = None) -> pd.DataFrame:
    """Propensity-by-segment matrix in long form.

    Parameters
    ----------
    scored : DataFrame with ``segment_id``, ``segment_name``, ``propensity``,
        ``propensity_decile`` (n rows).
    y : optional 0/1 outcomes of shape (n,).
    test_mask : optional bool array (n,): rows used for the observed rate (held-out test).

    Returns
    -------
    DataFrame, one row per non-empty (segment_id, propensity_decile) cell: ``customers``,
    ``mean_propensity``, ``expected_buyers``, and when ``y`` is given ``test_customers`` and
    ``observed_rate_test`` (None where the cell has no test rows).
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
    return out.sort_values(["segment_id", "propensity_decile"]).reset_index(drop=True)


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


def cohort_mask(scored: pd.DataFrame, segments: list[int] | None = None, min_propensity: float = 0.0,
                max_propensity: float = 1.0, min_percentile: float | None = None,
                max_percentile: float | None = None) -> np.ndarray:
    """Which customers of ``scored`` (n rows) are in the cohort: bool array (n,).

    ``segments``: segment ids to keep (None: all). Propensity between ``min_propensity`` and
    ``max_propensity`` (inclusive); or, when percentiles are given, between those
    percentiles (0..100) of this table's propensity (100 = the highest score).
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


def cohort_summary(scored: pd.DataFrame, mask: np.ndarray) -> dict:
    """The cohort's size, expected buyers (sum of calibrated propensities), expected
    precision (their mean), lift over the base rate (expected precision / mean propensity of
    all customers) and the share of all expected buyers it captures."""
    p = scored["propensity"].to_numpy(float)
    size = int(mask.sum())
    expected = float(p[mask].sum())
    base = float(p.mean()) if len(p) else 0.0
    precision = expected / size if size else 0.0
    return {"customers": size, "share_of_customers": size / max(1, len(p)), "expected_buyers": expected,
            "expected_precision": precision, "lift": precision / base if base > 0 else 0.0,
            "share_of_expected_buyers": expected / p.sum() if p.sum() > 0 else 0.0}


def cohort_export(scored: pd.DataFrame, mask: np.ndarray, holdout: int = 0, seed: int = 0) -> pd.DataFrame:
    """The cohort as exported: ``customer_id``, ``segment_id``, ``persona`` (the segment's
    name), ``propensity``, ``propensity_decile``, ``reason_1..3`` and ``group``
    (``contact`` or ``holdout``: ``holdout`` customers drawn at random, seeded, not to be
    contacted, so the campaign's uplift can be measured against them).

    Raises ValueError when the holdout is larger than the cohort.
    """
    cols = ["customer_id", "segment_id", "segment_name", "propensity", "propensity_decile"]
    cols += [c for c in ("reason_1", "reason_2", "reason_3") if c in scored.columns]
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
