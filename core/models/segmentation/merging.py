"""Segments a marketer can act on: a cluster smaller than the minimum segment size, counted
in customers (on a run built from a transaction log: as of its latest cutoff, not in
snapshot rows), is merged into its nearest segment and never shown as one."""
from __future__ import annotations

import numpy as np
import pandas as pd


def nearest_segment(ref_Z: np.ndarray, ref_labels: np.ndarray, segment: int) -> int:
    """The segment whose centroid in the scaled inputs lies nearest to ``segment``'s: the
    centroids of the assigner's voters (``ref_Z`` (r, d), ``ref_labels`` (r,)), Euclidean."""
    ids = [s for s in np.unique(ref_labels) if s != segment]
    centre = ref_Z[ref_labels == segment].mean(axis=0)
    dist = [float(np.sum((ref_Z[ref_labels == s].mean(axis=0) - centre) ** 2)) for s in ids]
    return int(ids[int(np.argmin(dist))])


def merge_small_segments(segmenter, clean: pd.DataFrame, assigned: pd.DataFrame, counted: np.ndarray | None,
                         min_share: float) -> tuple[pd.DataFrame, list[dict]]:
    """Merge every segment with fewer than ``min_share`` of the counted customers into its
    nearest segment (:func:`nearest_segment`), the smallest first, until none is below it
    (or one segment is left); the customers are then assigned again.

    Parameters
    ----------
    segmenter : a fitted :class:`core.models.segmentation.Segmenter` (changed in place: its
        assigner's voters relabelled, its segments renumbered 0..k'-1).
    clean : the validated table (n rows); ``assigned``: its assignment (``segment_id``...).
    counted : bool array (n,) of the rows that count as customers (the latest snapshot of a
        run built from a log), or None: every row.
    min_share : the smallest share of the counted customers a segment may have (the
        settings' ``min_segment_share``).

    Returns the assignment (changed when a segment was merged) and one dict per merge:
    ``customers`` (counted customers of the merged cluster), ``minimum``, ``into`` (the
    segment it joined, in the ids before the merge), ``segment`` (its id before the merge).
    """
    merged = []
    while segmenter.n_segments_ > 1:
        ids = assigned["segment_id"].to_numpy()
        sub = ids if counted is None else ids[counted]
        counts = np.bincount(sub, minlength=segmenter.n_segments_)
        minimum = int(np.ceil(min_share * len(sub)))
        small = int(np.argmin(counts))
        if counts[small] >= minimum:
            break
        a = segmenter.assigner_
        into = nearest_segment(a.ref_Z_, a.ref_labels_, small)
        merged.append({"segment": small, "customers": int(counts[small]), "minimum": minimum, "into": into})
        a.merge(small, into)
        segmenter.n_segments_ = a.n_segments_
        segmenter.segment_ids_ = np.arange(a.n_segments_)
        assigned = segmenter.assign(clean)
    return assigned, merged


def merge_note(merged: list[dict], latest: bool) -> list[str]:
    """One plain line per merge of :func:`merge_small_segments`."""
    when = " at the latest cutoff" if latest else ""
    return [f"a cluster of {m['customers']:,} customers{when} (below the minimum segment size of {m['minimum']:,}) "
            "was merged into its nearest segment" for m in merged]
