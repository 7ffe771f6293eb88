"""The propensity models: the logistic baseline and the tuned XGBoost (Optuna on a sample
of the train rows, refitted on all of them with early stopping), calibrated."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from core.models.features import build_preprocessor, model_frame
from core.models.propensity.calibration import apply_calibrator, fit_calibrator
from core.settings import PropensitySettings


@dataclass
class PropensityModels:
    """The fitted baseline and XGBoost models and what scoring needs.

    Attributes
    ----------
    booster : xgboost.Booster, trained to the best iteration.
    baseline : sklearn Pipeline (preprocessor + LogisticRegression), or None when loaded
        for scoring.
    feature_names : list of str, model inputs in order.
    categories : dict of categorical levels fixed at training.
    decile_cuts : ndarray of shape (9,), the 10th..90th percentiles of the training rows'
        calibrated scores.
    best_iteration : int
    calibrator : dict from :func:`fit_calibrator`.
    info : tuning, imbalance and calibration details for the run.
    """

    booster: xgb.Booster
    baseline: Pipeline | None
    feature_names: list[str]
    categories: dict
    decile_cuts: np.ndarray
    best_iteration: int
    calibrator: dict = field(default_factory=lambda: {"method": "none"})
    info: dict = field(default_factory=dict)

    def frame(self, clean: pd.DataFrame, spec) -> tuple[pd.DataFrame, dict]:
        """The model inputs of ``clean`` (validated) and unseen-category counts per column."""
        X, unseen = model_frame(clean, spec, self.categories)
        return X[self.feature_names], unseen

    def predict_uncalibrated_X(self, X: pd.DataFrame) -> np.ndarray:
        """XGBoost probabilities before calibration, shape (n,)."""
        d = xgb.DMatrix(X, enable_categorical=True)
        return self.booster.predict(d, iteration_range=(0, self.best_iteration + 1))

    def predict_X(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated purchase probabilities of model inputs ``X``, shape (n,) in 0..1."""
        return apply_calibrator(self.calibrator, self.predict_uncalibrated_X(X))

    def predict(self, clean: pd.DataFrame, spec) -> tuple[np.ndarray, dict]:
        """Calibrated XGBoost purchase probability of each row of ``clean`` (validated).

        Returns ``(p, unseen)``: p of shape (n,) in 0..1, and the count of categorical
        values not seen at training per column (scored as missing).
        """
        X, unseen = self.frame(clean, spec)
        return self.predict_X(X), unseen

    def predict_baseline(self, clean: pd.DataFrame) -> np.ndarray:
        """Logistic-regression probability, shape (n,)."""
        return self.baseline.predict_proba(clean[self.feature_names])[:, 1]


def _params(trial_params: dict, seed: int, n_jobs: int, spw: float | None = None) -> dict:
    p = {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist", "max_cat_to_onehot": 1,
         "seed": seed, "nthread": n_jobs, "verbosity": 0, **trial_params}
    if spw is not None:
        p["scale_pos_weight"] = spw
    return p


def _train(params: dict, dtr, dva, rounds: int, early: int) -> xgb.Booster:
    return xgb.train(params, dtr, num_boost_round=rounds, evals=[(dva, "val")], early_stopping_rounds=early,
                     verbose_eval=False)


class _Folds:
    """The data a trial is scored on: one validation set, or K stratified folds of the
    pooled train + validation rows. ``evaluate(params)`` returns (log loss, PR-AUC, best
    trees, predictions on the held-out rows, booster or None)."""

    def __init__(self, X, y, tr, va, settings: PropensitySettings, seed: int):
        self.s = settings
        self.n_fit = int((tr | va).sum())  # train + validation rows
        self.cv = int(y[va].sum()) < settings.cv_below_val_positives
        if self.cv:
            pool = np.flatnonzero(tr | va)
            self.y = y[pool]
            self.rows = pool
            self.folds = []
            for a, b in StratifiedKFold(settings.cv_folds, shuffle=True, random_state=seed).split(pool, self.y):
                dtr = xgb.DMatrix(X.iloc[pool[a]], label=self.y[a], enable_categorical=True)
                dva = xgb.DMatrix(X.iloc[pool[b]], label=self.y[b], enable_categorical=True)
                self.folds.append((a, b, dtr, dva))
            self.dall = xgb.DMatrix(X.iloc[pool], label=self.y, enable_categorical=True)
        else:
            self.rows = np.flatnonzero(va)
            self.y = y[va]
            self.dtr = xgb.QuantileDMatrix(X[tr], label=y[tr], enable_categorical=True)
            self.dva = xgb.DMatrix(X[va], label=self.y, enable_categorical=True)
            self.tune_rows = tune_rows(y, tr, settings.tune_max_rows, seed)
            self.dtune = (self.dtr if self.tune_rows is None else
                          xgb.QuantileDMatrix(X.iloc[self.tune_rows], label=y[self.tune_rows], enable_categorical=True))

    def evaluate(self, params: dict, full: bool = False):
        """Score ``params``: on the tuning rows (all train rows, or the
        ``tune_max_rows`` sample of them), or with ``full`` on every train row."""
        s = self.s
        if not self.cv:
            b = _train(params, self.dtr if full else self.dtune, self.dva, s.n_estimators, s.early_stopping_rounds)
            pred = b.predict(self.dva, iteration_range=(0, b.best_iteration + 1))
            return self._score(pred, [b.best_iteration + 1], b)
        pred = np.empty(len(self.y))
        trees = []
        for a, bidx, dtr, dva in self.folds:
            b = _train(params, dtr, dva, s.n_estimators, s.early_stopping_rounds)
            pred[bidx] = b.predict(dva, iteration_range=(0, b.best_iteration + 1))
            trees.append(b.best_iteration + 1)
        return self._score(pred, trees, None)

    def _score(self, pred, trees, booster):
        pc = np.clip(pred, 1e-7, 1 - 1e-7)
        return (float(log_loss(self.y, pc, labels=[0, 1])), float(average_precision_score(self.y, pred)),
                int(round(np.mean(trees))), pred, booster)


