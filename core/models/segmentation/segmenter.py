"""The segmenter: preprocessing, then the slot's parts (reducer -> clusterer -> assigner),
the display projection and the quality figures, composed in one ``fit``."""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from core.settings import SegmentationSettings
from core.errors import DataError
from core.models.features import build_preprocessor
from core.inputs.spec import DatasetSpec
from core.models.segmentation.assign import NearestNeighbourAssigner
from core.models.segmentation.clusterers import ClusterResult, GaussianMixtureBestK, HDBSCANSearch, KMeansBestK
from core.models.segmentation.neighbours import quantize
from core.models.segmentation.projection import DisplayProjection
from core.models.segmentation.quality import (
    distinct_rows, hopkins, quality_figures, rule_fidelity, stability_subsample_size,
)
from core.models.segmentation.reducers import IdentityReducer, Tasks, UMAPReducer, job_cost, lpt_order, umap_call

log = logging.getLogger(__name__)

#: Methods of the slot: what a fitted segmenter's ``method_`` may be (``umap+kmeans`` only
#: as the HDBSCAN search's fallback) and, with ``auto`` (fit them all, keep the one
#: :func:`choose_candidate` prefers), what ``SegmentationSettings.method`` may name.
METHODS = ("umap+hdbscan", "kmeans", "gmm")
_NAMES = {"kmeans": "KMeans", "gmm": "Gaussian mixture"}


def no_structure_reason(hopkins_statistic: float, min_hopkins: float, method: str) -> str:
    """Why segments from ``method`` (``kmeans`` or ``gmm``) on a table without clustering
    tendency are a partition, not natural groups (one line, for the run and the pages)."""
    return (f"no cluster structure: Hopkins statistic {hopkins_statistic:.2f} is below {min_hopkins}, so segments "
            f"are a {_NAMES[method]} partition of the scaled inputs")


class NotFittedError(RuntimeError):
    """A model was used before ``fit``."""


@dataclass(frozen=True)
class MethodChoice:
    """The method the slot runs and, when it is a fallback, why (``None`` otherwise)."""

    method: str
    fallback_reason: str | None = None


def choose_method(configured: str, hopkins_statistic: float, min_hopkins: float) -> MethodChoice:
    """The clusterer to run, before any fit.

    A configured ``kmeans`` or ``gmm`` runs as configured. ``umap+hdbscan`` runs unless the
    table shows no clustering tendency (Hopkins statistic below ``min_hopkins``;
    independent uniform columns score 0.50): then the documented fallback, KMeans on the
    scaled inputs, k by silhouette. (When the HDBSCAN search finds no actionable setting it
    falls back to KMeans on its UMAP embedding: :meth:`Segmenter.fit`.)
    """
    if configured in ("kmeans", "gmm"):
        return MethodChoice(configured)
    if hopkins_statistic < min_hopkins:
        return MethodChoice("kmeans", no_structure_reason(hopkins_statistic, min_hopkins, "kmeans"))
    return MethodChoice("umap+hdbscan")


def _assignable(row: dict, min_agreement: float) -> bool:
    """The assignment reproduces the method's fitted segments well enough (or was not measured)."""
    return row.get("assignment_agreement") is None or row["assignment_agreement"] >= min_agreement


def _stable(row: dict, min_stability: float, min_agreement: float) -> bool:
    """Bootstrap ARI measured and at the bar, and the assignment reproducing the fitted segments."""
    ari = row.get("bootstrap_ari")
    return ari is not None and ari >= min_stability and _assignable(row, min_agreement)


