"""Clusterers of the segmentation slot: the HDBSCAN parameter search, KMeans with k by
silhouette, and a Gaussian mixture with k by BIC.

Every clusterer has ``fit(E, rng) -> ClusterResult`` on the space its reducer made (shape
(m, k)), and the fixed-k ones ``refit(E, k, seed)``, the labels of a refit with the chosen
k (for the bootstrap stability of :func:`core.models.segmentation.quality.quality_figures`).
"""
from __future__ import annotations

import tempfile
import types
from dataclasses import dataclass, field

import hdbscan
import numpy as np
from joblib import Memory
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, pairwise_distances, silhouette_score
from sklearn.mixture import GaussianMixture

from core.models.segmentation.neighbours import kneighbors
from core.models.segmentation.quality import distinct_rows, rule_fidelity
from core.workers import run_parallel


class _NumpyWithStableArgsort(types.ModuleType):
    """numpy, except that ``argsort`` is always stable: what :func:`stable_hdbscan_edges`
    gives the ``hdbscan`` library in place of numpy."""

    stable_argsort = True

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def argsort(a, axis=-1, kind=None, order=None):
        return np.argsort(a, axis=axis, kind="stable", order=order)


def stable_hdbscan_edges() -> None:
    """Make HDBSCAN's labels the same on every CPU: ``hdbscan`` orders the minimum spanning
    tree's edges by weight with numpy's default (unstable) ``argsort`` before building the
    single-linkage tree (``hdbscan.hdbscan_``, e.g. ``_hdbscan_boruvka_kdtree``), and numpy
    picks its sort code by CPU (AVX-512 or not), so edges of equal weight, common among
    mutual-reachability distances, come out in another order and the condensed tree, and
    so the clusters, can differ: on one UMAP embedding, several of the search's parameter
    settings labelled many points differently with ``NPY_DISABLE_CPU_FEATURES=X86_V4``
    than without; with a stable sort, none did. This gives
    ``hdbscan.hdbscan_`` a numpy whose ``argsort`` is stable (ties keep the tree's own edge
    order); nothing else changes. Runs once per process (on import of this module)."""
    import hdbscan.hdbscan_ as impl

    if not getattr(impl.np, "stable_argsort", False):
        impl.np = _NumpyWithStableArgsort("numpy")


stable_hdbscan_edges()


@dataclass
class ClusterResult:
    """What a clusterer found on the fitted sample.

    Attributes
    ----------
    labels : ndarray of shape (m,), segment of each fitted customer (noise reassigned).
    noise : ndarray of shape (m,), bool: HDBSCAN called the customer noise.
    k : int, number of segments.
    candidates : list of dict, the HDBSCAN parameter search's table (empty otherwise).
    chosen : dict or None, the chosen candidate's row of that table.
    stability_aris : list of float or None, bootstrap ARIs already measured by the search
        for the chosen candidate (None: :func:`core.models.segmentation.quality.quality_figures`
        measures them by refitting).
    """

    labels: np.ndarray
    noise: np.ndarray
    k: int
    candidates: list[dict] = field(default_factory=list)
    chosen: dict | None = None
    stability_aris: list[float] | None = None


def usable_ks(ks, E: np.ndarray) -> list[int]:
    """The k of ``ks`` that :func:`_best_k` tries on ``E``: none above the distinct
    profiles of ``E`` (:func:`distinct_rows`) or not below its rows (it would leave a
    cluster empty or split identical customers); when every k is, the largest one possible
    (at least 2)."""
    limit = min(distinct_rows(E), len(E) - 1)
    return [k for k in ks if k <= limit] or [max(2, limit)]


def _best_k(ks, E: np.ndarray, fit, score, rank: int = 0) -> tuple[np.ndarray, object]:
    """``(labels, model)`` of the k of :func:`usable_ks` whose ``score(k, labels, model)``
    is highest (``rank`` 1: the second highest, and so on; ties: the earlier k);
    ``fit(k)`` returns ``(labels, model)``. Raises IndexError for a ``rank`` beyond the
    usable k."""
    scored = []
    for i, k in enumerate(usable_ks(ks, E)):
        labels, model = fit(k)
        scored.append((-score(k, labels, model), i, labels, model))
    scored.sort(key=lambda t: (t[0], t[1]))
    _, _, labels, model = scored[rank]
    return labels.astype(int), model


