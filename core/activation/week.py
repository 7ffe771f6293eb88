"""This week's actions: the playbook's cells ranked by what they are expected to bring, who
to leave alone, and audience sizes that reach a share of the expected buyers.

:func:`week_actions` reads the propensity-by-segment matrix in bands
(:func:`core.activation.playbook.banded_matrix`, ``low/medium/high``): every cell whose action
contacts customers is one candidate action, its size and expected buyers (the sum of the
calibrated propensities of the cell's customers, the whole scored base, not the test rows) and
its expected revenue where the data set has money (expected buyers x the segment's average
order value, or the sum of each customer's expected spend on a log-built run). Cells are
ranked by expected revenue where every cell has it, else by expected buyers. Expected
revenue is what the cell is expected to buy, not what a campaign adds: the campaign's
holdout measures that (:func:`core.activation.stats.holdout_size` sizes it).

:func:`audience_sizes` answers "how many do I contact to reach half of next month's expected
buyers?": customers sorted by propensity, the smallest top that holds the share.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.activation.playbook import BANDS
from core.activation.stats import detectable_lift

#: The playbook action that contacts nobody: its cells are the customers to leave alone.
LEAVE_ALONE = "Suppress from paid channels"
#: A cell smaller than this many customers, or than this share of all, is no campaign of its own.
MIN_ACTION_CUSTOMERS, MIN_ACTION_SHARE = 30, 0.005


def week_actions(banded: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The ``top`` actions worth taking, best first.

    Parameters
    ----------
    banded : the ``low/medium/high`` banded matrix (one row per segment and band, with
        ``segment_id``, ``segment_name``, ``band``, ``customers``, ``mean_propensity``,
        ``expected_buyers``, ``action``, ``why``, ``holdout_per_group``, and
        ``expected_revenue`` when the data set has money).
    top : how many actions, >= 1.

    Returns
    -------
    DataFrame of at most ``top`` rows: those columns, ``deciles`` (list of the band's
    propensity deciles, 1 = highest), ``ranked_by`` (``expected revenue`` or ``expected
    buyers``) and ``detectable_lift`` (the smallest relative rise a holdout of the sized
    ``holdout_per_group``, at most half the cell, detects with 80% power:
    :func:`core.activation.stats.detectable_lift`; NaN when none below +1000%). Cells smaller
    than :data:`MIN_ACTION_CUSTOMERS` customers or :data:`MIN_ACTION_SHARE` of all are left
    out; empty when every cell is to be left alone.
    """
    floor = max(MIN_ACTION_CUSTOMERS, MIN_ACTION_SHARE * float(banded["customers"].sum()))
    cells = banded[(banded["action"] != LEAVE_ALONE) & (banded["customers"] >= floor)].copy()
    has_money = "expected_revenue" in cells and cells["expected_revenue"].notna().all() and len(cells) > 0
    key = "expected_revenue" if has_money else "expected_buyers"
    cells = cells.sort_values([key, "customers"], ascending=False, kind="mergesort").head(max(1, int(top)))
    cells["deciles"] = [list(BANDS[b]) for b in cells["band"]]
    cells["ranked_by"] = key.replace("_", " ")
    held = [min(int(h), int(n) // 2) if h is not None and h == h else int(n) // 2
            for h, n in zip(cells["holdout_per_group"], cells["customers"])] if "holdout_per_group" in cells else []
    if held:
        found = [detectable_lift(r, n - h, h) for r, n, h in zip(cells["mean_propensity"], cells["customers"], held)]
        cells["detectable_lift"] = [x if np.isfinite(x) else np.nan for x in found]
    return cells.reset_index(drop=True)


def leave_alone(banded: pd.DataFrame) -> dict:
    """The customers of the cells the playbook leaves out of paid contact: ``customers``,
    ``expected_buyers`` (they may still buy, without a paid contact), ``share`` of all
    customers and ``segments`` (their names, largest first)."""
    cells = banded[banded["action"] == LEAVE_ALONE]
    total = float(banded["customers"].sum())
    names = (cells.groupby("segment_name")["customers"].sum().sort_values(ascending=False).index.tolist()
             if len(cells) else [])
    return {"customers": int(cells["customers"].sum()), "expected_buyers": float(cells["expected_buyers"].sum()),
            "share": float(cells["customers"].sum() / total) if total else 0.0, "segments": names}


def audience_sizes(propensity: np.ndarray, targets=(0.5, 0.7, 0.9)) -> list[dict]:
    """For each target share of the expected buyers (sum of calibrated propensities of all
    customers): ``{"target", "contacts", "share_of_customers", "expected_buyers",
    "min_propensity"}``, the fewest customers, highest propensity first, whose expected buyers
    reach it. ``propensity``: shape (n,), calibrated probabilities. Raises ValueError for a
    target outside (0, 1]."""
    p = np.sort(np.asarray(propensity, float))[::-1]
    cum = np.cumsum(p)
    total = cum[-1] if len(cum) else 0.0
    out = []
    for t in targets:
        if not 0 < t <= 1:
            raise ValueError(f"target share {t} must be in (0, 1]")
        k = int(np.searchsorted(cum, t * total - 1e-9) + 1) if total > 0 else 0
        k = min(k, len(p))
        out.append({"target": float(t), "contacts": k, "share_of_customers": k / len(p) if len(p) else 0.0,
                    "expected_buyers": float(cum[k - 1]) if k else 0.0,
                    "min_propensity": float(p[k - 1]) if k else float("nan")})
    return out
