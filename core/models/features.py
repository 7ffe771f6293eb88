"""Preprocessing shared by the models; the same code serves training and scoring.

Two views of a validated table (see :func:`core.inputs.validation.validate`):

- :func:`model_frame` for XGBoost: numeric columns as float64 with NaN for missing (XGBoost
  learns a default direction per split), categorical columns as ``pandas.Categorical``
  with the categories fixed at training. A level never seen in training becomes missing,
  so it gets exactly the score of a blank and never borrows a neighbouring level's code.
- :func:`build_preprocessor` for the logistic baseline and segmentation: a scikit-learn
  ``ColumnTransformer`` that imputes the median (with missing-indicator columns where
  asked), applies ``log1p`` to skewed kinds (counts, currency, durations; values clipped
  at 0 first), standardises, and one-hot encodes categoricals (unknown or blank levels:
  all zeros).

Columns are always selected by name, never by position.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from core.inputs.spec import SKEWED_KINDS, DatasetSpec


def learn_categories(clean: pd.DataFrame, spec: DatasetSpec) -> dict[str, list[str]]:
    """Levels of each categorical feature seen in the training table ``clean``, sorted.

    Where the spec declares the valid levels, only declared levels count. A level the
    model never saw in training (new, or declared but absent) is scored as missing: with
    XGBoost's native categorical splits a level absent at training is routed to a fixed
    child of every categorical split and silently takes another level's path (upstream:
    dmlc/xgboost#11659, "Absent levels in categorical splits are always sent left"; and
    XGBoost 3.1's re-coder raises on unseen levels instead, dmlc/xgboost#11826). We guard
    around it by recoding every such value to missing before the model sees it.
    Returns a dict ``{column: [level, ...]}`` (JSON-safe), stored in the run.
    """
    cats = {}
    for col in spec.columns:
        if col.is_categorical:
            seen = {str(v) for v in clean[col.name].dropna()}
            if col.categories is not None:
                seen &= set(col.categories)
            cats[col.name] = sorted(seen)
    return cats


def model_frame(clean: pd.DataFrame, spec: DatasetSpec, categories: dict[str, list[str]]) -> tuple[pd.DataFrame, dict]:
    """The XGBoost input: spec features by name, categoricals with fixed categories.

    Parameters
    ----------
    clean : validated table (n rows).
    spec : its spec.
    categories : from :func:`learn_categories` at training.

    Returns
    -------
    X : DataFrame of shape (n, n_features), columns in ``spec.feature_names`` order.
    unseen : dict ``{column: count}`` of values not among the training levels (set missing).
    """
    cols = {}
    unseen = {}
    for col in spec.columns:
        if col.is_categorical:
            levels = categories[col.name]
            raw = clean[col.name].astype(object)
            known = raw.isin(levels)
            n_new = int((~known & raw.notna()).sum())
            cat = pd.Categorical(raw.where(known, None), categories=levels)
            if n_new:
                unseen[col.name] = n_new
            cols[col.name] = cat
        else:
            cols[col.name] = clean[col.name].to_numpy(dtype=float)
    return pd.DataFrame(cols, index=clean.index), unseen


def _log1p_clipped(x):
    return np.log1p(np.clip(np.asarray(x, dtype=float), 0.0, None))


def build_preprocessor(spec: DatasetSpec, columns: list[str], categories: dict[str, list[str]],
                       *, add_indicator: bool = True) -> ColumnTransformer:
    """An unfitted scikit-learn ``ColumnTransformer`` for ``columns`` (names from the spec).

    Output: one float column per numeric input (log1p for :data:`~core.inputs.spec.SKEWED_KINDS`,
    median-imputed, standardised; a column with no value at fit time stays as a constant 0,
    so the output keeps one column per input, by name), one missing-indicator column per numeric input that had
    missing values at fit time (when ``add_indicator``), and one 0/1 column per categorical
    level. Input columns are picked by name, so extra or reordered columns do not matter.
    """
    kinds = {c.name: c.kind for c in spec.columns}
    skewed = [c for c in columns if kinds[c] in SKEWED_KINDS]
    cats = [c for c in columns if kinds[c] == "categorical"]
    plain = [c for c in columns if c not in skewed and c not in cats]
    parts = []
    if skewed:
        parts.append(("skewed", Pipeline([
            ("log1p", FunctionTransformer(_log1p_clipped, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median", add_indicator=add_indicator, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]), skewed))
    if plain:
        parts.append(("plain", Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=add_indicator, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]), plain))
    if cats:
        parts.append(("onehot", Pipeline([
            ("text", FunctionTransformer(_as_text, feature_names_out="one-to-one")),
            ("encode", OneHotEncoder(categories=[categories[c] for c in cats], handle_unknown="ignore",
                                     sparse_output=False)),
        ]), cats))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def _as_text(x):
    """Object array of text levels with blanks as the string '<missing>' (never a known level)."""
    arr = np.asarray(pd.DataFrame(x).astype(object), dtype=object)
    return np.where(pd.isna(arr), "<missing>", arr).astype(str).astype(object)
