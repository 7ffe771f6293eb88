"""Simulated campaigns with a known effect, to check the readout: a new random holdout and
the outcomes drawn from each customer's propensity plus the uplift."""
from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_campaign(members: pd.DataFrame, uplift: float, seed: int, revenue_per_buyer: float = 60.0,
                      revenue_shape: float = 2.0) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A whole simulated campaign on a cohort, to check the readout: the holdout drawn at
    random again (as many customers as ``members`` holds out), then the outcomes
    (:func:`simulate_outcomes`), both from ``seed``. Returns ``(members with the new
    groups, outcomes, truth)``. Both random steps are simulated because the readout's
    intervals account for both: with one split kept for every repeat, the split's own
    imbalance would be a fixed error the intervals were never meant to absorb."""
    rng = np.random.default_rng(seed)
    held = int((members["group"] == "holdout").sum())
    group = np.full(len(members), "contact", dtype=object)
    group[rng.choice(len(members), size=held, replace=False)] = "holdout"
    drawn = members.assign(group=group)
    outcomes, truth = simulate_outcomes(drawn, uplift, int(rng.integers(2**31)), revenue_per_buyer, revenue_shape)
    return drawn, outcomes, truth


def simulate_outcomes(members: pd.DataFrame, uplift: float, seed: int, revenue_per_buyer: float = 60.0,
                      revenue_shape: float = 2.0) -> tuple[pd.DataFrame, dict]:
    """Draw a campaign's outcomes with a known effect: customer ``i`` buys with probability
    ``p_i`` (its ``propensity``) when held out and ``min(1, p_i + uplift)`` when contacted;
    a buyer spends a Gamma(``revenue_shape``, mean ``revenue_per_buyer``) amount. Returns
    ``(outcomes, truth)``: the truth is the cohort's average effect (over every member, the
    estimand of a randomised split): ``absolute`` conversion uplift, ``relative`` uplift,
    revenue uplift ``per_customer``."""
    rng = np.random.default_rng(seed)
    p = members["propensity"].to_numpy(float)
    treated = members["group"].to_numpy() == "contact"
    p_t = np.minimum(1.0, p + uplift)
    bought = rng.random(len(p)) < np.where(treated, p_t, p)
    spend = rng.gamma(revenue_shape, revenue_per_buyer / revenue_shape, size=len(p))
    out = pd.DataFrame({"customer_id": members["customer_id"].to_numpy(), "purchased": bought.astype(int),
                        "revenue": np.where(bought, spend, 0.0)})
    truth = {"absolute": float((p_t - p).mean()), "relative": float(p_t.mean() / p.mean() - 1),
             "per_customer": float((p_t - p).mean() * revenue_per_buyer)}
    return out, truth
