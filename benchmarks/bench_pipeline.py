"""Benchmark: wall time of a full default training and of batch scoring, with the run's figures.

Run: ``python -m benchmarks.bench_pipeline [--rows N]`` (``make bench``). Uses a temporary
folder for data and runs, so the project's own ``artifacts/`` and ``data/`` are not touched.
Writes the record ``pipeline-<N/1000>k`` (:mod:`benchmarks.records`) and, for the default
240,000 rows, ``default-run``: the trained run's propensity, methods and segments tables.

Measures (targets on a 2-core machine):
- generate: the default table (``N`` rows), target under 10 s;
- train: generate + validate + segment + fit + explain + score + save, target under 5 min;
- score: read + validate + assign segments + predict with reasons + write, on the same
  rows, target well under 10 min (the brief); with the share of time in each step;
- peak memory of the process (max RSS).
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from benchmarks import run_figures
from benchmarks.records import Record, command_line
from core.activation.exports import write_table
from core.inputs import tables
from core.inputs.synthetic import shopsphere
from core.pipeline.scoring import score
from core.pipeline.training import train
from core.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=240_000)
    args = ap.parse_args()
    record = Record(f"pipeline-{args.rows // 1000}k", f"Training and scoring {args.rows:,} customers", command_line())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = load_settings(ROOT / "configs" / "default.toml", artifacts_dir=tmp / "artifacts",
                                 default_data=tmp / "shopsphere.parquet", default_rows=args.rows)
        t0 = time.perf_counter()
        df = shopsphere.generate(args.rows, settings.seed)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        run = train(None, None, settings, progress=lambda f, m: None)  # generates again inside: counted
        t_train = time.perf_counter() - t0
        inp = tmp / "to_score.parquet"
        df.drop(columns=["purchased_next_30d", "_persona", "_true_propensity"]).to_parquet(inp, index=False)
        steps = {}
        t0 = time.perf_counter()
        raw = tables.read_table(inp)
        steps["read"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        out, _ = score(raw, run, source=str(inp))
        steps["validate, segments, propensity, reasons"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        write_table(out, tmp / "scored.parquet")
        steps["write"] = time.perf_counter() - t1
        t_score = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        _record(record, args.rows, t_gen, t_train, run, t_score, steps, len(out), peak)
        if args.rows == 240_000:
            default = Record("default-run", "The default run (240,000 generated customers, seed 42)", command_line())
            m = run.metrics()
            default.note(f"Trained by the benchmark above (the run `python -m core train` makes: same data, seed and "
                         f"settings). Test rows: {m.xgboost.rows:,}; base rate {m.xgboost.base_rate:.1%}.")
            run_figures.add_run(default, run)
            default.figure("xgboost", [m.xgboost.roc_auc, m.xgboost.pr_auc],
                           f"Default run: test ROC-AUC {m.xgboost.roc_auc:.3f}, PR-AUC (average precision) "
                           f"{m.xgboost.pr_auc:.3f}, grade {m.grade.grade}")
            seg = m.segmentation
            default.figure("segments", seg.n_segments,
                           f"Default run: {seg.n_segments} segments ({run_figures.METHOD_NAMES.get(seg.method, seg.method)}), "
                           f"bootstrap ARI {seg.bootstrap_ari:.2f}, rules reproduce {seg.surrogate_fidelity:.0%} of all customers")
            default.write()
    record.write()


def _record(record: Record, rows: int, t_gen: float, t_train: float, run, t_score: float, steps: dict,
            scored: int, peak_mb: float) -> None:
    record.table("Wall time", [
        {"what": f"generate {rows:,} customers", "seconds": f"{t_gen:.1f}", "target": "< 10"},
        {"what": "train (generate, validate, segment, fit, explain, score, save)", "seconds": f"{t_train:.1f}",
         "target": "< 300"},
        {"what": f"score {scored:,} customers (read, validate, segments, propensity, 3 reasons, write)",
         "seconds": f"{t_score:.1f}", "target": "< 600"}],
        f"Peak memory of the process (max RSS): {peak_mb:,.0f} MB. Scoring: {scored / t_score:,.0f} customers per "
        "second.")
    record.table("Training, per step", run_figures.step_rows(run))
    record.table("Scoring, per step", [{"step": k, "seconds": f"{v:.1f}", "share": f"{v / t_score:.0%}"}
                                       for k, v in steps.items()])
    record.figure("train", t_train, f"Training {rows:,} customers: {t_train:.0f} s")
    record.figure("score", t_score, f"Scoring {rows:,} customers: {t_score:.1f} s")


if __name__ == "__main__":
    main()
