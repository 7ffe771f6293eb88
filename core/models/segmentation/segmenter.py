"""The segmenter: preprocessing, then the slot's parts (reducer -> clusterer -> assigner),
the display projection and the quality figures, composed in one ``fit``."""
from __future__ import annotations

import copy
import dataclasses
import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from core.errors import DataError
from core.inputs.spec import DatasetSpec
from core.models.features import build_preprocessor
from core.models.segmentation.assign import NearestNeighbourAssigner
from core.models.segmentation.clusterers import ClusterResult, HDBSCANSearch, KMeansBestK
from core.models.segmentation.methods import (
    _NAMES,
    FLAT_COST,
    METHODS,
    MethodChoice,
    _Fit,
    _stable,
    choose_candidate,
    choose_method,
    complete_fit,
    fit_flat,
    no_structure_reason,
    one_thread_beside,
)
from core.models.segmentation.neighbours import quantize
from core.models.segmentation.projection import DisplayProjection
from core.models.segmentation.quality import (
    distinct_rows,
    hopkins,
    stability_subsample_size,
)
from core.models.segmentation.reducers import WORKER_ENV, IdentityReducer, UMAPReducer, job_cost, umap_call
from core.settings import SegmentationSettings
from core.workers import Tasks, lpt_order

log = logging.getLogger(__name__)


class NotFittedError(RuntimeError):
    """A model was used before ``fit``."""


def _ordinal(n: int) -> str:
    """2 -> "2nd", 3 -> "3rd", 11 -> "11th"."""
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


class Segmenter:
    """Fit segments on a sample, assign every customer, keep a 2-D projection.

    The parts (``core.models.segmentation``): a reducer (:class:`UMAPReducer` or
    :class:`IdentityReducer`), a clusterer (:class:`HDBSCANSearch`, :class:`KMeansBestK`,
    :class:`GaussianMixtureBestK`), the :class:`NearestNeighbourAssigner`, the
    :class:`DisplayProjection` and :func:`quality_figures`; :func:`choose_method` picks the
    clusterer. The steps, and why, are in ``docs/design/segmentation.md``.

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
        if len(clean) < 50:
            raise ValueError(f"segmentation needs at least 50 customers, got {len(clean)}")
        rng = np.random.default_rng(self.random_state)
        sample, Z, dropped = self._sample_inputs(clean, spec, categories, rng)
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
            fit, rows, choice_reason = self._keep_one(fits, rngs, Z, h, progress)
            comparison += rows
        else:
            fit = fits[0]
        self.method_, self.fallback_reason_ = fit.choice.method, fit.choice.fallback_reason
        self.assigner_ = fit.assigner
        self.n_segments_ = fit.assigner.n_segments_
        self.segment_ids_ = np.arange(self.n_segments_)
        keep = projection.displayed(fit.labels[proj_idx])
        proj_idx, P = proj_idx[keep], P[keep]
        self.projection_ = pd.DataFrame({"row": sample[proj_idx], "x": P[:, 0], "y": P[:, 1]})
        self.fit_info_ = self._fit_info(fit, len(sample), h, dropped, comparison, choice_reason)
        return self

    def _sample_inputs(self, clean: pd.DataFrame, spec: DatasetSpec, categories: dict,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The fitted sample's rows (sorted, shape (m,)), its scaled inputs ``Z`` (m, d), and
        the input columns left out because they are empty; sets ``columns_`` and the fitted
        ``preprocessor_``. Raises DataError as :meth:`fit`."""
        s = self.settings
        # Inputs with no value at all carry no structure; left out (by name) so values that
        # appear at scoring time cannot move customers between segments.
        self.columns_ = [c for c in spec.segmentation_columns if clean[c].notna().any()]
        dropped = [c for c in spec.segmentation_columns if c not in self.columns_]
        if not self.columns_:
            raise DataError("every segmentation input column is empty")
        sample = np.sort(rng.choice(len(clean), size=min(s.sample_size, len(clean)), replace=False))
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
        return sample, Z, dropped

    def _keep_one(self, fits: list[_Fit], rngs: list[np.random.Generator], Z: np.ndarray, h: float,
                  progress) -> tuple[_Fit, list[dict], str]:
        """With ``method = "auto"``: the comparison's rows of the fitted methods (the stable-k
        try included), the one :func:`choose_candidate` keeps (marked ``chosen``) and why."""
        s = self.settings
        rows = [f.row(Z, s, self.random_state) for f in fits]
        self._stable_k(fits, rows, rngs, Z, progress)
        best, choice_reason = choose_candidate(rows, s.min_stability, s.min_rule_fidelity, s.min_assignment_agreement)
        rows[best]["chosen"] = True
        fit = fits[best]
        if h < s.min_hopkins:  # whichever is kept, it partitions a table without clusters
            fit.choice = MethodChoice(fit.choice.method, no_structure_reason(h, s.min_hopkins, fit.choice.method))
        progress(f"method kept: {choice_reason}")
        return fit, rows, choice_reason

    def _fit_info(self, fit: _Fit, sample_size: int, h: float, dropped: list[str], comparison: list[dict],
                  choice_reason: str | None) -> dict:
        """What :attr:`fit_info_` holds (:class:`core.runs.results.SegmentationInfo`'s fields
        of the fit)."""
        result, labels, chosen = fit.result, fit.labels, fit.result.chosen
        return {
            "method": self.method_,
            "fallback_reason": self.fallback_reason_,
            "sample_size": int(sample_size),
            "n_segments": self.n_segments_,
            "hopkins": h,
            "min_cluster_size": chosen["min_cluster_size"] if chosen else None,
            "min_samples": chosen["min_samples"] if chosen else None,
            "cluster_selection": chosen["selection"] if chosen else None,
            "hdbscan_candidates": result.candidates,
            "noise_share_in_sample": float(result.noise.mean()),
            "sample_segment_sizes": np.bincount(labels[labels >= 0], minlength=self.n_segments_).tolist(),
            "reference_size": int(len(fit.assigner.reference_rows_)),
            "assignment_agreement": fit.agreement,
            "inputs": self.columns_,
            "empty_inputs_left_out": dropped,
            "configured_method": self.settings.method,
            "method_comparison": comparison,
            "choice_reason": choice_reason,
            **fit.quality,
        }

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
        when ``n_jobs`` > 1 (:class:`core.workers.Tasks`): ``beside`` first
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
        if beside is not None:  # the longest call (the propensity fit on one thread takes far longer than the
            first.insert(0, len(calls))  # main UMAP: ``python -m benchmarks.bench_pipeline``), so it starts first
            calls.append(beside)
        with Tasks(calls, self.n_jobs, first + rest, env=WORKER_ENV) as tasks, one_thread_beside(tasks):
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
                            f"{'not measured' if rules is None else format(rules, '.0%') + ' of the fitted sample'}); "
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
        :meth:`saved_state` (``params``: its dict, or an object with those attributes such as
        the run's :class:`core.runs.results.SegmenterState`, which checks the saved file).
        It has no ``fit_info_`` or ``projection_`` (the run keeps those)."""
        p = SimpleNamespace(**params) if isinstance(params, dict) else params
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
