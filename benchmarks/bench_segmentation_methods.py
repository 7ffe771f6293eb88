"""Compare the methods of the segmentation slot on the same table and seed.

Run: ``.venv/bin/python benchmarks/bench_segmentation_methods.py [--rows 240000]
[--methods umap+hdbscan kmeans gmm]``. Prints one line per method: segments, fit time
(seconds, including the 2-D display projection), adjusted Rand index against the
generator's true personas (evaluation only), agreement of the nearest-neighbour assignment
with the fitted labels, surrogate-rule fidelity and the smallest segment's share.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import profiling, synthetic  # noqa: E402
from core.config import SegmentationSettings  # noqa: E402
from core.data import validate  # noqa: E402
from core.features import learn_categories  # noqa: E402
from core.schema import shopsphere_spec  # noqa: E402
from core.segmentation import Segmenter  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=240_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--methods", nargs="+", default=["umap+hdbscan", "kmeans", "gmm"])
    args = ap.parse_args()
    spec = shopsphere_spec()
    clean, _ = validate(synthetic.generate(args.rows, args.seed), spec, require_target=True)
    cats = learn_categories(clean, spec)
    for method in args.methods:
        t0 = time.perf_counter()
        seg = Segmenter(settings=dataclasses.replace(SegmentationSettings(), method=method),
                        random_state=args.seed).fit(clean, spec, cats)
        fit_s = time.perf_counter() - t0
        a = seg.assign(clean)["segment_id"].to_numpy()
        rules = profiling.surrogate_rules(clean, a, spec, seg.columns_, args.seed)
        print(f"{method:14} segments {seg.n_segments_:2d}  fit {fit_s:5.0f} s  "
              f"ARI vs persona {adjusted_rand_score(clean['_persona'], a):.3f}  "
              f"assignment agreement {seg.fit_info_['assignment_agreement']:.1%}  "
              f"rule fidelity {rules['fidelity']:.1%}  smallest {np.bincount(a).min() / len(a):.1%}", flush=True)


if __name__ == "__main__":
    main()
