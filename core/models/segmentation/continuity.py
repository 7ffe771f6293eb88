"""Segment continuity across retrains: matched ids, new and retired segments, transitions.

When a new run is trained on a table with the same segmentation inputs as the current run,
its segments are matched to the current run's so that ids and names carry over:

1. The previous run's segmenter assigns the *new* table's customers (its assignment is a
   nearest-neighbour vote that depends only on each customer's row, see
   :mod:`core.models.segmentation`). Every customer of the new table then has an old segment and a
   new segment: the overlap of the two segmentations is measured on the same customers.
2. The Jaccard index of every (old, new) pair of segments, ``|A & B| / |A | B|`` on those
   customers, forms a cost matrix; the Hungarian algorithm (Kuhn 1955; SciPy
   ``linear_sum_assignment``) finds the one-to-one matching with the largest total overlap.
3. A matched pair whose Jaccard index is below ``min_jaccard`` (0.5 by default: the two
   share at least as many customers as they differ by) is not the same segment: the new
   one gets a fresh id and is flagged ``new``; an old segment left without a match is
   ``retired``.

Fresh ids start above every id the lineage has used, so an id never changes meaning.

The transition matrix counts, for customers present in both runs (same ``customer_id``),
how many moved from each old segment to each new one: their old segment is the one in the
previous run's scored table, their new one the new run's assignment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

#: A matched pair needs at least this Jaccard overlap to keep the old id.
MIN_JACCARD = 0.5


def jaccard_matrix(old: np.ndarray, new: np.ndarray, old_ids: list[int], new_ids: list[int]) -> np.ndarray:
    """Jaccard index of every (old segment, new segment) pair over the same customers.

    Parameters
    ----------
    old, new : int arrays of shape (n,): each customer's segment under the two segmentations.
    old_ids, new_ids : the segment ids, giving the rows and columns of the result.

    Returns
    -------
    ndarray of shape (len(old_ids), len(new_ids)), values in 0..1.
    """
    old, new = np.asarray(old), np.asarray(new)
    if old.shape != new.shape:
        raise ValueError(f"old and new labels differ in length: {old.shape} vs {new.shape}")
    J = np.zeros((len(old_ids), len(new_ids)))
    old_sizes = {o: int((old == o).sum()) for o in old_ids}
    new_sizes = {b: int((new == b).sum()) for b in new_ids}
    ct = pd.crosstab(old, new)
    for i, o in enumerate(old_ids):
        for j, b in enumerate(new_ids):
            inter = int(ct.at[o, b]) if o in ct.index and b in ct.columns else 0
            union = old_sizes[o] + new_sizes[b] - inter
            J[i, j] = inter / union if union else 0.0
    return J


def match_segments(old: np.ndarray, new: np.ndarray, old_ids: list[int], new_internal: list[int],
                   next_id: int, min_jaccard: float = MIN_JACCARD) -> dict:
    """Match a new segmentation to the previous one on the same customers.

    Parameters
    ----------
    old : shape (n,), each customer's segment id under the previous run's segmenter.
    new : shape (n,), each customer's segment under the new segmenter (its internal ids).
    old_ids : the previous run's segment ids.
    new_internal : the new segmenter's internal ids.
    next_id : the smallest id the lineage has never used (fresh ids start here).
    min_jaccard : overlap needed to keep an old id.

    Returns
    -------
    dict with ``mapping`` ``{new internal id: public id}``, ``status`` ``{public id: "matched"
    | "new"}``, ``retired`` (old ids with no match), ``pairs`` (one row per matched pair:
    ``old_id``, ``new_id``, ``jaccard``) and ``next_id``.
    """
    J = jaccard_matrix(old, new, old_ids, new_internal)
    rows, cols = linear_sum_assignment(-J) if J.size else (np.array([], int), np.array([], int))
    mapping, status, pairs, kept_old = {}, {}, [], set()
    for i, j in zip(rows, cols):
        if J[i, j] >= min_jaccard:
            mapping[new_internal[j]] = old_ids[i]
            status[old_ids[i]] = "matched"
            kept_old.add(old_ids[i])
            pairs.append({"old_id": int(old_ids[i]), "new_id": int(old_ids[i]), "jaccard": float(J[i, j])})
    for b in new_internal:  # unmatched new segments, in size order, get fresh ids
        if b not in mapping:
            mapping[b] = next_id
            status[next_id] = "new"
            next_id += 1
    retired = [int(o) for o in old_ids if o not in kept_old]
    return {"mapping": {int(k): int(v) for k, v in mapping.items()}, "status": status,
            "retired": retired, "pairs": pairs, "next_id": int(next_id)}


def transition_matrix(old_scored: pd.DataFrame, new_ids: pd.Series, new_segments: np.ndarray) -> pd.DataFrame:
    """Customers moving between segments, for customers present in both runs.

    Parameters
    ----------
    old_scored : the previous run's scored table (``customer_id``, ``segment_id``).
    new_ids : the new table's customer ids, shape (n,).
    new_segments : the new run's public segment ids, shape (n,).

    Returns
    -------
    Long DataFrame ``old_segment``, ``new_segment``, ``customers`` (only non-zero cells),
    empty when no customer id appears in both runs.
    """
    new = pd.DataFrame({"customer_id": np.asarray(new_ids), "new_segment": np.asarray(new_segments)})
    old = old_scored[["customer_id", "segment_id"]].rename(columns={"segment_id": "old_segment"})
    if old["customer_id"].dtype != new["customer_id"].dtype:  # e.g. ids read as text one month
        old["customer_id"], new["customer_id"] = old["customer_id"].astype(str), new["customer_id"].astype(str)
    both = old.merge(new, on="customer_id", how="inner")
    if both.empty:
        return pd.DataFrame({"old_segment": pd.Series(dtype=int), "new_segment": pd.Series(dtype=int),
                             "customers": pd.Series(dtype=int)})
    return (both.groupby(["old_segment", "new_segment"]).size().rename("customers").reset_index()
            .astype(int))


def carry_names(profiles: list[dict], link: dict) -> None:
    """Set each profile's ``status`` and carry the previous run's name to matched segments.

    A matched segment keeps its previous automatic name (its freshly computed one is kept as
    ``computed_name``), so a marketer sees the same name next month; a new segment keeps its
    computed name, suffixed with its id if a carried name already has it. Hand-set names are
    stored apart (:func:`core.runs.names.display_names`) and win over both when shown.

    Parameters
    ----------
    profiles : from :func:`core.models.segmentation.profiling.profile_segments`, with public segment ids; changed
        in place.
    link : from :func:`link_to_previous` (``status``, ``previous_names``).
    """
    status = {int(k): v for k, v in link["status"].items()}
    previous = {int(k): v for k, v in link.get("previous_names", {}).items()}
    carried = set()
    for p in profiles:
        sid = int(p["segment_id"])
        p["status"] = status.get(sid, "new")
        p["computed_name"] = p["name"]
        if p["status"] == "matched" and sid in previous:
            p["name"] = previous[sid]
            carried.add(p["name"].lower())
    for p in profiles:
        if p["status"] != "matched" and p["name"].lower() in carried:
            p["name"] = f"{p['name']} (segment {p['segment_id']})"


@dataclass
class PreviousSegmentation:
    """What a new run needs of the run it continues: its id, its segmenter, its segment ids
    and names, the next fresh id of the lineage, and its scored customers (``customer_id``,
    ``segment_id``) for the transition matrix."""

    run_id: str
    segmenter: object
    segment_ids: list[int]
    names: dict[int, str]
    next_id: int
    scored: pd.DataFrame


def link_to_previous(previous: PreviousSegmentation | None, seg, clean: pd.DataFrame, fitted: np.ndarray,
                     min_jaccard: float, dataset: str = "") -> dict:
    """Match a new segmentation to the previous run's.

    With the same segmentation inputs, the previous run's segmenter assigns ``clean`` and
    the two labelings of the same customers are matched (:func:`match_segments`).
    Otherwise the new segments get fresh ids (never reused, so a hand-set name stays with
    its segment); without a previous run they keep ids 0..k-1.

    Parameters
    ----------
    previous : the run the new one continues (:func:`core.pipeline.training.previous_segmentation`), or None.
    seg : the new, fitted :class:`~core.models.segmentation.Segmenter`.
    fitted : shape (n,), the new segmenter's ids (0..k-1) of ``clean``'s customers.

    Returns
    -------
    dict: ``previous_run`` (id or None), ``reason`` (why not compared, or ""), ``mapping``
    ``{fitted id: public id}``, ``status``, ``retired`` (list of ``{segment_id, name}``),
    ``pairs``, ``next_id``, ``previous_names`` and, when compared, ``previous_scored``
    (the previous run's customer ids and segments, for the transition matrix).
    """
    ids = list(range(seg.n_segments_))
    first = {"previous_run": None, "reason": "", "mapping": {i: i for i in ids},
             "status": {i: "first run" for i in ids}, "retired": [], "pairs": [], "next_id": len(ids),
             "previous_names": {}}
    if previous is None:
        first["reason"] = f"no earlier run of data set {dataset}"
        return first
    nxt = previous.next_id
    if list(previous.segmenter.columns_) != list(seg.columns_):
        return {**first, "reason": f"run {previous.run_id} segments on other inputs",
                "mapping": {i: nxt + i for i in ids}, "status": {nxt + i: "new" for i in ids},
                "next_id": nxt + len(ids)}
    old_labels = previous.segmenter.assign(clean)["segment_id"].to_numpy()
    out = match_segments(old_labels, fitted, previous.segment_ids, ids, nxt, min_jaccard)
    names = previous.names
    out.update(previous_run=previous.run_id, reason="", previous_names=names,
               retired=[{"segment_id": i, "name": names.get(i)} for i in out["retired"]],
               previous_scored=previous.scored)
    return out


@dataclass
class TransitionSummary:
    """The transition matrix in wide form and what it says.

    Attributes
    ----------
    matrix : DataFrame, rows the previous segment, columns the segment now, cells customers
        (labelled ``"id: name"`` when names were given; a retired row says so).
    customers : int, customers in both runs.
    kept : int, customers whose segment id is the same in both.
    kept_share : float, ``kept / customers``.
    """

    matrix: pd.DataFrame
    customers: int
    kept: int
    kept_share: float


def transition_summary(transitions: list[dict] | None, previous_names: dict[int, str] | None = None,
                       names: dict[int, str] | None = None) -> TransitionSummary | None:
    """The wide transition matrix of the long ``transitions`` (``old_segment``,
    ``new_segment``, ``customers``; :func:`transition_matrix`) and the share of customers
    keeping their segment id; None when there are no transitions. With ``names`` (the
    segments now) and ``previous_names``, rows and columns are labelled ``"id: name"``."""
    if not transitions:
        return None
    tr = (pd.DataFrame(transitions)
          .pivot_table(index="old_segment", columns="new_segment", values="customers", fill_value=0, aggfunc="sum")
          .astype(int))
    total = int(tr.to_numpy().sum())
    kept = int(sum(tr.at[i, i] for i in tr.index if i in tr.columns))
    if names is not None:
        prev = {**(previous_names or {}), **names}
        tr.index = [f"{i}: {prev.get(int(i), '')}" + ("" if int(i) in names else " (retired)") for i in tr.index]
        tr.columns = [f"{i}: {names.get(int(i), '')}" for i in tr.columns]
    return TransitionSummary(tr, total, kept, kept / total if total else 0.0)
