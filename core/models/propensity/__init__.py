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
  depth is searched up to ``tune_max_depth`` (shallow trees score as well as deeper ones,
  measured by ``python -m benchmarks.bench_design``, and keep exact reasons for every
  customer fast, see :mod:`core.models.fastshap`); of the trials within
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


The modules: :mod:`.split` (split and leakage guard), :mod:`.model` (baseline, tuned XGBoost,
calibrated scores), :mod:`.calibration`, :mod:`.evaluate` (test figures, candidate features).
Their public names are importable from this package.
"""
from core.models.propensity.calibration import apply_calibrator, fit_calibrator
from core.models.propensity.evaluate import JUDGE_PARAMS, evaluate, judge_candidates
from core.models.propensity.model import PropensityModels, fit, trial_budget, tune, tune_rows
from core.models.propensity.split import LEAKY_WORDS, MIN_CLASS_COUNT, MIN_TEST_CLASS, leakage_check, split_rows

__all__ = ["JUDGE_PARAMS", "LEAKY_WORDS", "MIN_CLASS_COUNT", "MIN_TEST_CLASS", "PropensityModels", "apply_calibrator", "evaluate", "fit", "fit_calibrator", "judge_candidates", "leakage_check", "split_rows", "trial_budget", "tune", "tune_rows"]
