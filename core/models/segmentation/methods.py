"""The methods the segmentation slot compares (UMAP + HDBSCAN, KMeans, a Gaussian mixture),
how a configured one is checked against the data, how one fit is completed (assigner,
agreement, quality figures), and how ``auto`` keeps one of them."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from core.models.segmentation.assign import NearestNeighbourAssigner
from core.models.segmentation.clusterers import ClusterResult, GaussianMixtureBestK, KMeansBestK
from core.models.segmentation.quality import (
    quality_figures,
    rule_fidelity,
)
from core.settings import SegmentationSettings
from core.workers import Tasks

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
               f"readable (rules reproduce {r['rule_fidelity']:.0%} of the fitted sample >= {min_rule_fidelity:.0%})")
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
                   f"(bootstrap ARI {r['bootstrap_ari']:.2f}, rules reproduce {r['rule_fidelity']:.0%} of the fitted sample)")
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
#: (UMAP row-epochs), so that the workers start the longest call first (:class:`Tasks`). Set
#: from :func:`fit_flat` and ``reducers.umap_one`` timed one after the other in one process
#: on the same scaled sample of a generated table: KMeans's whole fit costs well under a UMAP
#: fit of the same rows, the mixture's about as much as one (the methods' costs side by side:
#: ``python -m benchmarks.bench_segmentation_methods``). Only the order of the work depends
#: on it, never a result.
FLAT_COST = {"kmeans": 85, "gmm": 210}


def fit_flat(choice: MethodChoice, Z: np.ndarray, rng: np.random.Generator, settings: SegmentationSettings,
             random_state: int, rank: int = 0) -> _Fit:
    """KMeans (k by silhouette) or the Gaussian mixture (k by BIC) on the scaled sample
    ``Z`` (shape (m, d)), completed by :func:`complete_fit`, drawing on ``rng``; ``rank``
    1 takes the second best k by that score, and so on (IndexError past the last).

    Runs on one BLAS/OpenMP thread (threadpoolctl): on these small matrices the second
    thread costs more than it gives (KMeans over its k and the mixture both fit faster on
    one thread than on two), and one thread leaves the other core to the process that fits
    UMAP beside it. A module-level function, so a worker process can run it
    (:class:`core.workers.Tasks`)."""
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


def order_by_size(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..k-1 by segment size (0 = largest; ties by the old id)."""
    ids, counts = np.unique(labels, return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    remap = {old: new for new, old in enumerate(order)}
    return np.array([remap[v] for v in labels], dtype=int)
