"""The measurements behind the design choices of docs/design/: why the model is shallow, why
reasons use TreeSHAP per pattern, why tuning trials fit on a sample, why UMAP gets exact
neighbours and a numba cache, whether the generator's personas are in the data.

Run (about ten minutes on 2 cores; the default table is generated when absent)::

    python -m benchmarks.bench_design [--rows 240000] [--skip-tuning]

On the default table with the built-in spec and the settings' seed and split:

1. **Tree depth.** XGBoost at depths 2, 3, 4 and 6 (the rest of the first trial's
   parameters, early stopping on the validation rows): trees, fit time, test ROC-AUC and
   PR-AUC (average precision).
2. **Reasons.** Exact TreeSHAP values: XGBoost's ``pred_contribs`` against
   :class:`core.models.fastshap.TreeShapPatterns`, for the depth-2 model on every row and for
   a model of 300 trees of depth 6 on :data:`DEEP_ROWS` rows; the largest difference between
   the two.
3. **Tuning on a sample.** :func:`core.models.propensity.fit` with ``tune_max_rows`` as
   configured and with 0 (trials on every train row): time, chosen depth and learning rate,
   trees, test ROC-AUC and PR-AUC.
4. **UMAP and HDBSCAN.** On the fitted sample's scaled segmentation inputs: one 5-D UMAP fit
   with exact neighbours (the product's path, :func:`core.models.segmentation.reducers.umap_many`)
   and with pynndescent's (umap-learn's own), one HDBSCAN candidate on the embedding; the
   first UMAP fit of a new process with an empty numba cache and with the cache filled.
5. **Personas.** The adjusted Rand index against the generator's personas of a classifier
   trained on persona labels (scikit-learn's HistGradientBoostingClassifier on the same
   scaled inputs, tested on customers it did not see): how far the personas are recoverable
   from the inputs at all, beside the segments' ARI in the default run's record.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import adjusted_rand_score, average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from benchmarks.records import ROOT, Record, command_line
from core.inputs import validation
from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.synthetic.shopsphere import ensure_default_data
from core.models import propensity
from core.models.fastshap import TreeShapPatterns
from core.models.features import build_preprocessor, learn_categories, model_frame
from core.models.segmentation.neighbours import quantize
from core.models.segmentation.reducers import CLUSTER_EPOCHS, layout_curve, pin_numba_target, umap_many
from core.settings import load_settings

#: A new process's first UMAP fit: 2,000 random points, as a first training's smallest fit.
_FIRST_FIT = """
import time, numpy as np
t0 = time.perf_counter()
from core.models.segmentation.reducers import umap_many
umap_many([(np.random.default_rng(0).normal(size=(2000, 12)), 5, 15, 0.0, 200, 0)])
print(time.perf_counter() - t0)
"""


#: Rows the deep model's SHAP values are timed on (XGBoost's TreeSHAP on every row of the
#: default table would take several minutes at depth 6).
DEEP_ROWS = 20_000


def _xgb_params(settings, seed: int, n_jobs: int, depth: int) -> dict:
    """XGBoost's parameters of the first tuning trial, at ``depth``."""
    p = settings.propensity
    return {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist", "max_cat_to_onehot": 1,
            "seed": seed, "nthread": n_jobs, "verbosity": 0, "max_depth": depth, "learning_rate": p.learning_rate,
            "min_child_weight": p.min_child_weight, "subsample": p.subsample, "colsample_bytree": p.colsample_bytree}


def _scores(y: np.ndarray, p: np.ndarray) -> dict:
    return {"test ROC-AUC": f"{roc_auc_score(y, p):.4f}", "test PR-AUC": f"{average_precision_score(y, p):.4f}"}


def depths(record: Record, X: pd.DataFrame, y: np.ndarray, split: np.ndarray, settings) -> dict[int, xgb.Booster]:
    """Section 1; returns the boosters by depth (early-stopped, ``best_iteration`` set)."""
    tr, va, te = (split == "train"), (split == "val"), (split == "test")
    dtr = xgb.QuantileDMatrix(X[tr], label=y[tr], enable_categorical=True)
    dva = xgb.DMatrix(X[va], label=y[va], enable_categorical=True)
    dte = xgb.DMatrix(X[te], enable_categorical=True)
    rows, boosters = [], {}
    for depth in (2, 3, 4, 6):
        t0 = time.perf_counter()
        b = xgb.train(_xgb_params(settings, settings.seed, settings.n_jobs, depth), dtr,
                      num_boost_round=settings.propensity.n_estimators, evals=[(dva, "val")],
                      early_stopping_rounds=settings.propensity.early_stopping_rounds, verbose_eval=False)
        seconds = time.perf_counter() - t0
        p = b.predict(dte, iteration_range=(0, b.best_iteration + 1))
        boosters[depth] = b
        rows.append({"depth": depth, "trees": b.best_iteration + 1, "fit (s)": f"{seconds:.1f}", **_scores(y[te], p)})
        print(rows[-1], flush=True)
    record.table("Propensity: tree depth (early stopping on the validation rows, the same split)", rows,
                 "Uncalibrated XGBoost with the first tuning trial's other parameters.")
    return boosters


