"""Compare the methods of the segmentation slot on the same table and seed; time them.

Run::

    python -m benchmarks.bench_segmentation_methods                 # default 240K table
    python -m benchmarks.bench_segmentation_methods --rows 1200000 --methods umap+hdbscan
    python -m benchmarks.bench_segmentation_methods \\
        --data ../shared/data/marketing_campaign.csv --spec configs/marketing_campaign.toml

Prints one row per method (Markdown table): segments, smallest segment's share, fit time
(seconds: parameter search, stability refits, quality figures and the 2-D display
projection included), assignment time of every row of the table, share of the fitted sample
reassigned from HDBSCAN noise, DBCV (scaled inputs), silhouette in the scaled inputs and in
the UMAP embedding (10,000 customers), bootstrap ARI (5 refits), surrogate-rule fidelity,
adjusted Rand index against the generator's true personas (generated data only, evaluation)
and the process's peak resident memory after the method ran.
"""
from __future__ import annotations

import argparse
import dataclasses
import resource
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from benchmarks.records import Record, command_line
from core.inputs.shopsphere_spec import resolve_spec
from core.inputs.synthetic import shopsphere
from core.inputs.tables import read_table
from core.inputs.validation import validate
from core.models.features import learn_categories
from core.models.segmentation import (
    Segmenter,
    profiling,
)
from core.settings import load_settings


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def _f(v, fmt="{:.3f}") -> str | None:
    return None if v is None else fmt.format(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=240_000, help="generated rows (ignored with --data)")
    ap.add_argument("--data", help="a real table instead of the generator")
    ap.add_argument("--spec", help="its spec (TOML)")
    ap.add_argument("--config", default="configs/default.toml")
    ap.add_argument("--methods", nargs="+", default=["umap+hdbscan", "kmeans", "gmm"])
    args = ap.parse_args()
    settings = load_settings(args.config if Path(args.config).is_file() else None)
    spec = resolve_spec(args.spec)
    t0 = time.perf_counter()
    raw = read_table(args.data, spec) if args.data else shopsphere.generate(args.rows, settings.seed)
    clean, _ = validate(raw, spec, require_target=True)
    del raw
    what = f"{Path(args.data).name}" if args.data else f"the generated table ({len(clean):,} customers, seed {settings.seed})"
    print(f"table: {what}, prepared in {time.perf_counter() - t0:.1f} s", flush=True)
    cats = learn_categories(clean, spec)
    rows = []
    for method in args.methods:
        t0 = time.perf_counter()
        seg = Segmenter(settings=dataclasses.replace(settings.segmentation, method=method),
                        random_state=settings.seed, n_jobs=settings.n_jobs).fit(clean, spec, cats)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        a = seg.assign(clean)["segment_id"].to_numpy()
        assign_s = time.perf_counter() - t0
        rules = profiling.surrogate_rules(clean, a, spec, seg.columns_, settings.seed)
        fi = seg.fit_info_
        ari = adjusted_rand_score(clean["_persona"], a) if "_persona" in clean else None
        rows.append({"method": fi["method"], "segments": seg.n_segments_,
                     "smallest": f"{np.bincount(a)[np.unique(a)].min() / len(a):.1%}", "fit s": f"{fit_s:.0f}",
                     "assign s": f"{assign_s:.1f}", "noise reassigned": f"{fi['noise_share_in_sample']:.1%}",
                     "DBCV": _f(fi["dbcv"]), "silhouette scaled": _f(fi["silhouette_scaled"]),
                     "silhouette embedding": _f(fi["silhouette_embedding"]), "bootstrap ARI": _f(fi["bootstrap_ari"]),
                     "rule fidelity": f"{rules['fidelity']:.1%}", "ARI vs persona": _f(ari),
                     "peak GB": f"{_peak_gb():.2f}"})
        print(f"{method}: done in {fit_s + assign_s:.0f} s; bootstrap ARIs "
              f"{[round(x, 3) for x in fi['bootstrap_aris']]}", flush=True)
    record = Record("segmentation-methods", "The segmentation methods side by side", command_line())
    record.note(f"On {what}: each method of the slot fitted alone (fit time includes its parameter search, stability "
                "refits, quality figures and the 2-D projection; assign: every row of the table).")
    record.table("Methods", rows)
    record.write()


if __name__ == "__main__":
    main()
