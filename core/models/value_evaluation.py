"""Metrics of a customer-value (CLV) prediction against the spend that was realised, and of
an order-count prediction, as a CLV practitioner reads them.

- Normalized Gini coefficient: the Gini coefficient of the realised spend with customers
  ordered by the prediction, divided by its value when ordered by the realised spend itself
  (Wang, Liu & Miao 2019, "A deep probabilistic model for customer lifetime value
  prediction", arXiv:1912.07753, section 4.2). Computed from average ranks of the prediction,
  ``G = 2 sum_i y_i R_i / (n sum_i y_i) - (n + 1) / n``, so customers with tied predictions
  (a naive peer's many zeros) count as in random order: 1 is a perfect ranking, 0 a random one.
- Spearman's rank correlation (``scipy.stats.spearmanr``).
- Top-decile share: the share of all realised spend among the 10% of customers with the
  highest predictions (a tie across the boundary counts with its share).
- Decile calibration: customers in ten equal groups by prediction (decile 1 = highest),
  mean predicted and realised spend in each.
- Bias of the total: ``sum(pred) / sum(y) - 1``.
- Intervals: percentile bootstrap over seeded resamples of the customers (Efron & Tibshirani
  1993, ch. 13); paired differences resample the customers once for both predictions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from core.errors import DataError


def _check(y, pred) -> tuple[np.ndarray, np.ndarray]:
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    if y.shape != pred.shape or y.ndim != 1:
        raise ValueError(f"realised and predicted values need one shape (n,), got {y.shape} and {pred.shape}")
    if len(y) < 2:
        raise DataError(f"{len(y)} customer(s) to evaluate a value prediction on: at least 2 are needed")
    if not (np.isfinite(y).all() and np.isfinite(pred).all()):
        raise DataError("a realised or predicted value is missing or infinite: nothing to evaluate")
    return y, pred


def gini(y, pred) -> float:
    """Gini coefficient of ``y`` (realised values, shape (n,), not all zero) ordered by
    ``pred`` (shape (n,)), ties in ``pred`` at their average rank."""
    y, pred = _check(y, pred)
    total = y.sum()
    if total == 0:
        raise DataError("nobody spent anything in the window: the Gini coefficient is undefined")
    n = len(y)
    return float(2.0 * np.dot(y, rankdata(pred)) / (n * total) - (n + 1) / n)


def normalized_gini(y, pred) -> float:
    """:func:`gini` of ``pred`` divided by that of a perfect prediction (``y`` itself);
    Wang, Liu & Miao (2019). 1 perfect, 0 random, below 0 worse than random."""
    return gini(y, pred) / gini(y, y)


def top_share(y, pred, share: float = 0.1) -> float:
    """Share of the total of ``y`` among the ``share`` of customers with the highest
    ``pred`` (shapes (n,)); a group of tied predictions across the boundary contributes in
    proportion to how many of it are inside."""
    y, pred = _check(y, pred)
    k = share * len(y)
    order = np.argsort(-pred, kind="stable")
    ps, ys = pred[order], y[order]
    levels, starts = np.unique(-ps, return_index=True)
    group_sum = np.add.reduceat(ys, starts)
    group_n = np.diff(np.append(starts, len(ys)))
    before = np.concatenate([[0], np.cumsum(group_n)[:-1]])
    inside = np.clip(k - before, 0, group_n) / group_n
    return float((group_sum * inside).sum() / y.sum())


def decile_calibration(y, pred) -> pd.DataFrame:
    """Ten equal groups by ``pred`` (decile 1 = highest; ties broken by position), with
    ``customers``, ``predicted_mean``, ``realised_mean`` (the window's spend per customer)
    and ``ratio`` (predicted over realised; NaN where nobody spent)."""
    y, pred = _check(y, pred)
    order = np.argsort(-pred, kind="stable")
    decile = np.empty(len(y), int)
    decile[order] = np.arange(len(y)) * 10 // len(y) + 1
    df = pd.DataFrame({"decile": decile, "pred": pred, "y": y})
    out = df.groupby("decile").agg(customers=("y", "size"), predicted_mean=("pred", "mean"),
                                   realised_mean=("y", "mean")).reset_index()
    out["ratio"] = np.where(out["realised_mean"] > 0, out["predicted_mean"] / out["realised_mean"].where(
        out["realised_mean"] > 0), np.nan)
    return out


def total_bias(y, pred) -> float:
    """``sum(pred) / sum(y) - 1``: the aggregate's relative error (0.05 = 5% too high)."""
    y, pred = _check(y, pred)
    if y.sum() == 0:
        raise DataError("nobody spent anything in the window: the bias of the total is undefined")
    return float(pred.sum() / y.sum() - 1.0)


def value_metrics(y, pred) -> dict:
    """``normalized_gini``, ``spearman``, ``top_decile_share``, ``total_bias``, ``mae`` and
    the totals (``predicted_total``, ``realised_total``) of one prediction."""
    y, pred = _check(y, pred)
    return {"normalized_gini": normalized_gini(y, pred), "spearman": float(spearmanr(y, pred).statistic),
            "top_decile_share": top_share(y, pred), "total_bias": total_bias(y, pred),
            "mae": float(np.abs(pred - y).mean()), "predicted_total": float(pred.sum()),
            "realised_total": float(y.sum())}


#: The metrics :func:`value_intervals` and :func:`paired_value_difference` resample.
RESAMPLED = ("normalized_gini", "spearman", "top_decile_share", "total_bias")


def _resampled(y, preds: list[np.ndarray], n_resamples: int, seed: int) -> np.ndarray:
    """Array (n_resamples, len(preds), len(RESAMPLED)) of the metrics on seeded resamples."""
    rng = np.random.default_rng(seed)
    n = len(y)
    out = np.empty((n_resamples, len(preds), len(RESAMPLED)))
    for b in range(n_resamples):
        idx = rng.integers(0, n, n)
        yb = y[idx]
        while yb.sum() == 0:
            idx = rng.integers(0, n, n)
            yb = y[idx]
        g_perfect = gini(yb, yb)
        ry = rankdata(yb)
        for j, p in enumerate(preds):
            pb = p[idx]
            rp = rankdata(pb)
            out[b, j] = (gini(yb, pb) / g_perfect, np.corrcoef(ry, rp)[0, 1] if rp.std() > 0 else 0.0,
                         top_share(yb, pb), pb.sum() / yb.sum() - 1.0)
    return out


def value_intervals(y, pred, n_resamples: int = 500, seed: int = 0, level: float = 0.95) -> dict:
    """Percentile bootstrap intervals ``{metric: [lo, hi]}`` of the :data:`RESAMPLED`
    metrics of one prediction (arrays of shape (n,))."""
    y, pred = _check(y, pred)
    r = _resampled(y, [pred], n_resamples, seed)[:, 0]
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    return {m: np.quantile(r[:, i], q).tolist() for i, m in enumerate(RESAMPLED)}


def paired_value_difference(y, pred_a, pred_b, n_resamples: int = 500, seed: int = 0,
                            level: float = 0.95) -> dict:
    """``pred_a``'s :data:`RESAMPLED` metrics minus ``pred_b``'s on the same customers:
    ``{metric: [difference, lo, hi]}`` with a paired percentile bootstrap interval (each
    resample draws the customers once and scores both)."""
    y, pred_a = _check(y, pred_a)
    _, pred_b = _check(y, pred_b)
    r = _resampled(y, [pred_a, pred_b], n_resamples, seed)
    d = r[:, 0] - r[:, 1]
    est_a, est_b = value_metrics(y, pred_a), value_metrics(y, pred_b)
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    return {m: [est_a[m] - est_b[m], *np.quantile(d[:, i], q).tolist()] for i, m in enumerate(RESAMPLED)}


def count_metrics(y, pred) -> dict:
    """Order counts: ``mae`` (orders per customer), ``total_bias`` (sum predicted over sum
    realised, minus 1), ``predicted_total`` and ``realised_total``."""
    y, pred = _check(y, pred)
    return {"mae": float(np.abs(pred - y).mean()), "total_bias": total_bias(y, pred),
            "predicted_total": float(pred.sum()), "realised_total": float(y.sum())}
