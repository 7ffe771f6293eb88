"""Purchase propensity: a logistic-regression baseline and a tuned, calibrated XGBoost.

- Split: stratified random train / validation / test (70/15/15 by default, seeded;
  ``sklearn.model_selection.train_test_split``), or out of time when the spec names a
  ``snapshot_column``: the latest snapshot is the test set, earlier ones train and
  validate (:func:`split_rows`).
- Leakage guard (:func:`leakage_check`): a feature that alone separates the target with
  ROC-AUC above ``leakage_max_auc``, or whose name says it is measured after the
  prediction date, stops training unless the spec lists it under ``allow_leaky``.
- Baseline: scikit-learn ``LogisticRegression`` (L2) on the shared preprocessor (median
  imputation with missing indicators, log1p of skewed kinds, scaling, one-hot).
- XGBoost (Chen & Guestrin 2016, KDD): histogram trees, native missing values and native
  categorical splits, early stopping on the validation log loss. Hyperparameters are
  tuned with Optuna's TPE sampler (Akiba et al. 2019, KDD; seeded), at most
  ``tune_trials`` trials (fewer on a small table: :func:`trial_budget`; ``tune_seconds`` only
  caps a far slower machine), on the validation log loss; tree
  depth is searched up to ``tune_max_depth`` (shallow trees score as well here and keep
  exact reasons for every customer fast, see :mod:`core.models.fastshap`); of the trials within
  ``tune_tolerance`` (relative) of the best log loss, the one with the fewest internal
  nodes is kept: a smaller model that scores as well. ``scale_pos_weight``
  (negatives / positives) on and off are compared by validation PR-AUC and the better kept:
  imbalance is otherwise left to the metrics and the calibration, never resampled.
- Small tables: when the validation rows hold fewer than ``cv_below_val_positives``
  positives, one validation set is too noisy to tune or calibrate on, so train and
  validation rows are pooled and ``cv_folds``-fold stratified cross-validation stands in
  for it: trials are scored by the mean fold log loss, the calibrator is fitted on the
  out-of-fold predictions, and the final model is refitted on all pooled rows with the
  folds' mean best number of trees times k/(k-1) (it sees that many times more rows).
- Calibration (:func:`fit_calibrator`): Platt scaling (Platt 1999) and, with at least
  ``isotonic_min_positives`` positives, isotonic regression (Zadrozny & Elkan 2002), and
  no calibration, compared by 5-fold cross-fitted Brier score on the validation
  predictions; the winner is refitted on all of them. The test rows are touched once.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from core.models import evaluation as ev
from core.settings import PropensitySettings
from core.errors import DataError
from core.models.features import build_preprocessor, model_frame

#: Training refuses tables with fewer positives or negatives than this: with 15% test rows,
#: 100 positives leave 15 test positives, about the least that gives a usable ROC-AUC
#: interval; commercial AutoML tools set floors of the same order.
MIN_CLASS_COUNT = 100

#: The out-of-time test snapshot needs at least this many positives and negatives (as a
#: segment needs for its own ROC-AUC, see :data:`core.models.evaluation.MIN_SEGMENT_CLASS`).
MIN_TEST_CLASS = 50

#: Words in a column name that say it is measured after the prediction date.
LEAKY_WORDS = ("next", "future", "after", "post", "outcome", "subsequent", "following")


def split_rows(y: np.ndarray, settings: PropensitySettings, seed: int, snapshot: pd.Series | None = None) -> np.ndarray:
    """Assign each row to ``"train"``, ``"val"`` or ``"test"``.

    Parameters
    ----------
    y : 0/1 array of shape (n,).
    snapshot : optional dates (n,) of each row's snapshot; when given, the rows of the
        latest snapshot are the test set; with three or more snapshots the one before it is
        the validation set and the earlier ones train (out of time throughout); with two,
        the earlier rows are split into train and validation (stratified, validation share
        ``val_share / (1 - test_share)``).

    Returns
    -------
    ndarray of shape (n,) of str.

    Raises
    ------
    DataError
        Fewer than :data:`MIN_CLASS_COUNT` positives or negatives; a single snapshot; a
        test snapshot or earlier rows without both classes.
    """
    y = np.asarray(y)
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if min(pos, neg) < MIN_CLASS_COUNT:
        raise DataError(f"too little to learn from: {pos} positives and {neg} negatives "
                        f"(need at least {MIN_CLASS_COUNT} of each)")
    idx = np.arange(len(y))
    out = np.empty(len(y), dtype=object)
    if snapshot is not None:
        dates = pd.to_datetime(snapshot)
        latest = dates.max()
        te = np.flatnonzero((dates == latest).to_numpy())
        rest = np.flatnonzero((dates < latest).to_numpy())
        if len(rest) == 0:
            raise DataError(f"out-of-time split needs at least two snapshots; all rows are of {latest.date()}")
        for name, part in (("the latest snapshot", te), ("the earlier snapshots", rest)):
            pos_p, neg_p = int(y[part].sum()), int(len(part) - y[part].sum())
            if min(pos_p, neg_p) < MIN_TEST_CLASS:
                raise DataError(f"out-of-time split: {name} ({latest.date() if part is te else 'before it'}) hold "
                                f"{pos_p} positives and {neg_p} negatives; need at least {MIN_TEST_CLASS} of each "
                                "to test on")
        dates_rest = dates.iloc[rest]
        if dates_rest.nunique() >= 2:  # out of time: validate on the snapshot before the test one
            second = dates_rest.max()
            va, tr = rest[(dates_rest == second).to_numpy()], rest[(dates_rest < second).to_numpy()]
            pos_v = int(y[va].sum())
            if min(pos_v, len(va) - pos_v) < MIN_TEST_CLASS:
                raise DataError(f"out-of-time split: the validation snapshot ({second.date()}) holds {pos_v} "
                                f"positives and {len(va) - pos_v} negatives; need at least {MIN_TEST_CLASS} of each")
        else:
            share = settings.val_share / (1 - settings.test_share)
            tr, va = train_test_split(rest, test_size=share, stratify=y[rest], random_state=seed)
    else:
        holdout = settings.val_share + settings.test_share
        tr, rest = train_test_split(idx, test_size=holdout, stratify=y, random_state=seed)
        va, te = train_test_split(rest, test_size=settings.test_share / holdout, stratify=y[rest], random_state=seed + 1)
    out[tr], out[va], out[te] = "train", "val", "test"
    return out


def _name_words(name: str) -> list[str]:
    """Lower-case words of a column name (snake_case, camelCase, digits split off)."""
    parts = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^A-Za-z]+", parts.lower()) if w]


def _single_auc(x: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC of one score in either direction: max(AUC, 1 - AUC); 0.5 for a constant."""
    if len(np.unique(x)) < 2:
        return 0.5
    auc = float(roc_auc_score(y, x))
    return max(auc, 1 - auc)


