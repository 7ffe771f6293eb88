"""Calibrating the booster's scores on the validation rows: Platt (logistic) or isotonic,
whichever has the lower log loss on held-out folds, as a JSON-safe calibrator."""
from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold


def fit_calibrator(p: np.ndarray, y: np.ndarray, seed: int, isotonic_min_positives: int = 1000) -> dict:
    """Choose and fit the calibration map of probabilities ``p`` (shape (n,)) to outcomes y.

    Candidates: ``none``; ``platt`` (logistic regression on the log-odds of p, Platt
    1999); ``isotonic`` (``sklearn.isotonic.IsotonicRegression``, Zadrozny & Elkan 2002),
    only with at least ``isotonic_min_positives`` positives (below that it overfits its
    steps). Each is scored by 5-fold cross-fitted Brier score (fitted on 4 folds, scored on
    the fifth), so isotonic gets no credit for fitting its own rows; the lowest wins and is
    refitted on all rows.

    Returns a JSON-safe dict: ``method``, its parameters (``a``, ``b`` for Platt;
    ``x``, ``y`` knots for isotonic) and ``brier_cv`` per candidate.

    Fitted on one BLAS thread (threadpoolctl): Platt's solver sums in another order on two,
    which changed the last digit of its Brier score between ``n_jobs`` 1 and 2 on the
    default table's validation rows.
    """
    from threadpoolctl import threadpool_limits

    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    y = np.asarray(y, int)
    methods = ["none", "platt"] + (["isotonic"] if y.sum() >= isotonic_min_positives else [])
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(p, y))
    scores = {}
    with threadpool_limits(1):
        for m in methods:
            pred = np.empty(len(p))
            for a, b in folds:
                pred[b] = apply_calibrator(_fit_one(m, p[a], y[a]), p[b])
            scores[m] = float(brier_score_loss(y, pred))
        best = min(methods, key=lambda m: (scores[m], methods.index(m)))
        chosen = _fit_one(best, p, y)
    return {**chosen, "brier_cv": scores,
            "why": f"lowest 5-fold cross-fitted Brier score on {len(y):,} validation rows ({int(y.sum()):,} positives)"
                   + ("" if "isotonic" in methods else f"; isotonic not tried below {isotonic_min_positives:,} positives")}


def _fit_one(method: str, p: np.ndarray, y: np.ndarray) -> dict:
    if method == "platt":
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p)[:, None], y)
        return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
        return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    return {"method": "none"}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def apply_calibrator(cal: dict, p: np.ndarray) -> np.ndarray:
    """Calibrated probabilities (shape as ``p``) from a :func:`fit_calibrator` dict."""
    p = np.asarray(p, float)
    if cal["method"] == "platt":
        return 1.0 / (1.0 + np.exp(-(cal["a"] * _logit(p) + cal["b"])))
    if cal["method"] == "isotonic":
        return np.interp(p, cal["x"], cal["y"])
    return p
