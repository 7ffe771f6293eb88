"""Benchmark: wall time of a full default training and of batch scoring, with model figures.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_pipeline.py [--rows N]``.
Prints one line per figure. Uses a temporary folder for data and runs, so the project's
own ``artifacts/`` and ``data/`` are not touched.

Measures (this machine: 2 cores):
- generate: the default table (240,000 rows), target < 10 s;
- train: generate + validate + segment + fit + explain + score + save, target < 5 min;
- score: read + validate + assign segments + predict + write, on the same 240,000 rows,
  target < 30 s; with the share of time in each step.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.activation.exports import write_table  # noqa: E402
from core.inputs import tables  # noqa: E402
from core.inputs.synthetic import shopsphere
from core.pipeline.scoring import score  # noqa: E402
from core.pipeline.training import train  # noqa: E402
from core.settings import load_settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=240_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = load_settings(Path(__file__).resolve().parents[1] / "configs" / "default.toml",
                                 artifacts_dir=tmp / "artifacts", default_data=tmp / "shopsphere.parquet",
                                 default_rows=args.rows)
        t0 = time.perf_counter()
        df = shopsphere.generate(args.rows, settings.seed)
        t_gen = time.perf_counter() - t0
        print(f"generate: {args.rows:,} rows in {t_gen:.1f} s")

        t0 = time.perf_counter()
        run = train(None, None, settings, progress=lambda f, m: None)  # generates again inside: counted
        t_train = time.perf_counter() - t0
        man, m = run.manifest(), run.metrics()
        print(f"train (generate, validate, segment, fit, explain, score, save): {t_train:.1f} s "
              f"[{', '.join(f'{k} {v:.1f}s' for k, v in man.timings_s.items())}]")
        for k in ("xgboost", "logistic", "oracle"):
            x = getattr(m, k)
            print(f"test {k}: ROC-AUC {x.roc_auc:.4f}  PR-AUC (average precision) {x.pr_auc:.4f}  "
                  f"top-decile lift {x.lift_top_decile:.2f}")
        s = m.segmentation
        nan = float("nan")
        print(f"segments: {s.n_segments} ({s.method}), Hopkins {s.hopkins:.3f}, noise reassigned "
              f"{s.noise_share_in_sample:.2%} of sample, assignment agreement {s.assignment_agreement or nan:.2%}, "
              f"surrogate-rule fidelity {s.surrogate_fidelity:.1%}, "
              f"bootstrap ARI {s.bootstrap_ari or nan:.3f}, DBCV {s.dbcv or nan:.3f}, "
              f"silhouette scaled {s.silhouette_scaled or nan:.3f} / embedding {s.silhouette_embedding or nan:.3f}, "
              f"ARI vs true persona {s.ari_vs_true_persona or nan:.3f}")
        for p in run.profiles():
            print(f"  segment {p.segment_id}: {p.name!r:55} {p.size:>7,} ({p.share:.1%})  purchase rate {p.purchase_rate:.1%}")

        inp = tmp / "to_score.parquet"
        df.drop(columns=["purchased_next_30d", "_persona", "_true_propensity"]).to_parquet(inp, index=False)
        steps = {}
        t0 = time.perf_counter()
        raw = tables.read_table(inp)
        steps["read"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        out, _ = score(raw, run, source=str(inp))
        steps["validate+segment+predict"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        write_table(out, tmp / "scored.parquet")
        steps["write"] = time.perf_counter() - t1
        total = time.perf_counter() - t0
        print(f"score: {len(out):,} rows in {total:.1f} s ({len(out) / total:,.0f} rows/s) "
              f"[{', '.join(f'{k} {v:.1f}s ({v / total:.0%})' for k, v in steps.items())}]")
        print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
