"""Propensity benchmark: the product's model against simple peers, training and scoring speed.

    python -m benchmarks.bench_propensity real      # marketing table, 5 seeds
    python -m benchmarks.bench_propensity train     # default 240K: training with tuning
    python -m benchmarks.bench_propensity score     # scoring 240K and 1.2M, reasons, memory
    python -m benchmarks.bench_propensity dask      # the same on a local Dask cluster (2 workers)

``real``: ``../shared/data/marketing_campaign.csv`` (target ``Response``), stratified 80/20
splits over seeds 0..4. On each split, in the same run: a plain logistic regression (the
product's baseline pipeline), a default ``xgboost.XGBClassifier()`` (native categoricals),
and the product's model (:func:`core.models.propensity.fit`: Optuna-tuned, cross-validated on this
small table, calibrated), each fitted on the same 80% and scored on the same 20%. Prints
ROC-AUC and PR-AUC (average precision) per seed and their mean and standard deviation.

``train``: the default 240K table, the product's propensity training (leakage check,
tuning, class weights, calibration, baseline) and its test figures against the oracle.

``score``: a run trained on the default table scores 240K and 1.2M customers end to end
(read, validate, segments, calibrated propensity, 3 reasons, write Parquet) in a fresh
process each, with rows per second, the share of time per step and peak memory (RSS).

``dask``: the same run scores the same two tables written as partitioned Parquet data sets
(8 parts each) with ``--engine dask`` semantics (:func:`core.pipeline.dask_scoring.score_dask`) on a
``LocalCluster`` of 2 worker processes, 1 thread each; prints wall time (cluster start
included) and rows per second, and checks the output equals the single-process output.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.records import Record, command_line

ROOT = Path(__file__).resolve().parents[1]

import numpy as np
import pandas as pd

MARKETING = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"


def real(seeds: int) -> None:
    """The marketing table over ``seeds`` stratified 80/20 splits: logistic regression, default
    XGBoost and the product on the same rows; prints per-seed figures and mean +/- sd."""
    import xgboost as xgb
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline

    from core.inputs import tables, validation
    from core.inputs.spec import load_spec
    from core.models import propensity
    from core.models.features import build_preprocessor, learn_categories, model_frame
    from core.settings import load_settings

    settings = load_settings(ROOT / "configs" / "default.toml")
    spec = load_spec(ROOT / "configs" / "marketing_campaign.toml")
    clean, _ = validation.validate(tables.read_table(MARKETING, spec), spec, require_target=True, source=str(MARKETING))
    y = clean[spec.target].to_numpy(int)
    rows = []
    for seed in range(seeds):
        fit_idx, test_idx = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
        cats = learn_categories(clean.iloc[fit_idx], spec)
        X, _ = model_frame(clean, spec, cats)
        yt = y[test_idx]
        # the product: its own train/validation split of the 80% (the 20% is its "test")
        split = np.empty(len(y), dtype=object)
        split[test_idx] = "test"
        share = settings.propensity.val_share / (1 - settings.propensity.test_share)
        tr, va = train_test_split(fit_idx, test_size=share, stratify=y[fit_idx], random_state=seed)
        split[tr], split[va] = "train", "val"
        t0 = time.perf_counter()
        models = propensity.fit(clean, spec, split, cats, settings.propensity, seed, settings.n_jobs)
        t_product = time.perf_counter() - t0
        p_product = models.predict_X(X.iloc[test_idx])
        # the peers, on all of the same 80%
        lr = Pipeline([  # the product's baseline pipeline (core.models.propensity.model.fit)
            ("prep", build_preprocessor(spec, spec.feature_names, cats, add_indicator=True)),
            ("logit", LogisticRegression(C=settings.propensity.logistic_C, max_iter=2000))]).fit(clean.iloc[fit_idx][spec.feature_names], y[fit_idx])
        p_lr = lr.predict_proba(clean.iloc[test_idx][spec.feature_names])[:, 1]
        default = xgb.XGBClassifier(enable_categorical=True, tree_method="hist", random_state=seed,
                                    n_jobs=settings.n_jobs).fit(X.iloc[fit_idx], y[fit_idx])
        p_xgb = default.predict_proba(X.iloc[test_idx])[:, 1]
        for name, p in (("logistic regression", p_lr), ("default XGBoost", p_xgb), ("product (tuned, calibrated)", p_product)):
            rows.append({"seed": seed, "model": name, "roc_auc": roc_auc_score(yt, p), "pr_auc": average_precision_score(yt, p)})
        print(f"seed {seed}: product {rows[-1]['roc_auc']:.3f}/{rows[-1]['pr_auc']:.3f} "
              f"(depth {models.info['params']['max_depth']}, {models.info['n_trees']} trees, "
              f"calibration {models.calibrator['method']}, {t_product:.0f} s); default XGBoost "
              f"{rows[-2]['roc_auc']:.3f}/{rows[-2]['pr_auc']:.3f}; logistic {rows[-3]['roc_auc']:.3f}/{rows[-3]['pr_auc']:.3f}",
              flush=True)
    df = pd.DataFrame(rows)
    g = df.groupby("model", sort=False).agg(roc_mean=("roc_auc", "mean"), roc_sd=("roc_auc", "std"),
                                            pr_mean=("pr_auc", "mean"), pr_sd=("pr_auc", "std"))
    record = Record("propensity-real", "Propensity on a real customer table (marketing_campaign.csv)", command_line())
    record.note(f"The real table in ../shared/data (2,240 customers, target Response), with its hand-written spec; "
                f"stratified 80/20 splits, seeds 0..{seeds - 1} ({len(test_idx)} test rows each). Each model is fitted "
                "on the same 80% and scored on the same 20%.")
    record.table("ROC-AUC and PR-AUC (average precision) over the splits", [
        {"model": name, "ROC-AUC mean +/- sd": f"{r.roc_mean:.4f} +/- {r.roc_sd:.4f}",
         "PR-AUC mean +/- sd": f"{r.pr_mean:.4f} +/- {r.pr_sd:.4f}"} for name, r in g.iterrows()])
    record.table("Per split", [{"seed": r["seed"], "model": r["model"], "ROC-AUC": f"{r['roc_auc']:.3f}",
                                "PR-AUC": f"{r['pr_auc']:.3f}"} for r in rows])
    prod = g.loc["product (tuned, calibrated)"]
    record.figure("marketing", [prod.roc_mean, prod.pr_mean],
                  f"A real customer table (marketing_campaign.csv): ROC-AUC {prod.roc_mean:.3f}, PR-AUC "
                  f"{prod.pr_mean:.3f} (mean of {seeds} splits)")
    record.write()


def train() -> None:
    """The product's propensity training on the default 240K table: time, chosen model and the
    comparison table with bootstrap intervals and the oracle gap."""
    from core.inputs import validation
    from core.inputs.shopsphere_spec import shopsphere_spec
    from core.inputs.synthetic.shopsphere import ensure_default_data
    from core.models import propensity
    from core.models.features import learn_categories
    from core.settings import load_settings

    settings = load_settings(ROOT / "configs" / "default.toml")
    settings = settings.replace(default_data=ROOT / settings.default_data)
    spec = shopsphere_spec()
    path = ensure_default_data(settings)
    clean, _ = validation.validate(pd.read_parquet(path), spec, require_target=True)
    y = clean[spec.target].to_numpy(int)
    t0 = time.perf_counter()
    split = propensity.split_rows(y, settings.propensity, settings.seed)
    propensity.leakage_check(clean, spec, y, split == "train", settings.propensity.leakage_max_auc)
    cats = learn_categories(clean, spec)
    models = propensity.fit(clean, spec, split, cats, settings.propensity, settings.seed, settings.n_jobs)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = propensity.evaluate(models, clean, spec, split, settings.propensity, settings.seed)
    t_eval = time.perf_counter() - t0
    record = Record("propensity-training", "The propensity training alone (240,000 customers)", command_line())
    record.note(f"Propensity training {t_fit:.0f} s (tuning {models.info['tuning_seconds']:.0f} s, "
                f"{len(models.info['trials'])} trials), evaluation with 1,000-resample intervals {t_eval:.0f} s; peak "
                f"memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB. Chosen: depth "
                f"{models.info['params']['max_depth']}, {models.info['n_trees']} trees, calibration "
                f"{models.info['calibration']['method']}.")
    f = lambda v: None if v is None else f"{v:.4f}"  # noqa: E731
    record.table("The scorers on the test rows", [
        {"scorer": r["model"], "ROC-AUC [95% CI]": f"{r['roc_auc']:.3f} [{r['roc_auc_ci'][0]:.3f}, {r['roc_auc_ci'][1]:.3f}]",
         "PR-AUC [95% CI]": f"{r['pr_auc']:.3f} [{r['pr_auc_ci'][0]:.3f}, {r['pr_auc_ci'][1]:.3f}]",
         "log loss": f(r["log_loss"]), "Brier": f(r["brier"]), "ECE": f(r["ece"]),
         "top-decile lift": f"{r['lift_top_decile']:.2f}"} for r in ev["comparison"]])
    record.write()


def _score_child(run_dir: str, data_path: str, out: str) -> None:
    """One scoring in this process; prints a JSON line of figures."""
    from core.activation.exports import write_table
    from core.inputs import tables
    from core.pipeline.scoring import ScoringModel
    from core.runs import store

    t0 = time.perf_counter()
    run = store.Run(Path(run_dir))
    model = ScoringModel.load(run)
    model.explainer  # parsed once per loaded run (the app and the CLI keep it)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    raw = tables.read_table(data_path, run.spec())
    t_read = time.perf_counter() - t0
    scored, report = model.score(raw, source=data_path)
    t_score = time.perf_counter() - t0 - t_read
    t1 = time.perf_counter()
    write_table(scored, out)
    t_write = time.perf_counter() - t1
    total = t_read + t_score + t_write
    print(json.dumps({"rows": len(scored), "load_model_s": round(t_load, 2), "read_s": round(t_read, 2),
                      **{f"{k}_s": v for k, v in report["timings_s"].items()}, "write_s": round(t_write, 2),
                      "total_s": round(total, 2), "rows_per_s": round(len(scored) / total),
                      "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
                      "reasons_filled": float((scored["reason_1"] != "").mean())}))


def score(artifacts: Path) -> None:
    """Train a default run into ``artifacts`` (once), then score 240K and 1.2M customers end to
    end, each in a fresh process (:func:`_score_child`), printing time shares and peak memory."""
    from core.inputs.synthetic import shopsphere
    from core.pipeline.training import train as train_run
    from core.runs import store
    from core.settings import load_settings

    settings = load_settings(ROOT / "configs" / "default.toml")
    settings = settings.replace(artifacts_dir=artifacts, default_data=ROOT / settings.default_data)
    if store.current_run_id(artifacts) is None:
        print(f"training a run on the default table into {artifacts} (once) ...", flush=True)
        train_run(None, None, settings, progress=lambda f, m: None)
    run = store.load_run(artifacts)
    big = artifacts / "shopsphere_1200k.parquet"
    if not big.exists():
        shopsphere.generate(1_200_000, settings.seed + 1).to_parquet(big, index=False)
    rows = []
    for path in (settings.default_data, big):
        out = artifacts / f"scored_{Path(path).stem}.parquet"
        res = subprocess.run([sys.executable, "-m", "benchmarks.bench_propensity", "_child", str(run.path), str(path),
                              str(out)], capture_output=True, text=True, check=True, cwd=ROOT)
        fig = json.loads(res.stdout.strip().splitlines()[-1])
        steps = {k: fig[k] for k in ("read_s", "validate_s", "segments_s", "propensity_s", "reasons_s", "write_s")}
        rows.append({"customers": f"{fig['rows']:,}", "seconds": f"{fig['total_s']:.1f}",
                     "customers per second": f"{fig['rows_per_s']:,}",
                     **{k[:-2]: f"{v / fig['total_s']:.0%}" for k, v in steps.items()},
                     "peak memory (GB)": f"{fig['peak_rss_gb']:.2f}", "model load (s)": f"{fig['load_model_s']:.1f}",
                     "rows with reasons": f"{fig['reasons_filled']:.1%}"})
    record = Record("propensity-scoring", "Batch scoring: 240,000 and 1.2 million customers", command_line())
    record.note("A run trained on the default table scores each table end to end (read, validate, segments, "
                "calibrated propensity, 3 reasons, write Parquet) in a fresh process; the columns read .. write give "
                "each step's share of the time.")
    record.table("End to end, one process", rows)
    record.write()


def dask_bench(artifacts: Path) -> None:
    """Score 240K and 1.2M customers on a local Dask cluster (see the module docstring)."""
    import pandas as pd

    from core.pipeline.dask_scoring import score_dask
    from core.pipeline.scoring import ScoringModel
    from core.runs import store
    from core.settings import load_settings

    settings = load_settings(ROOT / "configs" / "default.toml")
    run = store.load_run(artifacts)
    rows = []
    for path in (ROOT / settings.default_data, artifacts / "shopsphere_1200k.parquet"):
        parts = artifacts / f"parts_{Path(path).stem}"
        if not parts.exists():
            df = pd.read_parquet(path).drop(columns=["purchased_next_30d", "_persona", "_true_propensity"])
            parts.mkdir()
            step = -(-len(df) // 8)
            for i in range(8):
                df.iloc[i * step:(i + 1) * step].to_parquet(parts / f"part-{i}.parquet", index=False)
        t0 = time.perf_counter()
        out = score_dask(ScoringModel.load(run), parts, n_workers=2, threads_per_worker=1)
        wall = time.perf_counter() - t0
        single = artifacts / f"scored_{Path(path).stem}.parquet"
        same = None
        if single.exists():
            ref = pd.read_parquet(single)
            same = "yes" if ref.drop(columns=[c for c in ("scored_at",) if c in ref]).equals(
                out.drop(columns="scored_at")) else "no"
        rows.append({"customers": f"{len(out):,}", "seconds": f"{wall:.1f}", "customers per second":
                     f"{len(out) / wall:,.0f}", "equal to one process": same})
    record = Record("propensity-dask", "Batch scoring on a local Dask cluster", command_line())
    record.note("The same run scores the same tables as Parquet data sets of 8 parts on a LocalCluster of 2 worker "
                "processes, 1 thread each (cluster start included).")
    record.table("Dask", rows)
    record.write()


def main() -> None:
    """Command line: ``real``, ``train``, ``score`` or ``dask`` (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["real", "train", "score", "dask", "_child"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--artifacts", default="/tmp/bench_propensity_artifacts")
    a = ap.parse_args()
    if a.what == "real":
        real(a.seeds)
    elif a.what == "train":
        train()
    elif a.what == "score":
        score(Path(a.artifacts))
    elif a.what == "dask":
        dask_bench(Path(a.artifacts))
    else:
        _score_child(*a.args)


if __name__ == "__main__":
    main()
