"""Customer value, orders and churn risk from a log, side by side with the BTYD peers (issue 32).

Run: ``python -m benchmarks.bench_value cdnow`` (``../shared/data/cdnow_master.txt``, the
standard split of the BTYD literature: calibration to 1997-09-30, a holdout of the next 39
weeks, 273 days; churn over the holdout's first 90 days) or ``python -m
benchmarks.bench_value generated [--customers 40000]`` (the embedded default log: cutoff
2025-01-01, a 365-day holdout). ``--cutoff`` and ``--horizon`` change the split.
``python -m benchmarks.bench_value scale [--customers 1200000] [--dir DIR]`` times the models
and predictions for every customer of the generated log of 1.2 million customers as of
2026-01-01 (the day after its last line), with its peak memory (record ``value-scale``).

At the cutoff, from the lines before it alone: the naive peer (each customer's spend and
orders of the last ``horizon`` days repeat), BG/NBD and Pareto/NBD (expected orders, times
the Gamma-Gamma spend per order) and the product (:func:`core.pipeline.value_table.value_predictions`).
Against the holdout: for spend, the normalized Gini coefficient, Spearman's correlation, the
top-decile share and the bias of the total, each with a 95% bootstrap interval; the paired
difference product - best peer (by normalized Gini); decile calibration; for orders, MAE and
the bias of the total; for churn (no purchase in the churn window), ROC-AUC and PR-AUC; for
the next order, the median absolute error in days among the customers who bought in the churn
window.
Writes the record ``value-cdnow`` or ``value-generated``.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.records import Record, command_line
from core.activation.exports import write_table
from core.inputs import log
from core.inputs.log.events import EPOCH
from core.inputs.synthetic import shopsphere_log
from core.models import evaluation
from core.models import value_evaluation as ve
from core.models.value import window_outcomes
from core.pipeline.value_table import value_predictions

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT.parent / "shared" / "data" / "cdnow_master.txt"
RESAMPLES = 500

SCORERS = {"naive (last period repeats)": "naive", "BG/NBD + Gamma-Gamma": "bgnbd",
           "Pareto/NBD + Gamma-Gamma": "pnbd", "the product": None}


def _spend_row(name: str, y: np.ndarray, pred: np.ndarray, seed: int) -> dict:
    m, ci = ve.value_metrics(y, pred), ve.value_intervals(y, pred, RESAMPLES, seed)
    fmt = lambda k, f: f"{m[k]:{f}} [{ci[k][0]:{f}}, {ci[k][1]:{f}}]"  # noqa: E731
    return {"scorer": name, "normalized Gini": fmt("normalized_gini", ".3f"), "Spearman": fmt("spearman", ".3f"),
            "top-decile share": fmt("top_decile_share", ".1%"), "bias of the total": fmt("total_bias", "+.1%")}


def _settings():
    """The product's default settings (``configs/default.toml``): its seed and cores, so the
    figures are those ``python -m core value`` gives."""
    from core.settings import load_settings

    return load_settings(ROOT / "configs" / "default.toml")


def compare(ev: pd.DataFrame, spec, attrs, cutoff: str, horizon: int, churn: int, record: Record) -> None:
    """Predict at ``cutoff`` with the default settings and record the tables (see the module
    docstring)."""
    settings = _settings()
    seed = settings.seed
    cut = int((pd.Timestamp(cutoff) - EPOCH).days)
    t0 = time.perf_counter()
    got = value_predictions(ev, spec, attrs, cut, horizon, churn, seed=seed, n_jobs=settings.n_jobs)
    wall = time.perf_counter() - t0
    tab = got.table
    after = window_outcomes(ev, [cut], horizon).set_index("customer_id").reindex(tab["customer_id"])
    y_spend, y_orders = after["spend"].fillna(0.0).to_numpy(), after["orders"].fillna(0).to_numpy(float)
    early = window_outcomes(ev, [cut], churn).set_index("customer_id").reindex(tab["customer_id"])
    y_churn = (early["orders"].fillna(0).to_numpy() == 0).astype(int)
    spend = {name: tab[f"{k}_spend" if k else "expected_spend"].to_numpy() for name, k in SCORERS.items()}
    orders = {name: tab[f"{k}_orders" if k else "expected_orders"].to_numpy() for name, k in SCORERS.items()}
    risk = {"BG/NBD P(no purchase)": 1 - tab["bgnbd_p_buy"].to_numpy(),
            "Pareto/NBD P(no purchase)": 1 - tab["pnbd_p_buy"].to_numpy(),
            "recency only (more days first)": _recency(ev, cut, tab["customer_id"]),
            "the product": tab["churn_risk"].to_numpy()}
    vi, ci = got.info["value_model"], got.info["churn_model"]
    record.note(f"Cutoff {got.info['cutoff']}; {len(tab):,} customers who bought before it; holdout {horizon} days "
                f"(realised spend {y_spend.sum():,.0f}, {int(y_orders.sum()):,} orders; {(y_spend > 0).mean():.1%} of "
                f"the customers bought). The product's value model trained at {vi['horizon_days']} days on "
                f"{vi['training_rows']:,} snapshot rows (cutoffs {', '.join(vi['training_cutoffs'])})"
                + (f", carried to {horizon} days by BG/NBD's time shape" if vi["horizon_days"] < horizon else "")
                + f"; churn over {churn} days (model at {ci['horizon_days']} days). {wall:.0f} s for every model.")
    peers = got.info["peers"]
    record.note("Peers at the cutoff (days): BG/NBD " + ", ".join(f"{k} {v:.4g}" for k, v in peers["bgnbd"].items()
                                                                if k != "unit")
                + "; Pareto/NBD " + ", ".join(f"{k} {v:.4g}" for k, v in peers["pareto_nbd"].items() if k != "unit")
                + ("; Gamma-Gamma " + ", ".join(f"{k} {v:.4g}" for k, v in peers["gamma_gamma"].items())
                   if peers["gamma_gamma"] else "; Gamma-Gamma could not be fitted"))
    record.table(f"Spend over the {horizon}-day holdout (95% bootstrap intervals, {RESAMPLES} resamples)",
                 [_spend_row(name, y_spend, p, seed + i) for i, (name, p) in enumerate(spend.items())])
    peers_only = {k: v for k, v in spend.items() if k != "the product"}
    best = max(peers_only, key=lambda k: ve.normalized_gini(y_spend, peers_only[k]))
    d = ve.paired_value_difference(y_spend, spend["the product"], spend[best], RESAMPLES, seed)
    record.table(f"The product - {best} (the best peer by normalized Gini; paired bootstrap)", [
        {"figure": k.replace("_", " "), "difference": f"{v[0]:+.4f}", "95% interval": f"[{v[1]:+.4f}, {v[2]:+.4f}]"}
        for k, v in d.items()])
    record.table(f"Orders over the {horizon}-day holdout", [
        {"scorer": name, **{k.replace("_", " "): (f"{v:+.1%}" if k == "total_bias" else f"{v:,.3f}")
                            for k, v in ve.count_metrics(y_orders, p).items()}} for name, p in orders.items()])
    record.table(f"Churn risk: no purchase in the {churn} days after the cutoff ({y_churn.mean():.1%} of customers)", [
        {"scorer": name, **{k: f"{v:.3f}" for k, v in evaluation.classification_metrics(y_churn, p).items()
                            if k in ("roc_auc", "pr_auc")}} for name, p in risk.items()])
    ordered = np.isfinite(early["first_order_days"].to_numpy(float))
    days = early["first_order_days"].to_numpy(float)[ordered]
    timing = {"naive (mean gap minus recency)": tab["naive_next_order_days"], "BG/NBD (median given an order)":
              tab["bgnbd_next_order_days"], "the product": tab["next_order_days"]}
    record.table(f"Next order: days to the first purchase among the {ordered.sum():,} customers who bought in the "
                 f"{churn} days after the cutoff", [
                     {"scorer": name, "median absolute error (days)": f"{np.median(np.abs(p.to_numpy()[ordered] - days)):.1f}",
                      "median predicted": f"{np.median(p.to_numpy()[ordered]):.1f}", "median realised": f"{np.median(days):.1f}"}
                     for name, p in timing.items()])
    cal = ve.decile_calibration(y_spend, spend["the product"])
    record.table("The product's expected spend against the realised spend, by decile of the prediction",
                 [{"decile": int(r.decile), "customers": f"{int(r.customers):,}", "predicted": f"{r.predicted_mean:,.2f}",
                   "realised": f"{r.realised_mean:,.2f}", "ratio": f"{r.ratio:.2f}"} for r in cal.itertuples()])
    prod = ve.value_metrics(y_spend, spend["the product"])
    record.figure("gini_vs_best_peer", d["normalized_gini"][0],
                  f"{record.title.split(':')[0]}: normalized Gini {prod['normalized_gini']:.3f}, "
                  f"{d['normalized_gini'][0]:+.4f} over {best} [{d['normalized_gini'][1]:+.4f}, "
                  f"{d['normalized_gini'][2]:+.4f}]; total {prod['total_bias']:+.1%}")
    record.figure("seconds", wall, f"{wall:.0f} s")


def _recency(ev: pd.DataFrame, cut: int, ids: pd.Series) -> np.ndarray:
    """Days since each customer's last line before ``cut``."""
    last = ev[ev["day"] < cut].assign(customer_id=lambda d: d["customer_id"].astype(str)).groupby("customer_id")["day"].max()
    return (cut - last.reindex(ids.to_numpy())).to_numpy(float)


