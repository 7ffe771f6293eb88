"""Ranking and decile metrics for the propensity model.

- ROC-AUC: ``sklearn.metrics.roc_auc_score``.
- PR-AUC: **average precision** (``sklearn.metrics.average_precision_score``), the
  step-wise sum ``sum_n (R_n - R_{n-1}) P_n``; never a trapezoid area under the PR curve,
  which is optimistic (Davis & Goadrich 2006). A constant score gets exactly the prevalence.
- Lift in the top decile: precision among the 10% highest scores divided by the base rate.
- Decile table: customers sorted by score (decile 1 = highest 10%), per decile the
  customers, buyers, purchase rate, lift, and cumulative gains (share of all buyers
  captured down to that decile).
- Intervals: percentile bootstrap (Efron & Tibshirani 1993, ch. 13) over 1,000 seeded
  resamples of the test rows, computed for all resamples at once from the score's
  distinct values (:func:`bootstrap_intervals`).
- Calibration: Brier score, log loss, expected calibration error over 10 equal-width
  bins (Naeini, Cooper & Hauskrecht 2015, AAAI), the reliability curve in the same bins.
- Capture, budget and profit: how many customers must be contacted, best-first, to reach
  a share of buyers; what a contact budget reaches; the profit-maximising threshold of
  calibrated probabilities for a contact cost and a value per conversion (contact when
  ``p * value > cost``, the Bayes decision rule, e.g. Elkan 2001, *The foundations of
  cost-sensitive learning*, IJCAI).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"y and scores differ in shape: {y.shape} vs {p.shape}")
    if len(np.unique(y)) < 2:
        raise ValueError("metrics need both classes in y")
    return y, p


def top_share_lift(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    """Lift of the top ``share`` of customers by score: rate among them / base rate.

    Ties at the cut are broken by row order after a stable sort on the score.
    """
    y, p = _check(y, p)
    k = max(1, int(round(share * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def decile_of(scores: np.ndarray, cut_points: np.ndarray) -> np.ndarray:
    """Decile 1..10 (1 = highest scores) from 9 ascending cut points (the 10th..90th percentiles
    of the training scores). Shape (n,) int. A score equal to a cut point goes to the lower decile."""
    return (10 - np.searchsorted(np.asarray(cut_points), np.asarray(scores, float), side="left")).astype(int)


def decile_table(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Lift and cumulative gains by score decile of these rows (decile 1 = top 10%).

    Returns a DataFrame with 10 rows: ``decile``, ``customers``, ``buyers``,
    ``purchase_rate``, ``mean_score``, ``lift``, ``cum_buyers_share`` (cumulative gains),
    ``cum_customers_share``.
    """
    y, p = _check(y, p)
    order = np.argsort(-p, kind="stable")
    dec = np.empty(len(y), dtype=int)
    dec[order] = np.minimum(np.arange(len(y)) * 10 // len(y), 9) + 1
    df = pd.DataFrame({"decile": dec, "y": y, "p": p})
    g = df.groupby("decile").agg(customers=("y", "size"), buyers=("y", "sum"), mean_score=("p", "mean")).reset_index()
    g["purchase_rate"] = g["buyers"] / g["customers"]
    g["lift"] = g["purchase_rate"] / y.mean()
    g["cum_buyers_share"] = g["buyers"].cumsum() / y.sum()
    g["cum_customers_share"] = g["customers"].cumsum() / len(y)
    return g


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """ROC-AUC, PR-AUC (average precision), top-decile lift, base rate and row count (dict of floats)."""
    y, p = _check(y, p)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "lift_top_decile": top_share_lift(y, p, 0.1),
        "base_rate": float(y.mean()),
        "rows": int(len(y)),
    }