@dataclass(frozen=True)
class KMeansBestK:
    """KMeans (k-means++, 4 inits; scikit-learn) with k among ``ks`` chosen by the highest
    mean silhouette (Rousseeuw 1987) on a seeded subsample of at most 5,000 rows; never
    more clusters than distinct profiles (:func:`_best_k`)."""

    ks: tuple[int, ...] = (5, 6, 7, 8, 9, 10)
    random_state: int = 0

    name = "kmeans"

    def fit(self, E: np.ndarray, rng: np.random.Generator, rank: int = 0) -> ClusterResult:
        """Labels of ``E`` (shape (m, k)) with the best k (``rank`` 1: the second best, ...);
        the silhouette subsample is drawn from ``rng``."""
        sub = rng.choice(len(E), size=min(5000, len(E)), replace=False)
        D = pairwise_distances(E[sub])  # the subsample's distances, once for every k

        def fit(k):
            km = KMeans(n_clusters=k, n_init=4, random_state=self.random_state).fit(E)
            return km.labels_, km

        def score(k, labels, _):
            return silhouette_score(D, labels[sub], metric="precomputed") if len(set(labels[sub])) > 1 else -1

        labels, _ = _best_k(self.ks, E, fit, score, rank)
        return ClusterResult(labels, np.zeros(len(E), dtype=bool), int(labels.max()) + 1)

    @staticmethod
    def refit(E: np.ndarray, k: int, seed: int) -> np.ndarray:
        """Labels of a KMeans refit with ``k`` clusters on ``E``, seeded."""
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit(E).labels_


def _mixture(k: int, seed: int) -> GaussianMixture:
    """The mixture of :class:`GaussianMixtureBestK` with ``k`` components: full covariance,
    one k-means initialisation (scikit-learn's default ``n_init``), ``reg_covar`` 1e-4."""
    return GaussianMixture(n_components=k, covariance_type="full", n_init=1, reg_covar=1e-4, random_state=seed)


@dataclass(frozen=True)
class GaussianMixtureBestK:
    """Full-covariance Gaussian mixture (scikit-learn ``GaussianMixture``, :func:`_mixture`)
    with k among ``ks`` chosen by the lowest BIC (Schwarz 1978) on a seeded subsample of at
    most ``choice_sample`` customers, then refitted with that k on all of them (the whole
    sample when it is no larger); never more components than distinct profiles
    (:func:`_best_k`). The subsample bounds the cost of the choice (six EM fits, each
    growing with the rows) on large samples."""

    ks: tuple[int, ...] = (5, 6, 7, 8, 9, 10)
    random_state: int = 0
    choice_sample: int = 5_000

    name = "gmm"

    def fit(self, E: np.ndarray, rng: np.random.Generator, rank: int = 0) -> ClusterResult:
        """Labels of ``E`` (shape (m, k)) with the best k (``rank`` 1: the second best, ...);
        the choice subsample is drawn from ``rng`` when ``m`` exceeds ``choice_sample``."""
        m = len(E)
        sub = np.sort(rng.choice(m, size=self.choice_sample, replace=False)) if m > self.choice_sample else None
        Es = E if sub is None else E[sub]

        def fit(k):
            gm = _mixture(k, self.random_state).fit(Es)
            return gm.predict(Es), gm

        labels, gm = _best_k(self.ks, Es, fit, lambda k, labels, gm: -gm.bic(Es), rank)
        if sub is not None:
            labels = _mixture(gm.n_components, self.random_state).fit(E).predict(E)
        return ClusterResult(labels.astype(int), np.zeros(m, dtype=bool), int(labels.max()) + 1)

    @staticmethod
    def refit(E: np.ndarray, k: int, seed: int) -> np.ndarray:
        """Labels of a mixture refit with ``k`` components on ``E``, seeded."""
        return _mixture(k, seed).fit(E).predict(E)


