"""SHAP feature importance for the XGBoost propensity model.

SHAP values are computed with XGBoost's built-in TreeSHAP (``Booster.predict(...,
pred_contribs=True)``), the exact algorithm of Lundberg, Erion et al. 2020 ("From local
explanations to global understanding with explainable AI for trees", Nature Machine
Intelligence 2:56-67), the same values ``shap.TreeExplainer`` gives for this model, in
log-odds units. Global importance is the mean absolute SHAP value per feature over a
seeded sample of rows, and its sum per feature group.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from core.schema import DatasetSpec


def shap_values(booster: xgb.Booster, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """TreeSHAP values of ``X`` (n rows, the model's feature columns by name).

    Returns
    -------
    values : ndarray of shape (n, n_features), log-odds contributions, columns as ``X``.
    base : ndarray of shape (n,), the expected log-odds (bias term).
    """
    d = xgb.DMatrix(X, enable_categorical=True)
    contrib = booster.predict(d, pred_contribs=True)
    return contrib[:, :-1], contrib[:, -1]


def shap_importance(booster: xgb.Booster, X: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Mean |SHAP| per feature, sorted descending.

    Returns a DataFrame with ``feature``, ``label``, ``group``, ``mean_abs_shap`` (log-odds)
    and ``share`` (of the total).
    """
    values, _ = shap_values(booster, X)
    imp = np.abs(values).mean(axis=0)
    df = pd.DataFrame({
        "feature": list(X.columns),
        "label": [spec.column(c).label for c in X.columns],
        "group": [spec.column(c).group for c in X.columns],
        "mean_abs_shap": imp,
    })
    df["share"] = df["mean_abs_shap"] / df["mean_abs_shap"].sum()
    return df.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)


def group_importance(importance: pd.DataFrame) -> pd.DataFrame:
    """Sum of mean |SHAP| by feature group: ``group``, ``mean_abs_shap``, ``share``."""
    g = importance.groupby("group", as_index=False)[["mean_abs_shap", "share"]].sum()
    return g.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