def measure_scale(path: Path, cutoff: str, horizon: int, churn: int) -> dict:
    """Read and clean the log at ``path`` and predict every customer's value, orders, churn
    risk and next order as of ``cutoff``: timings (s), rows, peak memory (GB) of this process."""
    import json

    from benchmarks.bench_log_scale import peak_memory_gb

    spec = log.load_log_spec(ROOT / "configs" / "shopsphere_log.toml")
    spec = log.LogSpec(**{**spec.__dict__, "attributes": None})
    t = {}
    t0 = time.perf_counter()
    raw = log.read_log(path, spec)
    ev, _ = log.events(raw, spec, str(path))
    lines = len(raw)
    del raw
    t["read and clean"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    settings = _settings()
    got = value_predictions(ev, spec, None, int((pd.Timestamp(cutoff) - EPOCH).days), horizon, churn,
                            seed=settings.seed, n_jobs=settings.n_jobs)
    t["models and predictions"] = time.perf_counter() - t0
    info = got.info
    return json.loads(json.dumps({
        "lines": lines, "customers": int(ev["customer_id"].nunique()), "predicted": len(got.table),
        "value_rows": [info["value_model"]["training_rows"], info["value_model"]["snapshot_rows"]],
        "churn_rows": [info["churn_model"]["training_rows"], info["churn_model"]["snapshot_rows"]],
        "timings_s": {k: round(v, 1) for k, v in t.items()}, "peak_memory_gb": round(peak_memory_gb(), 2)}))


def scale(customers: int, folder: Path | None, cutoff: str, horizon: int, churn: int) -> None:
    """The ``scale`` command: the generated log of ``customers`` (kept in ``folder``), measured
    in a fresh process (:func:`measure_scale`), recorded as ``value-scale``."""
    import json
    import subprocess
    import sys

    from core.inputs.synthetic.shopsphere_log import generate_log

    folder = Path(folder or tempfile.mkdtemp(prefix="bench_value_scale_"))
    path = folder / f"orders_{customers}.parquet"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        generate_log(customers, seed=42).to_parquet(path, index=False)
    out = subprocess.run([sys.executable, "-c", "import json, sys; from benchmarks.bench_value import measure_scale; "
                          f"print(json.dumps(measure_scale(sys.argv[1], {cutoff!r}, {horizon}, {churn})))", str(path)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    record = Record("value-scale", "Value, churn and the next order at 1.2 million customers", command_line())
    record.note(f"The generated order log: {r['lines']:,} lines of {r['customers']:,} customers; as of {cutoff}, "
                f"{r['predicted']:,} customers predicted (expected spend and orders over {horizon} days, churn and the "
                f"next order over {churn}). The value model trained on {r['value_rows'][0]:,} of "
                f"{r['value_rows'][1]:,} snapshot rows, the churn model on {r['churn_rows'][0]:,} of "
                f"{r['churn_rows'][1]:,} (a seeded sample). Measured in a fresh process (the generator's memory is "
                "not counted); two cores.")
    record.table("Wall time and memory", [{"step": k, "seconds": f"{v:.1f}"} for k, v in r["timings_s"].items()],
                 f"Peak memory of the measuring process: {r['peak_memory_gb']:.2f} GB.")
    total = sum(r["timings_s"].values())
    record.figure("seconds", total, f"{r['customers']:,} customers' value, churn and next order in {total:.0f} s, "
                                    f"{r['peak_memory_gb']:.1f} GB")
    record.write()


def main() -> None:
    """Command line: ``cdnow | generated | scale [--customers N] [--cutoff D] [--horizon DAYS] [--churn DAYS]
    [--dir DIR]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["cdnow", "generated", "scale"])
    ap.add_argument("--dir", type=Path, default=None, help="scale: folder for the generated log (kept and reused)")
    ap.add_argument("--customers", type=int, default=None,
                    help="customers of the generated log (default 40000; scale: 1200000)")
    ap.add_argument("--cutoff", default=None, help="default: 1997-10-01 (cdnow), 2025-01-01 (generated)")
    ap.add_argument("--horizon", type=int, default=None, help="holdout days: 273 (cdnow), 365 (generated)")
    ap.add_argument("--churn", type=int, default=90, help="churn window in days (default 90)")
    args = ap.parse_args()
    if args.what == "scale":
        scale(args.customers or 1_200_000, args.dir, args.cutoff or "2026-01-01",
              args.horizon or 365, args.churn)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.what == "cdnow":
            spec = log.load_log_spec(ROOT / "configs" / "cdnow.toml")
            ev, _ = log.events(log.read_log(CDNOW, spec), spec, str(CDNOW))
            record = Record("value-cdnow", "CDNOW: value, orders and churn at the standard split", command_line())
            compare(ev, spec, None, args.cutoff or "1997-10-01", args.horizon or 273, args.churn, record)
        else:
            path, attrs_path = Path(tmp) / "log.parquet", Path(tmp) / "customers.parquet"
            write_table(shopsphere_log.generate_log(args.customers or 40_000, 42), path)
            write_table(shopsphere_log.attributes(args.customers or 40_000, 42), attrs_path)
            text = (ROOT / "configs" / "shopsphere_log.toml").read_text(encoding="utf-8").replace(
                "data/shopsphere_customers.parquet", str(attrs_path))
            (Path(tmp) / "spec.toml").write_text(text, encoding="utf-8")
            spec = log.load_log_spec(Path(tmp) / "spec.toml")
            ev, _ = log.events(log.read_log(path, spec), spec, str(path))
            record = Record("value-generated", "The generated order log: value, orders and churn", command_line())
            compare(ev, spec, log.read_attributes(spec), args.cutoff or "2025-01-01", args.horizon or 365,
                    args.churn, record)
        record.write()


if __name__ == "__main__":
    main()
