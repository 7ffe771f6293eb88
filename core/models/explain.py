"""SHAP feature importance and per-customer reasons for the XGBoost propensity model.

SHAP values are computed with XGBoost's built-in TreeSHAP (``Booster.predict(...,
pred_contribs=True)``), the exact algorithm of Lundberg, Erion et al. 2020 ("From local
explanations to global understanding with explainable AI for trees", Nature Machine
Intelligence 2:56-67), the same values ``shap.TreeExplainer`` gives for this model, in
log-odds units. Global importance is the mean absolute SHAP value per feature over a
seeded sample of rows, and its sum per feature group.

Per customer, the three features with the largest |SHAP| become reason codes in plain
English with the customer's own value and the direction of the effect
(:func:`reason_texts`); the SHAP values for every customer come from
:class:`core.models.fastshap.TreeShapPatterns`, exact TreeSHAP computed once per decision pattern,
which is what keeps reasons for every customer inside the scoring time budget.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from core.inputs.spec import DatasetSpec
from core.models.fastshap import TreeShapPatterns


def shap_values(booster: xgb.Booster, X: pd.DataFrame, n_trees: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """XGBoost's exact TreeSHAP values of ``X`` (n rows, the model's feature columns by name),
    using the first ``n_trees`` trees (None: all; a booster kept after early stopping holds
    more trees than its best iteration).

    Returns
    -------
    values : ndarray of shape (n, n_features), log-odds contributions, columns as ``X``.
    base : ndarray of shape (n,), the expected log-odds (bias term).
    """
    d = xgb.DMatrix(X, enable_categorical=True)
    contrib = booster.predict(d, pred_contribs=True, iteration_range=(0, n_trees or 0))
    return contrib[:, :-1], contrib[:, -1]


def shap_importance(booster: xgb.Booster, X: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Mean |SHAP| per feature of ``X`` with XGBoost's TreeSHAP (:func:`importance_table`)."""
    values, _ = shap_values(booster, X)
    return importance_table(values, list(X.columns), spec)


def group_importance(importance: pd.DataFrame) -> pd.DataFrame:
    """Sum of mean |SHAP| by feature group: ``group``, ``mean_abs_shap``, ``share``."""
    g = importance.groupby("group", as_index=False)[["mean_abs_shap", "share"]].sum()
    return g.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)


def format_values(values: np.ndarray, kind: str, unit: str = "") -> np.ndarray:
    """Display text of a column's values (shape (n,) object): whole numbers for counts,
    money and durations, percentages for rates, yes/no for flags, years without a thousands
    separator (unit "year"), one decimal otherwise, "not recorded" for missing values."""
    out = np.full(len(values), "not recorded", dtype=object)
    if kind == "categorical":
        ok = pd.notna(values)
        out[ok] = values[ok].astype(str)
        return out
    v = np.asarray(values, dtype=float)
    ok = ~np.isnan(v)
    if not ok.any():
        return out
    uniq, inv = np.unique(v[ok], return_inverse=True)
    if unit == "year":
        text = [f"{x:.0f}" for x in uniq]
    elif kind == "rate":
        text = [f"{x:.0%}" for x in uniq]
    elif kind == "binary":
        text = ["yes" if x >= 0.5 else "no" for x in uniq]
    elif kind in ("count", "currency", "duration", "date"):
        text = [f"{x:,.0f}" for x in uniq]
    else:
        text = [f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}" for x in uniq]
    out[ok] = np.asarray(text, dtype=object)[inv]
    return out


#: Words ending in "s" that are not plurals and that the rules of :func:`singular` would
#: change (two-letter words and words ending in "ss" are never changed).
_NOT_PLURAL = {"was", "has", "its", "this", "plus", "series", "species"}


def singular(text: str) -> str:
    """``text`` (what follows a count in a reason template, " days ago") with its first word
    made singular, for a count of 1: "days" -> "day", "categories" -> "category"; words
    that are not plurals ("was", "in", "class") stay as they are."""
    head = text[:len(text) - len(text.lstrip())]
    word, _, rest = text.lstrip().partition(" ")
    low = word.lower()
    if low in _NOT_PLURAL or len(low) <= 2 or low.endswith("ss") or not low.endswith("s"):
        pass
    elif low.endswith("ies") and len(low) > 4:
        word = word[:-3] + "y"
    else:
        word = word[:-1]
    return head + word + (" " + rest if rest else "")


