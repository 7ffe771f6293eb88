"""Monitoring a run in production: drift between the training table and a new table (PSI
per feature and for the score, segment-share shift, missing-rate shift), and the backtest
of a past scoring against the purchases that followed it.

Population stability index (Siddiqi 2006, *Credit Risk Scorecards*, ch. 8; Yurdakul 2018,
"Statistical properties of the population stability index", Western Michigan University):

    PSI = sum over bins of (a_i - e_i) * ln(a_i / e_i)

with ``e_i`` the share of the training table in bin ``i`` and ``a_i`` the new table's share.
Bins: deciles of the training values for a numeric column (fewer when values repeat),
one bin per category for a categorical column (new categories share an "other" bin), and
missing values always as a bin of their own, so a column that starts arriving blank
drifts. Shares are floored at :data:`EPS` so an empty bin does not give an infinite PSI.
Reading: below :data:`WATCH` (0.1) no material shift; :data:`WATCH` to :data:`ACT` (0.25)
watch it; above :data:`ACT` act (the conventional thresholds of the sources above).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import DataError
from core.models import evaluation
from core.pipeline.scoring import ScoringModel

WATCH = 0.10
ACT = 0.25
EPS = 1e-4
MISSING = "(missing)"
OTHER = "(other)"


def flag(value: float) -> str:
    """``ok``, ``watch`` or ``act`` for a PSI value (thresholds :data:`WATCH`, :data:`ACT`)."""
    if value is None or not np.isfinite(value):
        return "ok"
    return "act" if value >= ACT else "watch" if value >= WATCH else "ok"


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two count (or share) vectors over the same bins (shape (k,)).

    Raises ValueError when the shapes differ or either vector sums to zero.
    """
    e, a = np.asarray(expected, float), np.asarray(actual, float)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("psi needs two non-empty count vectors over the same bins")
    e = np.maximum(e / e.sum(), EPS)
    a = np.maximum(a / a.sum(), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def make_bins(train: pd.Series, categorical: bool, n_bins: int = 10) -> dict:
    """The bins of one column, learned from the training values.

    Returns ``{"kind": "categorical", "categories": [...]}`` or ``{"kind": "numeric",
    "edges": [...]}`` (inner cut points: quantiles ``1/n_bins .. (n_bins-1)/n_bins`` of the
    non-missing training values, duplicates dropped).
    """
    if categorical:
        cats = sorted(train.dropna().astype(str).unique().tolist())
        return {"kind": "categorical", "categories": cats}
    x = pd.to_numeric(train, errors="coerce").to_numpy(float)
    x = x[np.isfinite(x)]
    edges = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1])) if len(x) else np.array([])
    return {"kind": "numeric", "edges": edges.tolist()}


def bin_counts(values: pd.Series, bins: dict) -> tuple[np.ndarray, list[str]]:
    """Counts of ``values`` (n,) in ``bins`` (from :func:`make_bins`), the missing bin last.

    Returns ``(counts of shape (k,), bin labels)``.
    """
    if bins["kind"] == "categorical":
        cats = bins["categories"]
        v = values.astype("string")
        known = v.isin(cats).fillna(False).to_numpy(bool)
        miss = v.isna().to_numpy(bool)
        counts = [int((v[known] == c).sum()) for c in cats] + [int((~known & ~miss).sum()), int(miss.sum())]
        return np.array(counts), cats + [OTHER, MISSING]
    x = pd.to_numeric(values, errors="coerce").to_numpy(float)
    miss = ~np.isfinite(x)
    edges = np.asarray(bins["edges"], float)
    idx = np.searchsorted(edges, x[~miss], side="right")  # bin i: edges[i-1] < x <= edges[i]
    counts = np.bincount(idx, minlength=len(edges) + 1).tolist() + [int(miss.sum())]
    bounds = [-np.inf, *edges, np.inf]
    labels = [f"({bounds[i]:.4g}, {bounds[i + 1]:.4g}]" for i in range(len(edges) + 1)] + [MISSING]
    return np.array(counts), labels