def choose_candidate(rows: list[dict], min_stability: float, min_rule_fidelity: float,
                     min_agreement: float = 0.0) -> tuple[int, str]:
    """The method ``auto`` keeps, and why in one sentence.

    ``rows``: one per fitted method, with ``method``, ``segments``, ``bootstrap_ari``,
    ``rule_fidelity``, ``silhouette_scaled`` and ``assignment_agreement`` (None where not
    computed). The rule, the one the HDBSCAN search applies to its own candidates
    (:class:`HDBSCANSearch`): stable (bootstrap ARI >= ``min_stability``, and the
    nearest-neighbour assignment giving at least ``min_agreement`` of held-out customers
    their fitted segment: a partition the assignment cannot reproduce is not the one
    customers get) and readable (depth-4 rules reproduce >= ``min_rule_fidelity``) first;
    among those the finest (most segments: more for a marketer to act on), then the best
    separated (mean silhouette in the scaled inputs, the one space every method shares),
    then the earlier row. With none both, the most readable of the stable ones; with none
    stable, the most stable. Returns ``(row index, reason)``.

    Raises ValueError for an empty ``rows``.
    """
    if not rows:
        raise ValueError("choose_candidate needs at least one fitted method")
    low = float("-inf")

    def val(r, key):
        v = r.get(key)
        return low if v is None else v

    stable = [i for i, r in enumerate(rows) if _stable(r, min_stability, min_agreement)]
    both = [i for i in stable if val(rows[i], "rule_fidelity") >= min_rule_fidelity]
    unassignable = [r["method"] for r in rows
                    if val(r, "bootstrap_ari") >= min_stability and not _assignable(r, min_agreement)]
    if both:
        i = max(both, key=lambda i: (rows[i]["segments"], val(rows[i], "silhouette_scaled"), -i))
        r = rows[i]
        tied = [j for j in both if j != i and rows[j]["segments"] == r["segments"]]
        agrees = ("" if r.get("assignment_agreement") is None else
                  f", the assignment agreeing on {r['assignment_agreement']:.0%} >= {min_agreement:.0%}")
        why = (f"{r['method']}: stable (bootstrap ARI {r['bootstrap_ari']:.2f} >= {min_stability}{agrees}) and "
               f"readable (rules reproduce {r['rule_fidelity']:.0%} >= {min_rule_fidelity:.0%})")
        if unassignable:
            why += (f"; {', '.join(unassignable)} left out: the assignment gives fewer than {min_agreement:.0%} of "
                    "held-out customers their fitted segment")
        if len(both) == 1:
            return i, why + "; the only method that passes both bars"
        return i, why + (f"; of the {len(both)} methods that pass both, the finest ({r['segments']} segments)"
                         + (f" and, against {', '.join(rows[j]['method'] for j in tied)} with as many, the best "
                            f"separated (silhouette {val(r, 'silhouette_scaled'):.3f})" if tied else ""))
    if stable:
        i = max(stable, key=lambda i: (val(rows[i], "rule_fidelity"), rows[i]["segments"], -i))
        r = rows[i]
        return i, (f"{r['method']}: no method is both stable and readable; the most readable of the stable ones "
                   f"(bootstrap ARI {r['bootstrap_ari']:.2f}, rules reproduce {r['rule_fidelity']:.0%})")
    i = max(range(len(rows)), key=lambda i: (val(rows[i], "bootstrap_ari"), val(rows[i], "rule_fidelity"), -i))
    r = rows[i]
    ari = "not measured" if r.get("bootstrap_ari") is None else f"{r['bootstrap_ari']:.2f}"
    return i, (f"{r['method']}: no method reaches the stability bar ({min_stability}); the most stable "
               f"(bootstrap ARI {ari})")


@dataclass
class _Fit:
    """One method's fit on the sample: its partition, assigner and quality figures."""

    choice: MethodChoice
    result: ClusterResult
    labels: np.ndarray
    assigner: NearestNeighbourAssigner
    agreement: float | None
    quality: dict

    def row(self, Z: np.ndarray, settings: SegmentationSettings, random_state: int) -> dict:
        """The method-comparison row of this fit (rule fidelity measured here)."""
        # a segment the assigner could not reach is dropped (label -1): it is not counted
        sizes = np.bincount(self.labels[self.labels >= 0], minlength=self.assigner.n_segments_)
        return {"method": self.choice.method, "segments": int(self.assigner.n_segments_),
                "smallest_share": float(sizes.min() / len(self.labels)),
                "noise_share": float(self.result.noise.mean()),
                "bootstrap_ari": self.quality["bootstrap_ari"],
                "rule_fidelity": rule_fidelity(Z, self.labels, settings.quality_sample, random_state),
                "silhouette_scaled": self.quality["silhouette_scaled"], "dbcv": self.quality["dbcv"],
                "assignment_agreement": self.agreement, "note": self.choice.fallback_reason, "chosen": False}


