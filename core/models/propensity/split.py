"""The split of a table into train, validation and test rows (stratified, or out of time on
the snapshots) and the leakage guard, both before any fit."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from core.errors import DataError
from core.settings import PropensitySettings

#: Training refuses tables with fewer positives or negatives than this: with 15% test rows,
#: 100 positives leave 15 test positives, about the least that gives a usable ROC-AUC
#: interval; commercial AutoML tools set floors of the same order.
MIN_CLASS_COUNT = 100


#: The out-of-time test snapshot needs at least this many positives and negatives (as a
#: segment needs for its own ROC-AUC, see :data:`core.models.evaluation.MIN_SEGMENT_CLASS`).
MIN_TEST_CLASS = 50


#: Words in a column name that say it is measured after the prediction date.
LEAKY_WORDS = ("next", "future", "after", "post", "outcome", "subsequent", "following")


def split_rows(y: np.ndarray, settings: PropensitySettings, seed: int, snapshot: pd.Series | None = None) -> np.ndarray:
    """Assign each row to ``"train"``, ``"val"`` or ``"test"``.

    Parameters
    ----------
    y : 0/1 array of shape (n,).
    snapshot : optional dates (n,) of each row's snapshot; when given, the rows of the
        latest snapshot are the test set; with three or more snapshots the one before it is
        the validation set and the earlier ones train (out of time throughout); with two,
        the earlier rows are split into train and validation (stratified, validation share
        ``val_share / (1 - test_share)``).

    Returns
    -------
    ndarray of shape (n,) of str.

    Raises
    ------
    DataError
        Fewer than :data:`MIN_CLASS_COUNT` positives or negatives; a single snapshot; a
        test snapshot or earlier rows without both classes.
    """
    y = np.asarray(y)
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if min(pos, neg) < MIN_CLASS_COUNT:
        raise DataError(f"too little to learn from: {pos} positives and {neg} negatives "
                        f"(need at least {MIN_CLASS_COUNT} of each)")
    idx = np.arange(len(y))
    out = np.empty(len(y), dtype=object)
    if snapshot is not None:
        dates = pd.to_datetime(snapshot)
        latest = dates.max()
        te = np.flatnonzero((dates == latest).to_numpy())
        rest = np.flatnonzero((dates < latest).to_numpy())
        if len(rest) == 0:
            raise DataError(f"out-of-time split needs at least two snapshots; all rows are of {latest.date()}")
        for name, part in (("the latest snapshot", te), ("the earlier snapshots", rest)):
            pos_p, neg_p = int(y[part].sum()), int(len(part) - y[part].sum())
            if min(pos_p, neg_p) < MIN_TEST_CLASS:
                raise DataError(f"out-of-time split: {name} ({latest.date() if part is te else 'before it'}) hold "
                                f"{pos_p} positives and {neg_p} negatives; need at least {MIN_TEST_CLASS} of each "
                                "to test on")
        dates_rest = dates.iloc[rest]
        if dates_rest.nunique() >= 2:  # out of time: validate on the snapshot before the test one
            second = dates_rest.max()
            va, tr = rest[(dates_rest == second).to_numpy()], rest[(dates_rest < second).to_numpy()]
            pos_v = int(y[va].sum())
            if min(pos_v, len(va) - pos_v) < MIN_TEST_CLASS:
                raise DataError(f"out-of-time split: the validation snapshot ({second.date()}) holds {pos_v} "
                                f"positives and {len(va) - pos_v} negatives; need at least {MIN_TEST_CLASS} of each")
        else:
            share = settings.val_share / (1 - settings.test_share)
            tr, va = train_test_split(rest, test_size=share, stratify=y[rest], random_state=seed)
    else:
        holdout = settings.val_share + settings.test_share
        tr, rest = train_test_split(idx, test_size=holdout, stratify=y, random_state=seed)
        va, te = train_test_split(rest, test_size=settings.test_share / holdout, stratify=y[rest], random_state=seed + 1)
    out[tr], out[va], out[te] = "train", "val", "test"
    return out


def _name_words(name: str) -> list[str]:
    """Lower-case words of a column name (snake_case, camelCase, digits split off)."""
    parts = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^A-Za-z]+", parts.lower()) if w]


def _single_auc(x: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC of one score in either direction: max(AUC, 1 - AUC); 0.5 for a constant."""
    if len(np.unique(x)) < 2:
        return 0.5
    auc = float(roc_auc_score(y, x))
    return max(auc, 1 - auc)


def leakage_check(clean: pd.DataFrame, spec, y: np.ndarray, rows: np.ndarray, max_auc: float = 0.95,
                  seed: int = 0) -> dict:
    """Stop training on a feature that looks like it leaks the outcome.

    A feature is suspect when its name contains one of :data:`LEAKY_WORDS` (it says it is
    measured after the prediction date) or when, alone, it separates the target with
    ROC-AUC above ``max_auc`` (either direction) on ``rows`` (bool mask). A number is scored
    as it is with missing values ranked below and then above all values (a column filled
    only for buyers leaks through its blanks); a category by its purchase rate estimated
    out of fold (5 folds, seeded), so a column of many random codes does not look
    predictive by fitting its own rows; blanks are a category. Features listed in the
    spec's ``allow_leaky`` are let through.

    Returns ``{column: single-feature ROC-AUC}`` for every feature (for the run).

    Raises
    ------
    DataError
        Naming the first suspect column and what to do.
    """
    yr = np.asarray(y)[rows]
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(yr, yr)) if min(
        yr.sum(), len(yr) - yr.sum()) >= 5 else [(np.arange(len(yr)), np.arange(len(yr)))]
    aucs = {}
    for c in spec.columns:
        v = clean[c.name][rows]
        if c.is_categorical:
            codes = v.astype(object).where(v.notna(), "<missing>").to_numpy()
            x = np.full(len(yr), yr.mean())
            for a, b in folds:
                rate = pd.Series(yr[a]).groupby(codes[a]).mean()
                x[b] = pd.Series(codes[b]).map(rate).fillna(yr[a].mean()).to_numpy(float)
            aucs[c.name] = _single_auc(x, yr)
        else:
            x = v.to_numpy(float)
            miss = np.isnan(x)
            if miss.all():
                aucs[c.name] = 0.5
            else:
                lo, hi = np.nanmin(x), np.nanmax(x)
                aucs[c.name] = max(_single_auc(np.where(miss, lo - 1, x), yr), _single_auc(np.where(miss, hi + 1, x), yr))
        if c.name in spec.allow_leaky:
            continue
        words = [w for w in _name_words(c.name) if w in LEAKY_WORDS]
        if words:
            raise DataError(f"column '{c.name}': its name says it is measured after the prediction date "
                            f"('{words[0]}'); a model trained on it would not work when scoring. Drop it from the "
                            "spec, or list it under allow_leaky if it is known at prediction time")
        if aucs[c.name] > max_auc:
            raise DataError(f"column '{c.name}': alone it predicts the target with ROC-AUC {aucs[c.name]:.3f} (above "
                            f"{max_auc}), so it very likely leaks the outcome. Drop it from the spec, or list it "
                            "under allow_leaky if it is known at prediction time")
    return aucs
