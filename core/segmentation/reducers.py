"""Reducers of the segmentation slot: UMAP, or none.

A reducer maps the scaled inputs ``Z`` (shape (m, d)) to the space the clusterer works in.
Its interface is two methods:

- ``job(Z, seed)``: the arguments of one fit, a plain tuple a worker process can run
  (:func:`run_jobs`);
- ``fit_transform(Z, seed)``: the embedding, shape (m, k).

:class:`UMAPReducer` is UMAP (McInnes, Healy & Melville 2018, arXiv:1802.03426);
:class:`IdentityReducer` passes ``Z`` through (KMeans and the Gaussian mixture cluster the
scaled inputs themselves). UMAP with a seed runs on one core, so independent fits (the
main embedding, the stability refits, the display projection) are spread over processes
with :func:`run_jobs`; the result does not depend on how they are spread, since every fit
has its own seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Epochs of every clustering UMAP fit: umap-learn's default above 10,000 rows, fixed so a
#: refit on a subsample is trained the same way as the main fit.
CLUSTER_EPOCHS = 200


def umap_many(jobs: list[tuple]) -> list[np.ndarray]:
    """Run UMAP fits one after the other; each job is ``(X, n_components, n_neighbors,
    min_dist, n_epochs, seed)``. A module-level function so a worker process can run it."""
    import umap  # heavy import (numba); only when fitting

    return [umap.UMAP(n_components=k, n_neighbors=nn, min_dist=md, n_epochs=ep, random_state=seed,
                      n_jobs=1).fit_transform(X) for X, k, nn, md, ep, seed in jobs]


def run_parallel(fn, batches: list[list]) -> list:
    """``fn`` over each batch of jobs, batches in separate processes (joblib loky) when there
    are several; the results in job order."""
    if len(batches) == 1:
        return fn(batches[0])
    from joblib import Parallel, delayed

    return [r for out in Parallel(n_jobs=len(batches), backend="loky")(delayed(fn)(b) for b in batches) for r in out]


def run_jobs(jobs: list[tuple], n_jobs: int) -> list[np.ndarray]:
    """The embeddings of UMAP ``jobs`` (as :func:`umap_many` takes them), in job order.

    With ``n_jobs`` of 2 or more and more than two jobs, the first two run in this process
    and the rest in a second one: each process also compiles UMAP's numba code once, so
    this split balances the two (timings in ``docs/segmentation.md``).
    """
    return run_parallel(umap_many, [jobs[:2], jobs[2:]] if n_jobs > 1 and len(jobs) > 2 else [jobs])


@dataclass(frozen=True)
class UMAPReducer:
    """UMAP to ``n_components`` dimensions with ``n_neighbors`` and ``min_dist``
    (``min_dist=0`` packs clusters tightly, as the UMAP docs advise for clustering);
    :data:`CLUSTER_EPOCHS` epochs."""

    n_components: int = 5
    n_neighbors: int = 15
    min_dist: float = 0.0

    name = "umap"

    def job(self, Z: np.ndarray, seed: int) -> tuple:
        """Arguments of one fit of ``Z`` (shape (m, d)) for :func:`umap_many`."""
        return (Z, self.n_components, min(self.n_neighbors, len(Z) - 1), self.min_dist, CLUSTER_EPOCHS, seed)

    def fit_transform(self, Z: np.ndarray, seed: int) -> np.ndarray:
        """The embedding of ``Z``, shape (m, ``n_components``)."""
        return umap_many([self.job(Z, seed)])[0]


@dataclass(frozen=True)
class IdentityReducer:
    """No reduction: the clusterer works on the scaled inputs."""

    name = "none"

    def fit_transform(self, Z: np.ndarray, seed: int) -> np.ndarray:
        """``Z`` itself."""
        return Z
