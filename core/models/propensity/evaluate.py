"""The propensity models on the test rows (metrics with intervals, calibration, deciles,
capture, budget, profit, grade, the comparison with their peers), and the candidate
features judged on the validation rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score, roc_auc_score

from core.models import evaluation as ev
from core.models.features import model_frame
from core.models.propensity.calibration import apply_calibrator
from core.models.propensity.model import PropensityModels, _params
from core.settings import PropensitySettings


def evaluate(models: PropensityModels, clean: pd.DataFrame, spec, split: np.ndarray, settings: PropensitySettings,
             seed: int) -> dict:
    """Everything the run reports about the model, measured once on the test rows.

    Returns a JSON-safe dict:

    - ``comparison``: one row per scorer (recency only when the spec names a
      ``recency_column``, logistic regression, XGBoost before and after calibration, and
      the generator's ``_true_propensity`` as ``oracle`` when present) with ROC-AUC and
      PR-AUC (average precision) and their 95% bootstrap intervals, log loss, Brier score,
      ECE (probabilities only) and top-decile lift;
    - ``xgboost`` (calibrated), ``xgboost_uncalibrated``, ``logistic``, ``oracle``: the
      same figures by name;
    - ``calibration``: reliability tables before and after, and the method;
    - ``deciles_xgboost``, ``capture``, ``budget``, ``profit``, ``grade``;
    - ``curves_xgboost`` and ``curves_logistic`` (ROC and PR points);
    - on a log-built table (an evaluation-only ``_bgnbd_p`` column), the BG/NBD row and
      ``paired_differences["bgnbd"]``: XGBoost minus BG/NBD, ROC-AUC and PR-AUC with paired
      bootstrap intervals.
    """
    y = clean[spec.target].to_numpy(int)
    te = split == "test"
    yt = y[te]
    X, _ = models.frame(clean.loc[te], spec)
    p_raw = models.predict_uncalibrated_X(X)
    p_cal = apply_calibrator(models.calibrator, p_raw)
    scorers = {}
    if spec.recency_column:
        r = clean.loc[te, spec.recency_column].to_numpy(float)
        scorers["recency"] = (-np.where(np.isnan(r), np.nanmax(r) if not np.isnan(r).all() else 0, r), False)
    scorers["logistic"] = (models.predict_baseline(clean.loc[te]), True)
    if "_bgnbd_p" in clean:  # a log-built table: BG/NBD fitted at the test cutoff, the peer to beat
        scorers["bgnbd"] = (clean.loc[te, "_bgnbd_p"].to_numpy(float), True)
    scorers["xgboost_uncalibrated"] = (p_raw, True)
    scorers["xgboost"] = (p_cal, True)
    if "_true_propensity" in clean:
        scorers["oracle"] = (clean.loc[te, "_true_propensity"].to_numpy(float), True)
    labels = {"recency": f"recency only ({spec.recency_column}, fewer days first)", "logistic": "logistic regression",
              "bgnbd": "BG/NBD, P(a purchase in the horizon) (Fader, Hardie & Lee 2005)",
              "xgboost_uncalibrated": "XGBoost, uncalibrated",
              "xgboost": f"XGBoost, calibrated ({models.calibrator['method']})",
              "oracle": "oracle (the generator's true propensity)"}
    out, rows = {}, []
    for i, (name, (score, is_prob)) in enumerate(scorers.items()):
        m = ev.classification_metrics(yt, score)
        ci = ev.bootstrap_intervals(yt, score, settings.bootstrap_resamples, seed + 7)
        m["roc_auc_ci"], m["pr_auc_ci"] = ci["roc_auc"], ci["pr_auc"]
        m.update(ev.probability_metrics(yt, score) if is_prob else {"log_loss": None, "brier": None, "ece": None})
        out[name] = m
        rows.append({"model": labels[name], "key": name, **{k: m[k] for k in (
            "roc_auc", "roc_auc_ci", "pr_auc", "pr_auc_ci", "log_loss", "brier", "ece", "lift_top_decile")}})
    out["comparison"] = rows
    out["calibration"] = {
        "method": models.calibrator["method"], "why": models.calibrator.get("why", ""),
        "before": ev.calibration_table(yt, p_raw).to_dict("records"),
        "after": ev.calibration_table(yt, p_cal).to_dict("records"),
        "ece_before": out["xgboost_uncalibrated"]["ece"], "ece_after": out["xgboost"]["ece"],
    }
    out["deciles_xgboost"] = ev.decile_table(yt, p_cal).to_dict("records")
    out["capture"] = ev.capture_table(yt, p_cal, base_size=len(clean)).to_dict("records")
    out["budget"] = ev.budget_table(yt, p_cal).to_dict("records")
    out["profit"] = ev.profit_at_threshold(yt, p_cal, settings.contact_cost, settings.conversion_value)
    out["grade"] = ev.quality_grade(out["xgboost"]["roc_auc"], out["xgboost"]["lift_top_decile"], float(yt.mean()))
    out["curves_xgboost"] = ev.curves(yt, p_cal)
    out["curves_logistic"] = ev.curves(yt, scorers["logistic"][0])
    if "bgnbd" in scorers:
        out["paired_differences"] = {"bgnbd": ev.paired_bootstrap_difference(
            yt, p_cal, scorers["bgnbd"][0], settings.bootstrap_resamples, seed + 11)}
    return out


#: Fixed XGBoost settings of :func:`judge_candidates` (a quick, untuned comparison).
JUDGE_PARAMS = {"max_depth": 5, "eta": 0.05, "min_child_weight": 5, "subsample": 0.8, "colsample_bytree": 0.8}


def judge_candidates(clean: pd.DataFrame, spec, split: np.ndarray, categories: dict, candidates: list[str],
                     seed: int, n_jobs: int = 2) -> dict:
    """Whether candidate features earn their place, judged on the validation rows only.

    Two XGBoost models with the fixed :data:`JUDGE_PARAMS` (up to 600 rounds, early stopping
    after 40 without improvement of the validation log loss) are trained on the train rows,
    with and without ``candidates``; the candidates are kept when the validation ROC-AUC
    with them is higher. The test rows are never read.

    Parameters
    ----------
    clean : validated table with the target (n rows); split : ``train``/``val``/``test``
        of shape (n,); candidates : names among ``spec.feature_names``.

    Returns
    -------
    dict: ``candidates``, ``keep`` (bool), ``val_roc_auc_with``, ``val_roc_auc_without``,
    ``val_pr_auc_with``, ``val_pr_auc_without``; ``keep`` True without a judgement
    (``reason`` says why) when the split has no validation rows with both classes.
    """
    y = clean[spec.target].to_numpy(int)
    tr, va = split == "train", split == "val"
    out = {"candidates": list(candidates)}
    if not va.any() or y[va].min() == y[va].max() or not candidates:
        return {**out, "keep": True, "reason": "no validation rows with buyers and non-buyers to judge on"}
    X, _ = model_frame(clean, spec, categories)
    params = _params(JUDGE_PARAMS, seed, n_jobs)
    figures = {}
    for name, cols in (("with", list(spec.feature_names)),
                       ("without", [c for c in spec.feature_names if c not in candidates])):
        dtr = xgb.DMatrix(X.loc[tr, cols], label=y[tr], enable_categorical=True)
        dva = xgb.DMatrix(X.loc[va, cols], label=y[va], enable_categorical=True)
        b = xgb.train(params, dtr, num_boost_round=600, evals=[(dva, "val")], early_stopping_rounds=40,
                      verbose_eval=False)
        p = b.predict(dva, iteration_range=(0, b.best_iteration + 1))
        figures[f"val_roc_auc_{name}"] = float(roc_auc_score(y[va], p))
        figures[f"val_pr_auc_{name}"] = float(average_precision_score(y[va], p))
    return {**out, **figures, "keep": figures["val_roc_auc_with"] > figures["val_roc_auc_without"]}
