"""Purchase propensity: a logistic-regression baseline and XGBoost.

- Split: stratified random train / validation / test (70/15/15 by default, seeded;
  ``sklearn.model_selection.train_test_split``).
- Baseline: scikit-learn ``LogisticRegression`` (L2) on the shared preprocessor (median
  imputation with missing indicators, log1p of skewed kinds, scaling, one-hot).
- XGBoost (Chen & Guestrin 2016, KDD): histogram trees with native missing-value handling
  and native categorical splits (categories fixed at training, see
  :func:`core.features.model_frame`), early stopping on the validation log loss.
- Both are evaluated once on the test rows (:func:`core.evaluation.classification_metrics`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from core.config import PropensitySettings
from core.errors import DataError
from core.evaluation import classification_metrics
from core.features import build_preprocessor, model_frame

#: Training refuses tables with fewer positives or negatives than this: with 15% test rows,
#: 100 positives leave 15 test positives, about the least that gives a usable ROC-AUC
#: interval; commercial AutoML tools set floors of the same order.
MIN_CLASS_COUNT = 100


def split_rows(y: np.ndarray, settings: PropensitySettings, seed: int) -> np.ndarray:
    """Assign each row to ``"train"``, ``"val"`` or ``"test"``, stratified on y.

    Parameters
    ----------
    y : 0/1 array of shape (n,).

    Returns
    -------
    ndarray of shape (n,) of str.

    Raises
    ------
    DataError
        Fewer than :data:`MIN_CLASS_COUNT` positives or negatives.
    """
    y = np.asarray(y)
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if min(pos, neg) < MIN_CLASS_COUNT:
        raise DataError(f"too little to learn from: {pos} positives and {neg} negatives "
                        f"(need at least {MIN_CLASS_COUNT} of each)")
    idx = np.arange(len(y))
    holdout = settings.val_share + settings.test_share
    tr, rest = train_test_split(idx, test_size=holdout, stratify=y, random_state=seed)
    va, te = train_test_split(rest, test_size=settings.test_share / holdout, stratify=y[rest], random_state=seed + 1)
    out = np.empty(len(y), dtype=object)
    out[tr], out[va], out[te] = "train", "val", "test"
    return out


@dataclass
class PropensityModels:
    """The fitted baseline and XGBoost models and what scoring needs.

    Attributes
    ----------
    booster : xgboost.Booster, trained to the best iteration.
    baseline : sklearn Pipeline (preprocessor + LogisticRegression).
    feature_names : list of str, model inputs in order.
    categories : dict of categorical levels fixed at training.
    decile_cuts : ndarray of shape (9,), the 10th..90th percentiles of the training scores.
    best_iteration : int
    """

    booster: xgb.Booster
    baseline: Pipeline
    feature_names: list[str]
    categories: dict
    decile_cuts: np.ndarray
    best_iteration: int
    info: dict = field(default_factory=dict)

    def predict(self, clean: pd.DataFrame, spec) -> tuple[np.ndarray, dict]:
        """XGBoost purchase probability of each row of ``clean`` (validated).

        Returns ``(p, unseen)``: p of shape (n,) in 0..1, and the count of categorical
        values not seen at training per column (scored as missing).
        """
        X, unseen = model_frame(clean, spec, self.categories)
        d = xgb.DMatrix(X[self.feature_names], enable_categorical=True)
        return self.booster.predict(d, iteration_range=(0, self.best_iteration + 1)), unseen

    def predict_baseline(self, clean: pd.DataFrame) -> np.ndarray:
        """Logistic-regression probability, shape (n,)."""
        return self.baseline.predict_proba(clean[self.feature_names])[:, 1]


def fit(clean: pd.DataFrame, spec, split: np.ndarray, categories: dict, settings: PropensitySettings,
        seed: int, n_jobs: int = 2) -> tuple[PropensityModels, dict]:
    """Fit the baseline and XGBoost on the train rows, early-stop on val, evaluate on test.

    Parameters
    ----------
    clean : validated table with the target, n rows.
    split : from :func:`split_rows`, shape (n,).

    Returns
    -------
    models : PropensityModels
    metrics : dict with ``xgboost`` and ``logistic`` test metrics (ROC-AUC, PR-AUC, lift).
    """
    y = clean[spec.target].to_numpy(int)
    X, _ = model_frame(clean, spec, categories)
    tr, va, te = (split == "train"), (split == "val"), (split == "test")
    ps = settings
    model = xgb.XGBClassifier(
        n_estimators=ps.n_estimators, learning_rate=ps.learning_rate, max_depth=ps.max_depth,
        min_child_weight=ps.min_child_weight, subsample=ps.subsample, colsample_bytree=ps.colsample_bytree,
        tree_method="hist", enable_categorical=True, max_cat_to_onehot=1, eval_metric="logloss",
        early_stopping_rounds=ps.early_stopping_rounds, n_jobs=n_jobs, random_state=seed,
    )
    model.fit(X[tr], y[tr], eval_set=[(X[va], y[va])], verbose=False)
    booster = model.get_booster()
    best = int(model.best_iteration)

    baseline = Pipeline([
        ("prep", build_preprocessor(spec, spec.feature_names, categories, add_indicator=True)),
        ("logit", LogisticRegression(C=ps.logistic_C, max_iter=2000)),
    ])
    baseline.fit(clean.loc[tr, spec.feature_names], y[tr])

    train_scores = booster.predict(xgb.DMatrix(X[tr], enable_categorical=True), iteration_range=(0, best + 1))
    cuts = np.quantile(train_scores, np.linspace(0.1, 0.9, 9))
    models = PropensityModels(booster=booster, baseline=baseline, feature_names=list(spec.feature_names),
                              categories=categories, decile_cuts=cuts, best_iteration=best,
                              info={"n_trees": best + 1, "rows": {"train": int(tr.sum()), "val": int(va.sum()),
                                                                   "test": int(te.sum())}})
    p_xgb, _ = models.predict(clean.loc[te], spec)
    p_lr = models.predict_baseline(clean.loc[te])
    metrics = {
        "xgboost": classification_metrics(y[te], p_xgb),
        "logistic": classification_metrics(y[te], p_lr),
    }
    return models, metrics