def reasons(record: Record, X: pd.DataFrame, y: np.ndarray, split: np.ndarray, settings, shallow: xgb.Booster) -> None:
    """Section 2: XGBoost's TreeSHAP against TreeSHAP per pattern on every row."""
    tr = split == "train"
    deep = xgb.train(_xgb_params(settings, settings.seed, settings.n_jobs, 6),
                     xgb.QuantileDMatrix(X[tr], label=y[tr], enable_categorical=True), num_boost_round=300)
    rows = []
    for name, booster, n_trees, part in (("depth 2, early-stopped", shallow, shallow.best_iteration + 1, X),
                                         ("depth 6, 300 trees", deep, 300, X.iloc[:DEEP_ROWS])):
        model = booster[:n_trees]
        d = xgb.DMatrix(part, enable_categorical=True)
        t0 = time.perf_counter()
        ref = model.predict(d, pred_contribs=True)[:, :-1]
        t_xgb = time.perf_counter() - t0
        t0 = time.perf_counter()
        patterns = TreeShapPatterns(model, n_trees)
        ours = patterns.shap_values(part)
        t_ours = time.perf_counter() - t0
        rows.append({"model": name, "rows": f"{len(part):,}", "XGBoost pred_contribs (s)": f"{t_xgb:.1f}",
                     "TreeSHAP per pattern (s)": f"{t_ours:.1f}", "speed-up": f"{t_xgb / t_ours:.1f}x",
                     "largest difference": f"{float(np.abs(ref - ours).max()):.1e}"})
        print(rows[-1], flush=True)
    record.table("Reasons: exact TreeSHAP values", rows,
                 f"Both on {settings.n_jobs} threads; the parsing of the trees is counted in the per-pattern time. "
                 "A block of trees with too many decisions to tabulate is left to XGBoost's TreeSHAP "
                 "(fastshap.MAX_PATTERN_BITS), as in the deep model; the deep model is timed on its first "
                 f"{DEEP_ROWS:,} rows.")


def tuning(record: Record, clean: pd.DataFrame, spec, y: np.ndarray, split: np.ndarray, cats: dict, settings) -> None:
    """Section 3: trials on a sample of the train rows against trials on every train row."""
    X, _ = model_frame(clean, spec, cats)
    te = split == "test"
    rows = []
    for rows_cap in (settings.propensity.tune_max_rows, 0):
        s = dataclasses.replace(settings.propensity, tune_max_rows=rows_cap)
        t0 = time.perf_counter()
        models = propensity.fit(clean, spec, split, cats, s, settings.seed, settings.n_jobs)
        seconds = time.perf_counter() - t0
        info = models.info
        p = models.predict_X(X.loc[te, list(spec.feature_names)])
        rows.append({"trials fit on": f"{info['tune_rows']:,} train rows (sample)" if info["tune_rows"] else
                     f"every train row ({info['rows']['train']:,})", "trials": len(info["trials"]),
                     "tuning (s)": f"{info['tuning_seconds']:.0f}", "whole fit (s)": f"{seconds:.0f}",
                     "chosen depth": info["params"]["max_depth"],
                     "learning rate": f"{info['params']['learning_rate']:.3g}", "trees": info["n_trees"],
                     **_scores(y[te], p)})
        print(rows[-1], flush=True)
    record.table("Tuning: trials on a sample of the train rows against every train row", rows,
                 "The product's propensity fit (tuning, class weights, calibration, refit on every train row), "
                 "calibrated scores on the test rows.")


