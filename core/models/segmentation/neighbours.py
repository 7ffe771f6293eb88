"""Scaled inputs on a fixed grid, and exact nearest neighbours that every CPU computes alike.

Why: UMAP and HDBSCAN amplify a difference in the last bit of an input into different
segments. Such differences come from the machine, not the data: numpy picks its SIMD code
for ``log1p``, sums and means by the CPU it runs on (AVX-512, AVX2 or SSE), and OpenBLAS
picks its matrix-product kernels the same way, each summing in its own order. On a
generated table, training with numpy's AVX-512 code turned off
(``NPY_DISABLE_CPU_FEATURES=X86_V4``), or with OpenBLAS's Haswell kernels
(``OPENBLAS_CORETYPE=Haswell``), gave other UMAP + HDBSCAN segments than the same command
with neither, from the same table.

- :func:`quantize` rounds the scaled inputs to multiples of :data:`GRID` (2^-13, about
  1.2e-4 standard deviations, finer than any real measurement): the last-bit differences
  are rounded away (a value would have to lie within 1e-16 of a half-step to round
  differently). Grid values are exact binary fractions, so float32 (UMAP's dtype) holds
  them exactly while ``|z| < 1024``.
- :func:`kneighbors` finds neighbours by squared distances ``|q|^2 - 2 q.r + |r|^2`` that
  are exact on grid values (with ``|z| < 1024`` and up to 32 columns every product and sum
  is a multiple of 2^-26 below 2^25, within float64's 53 bits), so any BLAS kernel, summing
  in any order, gives the same distances; ties are broken by the reference row's position,
  not by the sort's algorithm (numpy's partition and sort also have per-CPU code).

The two other places where the CPU reached the segments are UMAP's curve parameters
(:func:`core.models.segmentation.reducers.layout_curve`) and HDBSCAN's order of equal-weight
edges (:func:`core.models.segmentation.clusterers.stable_hdbscan_edges`); ``docs/design/segmentation.md``
("The same segments on another CPU") explains each.
"""
from __future__ import annotations

import numpy as np

#: Step of the grid the scaled inputs are rounded to: 2^-13 (exactly representable).
GRID = 2.0 ** -13

#: Distance entries (float64) computed at once by :func:`kneighbors`: 16 MB, so a chunk's
#: passes stay in the processor's caches (far faster than much larger chunks).
CHUNK_ENTRIES = 2_000_000


def quantize(Z: np.ndarray) -> np.ndarray:
    """``Z`` (shape (m, d), scaled inputs in standard deviations) rounded to the nearest
    multiple of :data:`GRID`, as float64 of the same shape. NaN stays NaN."""
    return np.round(np.asarray(Z, dtype=np.float64) / GRID) * GRID


def kneighbors(ref: np.ndarray, query: np.ndarray, k: int, *, self_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``ref`` (shape (r, d)) to each row of ``query`` (shape
    (m, d)), by Euclidean distance; ties by the smaller ``ref`` position. With
    ``self_first`` (``query`` is ``ref``), row i's first neighbour is i itself, even when
    duplicates of it exist (as umap-learn's ``precomputed_knn`` expects).

    scikit-learn's brute-force search (``NearestNeighbors(algorithm="brute")``, its fast
    multi-threaded kernel) proposes ``k + 1`` candidates per row; their distances are
    computed again here, exactly on grid values, and ranked by (distance, position). A row
    whose k-th and (k+1)-th candidates tie, or (with ``self_first``) that lacks itself, is
    searched again over all of ``ref`` (:func:`_exhaustive`), so the result never depends
    on how the kernel broke a tie.

    Returns ``(indices, distances)``: int64 and float64, both shape (m, k). Exact, and the
    same on every CPU, when both inputs are on the :func:`quantize` grid; correct (as a
    brute-force search) otherwise.

    Raises
    ------
    ValueError
        ``k`` is not within 1..r, or the column counts differ.
    """
    from sklearn.neighbors import NearestNeighbors

    ref = np.ascontiguousarray(ref, dtype=np.float64)
    query = np.ascontiguousarray(query, dtype=np.float64)
    r, m = len(ref), len(query)
    if not 1 <= k <= r:
        raise ValueError(f"k must be within 1..{r} (the reference rows), got {k}")
    if ref.shape[1] != query.shape[1]:
        raise ValueError(f"reference has {ref.shape[1]} columns, query {query.shape[1]}")
    kk = min(k + 1, r)
    cand = NearestNeighbors(n_neighbors=kk, algorithm="brute").fit(ref).kneighbors(query, return_distance=False)
    d2 = np.empty(cand.shape)
    step = max(1, CHUNK_ENTRIES // (kk * ref.shape[1]))
    for s in range(0, m, step):
        diff = query[s:s + step, None, :] - ref[cand[s:s + step]]
        d2[s:s + step] = np.einsum("mkd,mkd->mk", diff, diff)
    if self_first:
        d2[cand == np.arange(m)[:, None]] = -1.0
    order = np.lexsort((cand, d2))                               # per row: by distance, then position
    cand, d2 = np.take_along_axis(cand, order, 1), np.take_along_axis(d2, order, 1)
    again = np.zeros(m, dtype=bool)
    if kk > k:
        again |= d2[:, k] == d2[:, k - 1]
    if self_first:
        again |= cand[:, 0] != np.arange(m)
    idx, dist2 = cand[:, :k].astype(np.int64), d2[:, :k]
    if again.any():
        rows = np.flatnonzero(again)
        idx[rows], dist2[rows] = _exhaustive(ref, query[rows], k, rows if self_first else None)
    return idx, np.sqrt(np.maximum(dist2, 0.0))


def _exhaustive(ref: np.ndarray, query: np.ndarray, k: int, self_rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`kneighbors` by all distances: ``(indices, squared distances)``, shape
    (m, k); ``self_rows[i]`` is query row i's own position in ``ref`` (put first)."""
    r, m = len(ref), len(query)
    ref_sq = np.einsum("ij,ij->i", ref, ref)
    ref_m2 = -2.0 * ref.T                                  # exact: a power of two
    idx = np.empty((m, k), dtype=np.int64)
    d2_out = np.empty((m, k), dtype=np.float64)
    step = max(1, CHUNK_ENTRIES // r)
    for s in range(0, m, step):
        q = query[s:s + step]
        n = len(q)
        # |r|^2 - 2 q.r orders the reference rows as the distance does (|q|^2 is added below)
        d2 = q @ ref_m2
        d2 += ref_sq
        if self_rows is not None:
            d2[np.arange(n), self_rows[s:s + n]] = -np.inf
        kth = np.partition(d2, k - 1, axis=1)[:, k - 1]          # the k-th smallest value: unique
        rows, cols = np.nonzero(d2 <= kth[:, None])                # at least k per row (ties)
        vals = d2[rows, cols]
        order = np.lexsort((cols, vals, rows))                     # by row, distance, position
        rows, cols, vals = rows[order], cols[order], vals[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # place within the row
        keep = rank < k
        idx[s + rows[keep], rank[keep]] = cols[keep]
        d2_out[s + rows[keep], rank[keep]] = vals[keep] + np.einsum("ij,ij->i", q, q)[rows[keep]]
    if self_rows is not None:
        d2_out[:, 0] = 0.0
    return idx, d2_out