def curves(y: np.ndarray, p: np.ndarray, max_points: int = 400) -> dict:
    """ROC and precision-recall curve points for plotting, thinned to about ``max_points`` each."""
    y, p = _check(y, p)
    fpr, tpr, _ = roc_curve(y, p)
    prec, rec, _ = precision_recall_curve(y, p)

    def thin(*arrs):
        step = max(1, len(arrs[0]) // max_points)
        return [a[::step].tolist() + [a[-1]] for a in arrs]

    fpr, tpr = thin(fpr, tpr)
    prec, rec = thin(prec, rec)
    return {"roc": {"fpr": fpr, "tpr": tpr}, "pr": {"precision": prec, "recall": rec}}


def _rank_levels(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by score ascending: (order, level start offsets, y sorted)."""
    order = np.argsort(p, kind="stable")
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    return order, starts, y[order]


def _weighted_auc_ap(w: np.ndarray, ys: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision of B weightings at once.

    w : (B, n) row weights (bootstrap counts) with rows sorted by score ascending; ys : y
    in that order; starts : first row of each distinct score. Ties count half in the
    ROC-AUC and share one threshold in average precision, as in scikit-learn."""
    pos = np.add.reduceat(w * ys, starts, axis=1).astype(float)
    neg = np.add.reduceat(w * (1 - ys), starts, axis=1).astype(float)
    P, N = pos.sum(1), neg.sum(1)
    below = np.cumsum(neg, axis=1) - neg
    auc = (pos * (below + 0.5 * neg)).sum(1) / (P * N)
    tp = np.cumsum(pos[:, ::-1], axis=1)
    fp = np.cumsum(neg[:, ::-1], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
    ap = (pos[:, ::-1] * prec).sum(1) / P
    return auc, ap


def bootstrap_intervals(y: np.ndarray, p: np.ndarray, n_resamples: int = 1000, seed: int = 0,
                        level: float = 0.95, batch: int = 50) -> dict:
    """Percentile bootstrap intervals of ROC-AUC and PR-AUC (average precision).

    Each resample draws len(y) rows with replacement (seeded ``numpy`` generator); a
    resample with a single class is drawn again. All metrics come from bootstrap counts
    on the sorted scores, equal to ``roc_auc_score`` / ``average_precision_score`` with the
    counts as sample weights (tested), far faster than calling them per resample.

    Returns ``{"roc_auc": [lo, hi], "pr_auc": [lo, hi], "n_resamples", "level"}``.
    """
    y, p = _check(y, p)
    order, starts, ys = _rank_levels(y, p)
    n = len(y)
    rng = np.random.default_rng(seed)
    aucs, aps = [], []
    done = 0
    while done < n_resamples:
        b = min(batch, n_resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        w = np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n).reshape(b, n).astype(np.int32)
        w = w[:, order]
        ok = ((w * ys).sum(1) > 0) & ((w * (1 - ys)).sum(1) > 0)
        if ok.any():
            auc, ap = _weighted_auc_ap(w[ok], ys, starts)
            aucs.append(auc)
            aps.append(ap)
            done += int(ok.sum())
    aucs, aps = np.concatenate(aucs)[:n_resamples], np.concatenate(aps)[:n_resamples]
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    return {"roc_auc": np.quantile(aucs, q).tolist(), "pr_auc": np.quantile(aps, q).tolist(),
            "n_resamples": int(n_resamples), "level": level}


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Reliability curve over ``bins`` equal-width probability bins: ``bin`` (0..bins-1),
    ``lower``, ``upper``, ``customers``, ``mean_predicted``, ``observed_rate`` (empty bins
    dropped)."""
    y, p = _check(y, p)
    b = np.minimum((np.clip(p, 0, 1) * bins).astype(int), bins - 1)
    df = pd.DataFrame({"bin": b, "y": y, "p": p})
    g = df.groupby("bin").agg(customers=("y", "size"), mean_predicted=("p", "mean"),
                              observed_rate=("y", "mean")).reset_index()
    g.insert(1, "lower", g["bin"] / bins)
    g.insert(2, "upper", (g["bin"] + 1) / bins)
    return g


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE: sum over equal-width bins of (bin share) x |observed rate - mean predicted|."""
    t = calibration_table(y, p, bins)
    return float((t["customers"] / t["customers"].sum() * (t["observed_rate"] - t["mean_predicted"]).abs()).sum())


def probability_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """Log loss, Brier score and ECE (10 bins) of probabilities ``p`` (shape (n,))."""
    y, p = _check(y, p)
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    return {"log_loss": float(log_loss(y, pc, labels=[0, 1])), "brier": float(brier_score_loss(y, p)),
            "ece": expected_calibration_error(y, p)}


def capture_table(y: np.ndarray, p: np.ndarray, shares=(0.5, 0.7, 0.9), base_size: int | None = None) -> pd.DataFrame:
    """Contacts needed, best scores first, to capture each share of the buyers.

    Returns ``buyers_share``, ``contacts`` (on these rows), ``contact_share`` (of these
    rows) and ``contacts_in_base`` (the share applied to ``base_size`` customers, when given).
    """
    y, p = _check(y, p)
    order = np.argsort(-p, kind="stable")
    cum = np.cumsum(y[order])
    rows = []
    for s in shares:
        k = int(np.searchsorted(cum, np.ceil(s * y.sum() - 1e-9)) + 1)
        rows.append({"buyers_share": s, "contacts": k, "contact_share": k / len(y),
                     "contacts_in_base": None if base_size is None else int(round(k / len(y) * base_size))})
    return pd.DataFrame(rows)


def budget_table(y: np.ndarray, p: np.ndarray, budgets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)) -> pd.DataFrame:
    """What contacting the top ``k`` share of customers by score reaches.

    ``p`` must be calibrated probabilities. Returns ``budget_share``, ``contacts``,
    ``expected_buyers`` (sum of p among them), ``buyers`` (observed), ``precision``,
    ``recall`` (share of all buyers reached) and ``lift``.
    """
    y, p = _check(y, p)
    order = np.argsort(-p, kind="stable")
    rows = []
    for b in budgets:
        k = max(1, int(round(b * len(y))))
        top = order[:k]
        buyers = int(y[top].sum())
        rows.append({"budget_share": b, "contacts": k, "expected_buyers": float(p[top].sum()), "buyers": buyers,
                     "precision": buyers / k, "recall": buyers / y.sum(), "lift": buyers / k / y.mean()})
    return pd.DataFrame(rows)


def profit_at_threshold(y: np.ndarray, p: np.ndarray, contact_cost: float, conversion_value: float) -> dict:
    """The profit-maximising contact rule for calibrated probabilities and its outcome.

    Contacting a customer is worth ``p * conversion_value - contact_cost`` in expectation,
    so the threshold is ``contact_cost / conversion_value`` (Elkan 2001). Returns the
    threshold, contacts, expected and realised profit on these rows, the realised profit
    of contacting everyone (for reference), and the confusion matrix at the threshold
    (``tp``, ``fp``, ``fn``, ``tn``), with precision and recall.

    Raises ValueError when the cost or value is not positive.
    """
    y, p = _check(y, p)
    if contact_cost <= 0 or conversion_value <= 0:
        raise ValueError("contact cost and conversion value must be positive")
    t = contact_cost / conversion_value
    c = p >= t
    tp, fp = int((c & (y == 1)).sum()), int((c & (y == 0)).sum())
    fn, tn = int((~c & (y == 1)).sum()), int((~c & (y == 0)).sum())
    return {
        "threshold": float(t), "contact_cost": float(contact_cost), "conversion_value": float(conversion_value),
        "contacts": int(c.sum()), "contact_share": float(c.mean()),
        "expected_profit": float((p[c] * conversion_value - contact_cost).sum()),
        "realised_profit": float(tp * conversion_value - c.sum() * contact_cost),
        "profit_contact_all": float(y.sum() * conversion_value - len(y) * contact_cost),
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn),
    }


#: Quality grade bands: (grade, minimum ROC-AUC, minimum top-decile lift, share of the
#: largest possible lift). A model gets the best grade whose two minimums it meets. ROC-AUC
#: bands follow the usual reading of the AUC (Hosmer, Lemeshow & Sturdivant 2013, *Applied
#: Logistic Regression*, 3rd ed., 5.2.4: 0.7 acceptable, 0.8 excellent, 0.9 outstanding);
#: the lift minimums ask the top 10% to hold 1.5x, 2.5x and 3.5x the base rate, but never
#: more than 40%, 60% and 80% of the largest lift the base rate allows (min(10, 1 / base
#: rate): with half the customers buying, no ranking exceeds 2x).
GRADE_BANDS = (("Excellent", 0.85, 3.5, 0.8), ("Good", 0.80, 2.5, 0.6), ("Fair", 0.70, 1.5, 0.4))


def quality_grade(roc_auc: float, lift_top_decile: float, base_rate: float) -> dict:
    """Plain-language grade of a ranking model from :data:`GRADE_BANDS` (``Poor`` below
    all). Returns ``grade`` and ``explanation`` (one sentence with the numbers)."""
    best_lift = min(10.0, 1.0 / max(base_rate, 1e-9))

    def lift_min(band):
        return round(min(band[2], band[3] * best_lift), 2)

    for band in GRADE_BANDS:
        if roc_auc >= band[1] and lift_top_decile >= lift_min(band):
            grade, auc_min, lmin = band[0], band[1], lift_min(band)
            break
    else:
        grade, auc_min, lmin = "Poor", None, None
    fair = GRADE_BANDS[-1]
    why = (f"ROC-AUC {roc_auc:.2f} and top-decile lift {lift_top_decile:.1f}x"
           + (f" meet the {grade} band (ROC-AUC >= {auc_min}, lift >= {lmin}x)" if auc_min is not None else
              f" are below the Fair band (ROC-AUC >= {fair[1]}, lift >= {lift_min(fair)}x)"))
    return {"grade": grade, "explanation": why,
            "bands": [{"grade": b[0], "min_roc_auc": b[1], "min_lift": lift_min(b)} for b in GRADE_BANDS]}


#: A segment's ROC-AUC is reported only with at least this many positives and negatives.
MIN_SEGMENT_CLASS = 50


def segment_metrics(y: np.ndarray, p: np.ndarray, segment: np.ndarray) -> pd.DataFrame:
    """Per segment: ``customers``, ``buyers``, ``observed_rate``, ``mean_predicted``
    (calibration by segment) and ``roc_auc`` (None below :data:`MIN_SEGMENT_CLASS`
    positives or negatives)."""
    y, p = _check(y, p)
    rows = []
    for s in np.unique(segment):
        m = segment == s
        pos, neg = int(y[m].sum()), int(m.sum() - y[m].sum())
        auc = float(roc_auc_score(y[m], p[m])) if min(pos, neg) >= MIN_SEGMENT_CLASS else None
        rows.append({"segment_id": int(s), "customers": int(m.sum()), "buyers": pos, "observed_rate": pos / m.sum(),
                     "mean_predicted": float(p[m].mean()), "roc_auc": auc})
    out = pd.DataFrame(rows)
    out["roc_auc"] = pd.Series([r["roc_auc"] for r in rows], dtype=object)  # None stays None (JSON null)
    return out


def economics(y: np.ndarray, p: np.ndarray, budget_share: float, contact_cost: float, conversion_value: float) -> dict:
    """What a chosen budget and a chosen cost / value give on labelled rows (the Propensity
    page's what-if): ``budget``, the :func:`budget_table` row for ``budget_share`` (share of
    customers contacted, 0..1), and ``profit``, :func:`profit_at_threshold` for that cost
    and value (same currency). ``y`` 0/1 and ``p`` calibrated probabilities, shape (n,).

    Raises ValueError when the cost or value is not positive.
    """
    return {"budget": budget_table(y, p, budgets=(budget_share,)).to_dict("records")[0],
            "profit": profit_at_threshold(y, p, contact_cost, conversion_value)}


def paired_bootstrap_difference(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n_resamples: int = 1000,
                                seed: int = 0, level: float = 0.95, batch: int = 50) -> dict:
    """ROC-AUC and PR-AUC (average precision) of ``p_a`` minus those of ``p_b`` on the same
    rows, with a paired percentile bootstrap interval: each resample draws the rows once and
    scores both on them (Efron & Tibshirani 1993, ch. 13), so the interval reflects how the
    two differ on the same customers. Resamples with a single class are drawn again.
    Arrays of shape (n,).

    Returns ``{"roc_auc": [difference, lo, hi], "pr_auc": [difference, lo, hi]}``.
    """
    y, p_a = _check(y, p_a)
    _, p_b = _check(y, p_b)
    ra, rb = _rank_levels(y, p_a), _rank_levels(y, p_b)
    n = len(y)
    rng = np.random.default_rng(seed)
    d_auc, d_ap, done = [], [], 0
    while done < n_resamples:
        b = min(batch, n_resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        w = np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n).reshape(b, n).astype(np.int32)
        ok = ((w * y).sum(1) > 0) & ((w * (1 - y)).sum(1) > 0)
        if ok.any():
            auc_a, ap_a = _weighted_auc_ap(w[ok][:, ra[0]], ra[2], ra[1])
            auc_b, ap_b = _weighted_auc_ap(w[ok][:, rb[0]], rb[2], rb[1])
            d_auc.append(auc_a - auc_b)
            d_ap.append(ap_a - ap_b)
            done += int(ok.sum())
    d_auc, d_ap = np.concatenate(d_auc)[:n_resamples], np.concatenate(d_ap)[:n_resamples]
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    from sklearn.metrics import average_precision_score, roc_auc_score

    est_auc = roc_auc_score(y, p_a) - roc_auc_score(y, p_b)
    est_ap = average_precision_score(y, p_a) - average_precision_score(y, p_b)
    return {"roc_auc": [float(est_auc), *np.quantile(d_auc, q).tolist()],
            "pr_auc": [float(est_ap), *np.quantile(d_ap, q).tolist()]}
