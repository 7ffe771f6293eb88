"""Ranking and decile metrics for the propensity model.

- ROC-AUC: ``sklearn.metrics.roc_auc_score``.
- PR-AUC: **average precision** (``sklearn.metrics.average_precision_score``), the
  step-wise sum ``sum_n (R_n - R_{n-1}) P_n``; never a trapezoid area under the PR curve,
  which is optimistic (Davis & Goadrich 2006). A constant score gets exactly the prevalence.
- Lift in the top decile: precision among the 10% highest scores divided by the base rate.
- Decile table: customers sorted by score (decile 1 = highest 10%), per decile the
  customers, buyers, purchase rate, lift, and cumulative gains (share of all buyers
  captured down to that decile).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve


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
