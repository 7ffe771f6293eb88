"""Segmentation: the slot's methods, the HDBSCAN search, the assigner, UMAP on every CPU, and tables with little or no structure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from core import workers
from core.errors import DataError
from core.inputs.shopsphere_spec import shopsphere_spec
from core.inputs.synthetic import shopsphere
from core.inputs.validation import validate
from core.models.features import learn_categories
from core.models.segmentation import NotFittedError, Segmenter
from core.settings import SegmentationSettings
from tests.support import SEG, uniform_noise_table

SPEC = shopsphere_spec()



def test_every_customer_gets_a_segment(segmenter, prepared):
    _, clean, _ = prepared
    a = segmenter.assign(clean)
    assert len(a) == len(clean)
    assert a["segment_id"].between(0, segmenter.n_segments_ - 1).all()
    assert 2 <= segmenter.n_segments_ <= SEG.max_segments
    assert a["segment_confidence"].between(0, 1).all()
    assert segmenter.fit_info_["assignment_agreement"] > 0.8
    # ids are ordered by size in the fitted sample (0 = largest)
    sizes = segmenter.fit_info_["sample_segment_sizes"]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == SEG.sample_size


def test_assignment_is_batch_independent(segmenter, prepared):
    _, clean, _ = prepared
    whole = segmenter.assign(clean)
    alone = pd.concat([segmenter.assign(clean.iloc[[i]]) for i in (0, 17, 333)])
    pd.testing.assert_frame_equal(alone, whole.iloc[[0, 17, 333]])
    chunked = segmenter.assign(clean, chunk_size=97)
    pd.testing.assert_frame_equal(chunked, whole)


def test_segmentation_is_deterministic(segmenter, prepared):
    spec, clean, cats = prepared
    again = Segmenter(settings=SEG, random_state=1).fit(clean, spec, cats)
    np.testing.assert_array_equal(again.assign(clean)["segment_id"], segmenter.assign(clean)["segment_id"])
    np.testing.assert_allclose(again.projection_[["x", "y"]], segmenter.projection_[["x", "y"]])


def test_assign_before_fit_raises(prepared):
    with pytest.raises(NotFittedError, match="not fitted"):
        Segmenter().assign(prepared[1])


def test_hopkins_half_for_independent_columns_high_for_blobs():
    from sklearn.datasets import make_blobs

    from core.models.segmentation import hopkins

    rng = np.random.default_rng(0)
    for seed in range(3):
        skewed = np.log1p(rng.exponential(5.0, size=(3000, 12)))  # skewed marginals, no structure
        assert hopkins(skewed, np.random.default_rng(seed)) == pytest.approx(0.5, abs=0.03)
    blobs, _ = make_blobs(n_samples=3000, centers=6, n_features=12, random_state=0)
    assert hopkins(blobs, np.random.default_rng(0)) > 0.8


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_alternative_methods_fill_the_same_slot(prepared, method):
    import dataclasses

    spec, clean, cats = prepared
    seg = Segmenter(settings=dataclasses.replace(SEG, method=method), random_state=0).fit(clean, spec, cats)
    assert seg.method_ == method and seg.n_segments_ in SEG.fallback_k
    a = seg.assign(clean)
    assert a["segment_id"].nunique() == seg.n_segments_ and len(a) == len(clean)
    pd.testing.assert_frame_equal(seg.assign(clean.iloc[[5]]), a.iloc[[5]])


def test_unknown_method_is_refused(tmp_path):
    from core.settings import load_settings

    p = tmp_path / "s.toml"
    p.write_text('[segmentation]\nmethod = "dbscan"\n')
    with pytest.raises(DataError, match="segmentation method must be"):
        load_settings(p)


def test_a_seeded_umap_job_gives_the_same_embedding_in_this_process_and_in_a_worker():
    from core.models.segmentation import reducers

    X = np.random.default_rng(3).normal(size=(400, 6)).astype(np.float32)
    job = (X, 3, 10, 0.0, 60, 5)
    here = reducers.umap_many([job])[0]
    there = workers.run_tasks([reducers.umap_call(job)] * 2, [1, 1], 2, env=reducers.WORKER_ENV)   # two loky workers
    np.testing.assert_array_equal(here, there[0])
    np.testing.assert_array_equal(there[0], there[1])


def test_small_umap_fits_get_exact_neighbours_and_a_cached_jit():
    from sklearn.metrics import pairwise_distances

    from core.models.segmentation import reducers

    X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    idx, dist, index = reducers._exact_knn(X, 6)
    assert idx.shape == dist.shape == (300, 6) and index is None and (idx[:, 0] == np.arange(300)).all()
    np.testing.assert_array_equal(idx, np.argsort(pairwise_distances(X), axis=1, kind="stable")[:, :6])
    reducers.enable_jit_cache()
    from numba.core.caching import NullCache
    from umap import layouts

    assert not isinstance(layouts._nb_optimize_layout_euclidean_single_epoch._cache, NullCache)
    assert reducers.enable_jit_cache() == 0   # once per process
    E = reducers.umap_many([(X, 2, 6, 0.0, 50, 1)])[0]
    assert E.shape == (300, 2) and np.isfinite(E).all()
    np.testing.assert_array_equal(E, reducers.umap_many([(X, 2, 6, 0.0, 50, 1)])[0])   # seeded


_PIN_SCRIPT = """
import numpy as np
from core.models.segmentation import reducers
{before}
X = np.random.default_rng(0).normal(size=(200, 4))
reducers.umap_many([(X, 2, 6, 0.0, 10, 1)])
from numba.core.registry import cpu_target
print(cpu_target.target_context.codegen().magic_tuple()[1:])
"""


@pytest.mark.parametrize("cpu", ["", "skylake-avx512", "haswell"])
def test_umap_is_compiled_for_the_portable_cpu_whatever_numba_would_pick(cpu):
    """A UMAP fit compiles numba's code for LLVM's generic x86-64 target with no extra
    features, whatever NUMBA_CPU_NAME says (its name only tunes the code for that CPU; the
    features stay the host's, so any name runs here)."""
    import os
    import subprocess
    import sys

    from tests.support import REPO

    from core.models.segmentation.reducers import WORKER_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    env.update({k: v for k, v in WORKER_ENV.items() if k != "NUMBA_CPU_NAME"})  # OpenBLAS pinned: fits here
    if cpu:
        env["NUMBA_CPU_NAME"] = cpu
    out = subprocess.run([sys.executable, "-c", _PIN_SCRIPT.format(before="")], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip().splitlines()[-1] == "('generic', '')"


def test_umap_refuses_a_process_whose_numba_was_compiled_for_this_cpu():
    import os
    import subprocess
    import sys

    from core.models.segmentation.reducers import WORKER_ENV
    from tests.support import REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    env.update({k: v for k, v in WORKER_ENV.items() if k != "NUMBA_CPU_NAME"})
    compiled = "import numba\nnumba.njit(lambda v: v + 1)(1)"   # any compile fixes numba's CPU (importing umap does)
    out = subprocess.run([sys.executable, "-c", _PIN_SCRIPT.format(before=compiled)], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("RuntimeError: numba already compiled code for the CPU")
    assert "NUMBA_CPU_NAME=generic" in out.stderr


def test_a_process_without_the_portable_kernels_fits_umap_in_a_worker_that_has_them():
    """A process whose OpenBLAS chose its kernels by this CPU (and whose numba compiled for
    it) hands its UMAP fits to a worker started with the portable ones: the embedding is
    the one a training's workers compute."""
    import os
    import subprocess
    import sys

    from core.models.segmentation import reducers
    from tests.support import REPO

    if reducers.PORTABLE_BLAS is None:
        pytest.skip("OpenBLAS kernels are pinned on x86-64 only")
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "OPENBLAS_CORETYPE")}
    script = ("import numpy as np\nimport numba\nnumba.njit(lambda v: v + 1)(1)\n"   # numba compiled for this CPU
              "from core.models.segmentation import reducers\n"
              "X = np.random.default_rng(0).normal(size=(200, 4))\n"
              "print(reducers.umap_many([(X, 2, 6, 0.0, 10, 1)])[0].tobytes().hex())\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-1500:]
    X = np.random.default_rng(0).normal(size=(200, 4))
    there = workers.run_tasks([reducers.umap_call((X, 2, 6, 0.0, 10, 1))] * 2, [1, 1], 2, env=reducers.WORKER_ENV)
    assert out.stdout.strip().splitlines()[-1] == there[0].tobytes().hex()


def test_stability_refits_take_at_most_half_of_the_fitted_sample():
    from core.models.segmentation.quality import stability_subsample_size

    assert stability_subsample_size(20_000, 50_000) == 20_000   # the default table: unchanged
    assert stability_subsample_size(20_000, 12_000) == 6_000    # was 9,600 (80%)
    assert stability_subsample_size(20_000, 2_240) == 1_120 and stability_subsample_size(750, 1_001) == 500


@pytest.mark.parametrize("method", ["umap+hdbscan", "kmeans", "gmm"])
def test_every_method_works_on_a_table_with_few_distinct_profiles(prepared, method):
    """Binned or RFM-score tables: 2,000 customers whose segmentation inputs take only 6
    distinct combinations. No method may split identical customers into more segments than
    there are profiles, and every figure is a number or None with the reason."""
    import dataclasses

    spec, clean, cats = prepared
    rng = np.random.default_rng(0)
    cols = spec.segmentation_columns
    few = clean.iloc[:2000].copy()
    protos = few[cols].iloc[rng.choice(len(few), 6, replace=False)].to_numpy()
    few[cols] = protos[rng.integers(0, 6, len(few))]
    seg = Segmenter(settings=dataclasses.replace(SEG, method=method), random_state=0).fit(few, spec, cats)
    fi = seg.fit_info_
    assert 2 <= seg.n_segments_ <= 6
    a = seg.assign(few)["segment_id"].to_numpy()
    # identical customers share a segment
    profile = pd.Series([tuple(r) for r in few[cols].to_numpy()], index=few.index)
    assert pd.Series(a, index=few.index).groupby(profile).nunique().max() == 1
    for name in ("silhouette_scaled", "dbcv", "bootstrap_ari"):
        assert fi[name] is None and name in fi["figure_notes"] or np.isfinite(fi[name])
    assert set(fi["figure_notes"]) <= {"silhouette_scaled", "silhouette_embedding", "dbcv", "bootstrap_ari"}


def test_kmeans_and_the_mixture_never_ask_for_more_clusters_than_profiles():
    from core.models.segmentation.clusterers import GaussianMixtureBestK, KMeansBestK
    from core.models.segmentation.quality import distinct_rows

    E = np.repeat(np.eye(3) * 5, 100, axis=0)   # 3 distinct points, 300 rows
    assert distinct_rows(E) == 3
    assert KMeansBestK(ks=(5, 6)).fit(E, np.random.default_rng(0)).k == 3
    assert GaussianMixtureBestK(ks=(2, 3, 4, 5)).fit(E, np.random.default_rng(0)).k <= 3


def test_auto_keeps_the_stable_readable_finest_method_and_says_why():
    from core.models.segmentation import choose_candidate

    rows = [{"method": "umap+hdbscan", "segments": 6, "bootstrap_ari": 0.92, "rule_fidelity": 0.87, "silhouette_scaled": 0.14},
            {"method": "kmeans", "segments": 6, "bootstrap_ari": 0.99, "rule_fidelity": 0.86, "silhouette_scaled": 0.21},
            {"method": "gmm", "segments": 10, "bootstrap_ari": 0.77, "rule_fidelity": 0.70, "silhouette_scaled": 0.06}]
    i, why = choose_candidate(rows, 0.8, 0.85)
    assert i == 1 and why.startswith("kmeans: stable") and "best separated" in why   # 6 = 6, silhouette decides
    rows[0]["segments"] = 7
    assert choose_candidate(rows, 0.8, 0.85)[0] == 0                                  # the finest
    rows[0]["rule_fidelity"] = rows[1]["rule_fidelity"] = 0.8
    i, why = choose_candidate(rows, 0.8, 0.85)
    assert i == 0 and "most readable of the stable" in why                            # 0.80 = 0.80: more segments
    for r in rows:
        r["bootstrap_ari"] = 0.5
    rows[2]["bootstrap_ari"] = 0.6
    i, why = choose_candidate(rows, 0.8, 0.85)
    assert i == 2 and "no method reaches the stability bar" in why


def test_auto_counts_a_method_whose_assignment_disagrees_as_unstable():
    from core.models.segmentation import choose_candidate

    rows = [{"method": "umap+hdbscan", "segments": 7, "bootstrap_ari": 0.80, "rule_fidelity": 0.854,
             "silhouette_scaled": 0.16, "assignment_agreement": 0.97},
            {"method": "kmeans", "segments": 6, "bootstrap_ari": 0.99, "rule_fidelity": 0.862,
             "silhouette_scaled": 0.21, "assignment_agreement": 0.96},
            {"method": "gmm", "segments": 10, "bootstrap_ari": 0.81, "rule_fidelity": 0.852,
             "silhouette_scaled": 0.07, "assignment_agreement": 0.80}]
    assert choose_candidate(rows, 0.8, 0.85)[0] == 2                 # without the bar: the finest, gmm
    i, why = choose_candidate(rows, 0.8, 0.85, 0.9)
    assert i == 0 and "agreeing on 97% >= 90%" in why and "gmm left out" in why
    rows[0]["assignment_agreement"] = 0.89
    assert choose_candidate(rows, 0.8, 0.85, 0.9)[0] == 1            # 0.89 < 0.9: kmeans
    for r in rows:
        r["assignment_agreement"] = 0.5
    i, why = choose_candidate(rows, 0.8, 0.85, 0.9)
    assert "no method reaches the stability bar" in why


def test_auto_fits_every_method_and_keeps_what_the_configured_one_would_give(prepared):
    import dataclasses

    spec, clean, cats = prepared
    auto = Segmenter(settings=dataclasses.replace(SEG, method="auto"), random_state=0).fit(clean, spec, cats)
    table = auto.fit_info_["method_comparison"]
    assert [r["method"] for r in table] == ["umap+hdbscan", "kmeans", "gmm"] and sum(r["chosen"] for r in table) == 1
    kept = next(r for r in table if r["chosen"])
    assert auto.method_ == kept["method"] and auto.fit_info_["choice_reason"].startswith(kept["method"])
    same = Segmenter(settings=dataclasses.replace(SEG, method=auto.method_), random_state=0).fit(clean, spec, cats)
    pd.testing.assert_frame_equal(auto.assign(clean), same.assign(clean))
    pd.testing.assert_frame_equal(auto.projection_, same.projection_)


def test_auto_spread_over_two_processes_gives_the_same_segments(prepared):
    """The flat methods' fits, the UMAP fits and the projection run in two worker processes
    with n_jobs=2; every method draws on its own generator, so nothing changes."""
    import dataclasses

    spec, clean, cats = prepared
    settings = dataclasses.replace(SEG, method="auto")
    one = Segmenter(settings=settings, random_state=0, n_jobs=1).fit(clean, spec, cats)
    two = Segmenter(settings=settings, random_state=0, n_jobs=2).fit(clean, spec, cats, beside=(divmod, (7, 2)))
    assert one.fit_info_["method_comparison"] == two.fit_info_["method_comparison"]
    assert one.fit_info_["hdbscan_candidates"] == two.fit_info_["hdbscan_candidates"]
    pd.testing.assert_frame_equal(one.assign(clean), two.assign(clean))
    pd.testing.assert_frame_equal(one.projection_, two.projection_)
    # the call run beside the segmentation (training's propensity fit): its result (a run keeps
    # only Segmenter.saved_state's parts, so it is not saved)
    assert two.beside_result_ == (3, 1)
    with pytest.raises(ZeroDivisionError):   # and its error stops the fit
        Segmenter(settings=settings, random_state=0, n_jobs=2).fit(clean, spec, cats, beside=(divmod, (7, 0)))


def test_the_hdbscan_search_stops_at_the_first_stable_readable_candidate_and_chooses_as_the_full_search():
    from core.models.segmentation.clusterers import HDBSCANSearch, _candidate_stability

    rng = np.random.default_rng(4)
    centres = rng.normal(scale=6, size=(7, 3))
    Z = np.concatenate([c + rng.normal(size=(120, 3)) for c in centres])   # 7 blobs of 120
    boot = [(np.sort(rng.choice(len(Z), 420, replace=False)),) for _ in range(2)]
    boot = [(idx, Z[idx]) for (idx,) in boot]   # the "embedding" is Z itself
    search = HDBSCANSearch(min_samples_grid=(5, 10), min_cluster_shares=(0.05, 0.08), min_segments=3,
                           max_segments=10, min_segment_share=0.03, quality_sample=840)
    result, table = search.fit(Z, Z, boot)
    actionable = [i for i, c in enumerate(table) if c["actionable"]]
    order = sorted(actionable, key=lambda i: (-table[i]["clusters"], -table[i]["dbcv"], i))
    chosen = next(i for i, c in enumerate(table) if c["chosen"])
    assert result is not None and table[chosen]["stability"] >= 0.8 and table[chosen]["rule_fidelity"] >= 0.85
    # measured up to the chosen one, in order; none after it
    measured = [i for i in order if table[i]["stability"] is not None]
    assert measured == order[:len(measured)] and chosen in measured
    skipped = [i for i in order if table[i]["stability"] is None]
    assert all(order.index(i) > order.index(chosen) and "not measured" in table[i]["stability_note"] for i in skipped)
    # the full rule over every candidate, the skipped ones measured too, makes the same choice
    import hdbscan

    from core.models.segmentation.quality import rule_fidelity

    for i in skipped:
        lab = hdbscan.HDBSCAN(min_cluster_size=table[i]["min_cluster_size"], min_samples=table[i]["min_samples"],
                              cluster_selection_method=table[i]["selection"]).fit(Z).labels_
        (final, aris), = _candidate_stability([(Z, lab, table[i], boot, 15, None)])
        table[i]["stability"] = float(np.mean(aris))
        table[i]["rule_fidelity"] = rule_fidelity(Z, final, 840, 0)
    readable = [i for i in actionable if table[i]["stability"] >= 0.8 and table[i]["rule_fidelity"] >= 0.85]
    assert max(readable, key=lambda i: (table[i]["clusters"], table[i]["dbcv"], -i)) == chosen


def test_the_mixture_chooses_k_on_a_subsample_and_labels_every_customer():
    from core.models.segmentation.clusterers import GaussianMixtureBestK

    rng = np.random.default_rng(2)
    E = np.concatenate([c + rng.normal(scale=0.3, size=(400, 2)) for c in ((0, 0), (5, 0), (0, 5), (5, 5))])
    big = GaussianMixtureBestK(ks=(2, 3, 4, 5, 6), choice_sample=600).fit(E, np.random.default_rng(0))
    whole = GaussianMixtureBestK(ks=(2, 3, 4, 5, 6), choice_sample=5000).fit(E, np.random.default_rng(0))
    assert big.k == whole.k == 4 and len(big.labels) == len(E)
    assert adjusted_rand_score(big.labels, whole.labels) == pytest.approx(1.0)


def test_auto_tries_the_flat_methods_next_k_only_when_no_method_passes_both_bars(monkeypatch):
    """Stability-based choice of k (Ben-Hur et al. 2002): the second k of each flat method
    by its own score, then the third, until one is stable and readable."""
    import dataclasses

    from core.models.segmentation import segmenter as S

    class Fit:   # a stand-in for a method's fit: only its comparison row matters here
        def __init__(self, method, k, ari, rules):
            self.choice = S.MethodChoice(method)
            self.r = {"method": method, "segments": k, "bootstrap_ari": ari, "rule_fidelity": rules, "note": None}

        def row(self, Z, settings, random_state):
            return dict(self.r)

    ranked = {("kmeans", 1): Fit("kmeans", 5, 0.86, 0.80), ("gmm", 1): Fit("gmm", 9, 0.70, 0.90),
              ("kmeans", 2): Fit("kmeans", 7, 0.83, 0.88), ("gmm", 2): Fit("gmm", 6, 0.95, 0.95)}
    tried = []

    def fake_fit_flat(choice, Z, rng, settings, random_state, rank=0):
        tried.append((choice.method, rank, int(rng.integers(1_000_000))))
        if (choice.method, rank) not in ranked:
            raise IndexError(rank)
        return ranked[choice.method, rank]

    monkeypatch.setattr(S, "fit_flat", fake_fit_flat)
    seg = S.Segmenter(settings=dataclasses.replace(SEG, fallback_k=(5, 6, 7)), random_state=0)
    fits = [Fit("umap+hdbscan", 8, 0.6, 0.9), Fit("kmeans", 6, 0.79, 0.88), Fit("gmm", 10, 0.7, 0.7)]
    rows = [f.row(None, None, None) for f in fits]
    rngs = [np.random.default_rng(s) for s in (1, 2, 3)]
    seg._stable_k(fits, rows, rngs, np.zeros((10, 2)), lambda m: None)
    # rank-major, KMeans before the mixture, each try from the method's own untouched generator
    first_draw = {m: int(np.random.default_rng(s).integers(1_000_000)) for m, s in (("kmeans", 2), ("gmm", 3))}
    assert tried == [("kmeans", 1, first_draw["kmeans"]), ("gmm", 1, first_draw["gmm"]),
                     ("kmeans", 2, first_draw["kmeans"])]
    assert fits[1] is ranked["kmeans", 2] and rows[1]["segments"] == 7
    assert rows[1]["note"] == ("k = 6, the best by silhouette, did not pass both bars (bootstrap ARI 0.79, rules "
                               "reproduce 88% of the fitted sample); k = 7, the 3rd by silhouette, does")
    assert fits[1].choice.fallback_reason == rows[1]["note"] and rows[2]["segments"] == 10
    # a method that passes both bars already: nothing is refitted
    tried.clear()
    rows = [dict(rows[0], bootstrap_ari=0.9), *rows[1:]]
    seg._stable_k(fits, rows, rngs, np.zeros((10, 2)), lambda m: None)
    assert tried == []


def test_best_k_ranks_by_score_with_ties_to_the_earlier_k():
    from core.models.segmentation.clusterers import _best_k, usable_ks

    E = np.random.default_rng(0).normal(size=(50, 2))
    scores = {3: 0.2, 4: 0.5, 5: 0.5, 6: 0.1}
    fit = lambda k: (np.full(50, k), k)   # noqa: E731
    ranked = [_best_k((3, 4, 5, 6), E, fit, lambda k, labels, model: scores[k], rank)[1] for rank in range(4)]
    assert ranked == [4, 5, 3, 6]
    with pytest.raises(IndexError):
        _best_k((3, 4, 5, 6), E, fit, lambda k, labels, model: scores[k], 4)
    assert usable_ks((3, 4, 60), E) == [3, 4] and usable_ks((60, 70), E[:5]) == [4]


def test_make_install_leaves_umaps_compiled_layout_in_numbas_cache():
    """``make install`` ends with ``warm_jit_cache`` (the Makefile's install step): the
    compiled layout and the kNN smoothing are in numba's cache where a new process looks
    (beside umap-learn, or ``NUMBA_CACHE_DIR``), so no training compiles them."""
    import os
    from pathlib import Path

    import umap

    from tests.support import REPO

    assert "warm_jit_cache()" in (REPO / "Makefile").read_text()
    where = os.environ.get("NUMBA_CACHE_DIR")
    folder = Path(where) if where else Path(umap.__file__).parent / "__pycache__"
    cached = {p.name.split("-")[0] for p in folder.rglob("*.nbi")}
    assert {"layouts._optimize_layout_euclidean_single_epoch", "umap_.smooth_knn_dist"} <= cached


def test_exact_neighbours_break_ties_by_position_and_put_each_row_first():
    from sklearn.metrics import pairwise_distances

    from core.models.segmentation.neighbours import GRID, kneighbors, quantize

    rng = np.random.default_rng(3)
    Z = quantize(rng.normal(size=(500, 6)))
    assert np.array_equal(Z / GRID, np.round(Z / GRID))               # on the grid
    np.testing.assert_array_equal(quantize(Z + 1e-12), Z)              # last-bit noise rounds away
    few = quantize(rng.integers(0, 3, size=(800, 3)).astype(float))   # 27 profiles: ties everywhere
    D = pairwise_distances(few)
    idx, dist = kneighbors(few, few[:300], 12)
    np.testing.assert_array_equal(idx, np.argsort(D[:300], axis=1, kind="stable")[:, :12])
    np.testing.assert_array_equal(dist, np.take_along_axis(D[:300], idx, 1))
    np.fill_diagonal(D, -1.0)
    idx, dist = kneighbors(few, few, 12, self_first=True)
    np.testing.assert_array_equal(idx, np.argsort(D, axis=1, kind="stable")[:, :12])
    assert (idx[:, 0] == np.arange(800)).all() and (dist[:, 0] == 0).all()
    with pytest.raises(ValueError, match="k must be within 1..800"):
        kneighbors(few, few, 801)


def test_hdbscan_orders_equal_edges_stably():
    import hdbscan.hdbscan_ as impl

    from core.models.segmentation import clusterers

    clusterers.stable_hdbscan_edges()
    w = np.array([2.0, 1.0, 2.0, 1.0, 2.0, 1.0] * 50)
    np.testing.assert_array_equal(impl.np.argsort(w), np.argsort(w, kind="stable"))
    assert impl.np.float64 is np.float64   # the rest is numpy itself


def test_segmentation_inputs_end_on_the_grid_and_a_segmenter_saved_before_still_assigns(prepared):
    import copy
    import dataclasses

    from core.models.segmentation.neighbours import GRID

    spec, clean, cats = prepared
    seg = Segmenter(settings=dataclasses.replace(SEG, method="kmeans"), random_state=0).fit(clean, spec, cats)
    Z = seg.preprocessor_.transform(clean[seg.columns_])
    on_grid = lambda A: np.array_equal(A / GRID, np.round(A / GRID))   # noqa: E731
    assert on_grid(Z) and on_grid(seg.assigner_.ref_Z_)
    old = copy.deepcopy(seg)
    old.preprocessor_ = old.preprocessor_.steps[0][1]   # as pickled before the grid: the scaling alone
    assert not on_grid(old.preprocessor_.transform(clean[seg.columns_]))
    now, before = seg.assign(clean)["segment_id"], old.assign(clean)["segment_id"]
    assert (now == before).mean() > 0.99                # rounding by 1e-4 sd moves almost no one


def test_no_structure_runs_the_documented_fallback():
    from core.models.segmentation import Segmenter

    clean, _ = validate(uniform_noise_table(1200, 5), SPEC, require_target=True)
    cfg = SegmentationSettings(method="umap+hdbscan", sample_size=1200, reference_size=1000, projection_size=300)
    seg = Segmenter(settings=cfg, random_state=0).fit(clean, SPEC, learn_categories(clean, SPEC))
    assert seg.method_ == "kmeans" and seg.fallback_reason_.startswith("no cluster structure")
    assert seg.fit_info_["hopkins"] < 0.55
    a = seg.assign(clean)
    assert a["segment_id"].nunique() == seg.n_segments_ >= 2 and len(a) == len(clean)
    # auto does not fit UMAP + HDBSCAN on it, and says why
    auto = Segmenter(settings=SegmentationSettings(sample_size=1200, reference_size=1000, projection_size=300),
                     random_state=0).fit(clean, SPEC, learn_categories(clean, SPEC))
    first = auto.fit_info_["method_comparison"][0]
    assert first["method"] == "umap+hdbscan" and first["segments"] is None and "no cluster structure" in first["note"]
    assert auto.method_ in ("kmeans", "gmm") and auto.fallback_reason_.startswith("no cluster structure")


def test_five_uninformative_columns_do_not_break_segmentation():
    import dataclasses

    from core.inputs.spec import ColumnSpec
    from core.models.segmentation import Segmenter

    rng = np.random.default_rng(0)
    spec = dataclasses.replace(SPEC, columns=SPEC.columns + tuple(
        ColumnSpec(f"noise_{i}", "numeric", "behavioral") for i in range(5)))
    df = shopsphere.generate(3000, seed=12)
    for i in range(5):
        df[f"noise_{i}"] = rng.random(len(df))
    clean, _ = validate(df, spec, require_target=True)
    seg = Segmenter(settings=SegmentationSettings(method="umap+hdbscan", sample_size=3000, reference_size=2000,
                                                  projection_size=300),
                    random_state=0).fit(clean, spec, learn_categories(clean, spec))
    assert seg.fit_info_["hopkins"] > 0.55 and seg.method_.startswith("umap+")
    assert 2 <= seg.n_segments_ <= 10
    assert seg.assign(clean)["segment_id"].nunique() == seg.n_segments_