def tune_rows(y: np.ndarray, train: np.ndarray, max_rows: int, seed: int) -> np.ndarray | None:
    """Positions of the train rows the trials fit on: None (all of them) when there are at
    most ``max_rows`` (or ``max_rows`` is 0), else a seeded sample of ``max_rows`` train
    rows stratified by ``y`` (``train_test_split``), sorted. ``y`` and the boolean
    ``train`` mask have shape (n,).

    Why: a trial's cost grows with its rows, while the ranking of hyperparameters settles
    well before all of them (measured by ``python -m benchmarks.bench_design``; the chosen
    trial is then refitted on every train row with its own early stopping, so the final
    model still sees them all)."""
    rows = np.flatnonzero(train)
    if not max_rows or len(rows) <= max_rows:
        return None
    picked, _ = train_test_split(rows, train_size=max_rows, stratify=y[rows], random_state=seed)
    return np.sort(picked)


def _space(trial, settings: PropensitySettings) -> dict:
    """Optuna search space (log scales for rates and regularisation)."""
    return {
        "max_depth": trial.suggest_int("max_depth", 2, settings.tune_max_depth),
        "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 100.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 30.0, log=True),
    }


def trial_budget(settings: PropensitySettings, rows: int) -> int:
    """Optuna trials for a table of ``rows`` train + validation rows: ``tune_trials`` scaled
    by ``rows / tune_full_rows``, rounded up, within ``[tune_min_trials, tune_trials]``.
    On a small table the trials' validation log losses differ by less than their noise
    (the folds' standard error, as seen on a small generated table), so more trials chase
    noise at a fixed cost per trial."""
    s = settings
    scaled = int(np.ceil(s.tune_trials * rows / s.tune_full_rows))
    return int(min(s.tune_trials, max(s.tune_min_trials, scaled)))


