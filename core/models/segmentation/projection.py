"""The 2-D display projection: a UMAP of a sample of the fitted customers, for people only.

``pool`` x ``size`` sample customers are embedded (min_dist 0.1 spreads points for
reading), and a sample of at most ``size`` of them, stratified by segment (each segment
gets at least ``size / (2k)`` points, or all it has), is kept, so that small segments can
be seen. It never decides a segment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DisplayProjection:
    """Parameters: ``size`` points shown at most, UMAP ``n_neighbors``, the seed, and
    ``pool`` (the embedded sample is ``pool`` times ``size``)."""

    size: int = 20_000
    n_neighbors: int = 15
    random_state: int = 0
    pool: float = 1.5

    def rows(self, n: int) -> np.ndarray:
        """Sorted rows of the fitted sample (of ``n``) to embed: ``pool x size`` of them (all
        when fewer), drawn by a generator of their own (seed ``[random_state, 1]``), so that
        every method of the slot is shown on the same points and the projection can be
        computed while the methods are fitted."""
        m = min(int(self.pool * min(self.size, n)), n)
        return np.sort(np.random.default_rng([self.random_state, 1]).choice(n, size=m, replace=False))

    def job(self, Z: np.ndarray, rows: np.ndarray) -> tuple:
        """The UMAP job (:func:`core.models.segmentation.reducers.umap_many`) embedding ``Z[rows]`` in 2-D."""
        return (Z[rows], 2, min(self.n_neighbors, len(rows) - 1), 0.1, None, self.random_state)

    def displayed(self, labels: np.ndarray) -> np.ndarray:
        """Positions (into ``labels``, the segments of the embedded rows) of the displayed
        sample: stratified by segment, each segment getting at least ``size / (2k)`` points
        (or all it has) and the rest in proportion to segment size; seeded by
        ``[random_state, 3]``. Shape (at most ``size``,)."""
        size = min(self.size, len(labels))
        if len(labels) <= size:
            return np.arange(len(labels))
        rng = np.random.default_rng([self.random_state, 3])
        segs, counts = np.unique(labels, return_counts=True)
        floor = np.minimum(counts, size // (2 * len(segs)))
        room = counts - floor
        extra = np.floor((size - floor.sum()) * room / max(1, room.sum())).astype(int)
        take = np.minimum(counts, floor + extra)
        picks = [rng.choice(np.flatnonzero(labels == g), size=t, replace=False) for g, t in zip(segs, take)]
        return np.sort(np.concatenate(picks))
