"""The nearest-neighbour assigner: every customer's segment from its own row.

A ``knn_k``-nearest-neighbour majority vote in the scaled inputs against a stratified
reference subset of the fitted sample. A customer's segment therefore depends only on its
own row, never on the batch it is scored in (UMAP's ``transform`` does depend on the batch,
and is slow). ``segment_confidence`` is the vote share of the winning segment; a customer
is flagged ``segment_reassigned`` when most of its neighbours were HDBSCAN noise.
"""
from __future__ import annotations

import numpy as np

from core.models.segmentation.neighbours import kneighbors


def stratified_rows(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of a sample of about ``size`` of ``labels`` (shape (m,)), each
    segment in proportion to its size and at least one of each; all rows when ``size >= m``."""
    if size >= len(labels):
        return np.arange(len(labels))
    picks = []
    for seg in np.unique(labels):
        members = np.flatnonzero(labels == seg)
        take = max(1, int(round(size * len(members) / len(labels))))
        picks.append(rng.choice(members, size=min(take, len(members)), replace=False))
    return np.sort(np.concatenate(picks))


class NearestNeighbourAssigner:
    """Assign customers to segments by a vote of their nearest fitted customers.

    Parameters
    ----------
    knn_k : int, neighbours that vote.
    reference_size : int, fitted customers kept as voters (at most 80% of the fitted
        sample, so the rest measures agreement).

    Attributes (after ``fit``)
    --------------------------
    ref_Z_ : ndarray of shape (r, d), float64, the voters' scaled inputs.
    ref_labels_ : ndarray of shape (r,), their segments (0..k-1).
    ref_noise_ : ndarray of shape (r,), bool, whether HDBSCAN called them noise.
    n_segments_ : int, segments some fitted customer is assigned to.
    remap_ : dict, fitted segment id -> id after dropping unreachable segments.
    reference_rows_ : ndarray, positions of the voters in the fitted sample.
    """

    def __init__(self, *, knn_k: int = 15, reference_size: int = 6_000):
        self.knn_k = knn_k
        self.reference_size = reference_size

    def fit(self, Z: np.ndarray, labels: np.ndarray, noise: np.ndarray, n_segments: int,
            rng: np.random.Generator) -> "NearestNeighbourAssigner":
        """Keep a stratified reference set of the fitted sample ``Z`` (shape (m, d)) with its
        ``labels`` and ``noise`` flags (shape (m,)); segments no fitted customer would be
        assigned to (possible when many customers are identical) are dropped, the others
        keeping their order (:attr:`remap_`). Returns self."""
        ref = stratified_rows(labels, min(self.reference_size, int(0.8 * len(Z))), rng)
        self.reference_rows_ = ref
        self.ref_Z_ = np.asarray(Z[ref], dtype=np.float64)
        self.ref_labels_ = labels[ref]
        self.ref_noise_ = noise[ref]
        self.n_segments_ = n_segments
        got, _, _ = self.predict(Z)
        counts = np.bincount(got, minlength=self.n_segments_)
        keep = [s for s in range(self.n_segments_) if counts[s] > 0]
        self.remap_ = {int(old): new for new, old in enumerate(keep)}
        if len(keep) < self.n_segments_:
            mask = np.isin(self.ref_labels_, keep)
            self.ref_Z_, self.ref_noise_ = self.ref_Z_[mask], self.ref_noise_[mask]
            self.ref_labels_ = np.array([self.remap_[v] for v in self.ref_labels_[mask]], dtype=int)
            self.n_segments_ = len(keep)
        return self

    def merge(self, source: int, target: int) -> None:
        """Merge segment ``source`` into ``target``: its voters vote for ``target``, and the
        segments after ``source`` move down one id (0..k-2 remain). Raises ValueError for
        an id out of range or ``source == target``."""
        if source == target or not (0 <= source < self.n_segments_ and 0 <= target < self.n_segments_):
            raise ValueError(f"cannot merge segment {source} into {target} of {self.n_segments_}")
        labels = np.where(self.ref_labels_ == source, target, self.ref_labels_)
        self.ref_labels_ = np.where(labels > source, labels - 1, labels).astype(int)
        self.n_segments_ -= 1

    def remapped(self, labels: np.ndarray) -> np.ndarray:
        """Fitted labels (shape (m,)) in the ids after dropping unreachable segments (-1 for a
        dropped one)."""
        return np.array([self.remap_.get(int(v), -1) for v in labels], dtype=int)

    def predict(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(segment, confidence, reassigned)`` of each row of ``Z`` (shape (m, d), scaled
        inputs): int segment 0..k-1 (ties: the smallest id), the winning vote share in 0..1,
        and whether most neighbours were noise. Neighbours by
        :func:`~core.models.segmentation.neighbours.kneighbors` (exact, ties by voter position)."""
        idx, _ = kneighbors(self.ref_Z_, Z, min(self.knn_k, len(self.ref_Z_)))
        votes = self.ref_labels_[idx]  # (m, k)
        counts = np.stack([(votes == s).sum(axis=1) for s in range(self.n_segments_)], axis=1)
        seg = counts.argmax(axis=1)
        conf = counts.max(axis=1) / idx.shape[1]
        reassigned = self.ref_noise_[idx].mean(axis=1) > 0.5
        return seg.astype(int), conf, reassigned
