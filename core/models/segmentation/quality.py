"""Quality figures of a segmentation: clustering tendency, separation, readability and
stability."""
from __future__ import annotations

import numpy as np
from hdbscan.validity import validity_index
from sklearn.metrics import adjusted_rand_score, silhouette_score

from core.models.segmentation.neighbours import kneighbors
from core.models.segmentation.profiling import surrogate_tree


def hopkins(Z: np.ndarray, rng: np.random.Generator, m: int | None = None) -> float:
    """Hopkins statistic of clustering tendency, in 0..1.

    ``H = sum u / (sum u + sum w)`` (Hopkins & Skellam 1954), where ``w`` are the distances
    from ``m`` sampled data points to their nearest other data point and ``u`` the
    distances from ``m`` probe points to their nearest data point. The probes are drawn
    from the product of the columns' own marginal distributions (each coordinate from a
    different random row), not uniformly in the bounding box: skewed marginals (log
    counts) then do not pass for clusters, and H measures structure across columns. About
    0.5 when the columns are independent, higher when customers concentrate in regions.
    The plain sums are used, not the d-th powers of Lawson & Jurs (1990), which vary widely
    across seeds on independent noise (``docs/design/segmentation.md``).

    Parameters
    ----------
    Z : ndarray of shape (n, d), scaled inputs (n >= 20).
    rng : the generator the probes and sampled points are drawn from.
    m : number of probes; default ``min(1000, max(10, n // 5))``.
    """
    n, d = Z.shape
    m = m or min(1000, max(10, n // 5))
    probes = Z[rng.integers(0, n, size=(m, d)), np.arange(d)]
    u = kneighbors(Z, probes, 1)[1][:, 0]
    w = kneighbors(Z, Z[rng.choice(n, size=m, replace=False)], 2)[1][:, 1]
    total = u.sum() + w.sum()
    return float(u.sum() / total) if total > 0 else 0.5


def rule_fidelity(Z: np.ndarray, labels: np.ndarray, size: int, seed: int) -> float:
    """Share of ``size`` seeded customers whose segment a depth-4 CART tree (the surrogate
    of :func:`core.models.segmentation.profiling.surrogate_rules`, same leaf minimum) reproduces, trained on
    them. On the scaled inputs ``Z`` (shape (m, d)), labels shape (m,): a tree's splits do
    not change under the per-column monotone log and scaling, so this screens candidates
    before the rules are written on the original columns (missing values are
    median-imputed here). Returns a share in 0..1."""

    idx = np.random.default_rng(seed).choice(len(Z), size=min(size, len(Z)), replace=False)
    tree = surrogate_tree(Z[idx], labels[idx], seed)
    return float((tree.predict(Z[idx]) == labels[idx]).mean())


def distinct_rows(E: np.ndarray) -> int:
    """Distinct rows of ``E`` (shape (m, k)), values rounded to 9 decimals: how many
    different profiles a clusterer can tell apart (binned or RFM-score tables have few)."""
    return len(np.unique(np.round(np.asarray(E, dtype=np.float64), 9), axis=0))


def stability_subsample_size(stability_size: int, n: int) -> int:
    """Customers in each stability refit's subsample of the ``n`` fitted ones:
    ``stability_size``, but never more than half of them, so a refit of a small table sees
    a different half as a refit of a large one does (20,000 of a 50,000 sample). Half is the
    subset size of Hennig's ``clusterboot`` (R package fpc, ``subtuning = floor(n / 2)``;
    Hennig 2007, *Cluster-wise assessment of cluster stability*, CSDA 52). Before, small
    tables took 80%: 12,000 rows then spent 5 UMAP refits of 9,600 customers."""
    return max(1, min(int(stability_size), n // 2))


def quality_figures(Z: np.ndarray, E: np.ndarray | None, labels: np.ndarray, rng: np.random.Generator, *,
                    quality_sample: int, stability_size: int, stability_resamples: int, random_state: int,
                    refit=None, known_aris: list[float] | None = None, progress=None) -> dict:
    """Quality figures of the fitted labels (shape (n,)) on the fitted sample.

    - ``silhouette_scaled`` / ``silhouette_embedding``: mean silhouette (Rousseeuw 1987,
      scikit-learn ``silhouette_score``) on ``quality_sample`` customers, in the scaled
      inputs ``Z`` (shape (n, d)) and in the reducer's embedding ``E`` (None without one);
    - ``dbcv``: density-based clustering validation (Moulavi et al. 2014; exact, from
      ``hdbscan.validity.validity_index``) of the segments in the scaled inputs, on 2,000
      of those customers (its cost grows with the square of the segment sizes);
    - ``bootstrap_ari`` (mean) and ``bootstrap_aris``: adjusted Rand index (Hubert &
      Arabie 1985) between the fitted labels and ``stability_resamples`` refits of the
      whole method (``refit(rows, seed) -> labels``, reducer included) on random subsamples
      of :func:`stability_subsample_size` fitted customers (``stability_size``, at most
      half of them), drawn without replacement (the subsetting scheme of Hennig 2007,
      *Cluster-wise assessment of cluster stability*), compared on the subsample's customers; refit ``b`` has seed
      ``random_state + 1 + b``. ``known_aris``: refits already measured (by the HDBSCAN
      search, for its chosen candidate), used instead;
    - ``stability_size``: the subsample size;
    - ``figure_notes``: for each figure left None, why (one line).

    Every figure is None (``bootstrap_aris`` empty) with a single segment.
    """
    progress = progress or (lambda msg: None)
    n = len(Z)
    out = {"silhouette_scaled": None, "silhouette_embedding": None, "dbcv": None,
           "bootstrap_ari": None, "bootstrap_aris": [], "stability_size": None, "figure_notes": {}}
    notes = out["figure_notes"]
    if len(np.unique(labels)) < 2:
        for name in ("silhouette_scaled", "silhouette_embedding", "dbcv", "bootstrap_ari"):
            notes[name] = "not defined for a single segment"
        return out
    q = rng.choice(n, size=min(quality_sample, n), replace=False)
    if len(np.unique(labels[q])) > 1:
        out["silhouette_scaled"] = float(silhouette_score(Z[q], labels[q]))
        if E is not None:
            out["silhouette_embedding"] = float(silhouette_score(E[q], labels[q]))
    else:
        notes["silhouette_scaled"] = "the quality sample holds a single segment"
    if E is None:
        notes["silhouette_embedding"] = "no embedding: the method clusters the scaled inputs"
    d = q[:2000]
    if len(np.unique(labels[d])) > 1:
        out["dbcv"], why = _dbcv(Z[d], labels[d])
        if why:
            notes["dbcv"] = why
    else:
        notes["dbcv"] = "the DBCV sample holds a single segment"
    size = stability_subsample_size(stability_size, n)
    out["stability_size"] = int(size)
    if known_aris:
        out["bootstrap_aris"] = list(known_aris)
    else:
        for b in range(stability_resamples):
            progress(f"stability: refit {b + 1} of {stability_resamples} on {size:,} customers")
            idx = np.sort(rng.choice(n, size=size, replace=False))
            out["bootstrap_aris"].append(float(adjusted_rand_score(labels[idx], refit(idx, random_state + 1 + b))))
    if out["bootstrap_aris"]:
        out["bootstrap_ari"] = float(np.mean(out["bootstrap_aris"]))
    else:
        notes["bootstrap_ari"] = "no stability refits (stability_resamples = 0)"
    return out


def _dbcv(Z: np.ndarray, labels: np.ndarray) -> tuple[float | None, str | None]:
    """DBCV of ``labels`` in ``Z`` (``hdbscan.validity.validity_index``), or None and why:
    its density estimate divides by distances between points, which duplicate-heavy inputs
    (few distinct profiles) make zero, and it needs two points in every segment."""
    counts = np.bincount(labels[labels >= 0])
    if (counts[counts > 0] < 2).any():
        return None, "not computable: a segment has a single customer in the DBCV sample"
    try:
        with np.errstate(all="ignore"):
            value = float(validity_index(Z.astype(np.float64), labels))
    except (AssertionError, ValueError, ZeroDivisionError, FloatingPointError) as e:
        return None, f"not computable on these inputs ({type(e).__name__}; {distinct_rows(Z):,} distinct profiles)"
    if not np.isfinite(value):
        return None, f"not computable: undefined density ({distinct_rows(Z):,} distinct profiles)"
    return value, None
