"""Customer segments: UMAP + HDBSCAN fitted on a sample, every customer assigned.

Method
------
1. Preprocess the segmentation columns (:func:`core.features.build_preprocessor`, no
   missing indicators: blanks should not form their own segments).
2. Fit on a seeded sample of ``sample_size`` customers: UMAP to ``n_components``
   dimensions (McInnes, Healy & Melville 2018), then an HDBSCAN parameter search on that
   embedding (Campello, Moulavi & Sander 2013; the ``hdbscan`` library of McInnes, Healy &
   Astels 2017): ``min_cluster_size`` x ``min_samples`` x cluster selection, scored by DBCV
   and subsample stability; only candidates with ``min_segments``..``max_segments``
   segments, none under ``min_segment_share``, are eligible (:meth:`Segmenter._umap_hdbscan`).
   The whole candidate table is kept in ``fit_info_["hdbscan_candidates"]``. UMAP's own
   ``n_neighbors`` is not searched: one UMAP fit of 50,000 customers takes about 40 s here,
   an HDBSCAN candidate about 1 s.
3. Noise points of the sample are given the segment most common among their ``knn_k``
   nearest clustered customers in the scaled inputs (a nearest-exemplar rule, the same
   vote as the assignment in step 5), and flagged as reassigned. HDBSCAN's soft-clustering
   membership vectors were the first choice; they cost about 10 s per 10,000 customers
   here, too slow for the stability refits, and the vote agrees with how customers are
   assigned afterwards.
4. Fallbacks, recorded in the run as the method and shown in the app:
   - no clustering tendency (Hopkins statistic of the scaled sample below ``min_hopkins``,
     0.55 by default; independent uniform noise scores 0.50): UMAP and HDBSCAN are
     skipped and segments are a KMeans partition of the scaled inputs, k chosen by
     silhouette among ``fallback_k``;
   - no HDBSCAN setting gives an actionable number of segments: KMeans on the UMAP
     embedding, k chosen the same way.
5. Assignment of any customer (fitted sample included, at training and at scoring): a
   ``knn_k``-nearest-neighbour majority vote in the scaled feature space against a
   stratified reference subset of the fitted sample. A customer's segment therefore depends
   only on its own row, never on the batch it is scored in (UMAP's ``transform`` does
   depend on the batch, and is slow). ``segment_confidence`` is the vote share of the
   winning segment; a customer is flagged ``segment_reassigned`` when most of its
   neighbours were HDBSCAN noise. Agreement of this vote with the fitted labels is
   measured on sample customers left out of the reference set.
6. A separate 2-D UMAP for display only: 1.5 x ``projection_size`` sample customers are
   embedded, and a sample of at most ``projection_size`` of them, stratified by segment
   (small segments get at least ``projection_size / (2k)`` points), is kept.
7. Quality figures (:meth:`Segmenter._quality`): silhouettes, DBCV, and the bootstrap ARI
   of refits on subsamples of the fitted sample.


The clusterer is chosen by ``SegmentationSettings.method``: ``"umap+hdbscan"`` (default),
or the simpler alternatives in the same slot, ``"kmeans"`` (k by silhouette) and ``"gmm"``
(a Gaussian mixture, k by BIC), both on the scaled inputs. Assignment, profiles and rules
are the same for every method.

Segment ids are 0..k-1 ordered by size in the fitted sample (0 = largest) until
:meth:`Segmenter.relabel` gives them the ids of a previous run's matching segments.
"""
from __future__ import annotations

import logging
import tempfile

import hdbscan
import numpy as np
import pandas as pd
from hdbscan.validity import validity_index
from joblib import Memory
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from core.config import SegmentationSettings
from core.errors import DataError
from core.features import build_preprocessor
from core.schema import DatasetSpec

log = logging.getLogger(__name__)