def reassign_noise(Z: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Labels with every HDBSCAN noise point (-1) given the segment most common among its
    ``k`` nearest clustered customers in the scaled inputs ``Z`` (shape (m, d)): the same
    kind of vote that assigns every customer later, so a reassigned customer lands where the
    assignment will put it. All noise: one segment (0)."""
    labels = np.asarray(labels).copy()
    noise = labels < 0
    if not noise.any():
        return labels
    if noise.all():
        return np.zeros(len(labels), dtype=int)
    k = min(k, int((~noise).sum()))
    votes = labels[~noise][kneighbors(Z[~noise], Z[noise], k)[0]]
    counts = np.stack([(votes == c).sum(axis=1) for c in range(int(labels.max()) + 1)], axis=1)
    labels[noise] = counts.argmax(axis=1)
    return labels


def _candidate_stability(tasks: list[tuple]) -> list[tuple[np.ndarray, list[float]]]:
    """For each ``(Z, labels, candidate, boot, knn_k, cache_dir)``: the candidate's final
    labels on the whole fitted sample (noise reassigned) and, for each refit ``(idx, Eb)``
    in ``boot``, the adjusted Rand index (Hubert & Arabie 1985) between those labels on the
    subsample ``idx`` and HDBSCAN with the candidate's settings (``min_cluster_size`` and
    ``min_samples`` scaled by the subsample's share) on the subsample's own UMAP embedding
    ``Eb``, noise reassigned the same way. The minimum spanning tree of each (embedding,
    min_samples) is cached in ``cache_dir`` (HDBSCAN's ``memory``). A module-level function
    so a worker process can run it."""
    out = []
    for Z, labels, cand, boot, knn_k, cache in tasks:
        n = len(Z)
        final = reassign_noise(Z, labels, knn_k)
        aris = []
        for idx, Eb in boot:
            frac = len(Eb) / n
            lab = hdbscan.HDBSCAN(min_cluster_size=max(5, int(round(cand["min_cluster_size"] * frac))),
                                  min_samples=max(1, int(round(cand["min_samples"] * frac))),
                                  cluster_selection_method=cand["selection"], core_dist_n_jobs=1,
                                  memory=Memory(cache, verbose=0)).fit(Eb).labels_
            aris.append(float(adjusted_rand_score(final[idx], reassign_noise(Z[idx], lab, knn_k))))
        out.append((final, aris))
    return out


@dataclass(frozen=True)
class HDBSCANSearch:
    """The HDBSCAN parameter search on a UMAP embedding (Campello, Moulavi & Sander 2013;
    the ``hdbscan`` library of McInnes, Healy & Astels 2017).

    Search: every ``min_samples`` in ``min_samples_grid`` x ``min_cluster_size`` (each
    share of ``min_cluster_shares`` of the sample) x selection ``eom`` / ``leaf``, all on
    the same embedding (the minimum spanning tree depends only on ``min_samples`` and is
    computed once per value through HDBSCAN's ``memory`` cache). Each candidate is scored
    by HDBSCAN's relative validity, its fast approximation of DBCV (Moulavi et al. 2014,
    *Density-Based Clustering Validation*, SDM; ``HDBSCAN.relative_validity_``). It is
    actionable with ``min_segments``..``max_segments`` clusters, each at least
    ``min_segment_share`` of the sample, and at most ``max_noise_share`` of the sample
    called noise. The stability of an actionable candidate is the mean adjusted Rand index
    over the refits of the whole method (a UMAP of a subsample of the fitted customers,
    then the candidate's HDBSCAN settings, :func:`_candidate_stability`), on final labels
    (noise reassigned by :func:`reassign_noise` with ``knn_k`` neighbours). Candidates are
    measured in the order of preference (most clusters, then DBCV; two at a time with
    ``n_jobs`` > 1) and the measuring stops at the first stable, readable one: it is the
    choice the rule below makes over all of them, so the later ones are left unmeasured
    (``stability`` None, a ``stability_note`` says why); with none stable and readable,
    every actionable candidate is measured.
    The chosen candidate is the finest stable, readable one: the most segments among those
    with stability >= ``min_stability`` and depth-4 rule fidelity >= ``min_rule_fidelity``
    (:func:`core.models.segmentation.quality.rule_fidelity` on ``quality_sample`` customers), ties
    broken by DBCV; when no stable candidate is readable enough, the finest stable one; when
    none is stable, the most stable; without refits, the best DBCV. DBCV alone favoured the
    coarsest partitions on the default data (the fewest segments allowed, merging personas).
    """

    min_samples_grid: tuple[int, ...] = (10, 25, 50)
    min_cluster_shares: tuple[float, ...] = (0.02, 0.03, 0.04, 0.06)
    min_segments: int = 5
    max_segments: int = 10
    min_segment_share: float = 0.02
    max_noise_share: float = 0.5
    min_stability: float = 0.8
    min_rule_fidelity: float = 0.85
    knn_k: int = 15
    quality_sample: int = 10_000
    random_state: int = 0
    n_jobs: int = 1

    name = "hdbscan"

    def fit(self, E: np.ndarray, Z: np.ndarray, boot: list[tuple[np.ndarray, np.ndarray]],
            progress=None, run_batches=None, workers_free=None) -> tuple[ClusterResult | None, list[dict]]:
        """Search on the embedding ``E`` (shape (m, k)) of the scaled inputs ``Z`` (shape
        (m, d)); ``boot`` holds the refits ``(rows of the subsample, its embedding)``.
        With ``n_jobs`` > 1 the stability measures run two at a time through
        ``run_batches(fn, batches)`` (results in job order; default
        :func:`core.workers.run_parallel`), whenever ``workers_free()`` says
        the workers have nothing else to do (default: always), else one at a time here. The
        result depends on neither: a measure made beside the one that settled the choice is
        dropped.

        Returns ``(result, candidates)``: the chosen partition (None when no candidate is
        actionable) and the whole candidate table (one dict per setting tried).
        """
        progress = progress or (lambda msg: None)
        progress("HDBSCAN parameter search (DBCV and stability)")
        with tempfile.TemporaryDirectory(prefix="hdbscan-cache-") as cache:
            search, fitted = self._grid(E, Memory(cache, verbose=0))
            actionable = [i for i, c in enumerate(search) if c["actionable"]]
            finals = self._measure(search, fitted, actionable, Z, boot, cache, progress, run_batches, workers_free)
        measured = [i for i in actionable if search[i]["stability"] is not None]
        stable = [i for i in measured if search[i]["stability"] >= self.min_stability]
        readable = [i for i in stable if search[i]["rule_fidelity"] >= self.min_rule_fidelity]
        if stable:  # the finest stable (and, when possible, readable) partition, then DBCV
            chosen = max(readable or stable, key=lambda i: (search[i]["clusters"], search[i]["dbcv"], -i))
        elif actionable and boot:  # none stable enough: the most stable
            chosen = max(actionable, key=lambda i: (search[i]["stability"], -i))
        elif actionable:  # stability not measured: the best DBCV
            chosen = max(actionable, key=lambda i: (search[i]["dbcv"], -i))
        else:
            return None, search
        search[chosen]["chosen"] = True
        labels = finals[chosen] if chosen in finals else reassign_noise(Z, fitted[chosen], self.knn_k)
        return ClusterResult(labels, fitted[chosen] < 0, int(labels.max()) + 1, search, search[chosen],
                             search[chosen].get("stability_aris")), search

    def _grid(self, E: np.ndarray, memory: Memory) -> tuple[list[dict], list[np.ndarray]]:
        """HDBSCAN at every setting of the grid on ``E`` (shape (m, k)), sharing its core
        distances through ``memory``: one candidate row per setting (clusters, noise and
        smallest share, DBCV, whether it is actionable) and its labels (shape (m,), -1 noise)."""
        n = len(E)
        search, fitted = [], []
        for ms in self.min_samples_grid:
            for share in self.min_cluster_shares:
                mcs = max(5, int(round(share * n)))
                for selection in ("eom", "leaf"):
                    hd = hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=min(ms, mcs),
                                         cluster_selection_method=selection, gen_min_span_tree=True,
                                         core_dist_n_jobs=1, memory=memory).fit(E)
                    lab = hd.labels_
                    k = int(lab.max()) + 1
                    smallest = float(np.bincount(lab[lab >= 0]).min() / n) if k else 0.0
                    search.append({
                        "min_cluster_size": mcs, "min_samples": min(ms, mcs), "selection": selection,
                        "clusters": k, "noise_share": float((lab < 0).mean()), "smallest_share": smallest,
                        "dbcv": float(hd.relative_validity_) if k >= 2 else None,
                        "actionable": bool(self.min_segments <= k <= self.max_segments
                                           and smallest >= self.min_segment_share
                                           and (lab < 0).mean() <= self.max_noise_share),
                        "stability": None, "chosen": False})
                    fitted.append(lab)
        return search, fitted

    def _measure(self, search: list[dict], fitted: list[np.ndarray], actionable: list[int], Z: np.ndarray,
                 boot: list, cache: str, progress, run_batches, workers_free) -> dict[int, np.ndarray]:
        """The stability (and, when stable, the rule fidelity) of the actionable candidates in
        the order of preference (finest, then DBCV), written into their ``search`` rows, until
        one is stable and readable: the candidates after it need no refits (nothing else
        changes). Returns ``{candidate: its labels with noise reassigned}`` of those measured."""
        finals = {}
        order = sorted(actionable, key=lambda i: (-search[i]["clusters"], -search[i]["dbcv"], i))
        found = None
        if order and boot:
            progress(f"stability of the {len(order)} actionable candidates, finest first, until one is stable "
                     "and readable")
        run = run_batches or run_parallel
        start = 0
        while boot and start < len(order):
            width = 2 if self.n_jobs > 1 and (workers_free is None or workers_free()) else 1
            batch = order[start:start + width]
            tasks = [(Z, fitted[i], search[i], boot, self.knn_k, cache) for i in batch]
            results = run(_candidate_stability, [[t] for t in tasks]) if width > 1 else _candidate_stability(tasks)
            for pos, (i, (final, aris)) in enumerate(zip(batch, results)):
                if found is not None:  # measured beside the one that settled it: as if never measured
                    batch = batch[:pos]
                    break
                finals[i] = final
                search[i]["stability_aris"] = aris
                search[i]["stability"] = float(np.mean(aris))
                if search[i]["stability"] >= self.min_stability:  # can a depth-4 rule set describe it?
                    search[i]["rule_fidelity"] = rule_fidelity(Z, final, self.quality_sample, self.random_state)
                    if found is None and search[i]["rule_fidelity"] >= self.min_rule_fidelity:
                        found = i
            start += len(batch)
            if found is not None:
                for i in order[start:]:
                    search[i]["stability_note"] = ("not measured: a preferred candidate (finer, or as fine "
                                                   "with a higher DBCV) was stable and readable")
                break
        return finals