def column_psi(train: pd.Series, new: pd.Series, categorical: bool, n_bins: int = 10) -> dict:
    """PSI of one column with its bins: ``{"psi", "flag", "bins": [{"bin", "train_share",
    "new_share"}], "missing_train", "missing_new"}`` (missing shares in 0..1)."""
    bins = make_bins(train, categorical, n_bins)
    e, labels = bin_counts(train, bins)
    a, _ = bin_counts(new, bins)
    value = psi(e, a)
    return {"psi": value, "flag": flag(value),
            "bins": [{"bin": lab, "train_share": float(ei / e.sum()), "new_share": float(ai / a.sum())}
                     for lab, ei, ai in zip(labels, e, a)],
            "missing_train": float(train.isna().mean()), "missing_new": float(new.isna().mean())}


def drift_report(train: pd.DataFrame, new: pd.DataFrame, spec, train_scored: pd.DataFrame | None = None,
                 new_scored: pd.DataFrame | None = None, n_bins: int = 10) -> dict:
    """Drift of a new table against the training table.

    Parameters
    ----------
    train, new : validated feature tables (the run's ``features.parquet``, and the new
        table after :func:`core.inputs.validation.validate`) with the spec's feature columns.
    spec : the run's :class:`~core.inputs.spec.DatasetSpec`.
    train_scored, new_scored : optional scored tables (``propensity``, ``segment_id``) for
        the score's PSI and the segment-share shift.

    Returns
    -------
    dict: ``features`` (one row per feature: ``feature``, ``label``, ``psi``, ``flag``,
    ``missing_train``, ``missing_new``, ``missing_change``; worst first), ``bins``
    (``{feature: bins}``), ``score`` (PSI of the propensity on the training table's deciles),
    ``segments`` (``segment_id``, ``share_train``, ``share_new``, ``change``), ``summary``
    (counts per flag, rows), ``thresholds``.

    Raises ValueError when either table is empty.
    """
    if len(train) == 0 or len(new) == 0:
        raise ValueError("drift needs a non-empty training table and a non-empty new table")
    rows, bins = [], {}
    for col in spec.columns:
        if col.name not in train or col.name not in new:
            continue
        r = column_psi(train[col.name], new[col.name], col.is_categorical, n_bins)
        bins[col.name] = r.pop("bins")
        rows.append({"feature": col.name, "label": col.label or col.name, **r,
                     "missing_change": r["missing_new"] - r["missing_train"]})
    rows.sort(key=lambda r: -r["psi"])
    out = {"features": rows, "bins": bins, "thresholds": {"watch": WATCH, "act": ACT},
           "rows": {"train": int(len(train)), "new": int(len(new))}}
    if train_scored is not None and new_scored is not None:
        s = column_psi(train_scored["propensity"], new_scored["propensity"], False, n_bins)
        out["score"] = {"psi": s["psi"], "flag": s["flag"], "bins": s["bins"],
                        "mean_train": float(train_scored["propensity"].mean()),
                        "mean_new": float(new_scored["propensity"].mean())}
        st = train_scored["segment_id"].value_counts(normalize=True)
        sn = new_scored["segment_id"].value_counts(normalize=True)
        ids = sorted(set(st.index) | set(sn.index))
        out["segments"] = [{"segment_id": int(i), "share_train": float(st.get(i, 0.0)),
                            "share_new": float(sn.get(i, 0.0)), "change": float(sn.get(i, 0.0) - st.get(i, 0.0))}
                           for i in ids]
        out["segments_psi"] = psi(np.array([st.get(i, 0.0) for i in ids]), np.array([sn.get(i, 0.0) for i in ids]))
    flags = [r["flag"] for r in rows]
    out["summary"] = {"act": flags.count("act"), "watch": flags.count("watch"), "ok": flags.count("ok")}
    return out