def complete_fit(choice: MethodChoice, result: ClusterResult, Z: np.ndarray, E: np.ndarray | None, refit,
                 rng: np.random.Generator, settings: SegmentationSettings, random_state: int,
                 progress=None) -> _Fit:
    """A method's partition of the scaled sample ``Z`` (shape (m, d)) made usable: segments
    ordered by size, the :class:`NearestNeighbourAssigner` (and its agreement with the
    partition on the customers it does not keep), and :func:`quality_figures` with the
    stability ``refit(rows, seed) -> labels``; ``E`` is the reducer's embedding (None
    without one). Draws on ``rng``."""
    s = settings
    labels = order_by_size(result.labels)
    assigner = NearestNeighbourAssigner(knn_k=s.knn_k, reference_size=s.reference_size).fit(
        Z, labels, result.noise, int(labels.max()) + 1, rng)
    held = np.setdiff1d(np.arange(len(Z)), assigner.reference_rows_)
    labels = assigner.remapped(labels)
    agreement = None
    if len(held):
        got, _, _ = assigner.predict(Z[held])
        agreement = float((got == labels[held]).mean())
    quality = quality_figures(
        Z, E, labels, rng, quality_sample=s.quality_sample, stability_size=s.stability_size,
        stability_resamples=s.stability_resamples, random_state=random_state, refit=refit,
        known_aris=result.stability_aris, progress=progress)
    return _Fit(choice, result, labels, assigner, agreement, quality)


#: Cost of a flat method's whole fit (k chosen, assigner, quality figures with 5 stability
#: refits) per fitted customer, in the unit of :func:`core.models.segmentation.reducers.job_cost`
#: (UMAP row-epochs), so that the workers start the longest call first (:class:`Tasks`). Timed
#: once on the scaled sample of the generated 12,000-row table (19 inputs; :func:`fit_flat`
#: and ``reducers.umap_one`` one after the other in one process): a UMAP fit of the 12,000
#: rows (2.4 million row-epochs) 13.9 s, KMeans 6.0 s, the mixture 14.8 s. Only the order
#: of the work depends on it, never a result.
FLAT_COST = {"kmeans": 85, "gmm": 210}


def fit_flat(choice: MethodChoice, Z: np.ndarray, rng: np.random.Generator, settings: SegmentationSettings,
             random_state: int, rank: int = 0) -> _Fit:
    """KMeans (k by silhouette) or the Gaussian mixture (k by BIC) on the scaled sample
    ``Z`` (shape (m, d)), completed by :func:`complete_fit`, drawing on ``rng``; ``rank``
    1 takes the second best k by that score, and so on (IndexError past the last).

    Runs on one BLAS/OpenMP thread (threadpoolctl): on these small matrices the second
    thread costs more than it gives (measured at 12,000 x 19: KMeans over k = 5..10 1.5 s
    on two threads, 0.8 s on one; a mixture with k = 8 9.8 s and 3.6 s), and one thread
    leaves the other core to the process that fits UMAP beside it. A module-level function,
    so a worker process can run it (:class:`core.models.segmentation.reducers.Tasks`)."""
    from threadpoolctl import threadpool_limits

    ks = tuple(settings.fallback_k)
    with threadpool_limits(1):
        if choice.method == "gmm":
            result = GaussianMixtureBestK(ks=ks, random_state=random_state).fit(Z, rng, rank)
            cls = GaussianMixtureBestK
        else:
            result = KMeansBestK(ks=ks, random_state=random_state).fit(Z, rng, rank)
            cls = KMeansBestK
        k = result.k
        return complete_fit(choice, result, Z, None, lambda idx, seed: cls.refit(Z[idx], k, seed), rng,
                            settings, random_state)