def leakage_check(clean: pd.DataFrame, spec, y: np.ndarray, rows: np.ndarray, max_auc: float = 0.95,
                  seed: int = 0) -> dict:
    """Stop training on a feature that looks like it leaks the outcome.

    A feature is suspect when its name contains one of :data:`LEAKY_WORDS` (it says it is
    measured after the prediction date) or when, alone, it separates the target with
    ROC-AUC above ``max_auc`` (either direction) on ``rows`` (bool mask). A number is scored
    as it is with missing values ranked below and then above all values (a column filled
    only for buyers leaks through its blanks); a category by its purchase rate estimated
    out of fold (5 folds, seeded), so a column of many random codes does not look
    predictive by fitting its own rows; blanks are a category. Features listed in the
    spec's ``allow_leaky`` are let through.

    Returns ``{column: single-feature ROC-AUC}`` for every feature (for the run).

    Raises
    ------
    DataError
        Naming the first suspect column and what to do.
    """
    yr = np.asarray(y)[rows]
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(yr, yr)) if min(
        yr.sum(), len(yr) - yr.sum()) >= 5 else [(np.arange(len(yr)), np.arange(len(yr)))]
    aucs = {}
    for c in spec.columns:
        v = clean[c.name][rows]
        if c.is_categorical:
            codes = v.astype(object).where(v.notna(), "<missing>").to_numpy()
            x = np.full(len(yr), yr.mean())
            for a, b in folds:
                rate = pd.Series(yr[a]).groupby(codes[a]).mean()
                x[b] = pd.Series(codes[b]).map(rate).fillna(yr[a].mean()).to_numpy(float)
            aucs[c.name] = _single_auc(x, yr)
        else:
            x = v.to_numpy(float)
            miss = np.isnan(x)
            if miss.all():
                aucs[c.name] = 0.5
            else:
                lo, hi = np.nanmin(x), np.nanmax(x)
                aucs[c.name] = max(_single_auc(np.where(miss, lo - 1, x), yr), _single_auc(np.where(miss, hi + 1, x), yr))
        if c.name in spec.allow_leaky:
            continue
        words = [w for w in _name_words(c.name) if w in LEAKY_WORDS]
        if words:
            raise DataError(f"column '{c.name}': its name says it is measured after the prediction date "
                            f"('{words[0]}'); a model trained on it would not work when scoring. Drop it from the "
                            "spec, or list it under allow_leaky if it is known at prediction time")
        if aucs[c.name] > max_auc:
            raise DataError(f"column '{c.name}': alone it predicts the target with ROC-AUC {aucs[c.name]:.3f} (above "
                            f"{max_auc}), so it very likely leaks the outcome. Drop it from the spec, or list it "
                            "under allow_leaky if it is known at prediction time")
    return aucs


# --------------------------------------------------------------------------- calibration

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
    which changed the last digit of its Brier score between ``n_jobs`` 1 and 2 at 36,000
    validation rows.
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


# --------------------------------------------------------------------------- the models

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
    well before all of them (the chosen trial is then refitted on every train row with its
    own early stopping, so the final model still sees them all)."""
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
    (10,200 rows of the generated table: 40 trials within 0.3010..0.3058, the fold
    standard error about 0.003), so more trials chase noise at a fixed cost per trial."""
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