def backtest(scores: pd.DataFrame, outcomes: pd.DataFrame, target: str, id_column: str = "customer_id",
             n_resamples: int = 1000, seed: int = 0) -> dict:
    """Compare a past scoring with realised outcomes, once the prediction window has passed.

    Parameters
    ----------
    scores : a scored table as written by ``python -m core score`` (``customer_id``,
        ``propensity``, ``propensity_decile``, ``segment_id``, optional ``persona`` (or
        ``segment_name``) and ``run_id``).
    outcomes : one row per customer with ``id_column`` and the 0/1 ``target``.
    target : the outcome column's name.

    Returns
    -------
    dict: ``rows`` (scored, with an outcome, scored without one), ``roc_auc`` and
    ``pr_auc`` (average precision) with 95% bootstrap intervals
    (:func:`core.models.evaluation.bootstrap_intervals`), ``base_rate``, ``mean_predicted``,
    ``log_loss``, ``brier``, ``ece`` (:func:`core.models.evaluation.probability_metrics`),
    ``deciles`` and ``segments`` (customers, predicted = mean propensity, realised rate;
    per decile and per segment) and ``run_id``.

    Raises
    ------
    ValueError
        A needed column is missing (named), the outcome is not 0/1, ids repeat, or no
        scored customer has an outcome with both classes present.
    """

    for name, df, cols in (("scores", scores, ["customer_id", "propensity", "propensity_decile", "segment_id"]),
                           ("outcomes", outcomes, [id_column, target])):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{name}: column '{missing[0]}' is missing")
    if outcomes[id_column].duplicated().any():
        dup = outcomes.loc[outcomes[id_column].duplicated(), id_column].iloc[0]
        raise ValueError(f"outcomes: customer '{dup}' appears more than once")
    y_all = pd.to_numeric(outcomes[target], errors="coerce")
    if not y_all.isin([0, 1]).all():
        bad = outcomes.loc[~y_all.isin([0, 1]), target].iloc[0]
        raise ValueError(f"outcomes: column '{target}' must be 0 or 1, found '{bad}'")
    out_ids = outcomes[id_column].astype(str)
    merged = scores.assign(customer_id=scores["customer_id"].astype(str)).merge(
        pd.DataFrame({"customer_id": out_ids, "_y": y_all.astype(int).to_numpy()}), on="customer_id", how="inner")
    if len(merged) == 0 or merged["_y"].nunique() < 2:
        raise ValueError("no scored customer has an outcome, or the outcomes hold one class only")
    y, p = merged["_y"].to_numpy(int), merged["propensity"].to_numpy(float)
    ci = evaluation.bootstrap_intervals(y, p, n_resamples, seed)
    m = evaluation.classification_metrics(y, p)

    def table(key):
        g = merged.groupby(key)
        t = pd.DataFrame({"customers": g.size(), "predicted": g["propensity"].mean(), "realised": g["_y"].mean()})
        return t.reset_index().to_dict("records")

    segments = table("segment_id")
    name_col = next((c for c in ("persona", "segment_name") if c in merged), None)
    if name_col:
        names = merged.drop_duplicates("segment_id").set_index("segment_id")[name_col]
        for r in segments:
            r["segment_name"] = names.get(r["segment_id"])
    return {"run_id": str(merged["run_id"].iloc[0]) if "run_id" in merged else None,
            "rows": {"scored": int(len(scores)), "with_outcome": int(len(merged)),
                     "scored_without_outcome": int(len(scores) - len(merged))},
            "roc_auc": m["roc_auc"], "roc_auc_ci": ci["roc_auc"], "pr_auc": m["pr_auc"], "pr_auc_ci": ci["pr_auc"],
            "base_rate": float(y.mean()), "mean_predicted": float(p.mean()),
            **evaluation.probability_metrics(y, p),
            "deciles": table("propensity_decile"), "segments": segments}


def drift_against_run(run, df: pd.DataFrame, source: str = "table", n_jobs: int = 2) -> dict:
    """Drift of a new table against the table run ``run`` (a :class:`core.runs.store.Run`)
    was trained on (:func:`drift_report`): every feature's PSI, the score's PSI and the
    segment-share shift, the new table being validated once and scored with the run.

    Raises
    ------
    DataError
        The run keeps no training features, or the new table does not validate against
        the run's spec.
    """
    from datetime import datetime, timezone

    if not run.has_table("features"):
        raise DataError(f"run {run.run_id} keeps no training features: retrain first")
    model = ScoringModel.load(run)
    clean, quality = model.validate(df, source)
    new_scored, _ = model.score_validated(clean, quality, n_jobs)
    report = drift_report(run.table("features"), clean, model.spec, run.table("scored"), new_scored)
    report.update(run_id=run.run_id, source=str(source),
                  created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return report