@contextlib.contextmanager
def one_thread_beside(tasks: Tasks):
    """One BLAS/OpenMP thread here while ``tasks`` run in two workers (threadpoolctl): the
    two cores are theirs, and with more threads than cores OpenMP's threads spend their
    waits spinning (libgomp's ``OMP_WAIT_POLICY``). Only the time changes. No effect
    without workers."""
    if not tasks.parallel:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _ordinal(n: int) -> str:
    """2 -> "2nd", 3 -> "3rd", 11 -> "11th"."""
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def order_by_size(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..k-1 by segment size (0 = largest; ties by the old id)."""
    ids, counts = np.unique(labels, return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    remap = {old: new for new, old in enumerate(order)}
    return np.array([remap[v] for v in labels], dtype=int)


class Segmenter:
    """Fit segments on a sample, assign every customer, keep a 2-D projection.

    The parts (``core.models.segmentation``): a reducer (:class:`UMAPReducer` or
    :class:`IdentityReducer`), a clusterer (:class:`HDBSCANSearch`, :class:`KMeansBestK`,
    :class:`GaussianMixtureBestK`), the :class:`NearestNeighbourAssigner`, the
    :class:`DisplayProjection` and :func:`quality_figures`; :func:`choose_method` picks the
    clusterer. The steps, and why, are in ``docs/segmentation.md``.

    Parameters
    ----------
    settings : SegmentationSettings
    random_state : int
        Seed for sampling, UMAP, KMeans and the mixture.
    n_jobs : int
        With 2 or more, the independent fits (UMAP embeddings, the flat methods, the 2-D
        projection; :meth:`_fit_methods`) and the HDBSCAN candidates' stability run in two
        processes (joblib's loky backend); results are identical to ``n_jobs=1`` (each fit
        has its own seed).

    Attributes (after ``fit``)
    --------------------------
    columns_ : list of str, the segmentation input columns.
    n_segments_ : int
    method_ : str, one of :data:`METHODS` or ``"umap+kmeans"`` (the search's fallback).
    fallback_reason_ : str or None, why ``method_`` is a fallback (None when it is the
        configured method).
    preprocessor_ : sklearn Pipeline, the segmentation inputs' scaling
        (:func:`core.models.features.build_preprocessor`) and then the grid of
        :func:`core.models.segmentation.neighbours.quantize`.
    assigner_ : NearestNeighbourAssigner
    fit_info_ : dict: sample size, Hopkins statistic, HDBSCAN candidates tried, noise share,
        segment sizes in the sample, assignment agreement, inputs used and left out, and
        the quality figures.
    projection_ : DataFrame with ``row`` (position in the fitted table), ``x``, ``y``: the
        stratified display sample (at most ``projection_size`` rows).
    segment_ids_ : ndarray of shape (n_segments_,), the public id of each fitted segment
        (0..k-1 by size until :meth:`relabel`).
    """

    def __init__(self, *, settings: SegmentationSettings = SegmentationSettings(), random_state: int = 0,
                 n_jobs: int = 1):
        self.settings = settings
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- the parts ---------------------------------------------------------------------------
    def _umap(self) -> UMAPReducer:
        s = self.settings
        return UMAPReducer(n_components=s.n_components, n_neighbors=s.n_neighbors, min_dist=s.min_dist)

    def _kmeans(self) -> KMeansBestK:
        return KMeansBestK(ks=tuple(self.settings.fallback_k), random_state=self.random_state)

    def _search(self) -> HDBSCANSearch:
        s = self.settings
        return HDBSCANSearch(min_samples_grid=tuple(s.min_samples_grid), min_cluster_shares=tuple(s.min_cluster_shares),
                             min_segments=s.min_segments, max_segments=s.max_segments,
                             min_segment_share=s.min_segment_share, max_noise_share=s.max_noise_share,
                             min_stability=s.min_stability, min_rule_fidelity=s.min_rule_fidelity, knn_k=s.knn_k,
                             quality_sample=s.quality_sample, random_state=self.random_state, n_jobs=self.n_jobs)

    def _projection(self) -> DisplayProjection:
        return DisplayProjection(size=self.settings.projection_size, n_neighbors=self.settings.n_neighbors,
                                 random_state=self.random_state)

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, clean: pd.DataFrame, spec: DatasetSpec, categories: dict, progress=None,
            beside: tuple | None = None) -> "Segmenter":
        """Fit on a sample of ``clean`` (n rows, validated). Returns self.

        ``beside``: an independent call ``(fn, args)`` (a module-level ``fn``) that the
        segmentation's two workers run with its own work when ``n_jobs`` > 1, started first
        as the longest (training passes the propensity fit, so that two processes, not
        three, share the two cores); here otherwise. Its result is ``beside_result_`` (not
        saved with the segmenter); its error is raised here.

        Raises
        ------
        ValueError
            Fewer than 50 rows.
        DataError
            Every segmentation input is empty, or the inputs take fewer distinct values than
            ``min_segments`` (e.g. all constant).
        """
        progress = progress or (lambda msg: None)
        s = self.settings
        n = len(clean)
        if n < 50:
            raise ValueError(f"segmentation needs at least 50 customers, got {n}")
        rng = np.random.default_rng(self.random_state)
        # Inputs with no value at all carry no structure; left out (by name) so values that
        # appear at scoring time cannot move customers between segments.
        self.columns_ = [c for c in spec.segmentation_columns if clean[c].notna().any()]
        dropped = [c for c in spec.segmentation_columns if c not in self.columns_]
        if not self.columns_:
            raise DataError("every segmentation input column is empty")
        sample = np.sort(rng.choice(n, size=min(s.sample_size, n), replace=False))
        Xs = clean.iloc[sample][self.columns_]
        # the scaled inputs end on the grid of neighbours.quantize: the same on every CPU
        self.preprocessor_ = make_pipeline(build_preprocessor(spec, self.columns_, categories, add_indicator=False),
                                           FunctionTransformer(quantize, feature_names_out="one-to-one")).fit(Xs)
        Z = self.preprocessor_.transform(Xs)
        distinct = distinct_rows(Z)
        if distinct < s.min_segments:
            constant = [c for c in self.columns_ if Xs[c].nunique(dropna=False) <= 1]
            raise DataError(f"segmentation inputs take only {distinct} distinct value combination(s) in the sample, "
                            f"too few for {s.min_segments} segments"
                            + (f" (constant: {', '.join(constant)})" if constant else ""))
        h = hopkins(Z, rng)
        projection = self._projection()
        proj_idx = projection.rows(len(sample))
        comparison, choice_reason = [], None
        if s.method == "auto":
            choices = [MethodChoice(m) for m in METHODS if not (m == "umap+hdbscan" and h < s.min_hopkins)]
            if h < s.min_hopkins:
                comparison.append({"method": "umap+hdbscan", "segments": None, "chosen": False,
                                   "note": f"not fitted: no cluster structure (Hopkins statistic {h:.2f} is below "
                                           f"{s.min_hopkins})"})
        else:
            choices = [choose_method(s.method, h, s.min_hopkins)]
        fits, P, rngs = self._fit_methods(choices, Z, rng, projection.job(Z, proj_idx), progress, beside)
        if s.method == "auto":
            rows = [f.row(Z, s, self.random_state) for f in fits]
            self._stable_k(fits, rows, rngs, Z, progress)
            comparison += rows
            best, choice_reason = choose_candidate(rows, s.min_stability, s.min_rule_fidelity,
                                                   s.min_assignment_agreement)
            rows[best]["chosen"] = True
            fit = fits[best]
            if h < s.min_hopkins:  # whichever is kept, it partitions a table without clusters
                fit.choice = MethodChoice(fit.choice.method, no_structure_reason(h, s.min_hopkins, fit.choice.method))
            progress(f"method kept: {choice_reason}")
        else:
            fit = fits[0]
        choice, result, labels = fit.choice, fit.result, fit.labels
        quality, assigner, agreement = fit.quality, fit.assigner, fit.agreement
        self.method_, self.fallback_reason_ = choice.method, choice.fallback_reason
        self.assigner_ = assigner
        self.n_segments_ = assigner.n_segments_
        self.segment_ids_ = np.arange(self.n_segments_)

        keep = projection.displayed(labels[proj_idx])
        proj_idx, P = proj_idx[keep], P[keep]
        self.projection_ = pd.DataFrame({"row": sample[proj_idx], "x": P[:, 0], "y": P[:, 1]})
        chosen = result.chosen
        self.fit_info_ = {
            "method": self.method_,
            "fallback_reason": self.fallback_reason_,
            "sample_size": int(len(sample)),
            "n_segments": self.n_segments_,
            "hopkins": h,
            "min_cluster_size": chosen["min_cluster_size"] if chosen else None,
            "min_samples": chosen["min_samples"] if chosen else None,
            "cluster_selection": chosen["selection"] if chosen else None,
            "hdbscan_candidates": result.candidates,
            "noise_share_in_sample": float(result.noise.mean()),
            "sample_segment_sizes": np.bincount(labels[labels >= 0], minlength=self.n_segments_).tolist(),
            "reference_size": int(len(assigner.reference_rows_)),
            "assignment_agreement": agreement,
            "inputs": self.columns_,
            "empty_inputs_left_out": dropped,
            "configured_method": s.method,
            "method_comparison": comparison,
            "choice_reason": choice_reason,
            **quality,
        }
        return self

    def _fit_methods(self, choices: list[MethodChoice], Z: np.ndarray, rng: np.random.Generator,
                     projection_job: tuple, progress,
                     beside: tuple | None = None) -> tuple[list[_Fit], np.ndarray, list[np.random.Generator]]:
        """Fit each method of ``choices`` on the scaled sample ``Z`` (shape (m, d)), and the
        2-D display projection (``projection_job``). Returns the fits in ``choices`` order,
        the projection (shape (rows, 2)) and each flat method's generator as it stood
        before its fit (for :meth:`_stable_k`).

        Each method draws on its own copy of ``rng`` as it stands here, so the one ``auto``
        keeps is the fit a configured method gives (unless :meth:`_stable_k` had to try
        another k). The independent work (the UMAP
        embedding of ``umap+hdbscan`` and its stability refits' embeddings, the projection,
        and each flat method's whole fit, :func:`fit_flat`) runs in two worker processes
        when ``n_jobs`` > 1 (:class:`core.models.segmentation.reducers.Tasks`): ``beside`` first
        (the longest), then the UMAP fits, then the rest longest first; the HDBSCAN search
        (:meth:`_search_umap`) runs here
        as soon as its embeddings are in, beside the flat fits. The search measures two
        candidates at a time in the workers only when nothing else is left for them.
        """
        s = self.settings
        rngs = [copy.deepcopy(rng) for _ in choices] if len(choices) > 1 else [rng]
        calls, costs, places = [umap_call(projection_job)], [job_cost(projection_job)], []
        for choice, r in zip(choices, rngs):
            start = len(calls)
            if choice.method == "umap+hdbscan":
                jobs, boot_idx = self._umap_jobs(Z, r)
                calls += [umap_call(j) for j in jobs]
                costs += [job_cost(j) for j in jobs]
                places.append((start, len(jobs), boot_idx))
                progress(f"UMAP: {len(Z):,} customers x {Z.shape[1]} inputs -> {s.n_components} dimensions, and "
                         f"{len(boot_idx)} refits on {len(boot_idx[0]) if boot_idx else 0:,} customers for stability")
            else:
                calls.append((fit_flat, (choice, Z, copy.deepcopy(r), s, self.random_state)))
                costs.append(FLAT_COST[choice.method] * len(Z))
                places.append((start, 1, None))
                progress(choice.fallback_reason or f"{_NAMES[choice.method]} on the scaled inputs "
                         f"(k by {'BIC' if choice.method == 'gmm' else 'silhouette'}) with its stability refits")
        progress("and the 2-D display projection" + (" in two worker processes" if self.n_jobs > 1 else ""))
        first = [i for start, count, boot_idx in places if boot_idx is not None for i in range(start, start + count)]
        rest = [i for i in lpt_order(costs) if i not in first]
        first.sort(key=lambda i: (-costs[i], i))
        if beside is not None:  # the longest call (the propensity fit: 278 s on one thread at 240,000 rows,
            first.insert(0, len(calls))  # against 50 s for the main UMAP), so it starts first
            calls.append(beside)
        with Tasks(calls, self.n_jobs, first + rest) as tasks, one_thread_beside(tasks):
            fits = []
            for choice, r, (start, count, boot_idx) in zip(choices, rngs, places):
                if boot_idx is None:
                    fits.append(None)
                    continue
                E = tasks.result(start)
                boot = [(idx, tasks.result(start + 1 + b)) for b, idx in enumerate(boot_idx)]
                fits.append(self._search_umap(Z, r, E, boot, progress, tasks))
            fits = [f if f is not None else tasks.result(start)
                    for f, (start, count, boot_idx) in zip(fits, places)]
            if beside is not None:
                self.beside_result_ = tasks.result(len(calls) - 1)
            return fits, tasks.result(0), rngs

    def _stable_k(self, fits: list[_Fit], rows: list[dict], rngs: list[np.random.Generator], Z: np.ndarray,
                  progress) -> None:
        """When no method of ``auto`` passes both bars (stable and readable), try the flat
        methods' next k by their own score (silhouette, BIC): the second best of each, then
        the third, ...; the first k whose fit passes both replaces its method's fit and row
        in ``fits`` and ``rows`` (in place), with a note saying why. Stability-based choice
        of k: Ben-Hur, Elisseeff & Guyon 2002, *A stability based method for discovering
        structure in clustered data*; Lange et al. 2004, *Stability-based validation of
        clustering solutions*. Each try refits on the method's generator as it stood
        before its first fit, so the result is the same wherever it runs."""
        s = self.settings

        def passes(r):  # both bars, as choose_candidate applies them
            return _stable(r, s.min_stability, s.min_assignment_agreement) and (r["rule_fidelity"] or 0) >= s.min_rule_fidelity

        if any(passes(r) for r in rows):
            return
        flat = [j for j, f in enumerate(fits) if f.choice.method in ("kmeans", "gmm") and f.choice.fallback_reason is None]
        score = {"kmeans": "silhouette", "gmm": "BIC"}
        for rank in range(1, len(s.fallback_k)):
            for j in flat:
                first = rows[j]
                try:
                    fit = fit_flat(fits[j].choice, Z, copy.deepcopy(rngs[j]), s, self.random_state, rank)
                except IndexError:  # no more usable k
                    continue
                row = fit.row(Z, s, self.random_state)
                if passes(row):
                    method = fits[j].choice.method
                    ari, rules = first["bootstrap_ari"], first["rule_fidelity"]
                    note = (f"k = {first['segments']}, the best by {score[method]}, did not pass both bars (bootstrap "
                            f"ARI {'not measured' if ari is None else format(ari, '.2f')}, rules reproduce "
                            f"{'not measured' if rules is None else format(rules, '.0%')}); "
                            f"k = {row['segments']}, the {_ordinal(rank + 1)} by {score[method]}, does")
                    fit.choice = MethodChoice(method, note)
                    row["note"] = note
                    fits[j], rows[j] = fit, row
                    progress(f"{_NAMES[method]}: {note}")
                    return

    def _umap_jobs(self, Z: np.ndarray, rng: np.random.Generator) -> tuple[list[tuple], list[np.ndarray]]:
        """The UMAP jobs of ``umap+hdbscan``: the main embedding of ``Z`` (m rows) and one per
        stability refit (``stability_resamples`` subsamples of ``stability_size`` customers,
        at most half of the sample: :func:`core.models.segmentation.quality.stability_subsample_size`),
        the subsamples' rows drawn from ``rng``. Returns ``(jobs, subsample rows)``."""
        s = self.settings
        n = len(Z)
        umap = self._umap()
        size = stability_subsample_size(s.stability_size, n)
        boot_idx = [np.sort(rng.choice(n, size=size, replace=False)) for _ in range(s.stability_resamples)]
        jobs = [umap.job(Z, self.random_state)]
        jobs += [umap.job(Z[idx], self.random_state + 1 + b) for b, idx in enumerate(boot_idx)]
        return jobs, boot_idx

    def _search_umap(self, Z: np.ndarray, rng: np.random.Generator, E: np.ndarray,
                     boot: list[tuple[np.ndarray, np.ndarray]], progress, tasks: Tasks | None = None) -> _Fit:
        """The HDBSCAN search on the UMAP embedding ``E`` (its refits in ``boot``: rows,
        embedding), and KMeans on the embedding when no candidate is actionable; completed by
        :func:`complete_fit`. With ``tasks`` running in workers, the search's stability
        measures go two at a time to those workers once they have finished the rest."""
        s = self.settings
        if tasks is not None and tasks.parallel:
            result, candidates = self._search().fit(E, Z, boot, progress, tasks.run_batches, tasks.idle)
        else:
            result, candidates = dataclasses.replace(self._search(), n_jobs=1).fit(E, Z, boot, progress)
        choice, reducer = MethodChoice("umap+hdbscan"), IdentityReducer()
        if result is None:
            choice = MethodChoice("umap+kmeans", f"HDBSCAN found no setting with {s.min_segments}..{s.max_segments} "
                                                 f"clusters of at least {s.min_segment_share:.0%}: segments are "
                                                 "KMeans on the UMAP embedding, k by silhouette")
            progress(choice.fallback_reason)
            km = self._kmeans().fit(E, rng)
            result = ClusterResult(km.labels, km.noise, km.k, candidates)
            reducer = self._umap()
        k = result.k
        return complete_fit(choice, result, Z, E,
                            lambda idx, seed: KMeansBestK.refit(reducer.fit_transform(Z[idx], seed), k, seed),
                            rng, s, self.random_state, progress)

    def relabel(self, mapping: dict[int, int]) -> None:
        """Give the segments public ids (continuity across retrains, :mod:`core.models.segmentation.continuity`).

        Parameters
        ----------
        mapping : ``{fitted id (0..k-1): public id}``, one distinct id per segment.

        Raises
        ------
        ValueError
            A segment is missing from ``mapping`` or two segments get the same id.
        """
        ids = [mapping.get(i) for i in range(self.n_segments_)]
        if None in ids or len(set(ids)) != len(ids):
            raise ValueError(f"relabel needs one distinct id for each of the {self.n_segments_} segments, got {mapping}")
        self.segment_ids_ = np.asarray(ids, dtype=int)

    # -- saving ------------------------------------------------------------------------------
    def saved_state(self) -> tuple[dict, dict[str, np.ndarray], object]:
        """What a run keeps of the fitted segmenter, in three parts that load without
        running code (:mod:`core.runs.safeformat`): the parameters as a JSON-safe dict (the fields
        of :class:`core.runs.results.SegmenterState`), the assignment's voters as arrays
        (``ref_Z`` (r, d) float64, ``ref_labels`` (r,) int, ``ref_noise`` (r,) bool,
        ``reference_rows`` (r,) int), and the fitted preprocessing pipeline
        (scikit-learn). The sample's projection and fit figures are saved elsewhere in the
        run (``projection.parquet``, ``metrics.json``).

        Raises NotFittedError before ``fit``."""
        if not hasattr(self, "assigner_"):
            raise NotFittedError("Segmenter is not fitted: call fit() first")
        a = self.assigner_
        params = {"columns": list(self.columns_), "n_segments": int(self.n_segments_),
                  "segment_ids": [int(i) for i in self.segment_ids_], "method": self.method_,
                  "fallback_reason": self.fallback_reason_, "knn_k": int(a.knn_k),
                  "reference_size": int(a.reference_size), "random_state": int(self.random_state),
                  "settings": dataclasses.asdict(self.settings)}
        arrays = {"ref_Z": a.ref_Z_, "ref_labels": np.asarray(a.ref_labels_, dtype=np.int64),
                  "ref_noise": np.asarray(a.ref_noise_, dtype=bool),
                  "reference_rows": np.asarray(a.reference_rows_, dtype=np.int64)}
        return params, arrays, self.preprocessor_

    @classmethod
    def from_saved(cls, params, arrays: dict[str, np.ndarray], preprocessor) -> "Segmenter":
        """A segmenter that assigns as the saved one did, from the parts of
        :meth:`saved_state` (``params`` a :class:`core.runs.results.SegmenterState` or its dict).
        It has no ``fit_info_`` or ``projection_`` (the run keeps those)."""
        from core.runs.results import SegmenterState

        p = params if isinstance(params, SegmenterState) else SegmenterState.from_dict(params, "segmenter.json")
        settings = SegmentationSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in p.settings.items()})
        seg = cls(settings=settings, random_state=p.random_state)
        assigner = NearestNeighbourAssigner(knn_k=p.knn_k, reference_size=p.reference_size)
        assigner.ref_Z_ = np.asarray(arrays["ref_Z"], dtype=np.float64)
        assigner.ref_labels_ = np.asarray(arrays["ref_labels"], dtype=int)
        assigner.ref_noise_ = np.asarray(arrays["ref_noise"], dtype=bool)
        assigner.reference_rows_ = np.asarray(arrays["reference_rows"], dtype=int)
        assigner.n_segments_ = p.n_segments
        seg.columns_, seg.preprocessor_, seg.assigner_ = list(p.columns), preprocessor, assigner
        seg.n_segments_, seg.segment_ids_ = p.n_segments, np.asarray(p.segment_ids, dtype=int)
        seg.method_, seg.fallback_reason_ = p.method, p.fallback_reason
        return seg

    # -- assignment --------------------------------------------------------------------------
    def assign(self, clean: pd.DataFrame, chunk_size: int = 20_000) -> pd.DataFrame:
        """Segment of each customer in ``clean`` (validated, n rows).

        Returns
        -------
        DataFrame of shape (n, 3), same index: ``segment_id`` (int: 0..k-1 after ``fit``, the
        ids set by :meth:`relabel` after that), ``segment_confidence`` (float in 0..1: share
        of the k nearest fitted customers in that segment), ``segment_reassigned`` (bool:
        most neighbours were HDBSCAN noise).

        Raises
        ------
        NotFittedError
            Called before ``fit``.
        """
        if not hasattr(self, "assigner_"):
            raise NotFittedError("Segmenter is not fitted: call fit() first")
        segs, confs, flags = [], [], []
        X = clean[self.columns_]
        for start in range(0, len(X), chunk_size):
            Z = self.preprocessor_.transform(X.iloc[start:start + chunk_size])
            s, c, f = self.assigner_.predict(Z)
            segs.append(self.segment_ids_[s]), confs.append(c), flags.append(f)
        return pd.DataFrame({
            "segment_id": np.concatenate(segs) if segs else np.array([], int),
            "segment_confidence": np.concatenate(confs) if confs else np.array([]),
            "segment_reassigned": np.concatenate(flags) if flags else np.array([], bool),
        }, index=clean.index)
