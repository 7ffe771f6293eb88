"""Where the two models meet: the propensity-by-segment matrix.

Each cell is a (segment, propensity decile) pair: the customers in it, their mean
propensity, the expected buyers (sum of propensities) and, on the held-out test rows, the
observed purchase rate. Deciles come from the training score distribution
(:func:`core.evaluation.decile_of`), so a customer's decile does not depend on the batch.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def segment_matrix(scored: pd.DataFrame, y: np.ndarray | None = None, test_mask: np.ndarray | None = None) -> pd.DataFrame:
    """Propensity-by-segment matrix in long form.

    Parameters
    ----------
    scored : DataFrame with ``segment_id``, ``segment_name``, ``propensity``,
        ``propensity_decile`` (n rows).
    y : optional 0/1 outcomes of shape (n,).
    test_mask : optional bool array (n,): rows used for the observed rate (held-out test).

    Returns
    -------
    DataFrame, one row per non-empty (segment_id, propensity_decile) cell: ``customers``,
    ``mean_propensity``, ``expected_buyers``, and when ``y`` is given ``test_customers`` and
    ``observed_rate_test`` (None where the cell has no test rows).
    """
    df = scored[["segment_id", "segment_name", "propensity", "propensity_decile"]].copy()
    keys = ["segment_id", "segment_name", "propensity_decile"]
    out = df.groupby(keys, as_index=False).agg(customers=("propensity", "size"),
                                               mean_propensity=("propensity", "mean"),
                                               expected_buyers=("propensity", "sum"))
    if y is not None:
        mask = np.ones(len(df), bool) if test_mask is None else np.asarray(test_mask, bool)
        t = df[mask].assign(y=np.asarray(y)[mask])
        obs = t.groupby(keys, as_index=False).agg(test_customers=("y", "size"), observed_rate_test=("y", "mean"))
        out = out.merge(obs, on=keys, how="left")
        out["test_customers"] = out["test_customers"].fillna(0).astype(int)
    return out.sort_values(["segment_id", "propensity_decile"]).reset_index(drop=True)
