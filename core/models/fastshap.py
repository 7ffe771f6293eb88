"""Exact TreeSHAP for every customer, fast: one TreeSHAP call per *decision pattern*.

Path-dependent TreeSHAP (Lundberg, Erion et al. 2020, *From local explanations to global
understanding with explainable AI for trees*, Nature Machine Intelligence 2:56-67,
Algorithm 2) reads a row only through the branch it takes at each internal node of a tree:
the "hot" child is the one the row goes to, the "cold" one is weighted by its cover. Two
rows that take the same branch at every internal node of a tree therefore get identical
SHAP values from that tree. A shallow tree has few such decision patterns (a depth-2 tree
has 3 internal nodes, so at most 8; depth 3 at most 128), while it sees hundreds of
thousands of rows.

So, per tree:

1. the decision of every row at every internal node, as bits of an integer pattern code
   (numeric split: ``x < threshold`` in float32, as XGBoost compares; missing value: the
   node's default branch; native categorical split: the category's membership in the
   node's category set);
2. one representative row per pattern that occurs;
3. XGBoost's own exact TreeSHAP (``Booster.predict(pred_contribs=True)``) of that one tree
   (``booster[t:t + 1]``, model slicing) on the representatives only;
4. every row gets its pattern's values, summed over trees.

The result equals ``Booster.predict(pred_contribs=True)`` up to float32 rounding (the test
suite checks it to 1e-4 on the default and the marketing table), at a fraction of the
cost for shallow models (measured by ``python -m benchmarks.bench_design``; the reasons'
share of batch scoring time is in ``docs/performance.md``, from
``python -m benchmarks.bench_propensity score``).

Trees whose pattern count would exceed :data:`MAX_PATTERN_BITS` bits fall back to
XGBoost's TreeSHAP for that tree, so any model is explained exactly, only slower.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

#: A tree with more internal nodes than this is explained by XGBoost's TreeSHAP directly
#: (its pattern table would no longer be small).
MAX_PATTERN_BITS = 20
#: Consecutive trees are explained together while their internal nodes total at most this
#: many (5 depth-2 trees, 2 depth-3 trees): fewer, larger lookups.
BLOCK_BITS = 15


class TreeShapPatterns:
    """The parsed trees of a booster, ready to explain rows.

    Parameters
    ----------
    booster : xgboost.Booster with feature names (the model's input columns).
    n_trees : trees to use (the best iteration + 1, one tree per round for binary
        logistic).

    Raises
    ------
    ValueError
        The booster has no feature names, or more than one tree per round.
    """

    def __init__(self, booster: xgb.Booster, n_trees: int):
        if not booster.feature_names:
            raise ValueError("the booster has no feature names")
        self.booster = booster
        self.feature_names = list(booster.feature_names)
        self.n_trees = int(n_trees)
        index = {f: i for i, f in enumerate(self.feature_names)}
        df = booster.trees_to_dataframe()
        df = df[df["Tree"] < self.n_trees]
        if df["Tree"].nunique() != self.n_trees:
            raise ValueError("expected one tree per boosting round")
        self.trees = []
        for t, g in df.groupby("Tree", sort=True):
            inner = g[g["Feature"] != "Leaf"]
            nodes = []
            for r in inner.itertuples(index=False):
                cats = None if not isinstance(r.Category, (list, np.ndarray)) else np.asarray(r.Category, dtype=float)
                nodes.append((index[r.Feature], np.float32(r.Split) if cats is None else None, cats,
                              r.Missing == r.Yes))
            feats = sorted({n[0] for n in nodes})
            self.trees.append((nodes, np.asarray(feats, dtype=int)))
        self.feature_types = list(booster.feature_types or ["float"] * len(self.feature_names))
        # consecutive trees grouped so a block's decisions fit in BLOCK_BITS bits: the
        # block's SHAP values (the sum of its trees') are then one table lookup per row
        self.blocks, t = [], 0
        while t < self.n_trees:
            t1, bits, feats = t, 0, set()
            while t1 < self.n_trees and (t1 == t or bits + len(self.trees[t1][0]) <= BLOCK_BITS):
                bits += len(self.trees[t1][0])
                feats |= set(self.trees[t1][1].tolist())
                t1 += 1
            if feats:
                self.blocks.append((t, t1, bits, np.asarray(sorted(feats), dtype=int)))
            t = t1
        self._slices: dict[tuple[int, int], xgb.Booster] = {}

    def _trees(self, t0: int, t1: int) -> xgb.Booster:
        """Trees ``t0..t1-1`` alone (XGBoost model slicing; its TreeSHAP takes no other range)."""
        if (t0, t1) not in self._slices:
            self._slices[(t0, t1)] = self.booster[t0:t1]
        return self._slices[(t0, t1)]

    @staticmethod
    def matrix(X: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
        """The model inputs as a float32 matrix (n, n_features): numbers as XGBoost stores
        them, categoricals as their category codes, missing as NaN."""
        cols = []
        for c in feature_names:
            s = X[c]
            if isinstance(s.dtype, pd.CategoricalDtype):
                codes = s.cat.codes.to_numpy().astype(np.float32)
                codes[codes < 0] = np.nan
                cols.append(codes)
            else:
                cols.append(s.to_numpy(dtype=np.float32))
        return np.column_stack(cols) if cols else np.empty((len(X), 0), np.float32)

    def shap_values(self, X: pd.DataFrame) -> np.ndarray:
        """Exact TreeSHAP values of ``X`` (n rows, the model's feature columns by name).

        Returns
        -------
        ndarray of shape (n, n_features), float32, log-odds contributions without the
        bias term, columns in the booster's feature order.
        """
        M = self.matrix(X, self.feature_names)
        n = len(M)
        outT = np.zeros((len(self.feature_names), n), dtype=np.float32)  # one contiguous row per feature
        if n == 0:
            return outT.T
        MT = np.ascontiguousarray(M.T)  # one contiguous row per feature: node tests read whole rows
        nan_rows = [np.flatnonzero(np.isnan(col)) for col in MT]
        backwards = np.arange(n - 1, -1, -1)
        for t0, t1, bits, feats in self.blocks:
            if bits > MAX_PATTERN_BITS:  # too many patterns: XGBoost's TreeSHAP on all rows
                d = xgb.DMatrix(M, feature_names=self.feature_names, feature_types=self.feature_types,
                                enable_categorical=True)
                outT += self._trees(t0, t1).predict(d, pred_contribs=True)[:, :-1].T
                continue
            # each row's pattern: bit k = the row takes the "Yes" branch at the block's k-th
            # internal node (numbers: x < threshold in float32, as XGBoost compares;
            # categorical splits send their listed categories to the branch trees_to_dataframe
            # calls "Yes"; missing values take the node's default branch)
            code = np.zeros(n, dtype=np.uint16 if bits <= 16 else np.uint32)
            bit = 0
            for t in range(t0, t1):
                for f, thr, cats, missing_yes in self.trees[t][0]:
                    go_yes = MT[f] < thr if cats is None else np.isin(MT[f], cats)
                    if len(nan_rows[f]):
                        go_yes[nan_rows[f]] = missing_yes
                    code |= go_yes.astype(code.dtype) << code.dtype.type(bit)
                    bit += 1
            # one representative row per pattern (its first occurrence) and each row's
            # pattern number, by table lookups (a sort would cost more than TreeSHAP)
            size = 1 << bits
            present = np.flatnonzero(np.bincount(code, minlength=size))
            first_of = np.empty(size, dtype=np.int64)
            first_of[code[::-1]] = backwards
            lookup = np.empty(size, dtype=np.int32)
            lookup[present] = np.arange(len(present), dtype=np.int32)
            d = xgb.DMatrix(M[first_of[present]], feature_names=self.feature_names,
                            feature_types=self.feature_types, enable_categorical=True)
            table = self._trees(t0, t1).predict(d, pred_contribs=True)[:, feats].T  # (|feats|, patterns)
            outT[feats] += np.take(table, lookup[code], axis=1)
        return outT.T