def reason_texts(X: pd.DataFrame, contrib: np.ndarray, spec: DatasetSpec, k: int = 3) -> pd.DataFrame:
    """The ``k`` strongest reasons of each row's score, in plain English.

    Parameters
    ----------
    X : the model inputs (n rows; columns the model's features, as
        :func:`core.models.features.model_frame` builds them).
    contrib : SHAP values, shape (n, n_features), columns in ``X``'s order (log-odds).
    spec : the data-set spec (each column's ``reason`` template, ``label`` and ``kind``).
    k : reasons per row (at most the number of features).

    Returns
    -------
    DataFrame with ``reason_1`` .. ``reason_k`` (text such as "Ordered 4 times in the last 90
    days (raises)", strongest first) and ``reason_1_feature`` .. (the column names). A
    feature with a SHAP value of exactly 0 is never given as a reason (the slot is empty).
    """
    names = list(X.columns)
    n, f = contrib.shape
    k = min(k, f)
    if n == 0:
        return pd.DataFrame({**{f"reason_{i + 1}": [] for i in range(k)},
                             **{f"reason_{i + 1}_feature": [] for i in range(k)}})
    mag = np.abs(contrib)
    top = np.argpartition(-mag, k - 1, axis=1)[:, :k] if k < f else np.tile(np.arange(f), (n, 1))
    order = np.argsort(-np.take_along_axis(mag, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    val = np.take_along_axis(contrib, top, axis=1)  # (n, k), strongest first
    texts = np.full((n, k), "", dtype=object)
    for j, col in enumerate(names):
        hit = top == j  # (n, k): where feature j is a reason
        hit &= val != 0
        r, slot = np.nonzero(hit)
        if not len(r):
            continue
        c = spec.column(col)
        label = c.label[:1].upper() + c.label[1:]
        pre, post = (c.reason or label + ": {value}").split("{value}", 1)
        values = X[col].iloc[r].to_numpy(dtype=object if c.is_categorical else float)
        shown = format_values(values, c.kind, c.unit)  # only the rows that need it
        missing = shown == "not recorded"
        body = np.where(missing, f"{label}: not recorded",
                        np.where(shown == "1", pre + "1" + singular(post), pre + shown.astype(str) + post)).astype(object)
        texts[r, slot] = body + np.where(val[r, slot] > 0, " (raises)", " (lowers)")
    out = {}
    feature_names = np.asarray(names, dtype=object)
    for slot in range(k):
        out[f"reason_{slot + 1}"] = texts[:, slot]
        out[f"reason_{slot + 1}_feature"] = np.where(val[:, slot] != 0, feature_names[top[:, slot]], "")
    return pd.DataFrame(out)


def contributions(explainer: TreeShapPatterns, X: pd.DataFrame, n_jobs: int = 2, min_rows: int = 20_000) -> np.ndarray:
    """Exact TreeSHAP values of ``X`` (shape (n, n_features), log-odds), the rows split in
    ``n_jobs`` equal parts explained in threads (NumPy and XGBoost release the GIL; one part
    per thread, as each part pays a fixed cost per tree block: on two cores two parts beat
    one, while many more parts than threads are slower than either). Tables under
    ``min_rows`` rows per part are explained in one go."""
    if n_jobs <= 1 or len(X) < n_jobs * min_rows:
        return explainer.shap_values(X)
    from concurrent.futures import ThreadPoolExecutor
    bounds = np.linspace(0, len(X), n_jobs + 1).astype(int)
    with ThreadPoolExecutor(n_jobs) as pool:
        parts = list(pool.map(lambda ab: explainer.shap_values(X.iloc[ab[0]:ab[1]]), zip(bounds[:-1], bounds[1:])))
    return np.vstack(parts)


def importance_table(contrib: np.ndarray, columns: list[str], spec: DatasetSpec) -> pd.DataFrame:
    """Mean |SHAP| per feature from SHAP values ``contrib`` (n, n_features), sorted
    descending: ``feature``, ``label``, ``group``, ``mean_abs_shap`` (log-odds), ``share``."""
    imp = np.abs(contrib).mean(axis=0)
    df = pd.DataFrame({
        "feature": columns,
        "label": [spec.column(c).label for c in columns],
        "group": [spec.column(c).group for c in columns],
        "mean_abs_shap": imp,
    })
    df["share"] = df["mean_abs_shap"] / max(df["mean_abs_shap"].sum(), 1e-12)
    return df.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)


def shap_points(X: pd.DataFrame, contrib: np.ndarray, features: list[str], spec: DatasetSpec) -> pd.DataFrame:
    """Long table for the SHAP summary (beeswarm-like) and dependence plots.

    One row per (sample row, feature in ``features``): ``feature``, ``label``, ``shap``
    (log-odds), ``value`` (the number, NaN when missing or categorical), ``value_text``
    (as shown to people) and ``value_rank`` (0..1 percentile of the value among the
    sample, 0.5 for missing and categorical values; the beeswarm's colour).
    """
    parts = []
    for f in features:
        j = list(X.columns).index(f)
        c = spec.column(f)
        raw = X[f]
        num = np.full(len(X), np.nan) if c.is_categorical else raw.to_numpy(float)
        rank = pd.Series(num).rank(pct=True).fillna(0.5).to_numpy()
        parts.append(pd.DataFrame({
            "feature": f, "label": c.label, "shap": contrib[:, j].astype(float), "value": num,
            "value_text": format_values(raw.to_numpy(dtype=object if c.is_categorical else float), c.kind, c.unit),
            "value_rank": rank}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["feature", "label", "shap", "value", "value_text", "value_rank"])


def agreement_with_treeshap(booster: xgb.Booster, n_trees: int, explainer: TreeShapPatterns, X: pd.DataFrame) -> dict:
    """How the reasons' SHAP values compare with XGBoost's exact TreeSHAP on rows ``X``.

    Returns ``rows``, ``top3_agreement`` (share of rows whose set of 3 largest-|SHAP|
    features is the same), ``top1_agreement`` and ``max_abs_diff`` (log-odds).
    """
    ref, _ = shap_values(booster, X, n_trees)
    mine = explainer.shap_values(X)

    def top(v, k):
        return np.sort(np.argsort(-np.abs(v), axis=1, kind="stable")[:, :k], axis=1)

    return {"rows": int(len(X)), "top3_agreement": float((top(ref, 3) == top(mine, 3)).all(axis=1).mean()),
            "top1_agreement": float((top(ref, 1) == top(mine, 1)).all(axis=1).mean()),
            "max_abs_diff": float(np.abs(ref - mine).max()) if len(X) else 0.0,
            # the label runs have carried since before core/ was cut into packages (the module is
            # core.models.fastshap now): kept as it was, so that the same training gives the same run
            "method": "exact TreeSHAP per decision pattern (core.fastshap) vs XGBoost pred_contribs"}