def segmentation(record: Record, clean: pd.DataFrame, spec, cats: dict, settings) -> tuple[np.ndarray, np.ndarray]:
    """Section 4; returns the fitted sample's rows (m,) and their scaled inputs (m, d)."""
    import hdbscan

    s = settings.segmentation
    rng = np.random.default_rng(settings.seed)
    sample = np.sort(rng.choice(len(clean), size=min(s.sample_size, len(clean)), replace=False))
    cols = spec.segmentation_columns
    pre = make_pipeline(build_preprocessor(spec, cols, cats, add_indicator=False),
                        FunctionTransformer(quantize, feature_names_out="one-to-one"))
    Z = pre.fit_transform(clean.iloc[sample][cols])
    t0 = time.perf_counter()
    E = umap_many([(Z, s.n_components, s.n_neighbors, s.min_dist, CLUSTER_EPOCHS, settings.seed)])[0]
    t_exact = time.perf_counter() - t0
    import umap  # after umap_many: numba's target is pinned first (reducers.pin_numba_target)

    a, b = layout_curve(s.min_dist)
    t0 = time.perf_counter()
    umap.UMAP(n_components=s.n_components, n_neighbors=s.n_neighbors, min_dist=s.min_dist, n_epochs=CLUSTER_EPOCHS,
              random_state=settings.seed, n_jobs=1, a=a, b=b).fit_transform(Z)
    t_nnd = time.perf_counter() - t0
    mcs = int(round(s.min_cluster_shares[0] * len(Z)))
    t0 = time.perf_counter()
    hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=s.min_samples_grid[0], core_dist_n_jobs=1).fit(E)
    t_hdb = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        firsts = [float(subprocess.run([sys.executable, "-c", _FIRST_FIT], env=env, cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout.split()[-1]) for _ in range(2)]
    rows = [{"step": f"one 5-D UMAP fit of the {len(Z):,}-customer sample, exact neighbours (the product)",
             "seconds": f"{t_exact:.1f}"},
            {"step": "the same fit with pynndescent's neighbours (umap-learn's own search)", "seconds": f"{t_nnd:.1f}"},
            {"step": f"one HDBSCAN candidate on its embedding (min cluster size {mcs:,}, min samples "
                     f"{s.min_samples_grid[0]})", "seconds": f"{t_hdb:.1f}"},
            {"step": "a new process's first UMAP fit (2,000 points), numba's cache empty", "seconds": f"{firsts[0]:.1f}"},
            {"step": "the same in a second process, the cache filled by the first", "seconds": f"{firsts[1]:.1f}"}]
    for r in rows:
        print(r, flush=True)
    record.table("Segmentation: the cost of one fit", rows,
                 f"{len(cols)} scaled segmentation inputs; {CLUSTER_EPOCHS} epochs; one thread each.")
    return sample, Z


def personas(record: Record, clean: pd.DataFrame, sample: np.ndarray, Z: np.ndarray, settings) -> None:
    """Section 5: a supervised classifier's ARI against the personas, on held-out customers."""
    truth = clean["_persona"].to_numpy()[sample]
    half = len(Z) // 2
    clf = HistGradientBoostingClassifier(random_state=settings.seed).fit(Z[:half], truth[:half])
    ari = adjusted_rand_score(truth[half:], clf.predict(Z[half:]))
    record.table("Personas: recoverable from the segmentation inputs", [
        {"model": "a classifier trained on the persona labels (HistGradientBoosting)",
         "customers (train / test)": f"{half:,} / {len(Z) - half:,}", "ARI against the personas (test)": f"{ari:.2f}"}],
        "The segments' own ARI against the personas is in the default run's record (generated data only).")
    print(f"persona classifier ARI {ari:.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=None, help="customers of the generated table (default: the settings')")
    ap.add_argument("--skip-tuning", action="store_true", help="leave out section 3 (two whole propensity fits)")
    args = ap.parse_args()
    pin_numba_target()  # before anything compiles numba code in this process
    settings = load_settings(ROOT / "configs" / "default.toml")
    settings = settings.replace(default_data=ROOT / settings.default_data)
    if args.rows:
        settings = settings.replace(default_rows=args.rows, default_data=ROOT / "data" / f"shopsphere_{args.rows}.parquet")
    spec = shopsphere_spec()
    clean, _ = validation.validate(pd.read_parquet(ensure_default_data(settings)), spec, require_target=True)
    y = clean[spec.target].to_numpy(int)
    split = propensity.split_rows(y, settings.propensity, settings.seed)
    cats = learn_categories(clean, spec)
    X, _ = model_frame(clean, spec, cats)
    X = X[list(spec.feature_names)]
    record = Record("design", "The design choices, measured", command_line())
    record.note(f"The generated table of {len(clean):,} customers, the built-in spec, seed {settings.seed}, "
                f"{settings.n_jobs} threads where a step takes more than one.")
    boosters = depths(record, X, y, split, settings)
    reasons(record, X, y, split, settings, boosters[2])
    if not args.skip_tuning:
        tuning(record, clean, spec, y, split, cats, settings)
    sample, Z = segmentation(record, clean, spec, cats, settings)
    personas(record, clean, sample, Z, settings)
    record.write()


if __name__ == "__main__":
    main()
