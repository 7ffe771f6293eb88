"""Propensity from a transaction log, side by side with its peers, out of time.

Run: ``.venv/bin/python benchmarks/bench_log.py cdnow [--artifacts DIR]``: trains the
product on ``../shared/data/cdnow_master.txt`` with ``configs/cdnow.toml`` into ``DIR``
(default a temporary folder), then prints, on the test snapshot's customers, one table
with recency only, logistic regression on log RFM (log1p of recency, frequency and
spend), BG/NBD's P(a purchase in the next 30 days), a default ``xgboost.XGBClassifier()``
on the product's features (trained on the training snapshots) and the product: ROC-AUC
and PR-AUC (average precision) with 95% bootstrap intervals (1,000 seeded resamples), and
the paired bootstrap difference product - BG/NBD. Also prints the cutoffs, the BG/NBD
parameters at the first cutoff and the wall time end to end (features, training,
evaluation).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.inputs import log
from core.models import evaluation  # noqa: E402
from core.pipeline import log_table
from core.pipeline.training import train_log  # noqa: E402
from core.settings import load_settings  # noqa: E402

CDNOW = ROOT.parent / "shared" / "data" / "cdnow_master.txt"


def _row(name: str, y: np.ndarray, p: np.ndarray, seed: int) -> dict:
    ci = evaluation.bootstrap_intervals(y, p, 1000, seed)
    m = evaluation.classification_metrics(y, p)
    return {"scorer": name, "ROC-AUC": f"{m['roc_auc']:.3f} [{ci['roc_auc'][0]:.3f}, {ci['roc_auc'][1]:.3f}]",
            "PR-AUC": f"{m['pr_auc']:.3f} [{ci['pr_auc'][0]:.3f}, {ci['pr_auc'][1]:.3f}]"}


def cdnow(artifacts: Path) -> None:
    """Train on CDNOW and print the comparison (see the module docstring)."""
    import xgboost as xgb
    from sklearn.linear_model import LogisticRegression

    settings = load_settings(ROOT / "configs" / "default.toml", artifacts_dir=artifacts)
    t0 = time.perf_counter()
    run = train_log(CDNOW, ROOT / "configs" / "cdnow.toml", settings, progress=lambda f, m: None)
    wall = time.perf_counter() - t0
    spec = log.load_log_spec(ROOT / "configs" / "cdnow.toml")
    ev, _ = log.events(log.read_log(CDNOW, spec), spec, str(CDNOW))
    tab, ds, summary = log_table.snapshot_table(ev, spec, log.cutoff_days(spec, int(ev["day"].min()), int(ev["day"].max())))
    tab["row_id"] = tab["customer_id"] + "@" + tab["snapshot_date"]
    scored = run.table("scored").set_index("customer_id")
    tab = tab.join(scored[["split", "propensity"]], on="row_id")
    tr, te = tab[tab["split"].isin(["train", "val"])], tab[tab["split"] == "test"]
    y_tr, y = tr[spec.target].to_numpy(int), te[spec.target].to_numpy(int)
    rfm = lambda d: np.log1p(d[["recency_days", "frequency", "spend_total"]].to_numpy(float))  # noqa: E731
    lr = LogisticRegression(max_iter=1000).fit(rfm(tr), y_tr)
    feats = [c.name for c in ds.columns]
    xg = xgb.XGBClassifier(random_state=settings.seed, n_jobs=settings.n_jobs).fit(tr[feats], y_tr)
    scores = {"recency only (fewer days first)": -te["recency_days"].to_numpy(float),
              "logistic regression on log RFM": lr.predict_proba(rfm(te))[:, 1],
              "BG/NBD P(a purchase in 30 days)": te["_bgnbd_p"].to_numpy(float),
              "default XGBClassifier, same features": xg.predict_proba(te[feats])[:, 1],
              "the product (tuned, calibrated XGBoost)": te["propensity"].to_numpy(float)}
    print(f"CDNOW: {len(ev):,} lines, {ev['customer_id'].nunique():,} customers; cutoffs {summary['cutoffs']}; "
          f"horizon {spec.horizon_days} days")
    for w in run.manifest().source["windows"]:
        print(f"  {w}")
    bg = summary["btyd"][summary["cutoffs"][0]]["bgnbd"]
    print(f"BG/NBD at {summary['cutoffs'][0]} (days): r {bg['r']:.3f}, alpha {bg['alpha']:.2f} "
          f"({bg['alpha'] / 7:.2f} weeks), a {bg['a']:.3f}, b {bg['b']:.3f}")
    print(f"test snapshot: {len(te):,} customers, {y.mean():.1%} positive; training rows {len(tr):,}")
    print("| scorer | ROC-AUC [95% CI] | PR-AUC [95% CI] |\n|---|---|---|")
    for i, (name, p) in enumerate(scores.items()):
        r = _row(name, y, p, settings.seed + i)
        print(f"| {r['scorer']} | {r['ROC-AUC']} | {r['PR-AUC']} |")
    d = evaluation.paired_bootstrap_difference(y, scores["the product (tuned, calibrated XGBoost)"],
                                               scores["BG/NBD P(a purchase in 30 days)"], 1000, settings.seed)
    print(f"product - BG/NBD (paired bootstrap, 1,000 resamples): ROC-AUC {d['roc_auc'][0]:+.4f} "
          f"[{d['roc_auc'][1]:+.4f}, {d['roc_auc'][2]:+.4f}], PR-AUC {d['pr_auc'][0]:+.4f} "
          f"[{d['pr_auc'][1]:+.4f}, {d['pr_auc'][2]:+.4f}]")
    print(f"end to end (features, training, evaluation, saving the run): {wall:.0f} s; run {run.run_id}")


def main() -> None:
    """Command line: ``cdnow [--artifacts DIR]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["cdnow"])
    ap.add_argument("--artifacts", type=Path, default=None)
    args = ap.parse_args()
    if args.artifacts:
        cdnow(args.artifacts)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            cdnow(Path(tmp))


if __name__ == "__main__":
    main()
