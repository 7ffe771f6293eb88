"""Propensity from a transaction log, side by side with its peers, out of time.

Run: ``python -m benchmarks.bench_log cdnow`` (``../shared/data/cdnow_master.txt`` with
``configs/cdnow.toml``) or ``python -m benchmarks.bench_log generated [--customers 40000]``
(the embedded default log, :mod:`core.inputs.synthetic.shopsphere_log`, with
``configs/shopsphere_log.toml``), ``[--artifacts DIR]`` (default a temporary folder). It
trains the product on the log, then compares on the test snapshot's customers: recency
only, logistic regression on log RFM (log1p of recency, frequency and spend), BG/NBD's
P(a purchase in the horizon), a default ``xgboost.XGBClassifier()`` on the product's
features (trained on the training snapshots) and the product: ROC-AUC and PR-AUC (average
precision) with 95% bootstrap intervals (1,000 seeded resamples), and the paired bootstrap
difference product - BG/NBD. Writes the record ``log-cdnow`` or ``log-generated``.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from benchmarks import run_figures
from benchmarks.records import Record, command_line
from core.activation.exports import write_table
from core.inputs import log
from core.inputs.synthetic import shopsphere_log
from core.models import evaluation
from core.pipeline import log_table
from core.pipeline.training import train_log
from core.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]

CDNOW = ROOT.parent / "shared" / "data" / "cdnow_master.txt"


def _row(name: str, y: np.ndarray, p: np.ndarray, seed: int) -> dict:
    ci = evaluation.bootstrap_intervals(y, p, 1000, seed)
    m = evaluation.classification_metrics(y, p)
    return {"scorer": name, "ROC-AUC": f"{m['roc_auc']:.3f} [{ci['roc_auc'][0]:.3f}, {ci['roc_auc'][1]:.3f}]",
            "PR-AUC": f"{m['pr_auc']:.3f} [{ci['pr_auc'][0]:.3f}, {ci['pr_auc'][1]:.3f}]"}


def compare(log_path: Path, spec_path: Path, artifacts: Path, record: Record) -> None:
    """Train on the log and record the comparison (see the module docstring)."""
    settings = load_settings(ROOT / "configs" / "default.toml", artifacts_dir=artifacts)
    t0 = time.perf_counter()
    run = train_log(log_path, spec_path, settings, progress=lambda f, m: None)
    wall = time.perf_counter() - t0
    spec = log.load_log_spec(spec_path)
    ev, _ = log.events(log.read_log(log_path, spec), spec, str(log_path))
    tab, ds, summary = log_table.snapshot_table(ev, spec, log.cutoff_days(spec, int(ev["day"].min()), int(ev["day"].max())),
                                                log.read_attributes(spec))
    tab["row_id"] = tab["customer_id"] + "@" + tab["snapshot_date"]
    scored = run.table("scored").set_index("customer_id")
    tab = tab.join(scored[["split", "propensity"]], on="row_id")
    tr, te = tab[tab["split"].isin(["train", "val"])], tab[tab["split"] == "test"]
    y_tr, y = tr[spec.target].to_numpy(int), te[spec.target].to_numpy(int)
    rfm = lambda d: np.log1p(d[["recency_days", "frequency", "spend_total"]].to_numpy(float))  # noqa: E731
    lr = LogisticRegression(max_iter=1000).fit(rfm(tr), y_tr)
    feats = [c.name for c in ds.columns]
    xg = xgb.XGBClassifier(random_state=settings.seed, n_jobs=settings.n_jobs, enable_categorical=True).fit(
        tr[feats].astype({c.name: "category" for c in ds.columns if c.kind == "categorical"}), y_tr)
    te_x = te[feats].astype({c.name: "category" for c in ds.columns if c.kind == "categorical"})
    product, bgnbd = "the product (tuned, calibrated XGBoost)", f"BG/NBD P(a purchase in {spec.horizon_days} days)"
    scores = {"recency only (fewer days first)": -te["recency_days"].to_numpy(float),
              "logistic regression on log RFM": lr.predict_proba(rfm(te))[:, 1],
              bgnbd: te["_bgnbd_p"].to_numpy(float),
              "default XGBClassifier, same features": xg.predict_proba(te_x)[:, 1],
              product: te["propensity"].to_numpy(float)}
    bg = summary["btyd"][summary["cutoffs"][0]]["bgnbd"]
    record.note(f"{len(ev):,} lines of {ev['customer_id'].nunique():,} customers; {len(summary['cutoffs'])} cutoffs "
                f"({summary['cutoffs'][0]} to {summary['cutoffs'][-1]}), horizon {spec.horizon_days} days. Test "
                f"snapshot: {len(te):,} customers, {y.mean():.1%} positive; training rows {len(tr):,}. BG/NBD at the "
                f"first cutoff (days): r {bg['r']:.3f}, alpha {bg['alpha']:.2f}, a {bg['a']:.3f}, b {bg['b']:.3f}. "
                f"End to end (features, training, evaluation, saving the run): {wall:.0f} s.")
    record.table("The test snapshot: the product and its peers",
                 [_row(name, y, p, settings.seed + i) for i, (name, p) in enumerate(scores.items())])
    d = evaluation.paired_bootstrap_difference(y, scores[product], scores[bgnbd], 1000, settings.seed)
    record.table("The product - BG/NBD (paired bootstrap, 1,000 resamples)", [
        {"figure": k, "difference": f"{d[k][0]:+.4f}", "95% interval": f"[{d[k][1]:+.4f}, {d[k][2]:+.4f}]"}
        for k in ("roc_auc", "pr_auc")])
    record.table("Label windows", [{"window": w} for w in run.manifest().source["windows"]])
    run_figures.add_run(record, run, "The product's run")
    record.figure("versus_bgnbd", d["roc_auc"][0],
                  f"{record.title.split(':')[0]}: ROC-AUC {evaluation.classification_metrics(y, scores[product])['roc_auc']:.3f}, "
                  f"{d['roc_auc'][0]:+.4f} over BG/NBD [{d['roc_auc'][1]:+.4f}, {d['roc_auc'][2]:+.4f}]")
    record.figure("seconds", wall, f"{wall:.0f} s end to end")


def main() -> None:
    """Command line: ``cdnow | generated [--customers N] [--artifacts DIR]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["cdnow", "generated"])
    ap.add_argument("--customers", type=int, default=40_000, help="generated: customers of the log (default 40000)")
    ap.add_argument("--artifacts", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = args.artifacts or Path(tmp) / "artifacts"
        if args.what == "cdnow":
            record = Record("log-cdnow", "CDNOW: a real transaction log", command_line())
            compare(CDNOW, ROOT / "configs" / "cdnow.toml", artifacts, record)
        else:
            record = Record("log-generated", "The generated order log", command_line())
            path = Path(tmp) / "shopsphere_log.parquet"
            write_table(shopsphere_log.generate_log(args.customers, 42), path)
            attrs = Path(tmp) / "shopsphere_customers.parquet"
            write_table(shopsphere_log.attributes(args.customers, 42), attrs)
            spec = Path(tmp) / "spec.toml"
            spec.write_text((ROOT / "configs" / "shopsphere_log.toml").read_text(encoding="utf-8").replace(
                "data/shopsphere_customers.parquet", str(attrs)), encoding="utf-8")
            compare(path, spec, artifacts, record)
        record.write()


if __name__ == "__main__":
    main()