def hopkins(Z: np.ndarray, rng: np.random.Generator, m: int | None = None) -> float:
    """Hopkins statistic of clustering tendency, in 0..1.

    ``H = sum u / (sum u + sum w)`` (Hopkins & Skellam 1954), where ``w`` are the distances
    from ``m`` sampled data points to their nearest other data point and ``u`` the
    distances from ``m`` probe points to their nearest data point. The probes are drawn
    from the product of the columns' own marginal distributions (each coordinate from a
    different random row), not uniformly in the bounding box: skewed marginals (log
    counts) then do not pass for clusters, and H measures structure across columns. About
    0.5 when the columns are independent, higher when customers concentrate in regions.

    The plain sums are used, not the d-th powers of Lawson & Jurs (1990): with the powers,
    H on independent-noise tables ranged from 0.38 to 0.96 across seeds here; without
    them it is 0.50 +/- 0.01. Measured (n = 2,000-5,000): independent uniform columns 0.50,
    the ShopSphere default 0.64, the marketing-campaign table 0.71.

    Parameters
    ----------
    Z : ndarray of shape (n, d), scaled inputs (n >= 20).
    m : number of probes; default ``min(1000, max(10, n // 5))``.
    """
    n, d = Z.shape
    m = m or min(1000, max(10, n // 5))
    nn = NearestNeighbors(n_neighbors=2).fit(Z)
    probes = Z[rng.integers(0, n, size=(m, d)), np.arange(d)]
    u = nn.kneighbors(probes, n_neighbors=1)[0][:, 0]
    w = nn.kneighbors(Z[rng.choice(n, size=m, replace=False)], n_neighbors=2)[0][:, 1]
    total = u.sum() + w.sum()
    return float(u.sum() / total) if total > 0 else 0.5


def _umap_many(jobs: list[tuple]) -> list[np.ndarray]:
    """Run UMAP fits one after the other; each job is ``(X, n_components, n_neighbors,
    min_dist, n_epochs, seed)``. A module-level function so a worker process can run it."""
    import umap  # heavy import (numba); only when fitting

    return [umap.UMAP(n_components=k, n_neighbors=nn, min_dist=md, n_epochs=ep, random_state=seed,
                      n_jobs=1).fit_transform(X) for X, k, nn, md, ep, seed in jobs]


def _parallel(fn, batches: list[list]) -> list:
    """``fn`` over each batch of jobs, batches in separate processes (joblib loky) when there
    are several; the results in job order."""
    if len(batches) == 1:
        return fn(batches[0])
    from joblib import Parallel, delayed

    return [r for out in Parallel(n_jobs=len(batches), backend="loky")(delayed(fn)(b) for b in batches) for r in out]


def _reassign_noise(Z: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
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
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(Z[~noise])
    votes = labels[~noise][nn.kneighbors(Z[noise], return_distance=False)]
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
    min_samples) is cached in ``cache_dir`` (HDBSCAN's ``memory``)."""
    out = []
    for Z, labels, cand, boot, knn_k, cache in tasks:
        n = len(Z)
        final = _reassign_noise(Z, labels, knn_k)
        aris = []
        for idx, Eb in boot:
            frac = len(Eb) / n
            lab = hdbscan.HDBSCAN(min_cluster_size=max(5, int(round(cand["min_cluster_size"] * frac))),
                                  min_samples=max(1, int(round(cand["min_samples"] * frac))),
                                  cluster_selection_method=cand["selection"], core_dist_n_jobs=1,
                                  memory=Memory(cache, verbose=0)).fit(Eb).labels_
            aris.append(float(adjusted_rand_score(final[idx], _reassign_noise(Z[idx], lab, knn_k))))
        out.append((final, aris))
    return out


def _rule_fidelity(Z: np.ndarray, labels: np.ndarray, size: int, seed: int) -> float:
    """Share of ``size`` seeded customers whose segment a depth-4 CART tree (the surrogate
    of :func:`core.profiling.surrogate_rules`, same leaf minimum) reproduces, trained on
    them. On the scaled inputs ``Z`` (shape (m, d)): a tree's splits do not change under the
    per-column monotone log and scaling, so this screens candidates before the rules are
    written on the original columns (missing values are median-imputed here)."""
    from core.profiling import surrogate_tree

    idx = np.random.default_rng(seed).choice(len(Z), size=min(size, len(Z)), replace=False)
    tree = surrogate_tree(Z[idx], labels[idx], seed)
    return float((tree.predict(Z[idx]) == labels[idx]).mean())


class NotFittedError(RuntimeError):
    """A model was used before ``fit``."""


class Segmenter:
    """Fit segments on a sample, assign every customer, keep a 2-D projection.

    Parameters
    ----------
    settings : SegmentationSettings
    random_state : int
        Seed for sampling, UMAP and KMeans.
    n_jobs : int
        With 2 or more, the stability refits and the 2-D projection run in a second process
        (joblib's loky backend) while the main UMAP fits; results are identical to
        ``n_jobs=1`` (each fit has its own seed).

    Attributes (after ``fit``)
    --------------------------
    columns_ : list of str, the segmentation input columns.
    n_segments_ : int
    method_ : str, ``"umap+hdbscan"``, ``"umap+kmeans (fallback)"``,
        ``"kmeans (no cluster structure)"``, or the configured alternative ``"kmeans"`` /
        ``"gmm"``.
    fit_info_ : dict: sample size, Hopkins statistic, HDBSCAN candidates tried, noise share,
        segment sizes in the sample, assignment agreement, inputs used and left out.
    projection_ : DataFrame with ``row`` (position in the fitted table), ``x``, ``y``: the
        stratified display sample (at most ``projection_size`` rows).
    """

    def __init__(self, *, settings: SegmentationSettings = SegmentationSettings(), random_state: int = 0,
                 n_jobs: int = 1):
        self.settings = settings
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, clean: pd.DataFrame, spec: DatasetSpec, categories: dict, progress=None) -> "Segmenter":
        """Fit on a sample of ``clean`` (n rows, validated). Returns self.

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
        n = len(clean)
        if n < 50:
            raise ValueError(f"segmentation needs at least 50 customers, got {n}")
        rng = np.random.default_rng(self.random_state)
        # Inputs with no value at all carry no structure; left out (by name) so values that
        # appear at scoring time cannot move customers between segments.
        self.columns_ = [c for c in spec.segmentation_columns if clean[c].notna().any()]
        dropped = [c for c in spec.segmentation_columns if c not in self.columns_]
        if not self.columns_:
            raise DataError("every segmentation input column is empty")
        sample = np.sort(rng.choice(n, size=min(s.sample_size, n), replace=False))
        Xs = clean.iloc[sample][self.columns_]
        self.preprocessor_ = build_preprocessor(spec, self.columns_, categories, add_indicator=False).fit(Xs)
        Z = self.preprocessor_.transform(Xs)
        distinct = len(np.unique(np.round(Z, 9), axis=0))
        if distinct < s.min_segments:
            constant = [c for c in self.columns_ if Xs[c].nunique(dropna=False) <= 1]
            raise DataError(f"segmentation inputs take only {distinct} distinct value combination(s) in the sample, "
                            f"too few for {s.min_segments} segments"
                            + (f" (constant: {', '.join(constant)})" if constant else ""))
        h = hopkins(Z, rng)
        E, search = None, []
        self._projection = None
        if s.method == "kmeans":
            method = "kmeans"
            progress("KMeans on the scaled inputs (k by silhouette)")
            labels, noise = self._kmeans_fallback(Z, rng), np.zeros(len(Z), dtype=bool)
        elif s.method == "gmm":
            method = "gmm"
            progress("Gaussian mixture on the scaled inputs (k by BIC)")
            labels, noise = self._gmm(Z), np.zeros(len(Z), dtype=bool)
        elif h < s.min_hopkins:
            method = "kmeans (no cluster structure)"
            progress(f"no clustering tendency (Hopkins {h:.2f} < {s.min_hopkins}): "
                     "segments are a KMeans partition of the scaled inputs")
            labels = self._kmeans_fallback(Z, rng)
            noise = np.zeros(len(Z), dtype=bool)
        else:
            labels, noise, method, search, E = self._umap_hdbscan(Z, rng, progress)
        self._params = {"method": method, "k": int(labels.max()) + 1, **next(
            ({k: c.get(k) for k in ("min_cluster_size", "min_samples", "selection", "stability_aris")}
             for c in search if c["chosen"]), {})}
        labels = self._order_by_size(labels)
        self.n_segments_ = int(labels.max()) + 1
        self.method_ = method

        # Reference set for batch-independent assignment: stratified by segment.
        # (at most 80% of the sample, so the rest measures agreement)
        ref = self._stratified(labels, min(s.reference_size, int(0.8 * len(sample))), rng)
        self.ref_Z_ = Z[ref].astype(np.float32)
        self.ref_labels_ = labels[ref]
        self.ref_noise_ = noise[ref]
        self.nn_ = NearestNeighbors(n_neighbors=min(s.knn_k, len(ref)), algorithm="brute").fit(self.ref_Z_)
        self._drop_unreachable(Z)
        self.segment_ids_ = np.arange(self.n_segments_)
        held = np.setdiff1d(np.arange(len(sample)), ref)
        labels = self._fitted_labels_remapped(labels)
        agreement = None
        if len(held):
            got, _, _ = self._assign_Z(Z[held].astype(np.float32))
            agreement = float((got == labels[held]).mean())

        quality = self._quality(Z, E, labels, rng, progress)

        if self._projection is None:
            progress("UMAP 2-D projection for display")
            proj_idx = self._projection_rows(len(sample), rng)
            P = _umap_many([self._projection_job(Z, proj_idx)])[0]
        else:  # computed beside the main UMAP
            proj_idx, P = self._projection
        keep = self._stratified_display(labels[proj_idx], min(s.projection_size, len(proj_idx)))
        proj_idx, P = proj_idx[keep], P[keep]
        self.projection_ = pd.DataFrame({"row": sample[proj_idx], "x": P[:, 0], "y": P[:, 1]})
        self._projection = None  # not saved with the model
        chosen = next((c for c in search if c["chosen"]), None)
        self.fit_info_ = {
            "method": method,
            "sample_size": int(len(sample)),
            "n_segments": self.n_segments_,
            "hopkins": h,
            "min_cluster_size": chosen["min_cluster_size"] if chosen else None,
            "min_samples": chosen["min_samples"] if chosen else None,
            "cluster_selection": chosen["selection"] if chosen else None,
            "hdbscan_candidates": search,
            "noise_share_in_sample": float(noise.mean()),
            "sample_segment_sizes": np.bincount(labels[labels >= 0], minlength=self.n_segments_).tolist(),
            "reference_size": int(len(ref)),
            "assignment_agreement": agreement,
            "inputs": self.columns_,
            "empty_inputs_left_out": dropped,
            **quality,
        }
        return self

    def _umap_hdbscan(self, Z: np.ndarray, rng: np.random.Generator, progress):
        """UMAP to ``n_components`` dimensions, then the HDBSCAN parameter search; KMeans on
        the embedding when no candidate is actionable.

        Search: every ``min_samples`` in ``min_samples_grid`` x ``min_cluster_size`` (each
        share of ``min_cluster_shares`` of the sample) x selection ``eom`` / ``leaf``, all on
        the same embedding (the minimum spanning tree depends only on ``min_samples`` and is
        computed once per value through HDBSCAN's ``memory`` cache). Each candidate is scored
        by HDBSCAN's relative validity, its fast approximation of DBCV (Moulavi et al. 2014,
        *Density-Based Clustering Validation*, SDM; ``HDBSCAN.relative_validity_``). It is
        actionable with ``min_segments``..``max_segments`` clusters, each at least
        ``min_segment_share`` of the sample, and at most ``max_noise_share`` of the sample
        called noise. The stability of every actionable candidate is
        the mean adjusted Rand index over ``stability_resamples`` refits of the whole method
        (a new UMAP of a subsample of ``stability_size`` fitted customers, then the
        candidate's HDBSCAN settings, :func:`_candidate_stability`), on final labels (noise reassigned).
        The chosen candidate is the finest stable, readable one: the most segments among
        those with stability >= ``min_stability`` and depth-4 rule fidelity >=
        ``min_rule_fidelity`` (:func:`_rule_fidelity`; a marketer can act on more, finer
        segments only if they hold still and can be put in words), ties broken by DBCV;
        when no stable candidate is readable enough, the finest stable one; when none is
        stable, the most stable. DBCV alone favoured the coarsest partitions here (5
        segments merging personas).
        The chosen candidate's refits are the run's bootstrap ARI (:meth:`_quality`), so that
        figure is measured on the resamples that helped choose it.

        Returns (labels, noise mask, method, candidate table, embedding).
        """
        s = self.settings
        n = len(Z)
        progress(f"UMAP: {n:,} customers x {Z.shape[1]} inputs -> {s.n_components} dimensions")

        # The main embedding, the stability refits' embeddings and the 2-D display projection
        # are independent UMAP fits; UMAP with a seed runs on one core, so with n_jobs > 1 the
        # refits and the projection run in a second process beside the main fit (joblib loky).
        size = min(s.stability_size, int(0.8 * n))  # a subsample, even of a small table
        boot_idx = [np.sort(rng.choice(n, size=size, replace=False)) for _ in range(s.stability_resamples)]
        proj_idx = self._projection_rows(n, rng)
        jobs = [self._umap_job(Z, self.random_state)]
        jobs += [self._umap_job(Z[idx], self.random_state + 1 + b) for b, idx in enumerate(boot_idx)]
        jobs.append(self._projection_job(Z, proj_idx))
        progress(f"UMAP refits ({len(boot_idx)} x {size:,} customers) and the 2-D projection"
                 + (" in a second process" if self.n_jobs > 1 else ""))
        # the main fit and the first refit in this process, the rest in the other (balanced:
        # each process also compiles UMAP's numba code once, about 50 s here)
        out = _parallel(_umap_many, [jobs[:2], jobs[2:]] if self.n_jobs > 1 and len(jobs) > 2 else [jobs])
        E, side = out[0], out[1:]
        self._projection = (proj_idx, side[-1])
        boot = list(zip(boot_idx, side[:-1]))
        progress("HDBSCAN parameter search (DBCV and stability)")
        search, fitted = [], []
        with tempfile.TemporaryDirectory(prefix="hdbscan-cache-") as cache:
            memory = Memory(cache, verbose=0)
            for ms in s.min_samples_grid:
                for share in s.min_cluster_shares:
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
                            "actionable": bool(s.min_segments <= k <= s.max_segments
                                               and smallest >= s.min_segment_share
                                               and (lab < 0).mean() <= s.max_noise_share),
                            "stability": None, "chosen": False})
                        fitted.append(lab)
            actionable = [i for i, c in enumerate(search) if c["actionable"]]
            # Stability of every actionable candidate under refits of the whole method: UMAP on
            # subsamples of the fitted sample, then the candidate's HDBSCAN settings, both
            # sides' noise reassigned as customers will get it.
            finals = {}
            if actionable and boot:
                progress(f"stability of {len(actionable)} actionable candidates")
                tasks = [(Z, fitted[i], search[i], boot, s.knn_k, cache) for i in actionable]
                halves = [tasks[0::2], tasks[1::2]] if self.n_jobs > 1 and len(tasks) > 1 else [tasks]
                results = _parallel(_candidate_stability, halves)
                order = actionable[0::2] + actionable[1::2] if len(halves) > 1 else actionable
                for i, (final, aris) in zip(order, results):
                    finals[i] = final
                    search[i]["stability_aris"] = aris
                    search[i]["stability"] = float(np.mean(aris))
        stable = [i for i in actionable if (search[i]["stability"] or 0.0) >= s.min_stability]
        for i in stable:  # can a depth-4 rule set describe them?
            search[i]["rule_fidelity"] = _rule_fidelity(Z, finals[i], s.quality_sample, self.random_state)
        readable = [i for i in stable if search[i]["rule_fidelity"] >= s.min_rule_fidelity]
        if stable:  # the finest stable (and, when possible, readable) partition, then DBCV
            chosen = max(readable or stable, key=lambda i: (search[i]["clusters"], search[i]["dbcv"], -i))
        elif actionable and s.stability_resamples:  # none stable enough: the most stable
            chosen = max(actionable, key=lambda i: (search[i]["stability"], -i))
        elif actionable:  # stability not measured: the best DBCV
            chosen = max(actionable, key=lambda i: (search[i]["dbcv"], -i))
        else:
            chosen = None
        if chosen is not None:
            search[chosen]["chosen"] = True
            noise = fitted[chosen] < 0
            labels = finals[chosen] if chosen in finals else _reassign_noise(Z, fitted[chosen], s.knn_k)
            return labels, noise, "umap+hdbscan", search, E
        progress(f"HDBSCAN found no setting with {s.min_segments}..{s.max_segments} clusters of at least "
                 f"{s.min_segment_share:.0%}: falling back to KMeans on the UMAP embedding")
        labels = self._kmeans_fallback(E, rng)
        return labels, np.zeros(len(E), dtype=bool), "umap+kmeans (fallback)", search, E

    def _umap_job(self, Z: np.ndarray, seed: int) -> tuple:
        """Arguments of one clustering UMAP fit for :func:`_umap_many`: ``n_components``
        dimensions, 200 epochs (umap-learn's default above 10,000 rows; fixed so a refit on a
        subsample is trained the same way as the main fit)."""
        s = self.settings
        return (Z, s.n_components, min(s.n_neighbors, len(Z) - 1), s.min_dist, 200, seed)

    #: The 2-D projection embeds this many times ``projection_size`` sample customers, so that
    #: the stratified display sample (:meth:`_stratified_display`) can give small segments more
    #: than their proportional share.
    PROJECTION_POOL = 1.5

    def _projection_rows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Rows of the sample embedded in 2-D: ``projection_size`` drawn from ``rng`` (as
        always, so the segmentation's random stream is unchanged) plus up to half as many
        again from a generator of their own (seed ``[random_state, 2]``)."""
        size = min(self.settings.projection_size, n)
        base = rng.choice(n, size=size, replace=False)
        extra_n = min(int(self.PROJECTION_POOL * size), n) - size
        if extra_n <= 0:
            return np.sort(base)
        rest = np.setdiff1d(np.arange(n), base)
        extra = np.random.default_rng([self.random_state, 2]).choice(rest, size=extra_n, replace=False)
        return np.sort(np.concatenate([base, extra]))

    def _stratified_display(self, labels: np.ndarray, size: int) -> np.ndarray:
        """Positions (into ``labels``, the segments of the embedded pool) of the displayed
        sample: stratified by segment, each segment getting at least ``size / (2k)`` points
        (or all it has) and the rest in proportion to segment size; seeded by
        ``[random_state, 3]``. Shape (at most ``size``,)."""
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

    def _projection_job(self, Z: np.ndarray, rows: np.ndarray) -> tuple:
        """The 2-D display projection of ``Z[rows]`` (min_dist 0.1 spreads points for reading)."""
        return (Z[rows], 2, min(self.settings.n_neighbors, len(rows) - 1), 0.1, None, self.random_state)

    def _umap(self, Z: np.ndarray, seed: int) -> np.ndarray:
        """UMAP embedding of ``Z`` (shape (m, d)), as :meth:`_umap_job` describes."""
        return _umap_many([self._umap_job(Z, seed)])[0]

    def _refit_labels(self, Zb: np.ndarray, seed: int) -> np.ndarray:
        """Labels (shape (m,)) of a refit of the fitted KMeans, mixture or UMAP + KMeans
        fallback, with its chosen k, on ``Zb`` (shape (m, d), scaled inputs)."""
        p = self._params
        if p["method"] in ("kmeans", "kmeans (no cluster structure)"):
            return KMeans(n_clusters=p["k"], n_init=4, random_state=seed).fit(Zb).labels_
        if p["method"] == "gmm":
            return GaussianMixture(n_components=p["k"], covariance_type="full", n_init=2, reg_covar=1e-4,
                                   random_state=seed).fit(Zb).predict(Zb)
        # umap+kmeans (fallback); UMAP + HDBSCAN's refits come from the parameter search
        return KMeans(n_clusters=p["k"], n_init=4, random_state=seed).fit(self._umap(Zb, seed)).labels_

    def _quality(self, Z: np.ndarray, E: np.ndarray | None, labels: np.ndarray, rng: np.random.Generator,
                 progress) -> dict:
        """Quality figures of the fitted labels (shape (n,)) on the sample.

        - ``silhouette_scaled`` / ``silhouette_embedding``: mean silhouette (Rousseeuw 1987,
          scikit-learn ``silhouette_score``) on ``quality_sample`` customers, in the scaled
          inputs and in the UMAP embedding (None without one);
        - ``dbcv``: density-based clustering validation (Moulavi et al. 2014; exact, from
          ``hdbscan.validity.validity_index``) of the final segments in the scaled inputs, on
          2,000 customers (its cost grows with the square of the segment sizes);
        - ``bootstrap_ari`` (mean) and ``bootstrap_aris``: adjusted Rand index (Hubert &
          Arabie 1985) between the fitted labels and ``stability_resamples`` refits of the
          whole method (UMAP included) on random subsamples of ``stability_size`` fitted
          customers (at most 80% of them), drawn without replacement (the subsetting scheme
          of Hennig 2007, *Cluster-wise assessment of cluster stability*), compared on the
          subsample's customers. For UMAP + HDBSCAN these are the parameter search's refits
          of the chosen candidate (:func:`_candidate_stability`).
        """
        s = self.settings
        n = len(Z)
        out = {"silhouette_scaled": None, "silhouette_embedding": None, "dbcv": None,
               "bootstrap_ari": None, "bootstrap_aris": [], "stability_size": None}
        if len(np.unique(labels)) < 2:
            return out
        q = rng.choice(n, size=min(s.quality_sample, n), replace=False)
        if len(np.unique(labels[q])) > 1:
            out["silhouette_scaled"] = float(silhouette_score(Z[q], labels[q]))
            if E is not None:
                out["silhouette_embedding"] = float(silhouette_score(E[q], labels[q]))
        d = q[:2000]
        if len(np.unique(labels[d])) > 1:
            out["dbcv"] = float(validity_index(Z[d].astype(np.float64), labels[d]))
        size = min(s.stability_size, int(0.8 * n))  # a subsample, even of a small table
        out["stability_size"] = int(size)
        if self._params.get("stability_aris"):  # measured by the search, on the same labels
            out["bootstrap_aris"] = list(self._params["stability_aris"])
        else:
            for b in range(s.stability_resamples):
                progress(f"stability: refit {b + 1} of {s.stability_resamples} on {size:,} customers")
                idx = np.sort(rng.choice(n, size=size, replace=False))
                out["bootstrap_aris"].append(float(adjusted_rand_score(
                    labels[idx], self._refit_labels(Z[idx], self.random_state + 1 + b))))
        if out["bootstrap_aris"]:
            out["bootstrap_ari"] = float(np.mean(out["bootstrap_aris"]))
        return out

    def _gmm(self, Z: np.ndarray) -> np.ndarray:
        """Full-covariance Gaussian mixture with k among ``fallback_k`` chosen by the lowest
        BIC (Schwarz 1978), scikit-learn ``GaussianMixture``."""
        best = None
        for k in self.settings.fallback_k:
            if k >= len(Z):
                continue
            gm = GaussianMixture(n_components=k, covariance_type="full", n_init=2, reg_covar=1e-4,
                                 random_state=self.random_state).fit(Z)
            bic = gm.bic(Z)
            if best is None or bic < best[0]:
                best = (bic, gm.predict(Z))
        return best[1].astype(int)

    def _kmeans_fallback(self, E: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """KMeans (k-means++, 4 inits) with k among ``fallback_k`` chosen by the highest
        silhouette on a 5,000-row subsample (Rousseeuw 1987)."""
        best = None
        sub = rng.choice(len(E), size=min(5000, len(E)), replace=False)
        for k in self.settings.fallback_k:
            if k >= len(E):
                continue
            km = KMeans(n_clusters=k, n_init=4, random_state=self.random_state).fit(E)
            score = silhouette_score(E[sub], km.labels_[sub]) if len(set(km.labels_[sub])) > 1 else -1
            if best is None or score > best[0]:
                best = (score, km.labels_)
        return best[1].astype(int)

    @staticmethod
    def _order_by_size(labels: np.ndarray) -> np.ndarray:
        ids, counts = np.unique(labels, return_counts=True)
        order = ids[np.lexsort((ids, -counts))]
        remap = {old: new for new, old in enumerate(order)}
        return np.array([remap[v] for v in labels], dtype=int)

    @staticmethod
    def _stratified(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        if size >= len(labels):
            return np.arange(len(labels))
        picks = []
        for seg in np.unique(labels):
            members = np.flatnonzero(labels == seg)
            take = max(1, int(round(size * len(members) / len(labels))))
            picks.append(rng.choice(members, size=min(take, len(members)), replace=False))
        return np.sort(np.concatenate(picks))

    def _drop_unreachable(self, Z: np.ndarray) -> None:
        """Remove segments that no fitted customer is assigned to by the vote (possible when
        many customers are identical), keeping the others' order; sets ``remap_``."""
        got, _, _ = self._assign_Z(Z.astype(np.float32))
        counts = np.bincount(got, minlength=self.n_segments_)
        keep = [s for s in range(self.n_segments_) if counts[s] > 0]
        self.remap_ = {int(old): new for new, old in enumerate(keep)}
        if len(keep) == self.n_segments_ and all(self.remap_[s] == s for s in range(self.n_segments_)):
            return
        mask = np.isin(self.ref_labels_, keep)
        self.ref_Z_, self.ref_noise_ = self.ref_Z_[mask], self.ref_noise_[mask]
        self.ref_labels_ = np.array([self.remap_[v] for v in self.ref_labels_[mask]], dtype=int)
        self.n_segments_ = len(keep)
        self.nn_ = NearestNeighbors(n_neighbors=min(self.settings.knn_k, len(self.ref_Z_)),
                                    algorithm="brute").fit(self.ref_Z_)

    def _fitted_labels_remapped(self, labels: np.ndarray) -> np.ndarray:
        return np.array([self.remap_.get(int(v), -1) for v in labels], dtype=int)

    def relabel(self, mapping: dict[int, int]) -> None:
        """Give the segments public ids (continuity across retrains, :mod:`core.continuity`).

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

    # -- assignment ------------------------------------------------------------------------
    def _assign_Z(self, Z: np.ndarray):
        _, idx = self.nn_.kneighbors(Z)
        votes = self.ref_labels_[idx]  # (m, k)
        counts = np.stack([(votes == s).sum(axis=1) for s in range(self.n_segments_)], axis=1)
        seg = counts.argmax(axis=1)  # ties -> smallest id
        conf = counts.max(axis=1) / idx.shape[1]
        reassigned = self.ref_noise_[idx].mean(axis=1) > 0.5
        return seg.astype(int), conf, reassigned

    def assign(self, clean: pd.DataFrame, chunk_size: int = 20_000) -> pd.DataFrame:
        """Segment of each customer in ``clean`` (validated, n rows).

        Returns
        -------
        DataFrame of shape (n, 3), same index: ``segment_id`` (int: 0..k-1 after ``fit``, the
        ids set by :meth:`relabel` after that),
        ``segment_confidence`` (float in 0..1: share of the k nearest fitted customers in
        that segment), ``segment_reassigned`` (bool: most neighbours were HDBSCAN noise).

        Raises
        ------
        NotFittedError
            Called before ``fit``.
        """
        if not hasattr(self, "nn_"):
            raise NotFittedError("Segmenter is not fitted: call fit() first")
        segs, confs, flags = [], [], []
        X = clean[self.columns_]
        public = getattr(self, "segment_ids_", np.arange(self.n_segments_))
        for start in range(0, len(X), chunk_size):
            Z = self.preprocessor_.transform(X.iloc[start:start + chunk_size]).astype(np.float32)
            s, c, f = self._assign_Z(Z)
            segs.append(public[s]), confs.append(c), flags.append(f)
        return pd.DataFrame({
            "segment_id": np.concatenate(segs) if segs else np.array([], int),
            "segment_confidence": np.concatenate(confs) if confs else np.array([]),
            "segment_reassigned": np.concatenate(flags) if flags else np.array([], bool),
        }, index=clean.index)