def tune(folds: _Folds, settings: PropensitySettings, seed: int, n_jobs: int, progress=None):
    """Optuna TPE search over :func:`_space`, seeded, :func:`trial_budget` trials; the
    settings' own parameters are the first trial. ``tune_seconds`` caps the search on a far
    slower machine than expected: then the trials run, and so the model, depend on the
    machine, which the progress says and ``stopped_by_time`` records. The chosen trial is
    the cheapest (fewest internal nodes) of those within ``tune_tolerance`` of the best
    validation log loss.

    Returns (chosen params, its evaluation, the trial table as a list of dicts, seconds,
    stopped_by_time)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    s = settings
    study.enqueue_trial({"max_depth": min(s.max_depth, s.tune_max_depth), "learning_rate": s.learning_rate,
                         "min_child_weight": s.min_child_weight, "subsample": s.subsample,
                         "colsample_bytree": s.colsample_bytree, "reg_lambda": 1.0})
    results = {}
    t_start = time.perf_counter()

    def objective(trial):
        params = _space(trial, s)
        t0 = time.perf_counter()
        ev = folds.evaluate(_params(params, seed, n_jobs))
        results[trial.number] = ev
        trial.set_user_attr("pr_auc", ev[1])
        trial.set_user_attr("trees", ev[2])
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 2))
        if progress:
            progress(f"trial {trial.number + 1}: log loss {ev[0]:.4f}, PR-AUC {ev[1]:.3f}, {ev[2]} trees")
        return ev[0]

    budget = trial_budget(s, folds.n_fit)
    study.optimize(objective, n_trials=budget, timeout=s.tune_seconds)
    if not any(t.value is not None for t in study.trials):  # Optuna checks the cap before each trial:
        study.optimize(objective, n_trials=1)                   # the settings' own trial always runs
    done = [t for t in study.trials if t.value is not None]
    stopped = len(done) < budget
    if stopped and progress:
        progress(f"tuning stopped at the {s.tune_seconds:.0f} s cap after {len(done)} of {budget} trials: on a faster "
                 "machine the same data would try more, so the model can differ (raise tune_seconds)")
    # a smaller model that scores as well: among trials within tune_tolerance (relative) of
    # the best validation log loss, the one with the fewest internal nodes (trees x
    # (2^depth - 1)), which is what scoring and exact reasons cost
    floor = min(t.value for t in done)
    cost = {t.number: t.user_attrs["trees"] * (2 ** t.params["max_depth"] - 1) for t in done}
    near = [t for t in done if t.value <= floor * (1 + s.tune_tolerance)]
    chosen = min(near, key=lambda t: (cost[t.number], t.value, t.number))
    table = [{"trial": t.number, **t.params, "val_log_loss": t.value, "val_pr_auc": t.user_attrs.get("pr_auc"),
              "trees": t.user_attrs.get("trees"), "internal_nodes": cost[t.number],
              "seconds": t.user_attrs.get("seconds"), "best": t.value == floor, "chosen": t.number == chosen.number}
             for t in done]
    return dict(chosen.params), results[chosen.number], table, round(time.perf_counter() - t_start, 1), stopped


def fit(clean: pd.DataFrame, spec, split: np.ndarray, categories: dict, settings: PropensitySettings,
        seed: int, n_jobs: int = 2, progress=None) -> PropensityModels:
    """Fit the baseline and the tuned, calibrated XGBoost on the train and validation rows.

    Parameters
    ----------
    clean : validated table with the target, n rows.
    split : from :func:`split_rows`, shape (n,); the test rows are not read.
    progress : optional callback ``(message)``.

    Returns
    -------
    PropensityModels (``info`` holds the trial table, the ``scale_pos_weight`` comparison,
    the calibration choice and the row counts).
    """
    say = progress or (lambda m: None)
    y = clean[spec.target].to_numpy(int)
    X, _ = model_frame(clean, spec, categories)
    X = X[list(spec.feature_names)]
    tr, va = (split == "train"), (split == "val")
    s = settings
    folds = _Folds(X, y, tr, va, s, seed)
    say(f"{s.cv_folds}-fold cross-validation on {len(folds.rows):,} train and validation rows (validation has under "
        f"{s.cv_below_val_positives} positives)" if folds.cv else f"validation: {int(va.sum()):,} rows")
    best_params, best_ev, trials, tune_s, stopped = tune(folds, s, seed, n_jobs, say)
    # class weights on and off, kept by validation PR-AUC (the better ranking of buyers)
    spw = float((y[tr | va] == 0).sum() / max(1, y[tr | va].sum()))
    ev_w = folds.evaluate(_params(best_params, seed, n_jobs, spw))
    use_w = ev_w[1] > best_ev[1]
    ev = ev_w if use_w else best_ev
    params = _params(best_params, seed, n_jobs, spw if use_w else None)
    sampled = not folds.cv and folds.tune_rows is not None
    if sampled:  # tuned on a sample of the train rows: the chosen model refitted on all of them
        say(f"refitting the chosen parameters on all {int(tr.sum()):,} train rows (tuned on {len(folds.tune_rows):,})")
        ev = folds.evaluate(params, full=True)
    if folds.cv:  # refit on all pooled rows: the folds' mean number of trees, scaled up as the
        # refit sees k/(k-1) times the rows each fold model saw
        rounds = max(1, int(round(ev[2] * s.cv_folds / (s.cv_folds - 1))))
        booster = xgb.train(params, folds.dall, num_boost_round=rounds)
        best = rounds - 1
    else:
        booster = ev[4]
        best = int(booster.best_iteration)
    calibrator = fit_calibrator(ev[3], folds.y, seed, s.isotonic_min_positives)
    baseline = Pipeline([
        ("prep", build_preprocessor(spec, spec.feature_names, categories, add_indicator=True)),
        ("logit", LogisticRegression(C=s.logistic_C, max_iter=2000)),
    ])
    fit_rows = (tr | va) if folds.cv else tr
    baseline.fit(clean.loc[fit_rows, spec.feature_names], y[fit_rows])
    models = PropensityModels(booster=booster, baseline=baseline, feature_names=list(spec.feature_names),
                              categories=categories, decile_cuts=np.zeros(9), best_iteration=best,
                              calibrator=calibrator)
    train_scores = models.predict_X(X[fit_rows])
    models.decile_cuts = np.quantile(train_scores, np.linspace(0.1, 0.9, 9))
    models.info = {
        "n_trees": best + 1, "params": best_params, "validation": "cross-validation" if folds.cv else "holdout",
        "cv_folds": s.cv_folds if folds.cv else None, "tuning_seconds": tune_s, "trials": trials,
        "tuning_stopped_by_time": stopped, "tune_rows": len(folds.tune_rows) if sampled else None,
        "scale_pos_weight": {"value": spw, "used": bool(use_w), "val_pr_auc_off": best_ev[1], "val_pr_auc_on": ev_w[1]},
        "calibration": {k: v for k, v in calibrator.items() if k not in ("x", "y")},
        "rows": {"train": int(tr.sum()), "val": int(va.sum()), "test": int((split == "test").sum())},
    }
    return models
